// The on-disk format of noriwal. doc/format.md has the same with test vectors.
//
// A log is a directory of segment files named `<segment id, 20 decimal digits>.wal`, so that
// name order is log order. All integers are little-endian.
//
// Segment header (64 bytes, at offset 0):
//    0  magic          8   "NORIWAL\0"
//    8  major          u16 format major version (a reader refuses one it does not know)
//   10  minor          u16 format minor version (compatible additions)
//   12  header_size    u32 64
//   16  segment_id     u64 equals the number in the file name
//   24  base_lsn       u64 the LSN of the first record this segment holds or will hold
//   32  created_ns     u64 creation time, nanoseconds since the Unix epoch
//   40  node_id        u64 wal_config::node_id of the writer
//   48  prepared_size  u64 (since 1.1) the file's size when the segment was started, if it was
//                          preallocated (zero_fill, fallocate); 0: not preallocated (or 1.0).
//                          A preallocated file never shrinks: a shorter file was cut.
//   56  reserved       4   zero
//   60  header_crc     u32 masked CRC32C of bytes [0, 60)
//
// Records follow at offset 64, each starting at a multiple of 8. A record is a 32-byte header,
// its body, and zero padding up to the next multiple of 8:
//    0  header_crc     u32 masked CRC32C of (segment_id as u64) ++ record bytes [4, 32)
//    4  payload_crc    u32 masked CRC32C of the body
//    8  lsn            u64
//   16  body_len       u32 bytes of body
//   20  key_len        u32 bytes of key at the start of the body
//   24  type           u8  1 full, 2 first of a batch, 3 middle of a batch, 4 last of a batch
//   25  flags          u8  bit 0 tombstone, bit 1 expiry present, bits 2-3 compression of the
//                          value (0 none, 1 LZ4, 2 Zstd); other bits zero
//   26  reserved       u16 zero
//   28  synced_gap     u32 lsn minus the durable watermark when the record was framed
//                          (0xFFFFFFFF: unknown). Recovery uses it to tell a torn tail of
//                          unsynced writes from damage in the middle of the durable log.
// Body: key (key_len bytes), then expiry_ns (u64, if flag bit 1), then, if the value is
// compressed, raw_len (u32, the uncompressed length), then the value as stored.
//
// Why the record is bound to its segment and LSN: a record's header CRC is seeded with the
// id of the segment it was written to, and its LSN must be the next one expected. Bytes left by
// an older use of a recycled or preallocated file can therefore never read as a record of this
// log. An all-zero header is never valid (type 0 is not a type, and the masked CRC of zeros
// is not zero), so the zeros of a preallocated segment mark the clean end of the log.
//
// Close marker (since 1.1): a clean close leaves a 48-byte file named CLOSED in the log
// directory, saying where the log ended; a read-write open removes it. Damage found before
// that end is damage in the durable log, never a torn tail.
//    0  magic          8   "NORICLSD"
//    8  segment_id     u64 the active segment at close
//   16  end_offset     u64 the end of its last record
//   24  last_lsn       u64 the last LSN of the log (0: empty)
//   32  file_size      u64 the active segment file's size
//   40  reserved       u32 zero
//   44  crc            u32 masked CRC32C of bytes [0, 44)
#pragma once

#include <noriwal/bytes.hpp>
#include <noriwal/record.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace noriwal::detail {

inline constexpr std::byte segment_magic[8] = {std::byte{'N'}, std::byte{'O'}, std::byte{'R'}, std::byte{'I'},
                                               std::byte{'W'}, std::byte{'A'}, std::byte{'L'}, std::byte{0}};
inline constexpr std::size_t segment_header_size = 64;
inline constexpr std::size_t record_header_size = 32;
inline constexpr std::size_t record_alignment = 8;
inline constexpr std::uint32_t synced_gap_unknown = 0xFFFFFFFFu;

/// The largest max_record_size the format can hold (body_len is 32 bits).
inline constexpr std::uint64_t format_max_body = 0xFFFFFFFFull - record_header_size - record_alignment;

enum class record_type : std::uint8_t { full = 1, first = 2, middle = 3, last = 4 };

