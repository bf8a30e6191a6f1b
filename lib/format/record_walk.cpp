// The record walker and the searches it shares with recovery (record_walk.hpp).
#include "format/record_walk.hpp"

#include <noriwal/detail/crc32c.hpp>

#include <bit>

namespace noriwal::detail {
namespace {

// Solves masked_crc(id ++ header[4, 32)) == header_crc for the segment id. CRC32C is affine
// over GF(2): crc(id ++ rest) = crc(0 ++ rest) ^ L(id) with L linear, and L restricted to
// 32-bit ids is a bijection (multiplication by a power of x modulo the generator). The basis
// below inverts it once; each solve is then one CRC and 32 steps.
class segment_id_solver {
public:
    segment_id_solver() noexcept {
        std::byte buf[record_header_size + 4] = {};
        const std::uint32_t c0 = crc32c_extend(0, buf, sizeof buf);
        for (unsigned i = 0; i < 32; ++i) {
            le::store_u64(buf, std::uint64_t{1} << i);
            std::uint32_t v = crc32c_extend(0, buf, sizeof buf) ^ c0;
            std::uint32_t x = 1u << i;
            for (int p = 31; p >= 0; --p) {
                if (((v >> p) & 1u) == 0) continue;
                if (!has_[p]) {
                    value_[p] = v;
                    input_[p] = x;
                    has_[p] = true;
                    break;
                }
                v ^= value_[p];
                x ^= input_[p];
            }
        }
    }

    // The 32-bit id whose header CRC the header carries, if there is one.
    bool solve(const std::byte* h, std::uint32_t& id) const noexcept {
        std::byte zeros[8] = {};
        const std::uint32_t rest = crc32c_extend(crc32c_extend(0, zeros, 8), h + 4, record_header_size - 4);
        std::uint32_t d = unmask_crc(le::load_u32(h)) ^ rest;
        std::uint32_t x = 0;
        for (int p = 31; p >= 0; --p) {
            if (((d >> p) & 1u) == 0) continue;
            if (!has_[p]) return false;
            d ^= value_[p];
            x ^= input_[p];
        }
        id = x;
        return true;
    }

private:
    std::uint32_t value_[32] = {};
    std::uint32_t input_[32] = {};
    bool has_[32] = {};
};

// Whether the 72 bytes at p are all zero.
bool zero_72(const std::byte* p) noexcept {
    std::uint64_t w = 0;
    for (std::size_t i = 0; i < 72; i += 8) w |= le::load_u64(p + i);
    return w == 0;
}

}  // namespace

// Offset just past the last non-zero byte of bytes[from, to), or 0 if they are all zero.
std::uint64_t nonzero_end(std::span<const std::byte> bytes, std::uint64_t from, std::uint64_t to) noexcept {
    while (to > from && bytes[to - 1] == std::byte{0}) --to;
    return to > from ? to : 0;
}

bool record_header_shape_ok(const std::byte* h) noexcept {
    const record_header_fields f(h);
    return f.type() >= 1 && f.type() <= 4 && (f.flags() & ~flag::known) == 0 && f.reserved() == 0 &&
           f.lsn() != 0 && f.key_len() <= f.body_len();
}

gap_survey survey_gap(std::span<const std::byte> bytes, std::uint64_t segment_id, lsn_t base_lsn,
                      std::uint64_t from) noexcept {
    gap_survey r;
    const std::uint64_t size = bytes.size();
    const std::byte* p = bytes.data();
    r.nonzero_end = from;
    for (std::uint64_t o = from; o < size; o += record_alignment) {
        // Fastest path over zeros (a zero-filled segment's unwritten tail): when the 72 bytes
        // from o are zero, each of the eight offsets o, o + 8, ... o + 56 takes the fast path
        // below (its first 16 bytes are zero), so all eight are stepped over at once.
        while (size - o >= 72 && zero_72(p + o)) o += 64;
        if (size - o >= 16) {
            // Fast path over zeros: a record starts with non-zero CRCs or a non-zero LSN.
            const std::uint64_t w = le::load_u64(p + o);
            if (w == 0 && le::load_u64(p + o + 8) == 0) continue;
            if (size - o >= record_header_size && record_header_shape_ok(p + o)) {
                record_view rv;
                if (decode_record(bytes.subspan(o), segment_id, any_record_size, rv) == decode_status::ok) {
                    r.next = o;
                    return r;
                }
                if (!r.stale &&
                    is_stale_record_header(bytes.subspan(o, record_header_size), segment_id, base_lsn))
                    r.stale = true;
            }
            if (w == 0) continue;
            if (!r.nonzero) {
                r.nonzero = true;
                r.first_nonzero = o + static_cast<unsigned>(std::countr_zero(w)) / 8;
            }
            r.nonzero_end = o + 8 - static_cast<unsigned>(std::countl_zero(w)) / 8;
        } else {
            const std::uint64_t e = nonzero_end(bytes, o, std::min<std::uint64_t>(size, o + 8));
            if (e == 0) continue;
            if (!r.nonzero) {
                r.nonzero = true;
                std::uint64_t f = o;
                while (bytes[f] == std::byte{0}) ++f;
                r.first_nonzero = f;
            }
            r.nonzero_end = e;
        }
    }
    r.next = size;
    return r;
}

std::uint64_t find_next_record(std::span<const std::byte> bytes, std::uint64_t segment_id,
                               std::uint64_t from) noexcept {
    return survey_gap(bytes, segment_id, 0, std::min<std::uint64_t>(from, bytes.size())).next;
}

bool is_stale_record_header(std::span<const std::byte> h, std::uint64_t segment_id, lsn_t base_lsn) noexcept {
    if (h.size() < record_header_size || segment_id <= 1 || !record_header_shape_ok(h.data())) return false;
    if (base_lsn != 0 && record_header_fields(h.data()).lsn() >= base_lsn) return false;
    static const segment_id_solver solver;
    std::uint32_t id = 0;
    if (!solver.solve(h.data(), id) || id == 0 || id >= segment_id) return false;
    // Confirm with the CRC as the format computes it.
    std::byte seed[8];
    le::store_u64(seed, id);
    const std::uint32_t c = crc32c_extend(crc32c_extend(0, seed, 8), h.data() + 4, record_header_size - 4);
    return mask_crc(c) == le::load_u32(h.data());
}

}  // namespace noriwal::detail
