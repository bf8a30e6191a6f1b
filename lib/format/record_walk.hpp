// Walking the records of one segment's bytes: the one loop that recovery, the readers, the key
// index rebuild, truncation and wal-inspect share, and the named header fields they read.
#pragma once

#include <noriwal/detail/format.hpp>
#include <noriwal/position.hpp>

#include "format/little_endian.hpp"

#include <cstdint>
#include <limits>
#include <span>

namespace noriwal::detail {

/// The format's own limit on a record's body: what recovery, truncation and the tools decode
/// with, so that a record its writer accepted stays readable after max_record_size is lowered.
inline constexpr std::uint32_t any_record_size = std::numeric_limits<std::uint32_t>::max();

/// The fields of a 32-byte record header by name, read as stored: nothing is checked (decode
/// the record first when the bytes may be damaged).
class record_header_fields {
public:
    explicit record_header_fields(const std::byte* h) noexcept : h_(h) {}

    std::uint32_t header_crc() const noexcept { return le::load_u32(h_ + record_field::header_crc); }
    std::uint64_t lsn() const noexcept { return le::load_u64(h_ + record_field::lsn); }
    std::uint32_t body_len() const noexcept { return le::load_u32(h_ + record_field::body_len); }
    std::uint32_t key_len() const noexcept { return le::load_u32(h_ + record_field::key_len); }
    std::uint8_t type() const noexcept { return std::to_integer<std::uint8_t>(h_[record_field::type]); }
    std::uint8_t flags() const noexcept { return std::to_integer<std::uint8_t>(h_[record_field::flags]); }
    std::uint16_t reserved() const noexcept { return le::load_u16(h_ + record_field::reserved); }
    bool tombstone() const noexcept { return (flags() & flag::tombstone) != 0; }
    /// The key, which starts the body right after the header (the body must be in memory).
    bytes_view key() const noexcept { return {h_ + record_header_size, key_len()}; }

private:
    const std::byte* h_;
};

/// The shape of a record header, without its CRC: what garbage rarely has, checked before
/// spending a CRC on a candidate.
bool record_header_shape_ok(const std::byte* h) noexcept;

/// Offset just past the last non-zero byte of bytes[from, to), or 0 if they are all zero.
std::uint64_t nonzero_end(std::span<const std::byte> bytes, std::uint64_t from, std::uint64_t to) noexcept;

/// What lies in bytes[from, end of segment) up to the next record that decodes under the
/// segment id.
struct gap_survey {
    std::uint64_t next = 0;           ///< offset of that record, or the segment's size
    bool nonzero = false;             ///< some byte in [from, next) is not zero
    std::uint64_t first_nonzero = 0;  ///< offset of the first such byte
    std::uint64_t nonzero_end = 0;    ///< offset past the last such byte
    bool stale = false;               ///< a stale record header lies in [from, next)
};

/// Surveys bytes[from, ...) (from a multiple of 8) of segment `segment_id` whose first LSN is
/// `base_lsn` (0: unknown) up to the next record that decodes.
gap_survey survey_gap(std::span<const std::byte> bytes, std::uint64_t segment_id, lsn_t base_lsn,
                      std::uint64_t from) noexcept;

/// Offset of the first record at or after `from` (a multiple of 8) that decodes under
/// `segment_id`, or bytes.size() if there is none.
std::uint64_t find_next_record(std::span<const std::byte> bytes, std::uint64_t segment_id,
                               std::uint64_t from) noexcept;

/// True when the 32-byte record header `h` was framed for an older segment than `segment_id`
/// (its CRC holds for some id in [1, segment_id)) and names an LSN below `base_lsn` (0: not
/// checked): bytes of a recycled file's earlier life. Solves the CRC for the id (CRC32C is
/// affine in its input bits), so the cost is one CRC, not one per candidate id.
bool is_stale_record_header(std::span<const std::byte> h, std::uint64_t segment_id, lsn_t base_lsn) noexcept;

/// Decodes the record a reader's position names: false unless `offset` is a record boundary
/// inside `bytes` (the readable part of segment `segment_id`) where a record with LSN `lsn`
/// decodes.
inline bool decode_at(std::span<const std::byte> bytes, std::uint64_t segment_id,
                      std::uint32_t max_record_size, std::uint64_t offset, lsn_t lsn,
                      record_view& rv) noexcept {
    return offset >= segment_header_size && offset % record_alignment == 0 && offset < bytes.size() &&
           decode_record(bytes.subspan(offset), segment_id, max_record_size, rv) == decode_status::ok &&
           rv.lsn == lsn;
}

/// A position in one segment's bytes and the records from there. Each caller keeps its own
/// rules (what a gap means, which LSN comes next); the walker only knows the format:
///
///     record_walker w(bytes, id);
///     record_view rv;
///     while (w.next_salvaged(rv)) { use(rv, w.offset()); w.advance(rv); }
class record_walker {
public:
    record_walker(std::span<const std::byte> bytes, std::uint64_t segment_id,
                  std::uint32_t max_record_size = any_record_size,
                  std::uint64_t offset = segment_header_size) noexcept
        : bytes_(bytes), id_(segment_id), limit_(max_record_size), off_(offset) {}

    std::span<const std::byte> bytes() const noexcept { return bytes_; }
    std::uint64_t segment_id() const noexcept { return id_; }
    std::uint64_t offset() const noexcept { return off_; }
    bool at_end() const noexcept { return off_ >= bytes_.size(); }
    /// The bytes from offset() on.
    std::span<const std::byte> rest() const noexcept {
        return bytes_.subspan(at_end() ? bytes_.size() : off_);
    }
    void seek(std::uint64_t offset) noexcept { off_ = offset; }

    /// Decodes the record at offset() (CRCs checked); the walker stays where it is.
    decode_status decode(record_view& rv) const noexcept { return decode_record(rest(), id_, limit_, rv); }
    /// The same, header only (its LSN and size; key and value left empty).
    decode_status decode_header(record_view& rv) const noexcept {
        return decode_record_header(rest(), id_, limit_, rv);
    }
    /// Steps past the record just decoded at offset().
    void advance(const record_view& rv) noexcept { off_ += rv.size; }

    /// The record at offset(), or if it does not decode the next one that does (stepping over
    /// damage that recovery salvaged or skipped): false, at the end, when none is left.
    bool next_salvaged(record_view& rv) noexcept {
        while (!at_end()) {
            if (decode(rv) == decode_status::ok) return true;
            off_ = find_next_record(bytes_, id_, off_ + record_alignment);
        }
        return false;
    }

    /// Moves to the first record at or after `from` (rounded up to a multiple of 8) that decodes
    /// with an LSN in [lo, hi]; false (offset() = the end) if there is none. Used to step over
    /// damage that skip_corrupted recovery left in place: the bytes between are not records of
    /// this log.
    bool find_in_range(std::uint64_t from, lsn_t lo, lsn_t hi, record_view& rv) noexcept {
        off_ = align_up(from);
        while (off_ < bytes_.size()) {
            off_ = find_next_record(bytes_, id_, off_);
            if (off_ >= bytes_.size()) break;
            if (decode(rv) == decode_status::ok && rv.lsn >= lo && rv.lsn <= hi) return true;
            off_ += record_alignment;
        }
        off_ = bytes_.size();
        return false;
    }

private:
    std::span<const std::byte> bytes_;
    std::uint64_t id_;
    std::uint32_t limit_;
    std::uint64_t off_;
};

}  // namespace noriwal::detail