namespace flag {
inline constexpr std::uint8_t tombstone = 1u << 0;
inline constexpr std::uint8_t expiry = 1u << 1;
inline constexpr std::uint8_t compression_shift = 2;
inline constexpr std::uint8_t compression_mask = 3u << 2;
inline constexpr std::uint8_t known = tombstone | expiry | compression_mask;
}  // namespace flag

/// Byte offsets of the record header fields (the layout at the top of this file). Code outside
/// the format layer reads them through record_header_fields (lib/format/record_walk.hpp).
namespace record_field {
inline constexpr std::size_t header_crc = 0;
inline constexpr std::size_t payload_crc = 4;
inline constexpr std::size_t lsn = 8;
inline constexpr std::size_t body_len = 16;
inline constexpr std::size_t key_len = 20;
inline constexpr std::size_t type = 24;
inline constexpr std::size_t flags = 25;
inline constexpr std::size_t reserved = 26;
inline constexpr std::size_t synced_gap = 28;
}  // namespace record_field

/// An LSN range [first, last] that holds no record (skip_corrupted recovery skipped it).
struct lsn_range {
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    friend bool operator==(const lsn_range&, const lsn_range&) = default;
};

/// Rounds n up to the record alignment.
constexpr std::uint64_t align_up(std::uint64_t n) noexcept {
    return (n + record_alignment - 1) & ~std::uint64_t{record_alignment - 1};
}

