// The record codec: encode (caller's thread), stamp (writer strand), decode (recovery and
// readers). Layout in format.hpp and doc/format.md.
#include <noriwal/detail/crc32c.hpp>
#include <noriwal/detail/format.hpp>
#include <noriwal/error.hpp>

#include "format/little_endian.hpp"

#include <lz4.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <new>

namespace noriwal::detail {
namespace {

// How far ahead of the record being decoded decode_record asks for memory (measured with a
// scan of 1 KiB records: 1 to 3 KiB all help, nothing is worse than no prefetch).
constexpr std::size_t prefetch_distance = 2048;
constexpr std::size_t cache_line = 64;

// Offsets of the record header fields.
namespace field = record_field;

constexpr std::size_t expiry_size = 8;
constexpr std::size_t raw_len_size = 4;
constexpr std::uint8_t compression_values = 3;  // none, lz4, zstd; the fourth value is invalid

std::uint64_t effective_max(std::uint64_t max_record_size) noexcept {
    return std::min(max_record_size, format_max_body);
}

// The header CRC is seeded with the segment id, which binds a record to the segment it was
// written in: the same bytes read as part of another segment fail their CRC.
// The seed and the covered header bytes are copied into one buffer, so that the CRC is one
// call over 36 contiguous bytes (a scan checks one header per record: two calls cost it about
// a tenth more time per header).
std::uint32_t header_crc(const std::byte* header, std::uint64_t segment_id) noexcept {
    constexpr std::size_t covered = record_header_size - field::payload_crc;
    alignas(8) std::byte buf[8 + covered];
    le::store_u64(buf, segment_id);
    std::memcpy(buf + 8, header + field::payload_crc, covered);
    return mask_crc(crc32c_extend(0, buf, sizeof buf));
}

std::uint64_t expiry_from(std::uint64_t now_ns, std::chrono::nanoseconds ttl) noexcept {
    // Saturate instead of wrapping, and never store 0, which record_view reads as "no expiry".
    const std::int64_t t = ttl.count();
    if (t >= 0) {
        const auto up = static_cast<std::uint64_t>(t);
        return now_ns > UINT64_MAX - up ? UINT64_MAX : now_ns + up;
    }
    const std::uint64_t down = 0 - static_cast<std::uint64_t>(t);  // |t| without overflow at INT64_MIN
    return now_ns > down ? now_ns - down : 1;
}

// One compression context per thread, reused: ZSTD_compress would allocate one per record.
struct zstd_contexts {
    ZSTD_CCtx* c = nullptr;
    ZSTD_DCtx* d = nullptr;
    zstd_contexts() = default;
    zstd_contexts(const zstd_contexts&) = delete;
    zstd_contexts& operator=(const zstd_contexts&) = delete;
    ~zstd_contexts() {
        ZSTD_freeCCtx(c);
        ZSTD_freeDCtx(d);
    }
};
thread_local zstd_contexts zstd;

// Largest output size for a value of n bytes, or 0 when the library cannot take n bytes.
std::size_t compress_bound(compression c, std::size_t n) noexcept {
    if (c == compression::lz4)
        return n <= LZ4_MAX_INPUT_SIZE ? static_cast<std::size_t>(LZ4_compressBound(static_cast<int>(n))) : 0;
    const std::size_t bound = ZSTD_compressBound(n);
    return ZSTD_isError(bound) ? 0 : bound;
}

// Compresses into dst (capacity cap); returns the compressed size, or 0 on any failure.
std::size_t compress(compression c, int zstd_level, bytes_view src, std::byte* dst,
                     std::size_t cap) noexcept {
    if (c == compression::lz4) {
        const int n = LZ4_compress_default(reinterpret_cast<const char*>(src.data()),
                                           reinterpret_cast<char*>(dst), static_cast<int>(src.size()),
                                           static_cast<int>(std::min<std::size_t>(cap, INT32_MAX)));
        return n > 0 ? static_cast<std::size_t>(n) : 0;
    }
    if (zstd.c == nullptr && (zstd.c = ZSTD_createCCtx()) == nullptr) return 0;
    const std::size_t n = ZSTD_compressCCtx(zstd.c, dst, cap, src.data(), src.size(), zstd_level);
    return ZSTD_isError(n) ? 0 : n;
}

void copy(std::byte* dst, bytes_view src) noexcept {
    if (!src.empty()) std::memcpy(dst, src.data(), src.size());
}

}  // namespace

// ------------------------------------------------------------------------ encoding

std::error_code encode_record(const record& r, const encode_options& opts, encoded_record& out) {
    // The clock is only read for a TTL: appends without one do not pay for it.
    std::uint64_t now_ns = 0;
    if (r.ttl) {
        const auto now = std::chrono::system_clock::now().time_since_epoch();
        now_ns = static_cast<std::uint64_t>(std::chrono::nanoseconds(now).count());
    }
    return encode_record(r, opts, now_ns, out);
}

std::error_code encode_record(const record& r, const encode_options& opts, std::uint64_t now_ns,
                              encoded_record& out) {
    const std::size_t prefix = r.key.size() + (r.ttl ? expiry_size : 0);  // body bytes before the value
    // The limit applies to the uncompressed body, so that raw_len is bounded by max_record_size
    // too and a reader never decompresses more than it accepts as a record.
    if (r.key.size() > format_max_body || r.value.size() > format_max_body ||
        prefix + r.value.size() > effective_max(opts.max_record_size))
        return errc::record_too_large;

    compression c = r.compress.value_or(opts.default_compression);
    if (!r.compress && r.value.size() < opts.compression_min_size) c = compression::none;
    if (r.value.empty() || (c != compression::lz4 && c != compression::zstd)) c = compression::none;

    const std::size_t value_at = record_header_size + prefix;
    std::size_t stored = 0;  // bytes of the value as stored, raw_len included
    if (c != compression::none) {
        if (const std::size_t bound = compress_bound(c, r.value.size()); bound != 0) {
            out.bytes.resize(value_at + raw_len_size + bound);
            const std::size_t n =
                compress(c, opts.zstd_level, r.value, out.bytes.data() + value_at + raw_len_size, bound);
            // Kept only if the body shrinks; otherwise the value is stored raw.
            if (n != 0 && raw_len_size + n < r.value.size()) {
                stored = raw_len_size + n;
                le::store_u32(out.bytes.data() + value_at, static_cast<std::uint32_t>(r.value.size()));
            }
        }
    }
    if (stored == 0) {
        c = compression::none;
        stored = r.value.size();
    }

    const std::size_t body_len = prefix + stored;
    const std::size_t size = align_up(record_header_size + body_len);
    out.bytes.resize(size);
    std::byte* p = out.bytes.data();
    copy(p + record_header_size, r.key);
    if (r.ttl) le::store_u64(p + record_header_size + r.key.size(), expiry_from(now_ns, *r.ttl));
    if (c == compression::none) copy(p + value_at, r.value);
    std::memset(p + record_header_size + body_len, 0, size - record_header_size - body_len);

    // The reused buffer may hold an earlier record's header: every field is written.
    std::memset(p, 0, record_header_size);
    le::store_u32(p + field::payload_crc, mask_crc(crc32c({p + record_header_size, body_len})));
    le::store_u32(p + field::body_len, static_cast<std::uint32_t>(body_len));
    le::store_u32(p + field::key_len, static_cast<std::uint32_t>(r.key.size()));
    std::uint8_t flags = static_cast<std::uint8_t>(static_cast<std::uint8_t>(c) << flag::compression_shift);
    if (r.tombstone) flags |= flag::tombstone;
    if (r.ttl) flags |= flag::expiry;
    p[field::flags] = std::byte{flags};

    out.raw_value_size = static_cast<std::uint32_t>(r.value.size());
    return {};
}

void stamp_record(std::span<std::byte> header, std::uint64_t segment_id, std::uint64_t lsn, record_type type,
                  std::uint64_t durable_lsn) noexcept {
    std::byte* p = header.data();
    const std::uint64_t gap = lsn - durable_lsn;
    le::store_u64(p + field::lsn, lsn);
    p[field::type] = static_cast<std::byte>(type);
    le::store_u32(p + field::synced_gap, durable_lsn <= lsn && gap < synced_gap_unknown
                                             ? static_cast<std::uint32_t>(gap)
                                             : synced_gap_unknown);
    le::store_u32(p + field::header_crc, header_crc(p, segment_id));
}

// ------------------------------------------------------------------------ decoding

// Each branch below is named after the damage it catches; the order matters: nothing in the
// header is trusted before its CRC holds, and nothing in the body is read before the lengths
// are known to fit.
decode_status decode_record_header(std::span<const std::byte> bytes, std::uint64_t segment_id,
                                   std::uint32_t max_record_size, record_view& out) noexcept {
    if (bytes.size() < record_header_size) return decode_status::short_header;
    const std::byte* p = bytes.data();
    if ((le::load_u64(p) | le::load_u64(p + 8) | le::load_u64(p + 16) | le::load_u64(p + 24)) == 0)
        return decode_status::zero;
    if (le::load_u32(p + field::header_crc) != header_crc(p, segment_id))
        return decode_status::bad_header_crc;

    const auto type = std::to_integer<std::uint8_t>(p[field::type]);
    const auto flags = std::to_integer<std::uint8_t>(p[field::flags]);
    const std::uint32_t body_len = le::load_u32(p + field::body_len);
    const std::uint32_t key_len = le::load_u32(p + field::key_len);
    const bool compressed = (flags & flag::compression_mask) != 0;
    const std::uint64_t fixed =
        std::uint64_t{key_len} + ((flags & flag::expiry) ? expiry_size : 0) + (compressed ? raw_len_size : 0);
    if (type < static_cast<std::uint8_t>(record_type::full) ||
        type > static_cast<std::uint8_t>(record_type::last) || (flags & ~flag::known) != 0 ||
        ((flags >> flag::compression_shift) & 3u) >= compression_values ||
        le::load_u16(p + field::reserved) != 0 || fixed > body_len)
        return decode_status::bad_header;
    if (body_len > effective_max(max_record_size)) return decode_status::bad_length;
    const std::uint64_t size = align_up(std::uint64_t{record_header_size} + body_len);
    if (size > bytes.size()) return decode_status::short_body;

    out.lsn = le::load_u64(p + field::lsn);
    out.type = static_cast<record_type>(type);
    out.flags = flags;
    out.key = {};
    out.stored_value = {};
    out.raw_value_size = 0;
    out.expiry_ns = 0;
    out.synced_gap = le::load_u32(p + field::synced_gap);
    out.size = size;
    return decode_status::ok;
}

decode_status decode_record(std::span<const std::byte> bytes, std::uint64_t segment_id,
                            std::uint32_t max_record_size, record_view& out) noexcept {
    if (const decode_status s = decode_record_header(bytes, segment_id, max_record_size, out);
        s != decode_status::ok)
        return s;
    const std::byte* p = bytes.data();
    const std::uint32_t body_len = le::load_u32(p + field::body_len);
    const std::uint32_t key_len = le::load_u32(p + field::key_len);
    const auto body = bytes.subspan(record_header_size, body_len);
    // Records are read in order, and a reader's next record is usually the next bytes of a
    // mapping that comes from memory, not the CPU cache: ask for the lines up to
    // prefetch_distance past this record while this body's CRC runs. Each record asks for the
    // lines its own length moved the window by, so every line is asked for about once.
    {
        const std::size_t end = static_cast<std::size_t>(out.size);
        const std::size_t to = std::min<std::size_t>(bytes.size(), end + prefetch_distance);
        const std::size_t from = end + (end < prefetch_distance ? prefetch_distance - end : 0);
        for (std::size_t i = from; i < to; i += cache_line) __builtin_prefetch(p + i);
    }
    // The padding is not covered by a CRC; checking it keeps every byte of a record checked. It
    // is the last 0 to 7 bytes of the record: the high bytes of its last 8 (little-endian).
    const std::uint64_t padding = out.size - record_header_size - body_len;
    if (le::load_u32(p + field::payload_crc) != mask_crc(crc32c(body)) ||
        (padding != 0 && (le::load_u64(p + out.size - 8) >> (64 - 8 * padding)) != 0))
        return decode_status::bad_payload_crc;

    std::size_t at = key_len;
    if (out.has_expiry()) {
        out.expiry_ns = le::load_u64(body.data() + at);
        at += expiry_size;
        if (out.expiry_ns == 0) return decode_status::bad_header;  // 0 would read as "no expiry"
    }
    if (out.compression() != compression::none) {
        out.raw_value_size = le::load_u32(body.data() + at);
        at += raw_len_size;
        // The writer compresses only values that shrink and whose raw form fits the record
        // limit: anything else is not a record it wrote, and would let a decompression
        // allocate more than a record may hold.
        if (out.raw_value_size <= body_len - at || out.raw_value_size > effective_max(max_record_size))
            return decode_status::bad_header;
    } else {
        out.raw_value_size = body_len - static_cast<std::uint32_t>(at);
    }
    out.key = body.first(key_len);
    out.stored_value = body.subspan(at);
    return decode_status::ok;
}

std::error_code decompress_value(const record_view& rv, std::vector<std::byte>& out) {
    const bytes_view src = rv.stored_value;
    const std::size_t raw = rv.raw_value_size;
    switch (rv.compression()) {
        case compression::none:
            if (src.size() != raw) return errc::corrupted;
            out.resize(raw);
            copy(out.data(), src);
            return {};
        case compression::lz4: {
            // LZ4 cannot expand a byte into more than 255: a larger claim is damage, refused before
            // the output buffer is sized.
            if (raw == 0 || raw > format_max_body || src.size() > LZ4_MAX_INPUT_SIZE ||
                raw / 255 > src.size())
                return errc::corrupted;
            out.resize(raw);
            const int n = LZ4_decompress_safe(reinterpret_cast<const char*>(src.data()),
                                              reinterpret_cast<char*>(out.data()),
                                              static_cast<int>(src.size()), static_cast<int>(raw));
            if (n < 0 || static_cast<std::size_t>(n) != raw) return errc::corrupted;
            return {};
        }
        case compression::zstd: {
            // The writer's frames declare their content size: a frame that does not declare
            // exactly raw_value_size is refused before the output buffer is sized.
            if (raw == 0 || raw > format_max_body || ZSTD_getFrameContentSize(src.data(), src.size()) != raw)
                return errc::corrupted;
            if (zstd.d == nullptr && (zstd.d = ZSTD_createDCtx()) == nullptr) throw std::bad_alloc();
            out.resize(raw);
            const std::size_t n = ZSTD_decompressDCtx(zstd.d, out.data(), raw, src.data(), src.size());
            if (ZSTD_isError(n) || n != raw) return errc::corrupted;
            return {};
        }
    }
    return errc::corrupted;
}

}  // namespace noriwal::detail