/// LevelDB's CRC mask: storing the CRC of data that contains CRCs is weak, and the mask also
/// keeps the CRC of all zeros away from zero.
constexpr std::uint32_t mask_crc(std::uint32_t crc) noexcept {
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
constexpr std::uint32_t unmask_crc(std::uint32_t masked) noexcept {
    std::uint32_t rot = masked - 0xa282ead8u;
    return (rot >> 17) | (rot << 15);
}

// ---------------------------------------------------------------- segment header

struct segment_header {
    std::uint16_t major = 0;
    std::uint16_t minor = 0;
    std::uint64_t segment_id = 0;
    std::uint64_t base_lsn = 0;
    std::uint64_t created_ns = 0;
    std::uint64_t node_id = 0;
    std::uint64_t prepared_size = 0;  ///< preallocated file size at start (0: not preallocated)
};

/// Writes the 64-byte header (current format version) into out.
void encode_segment_header(const segment_header& h, std::span<std::byte, segment_header_size> out) noexcept;

enum class segment_header_status : std::uint8_t {
    ok,
    zero,                 ///< all 64 bytes are zero (a prepared file not yet started)
    short_file,           ///< fewer than 64 bytes
    bad_magic,            ///< not a noriwal segment
    bad_crc,              ///< the header is damaged
    unsupported_version,  ///< magic and CRC fine, unknown major version
};

segment_header_status decode_segment_header(std::span<const std::byte> bytes, segment_header& out) noexcept;

// ---------------------------------------------------------------- close marker

inline constexpr std::string_view close_marker_name = "CLOSED";
inline constexpr std::size_t close_marker_size = 48;

/// Where a cleanly closed log ended (the CLOSED file).
struct close_marker {
    std::uint64_t segment_id = 0;
    std::uint64_t end_offset = 0;
    std::uint64_t last_lsn = 0;
    std::uint64_t file_size = 0;
    friend bool operator==(const close_marker&, const close_marker&) = default;
};

void encode_close_marker(const close_marker& m, std::span<std::byte, close_marker_size> out) noexcept;
/// False unless `bytes` is exactly a marker with its magic and CRC.
bool decode_close_marker(std::span<const std::byte> bytes, close_marker& out) noexcept;

// ---------------------------------------------------------------- encoding (caller's thread)

struct encode_options {
    compression default_compression = compression::none;
    std::uint32_t compression_min_size = 256;
    int zstd_level = 3;
    std::uint32_t max_record_size = 64u << 20;
};

/// A record encoded but not yet framed: header with body_len, key_len, flags and payload_crc
/// filled in, then the body, then zero padding. lsn, type, synced_gap and header_crc are
/// stamped on the writer strand by stamp_record().
struct encoded_record {
    std::vector<std::byte> bytes;  ///< header + body + padding; size() is a multiple of 8
    std::uint32_t raw_value_size = 0;
    std::span<std::byte> header() noexcept { return {bytes.data(), record_header_size}; }
};

/// Encodes `r` (compressing its value if asked and if it shrinks; expiry = now + ttl).
/// errc::record_too_large if the body would exceed opts.max_record_size. Reuses out's buffer.
std::error_code encode_record(const record& r, const encode_options& opts, encoded_record& out);
/// The same with the clock given: expiry = now_ns + ttl (for deterministic tests and vectors).
std::error_code encode_record(const record& r, const encode_options& opts, std::uint64_t now_ns,
                              encoded_record& out);

/// Fills in lsn, type, synced_gap and header_crc of an encoded record's header.
/// `durable_lsn` is the durable watermark at framing time.
void stamp_record(std::span<std::byte> header, std::uint64_t segment_id, std::uint64_t lsn, record_type type,
                  std::uint64_t durable_lsn) noexcept;

// ---------------------------------------------------------------- decoding (recovery, readers)

/// A decoded record, viewing the bytes it was decoded from.
struct record_view {
    std::uint64_t lsn = 0;
    record_type type = record_type::full;
    std::uint8_t flags = 0;
    bytes_view key;
    bytes_view stored_value;  ///< as stored (compressed if compression() != none)
    std::uint32_t raw_value_size = 0;
    std::uint64_t expiry_ns = 0;  ///< 0: no expiry
    std::uint32_t synced_gap = synced_gap_unknown;
    std::uint64_t size = 0;  ///< bytes the record occupies, padding included (a multiple of 8)

    bool tombstone() const noexcept { return (flags & flag::tombstone) != 0; }
    bool has_expiry() const noexcept { return (flags & flag::expiry) != 0; }
    noriwal::compression compression() const noexcept {
        return static_cast<noriwal::compression>((flags & flag::compression_mask) >> flag::compression_shift);
    }
    /// The durable watermark the writer knew when it framed this record (0: unknown).
    std::uint64_t durable_hint() const noexcept {
        return synced_gap == synced_gap_unknown || synced_gap > lsn ? 0 : lsn - synced_gap;
    }
};

/// What decode_record found at an offset. Every value but `ok` names a kind of damage or end.
enum class decode_status : std::uint8_t {
    ok,
    zero,             ///< the 32 header bytes are all zero: the clean end of a preallocated segment
    short_header,     ///< fewer than 32 bytes remain
    bad_header_crc,   ///< the header fails its CRC (damage, garbage, or another segment's record)
    bad_header,       ///< the CRC holds but a field is impossible (type 0, unknown flags, key_len > body_len)
    bad_length,       ///< body_len exceeds max_record_size (no writer with this limit framed it)
    short_body,       ///< the record (body and padding) runs past the bytes available (a torn write)
    bad_payload_crc,  ///< the header is fine but the body is damaged (or torn)
};

/// Decodes the record at the start of `bytes`, which holds what remains of segment
/// `segment_id` (limited to the written region where known). Checks lengths against
/// max_record_size and bytes.size() before looking at the body; allocates nothing.
decode_status decode_record(std::span<const std::byte> bytes, std::uint64_t segment_id,
                            std::uint32_t max_record_size, record_view& out) noexcept;

/// Decodes only the header and checks its CRC and fields (not the body): enough to learn the
/// record's LSN and size. `out.key` and `out.stored_value` are left empty.
decode_status decode_record_header(std::span<const std::byte> bytes, std::uint64_t segment_id,
                                   std::uint32_t max_record_size, record_view& out) noexcept;

/// Decompresses rv.stored_value into out (resized to raw_value_size). errc::corrupted if the
/// stored bytes do not decompress to exactly raw_value_size bytes.
std::error_code decompress_value(const record_view& rv, std::vector<std::byte>& out);

/// The file name of a segment: 20 decimal digits and ".wal".
std::string segment_file_name(std::uint64_t segment_id);
/// Parses a segment file name; false for any other name.
bool parse_segment_file_name(std::string_view name, std::uint64_t& segment_id) noexcept;

}  // namespace noriwal::detail
