// Segment files: the 64-byte header at offset 0 and the file names. Layout in format.hpp and
// doc/format.md.
#include <noriwal/detail/crc32c.hpp>
#include <noriwal/detail/format.hpp>
#include <noriwal/version.hpp>

#include "format/little_endian.hpp"

#include <algorithm>
#include <cstring>

namespace noriwal::detail {
namespace {

constexpr std::size_t crc_offset = 60;  // header_crc covers bytes [0, 60)

constexpr std::string_view file_suffix = ".wal";
constexpr std::size_t id_digits = 20;  // enough for every u64 (18446744073709551615)

}  // namespace

void encode_segment_header(const segment_header& h, std::span<std::byte, segment_header_size> out) noexcept {
    std::byte* p = out.data();
    std::memcpy(p, segment_magic, sizeof segment_magic);
    le::store_u16(p + 8, NORIWAL_FORMAT_VERSION_MAJOR);
    le::store_u16(p + 10, NORIWAL_FORMAT_VERSION_MINOR);
    le::store_u32(p + 12, segment_header_size);
    le::store_u64(p + 16, h.segment_id);
    le::store_u64(p + 24, h.base_lsn);
    le::store_u64(p + 32, h.created_ns);
    le::store_u64(p + 40, h.node_id);
    le::store_u64(p + 48, h.prepared_size);
    std::memset(p + 56, 0, crc_offset - 56);
    le::store_u32(p + crc_offset, mask_crc(crc32c(out.first(crc_offset))));
}

segment_header_status decode_segment_header(std::span<const std::byte> bytes, segment_header& out) noexcept {
    if (bytes.size() < segment_header_size) return segment_header_status::short_file;
    const auto header = bytes.first(segment_header_size);
    if (std::all_of(header.begin(), header.end(), [](std::byte b) { return b == std::byte{0}; }))
        return segment_header_status::zero;
    const std::byte* p = header.data();
    if (std::memcmp(p, segment_magic, sizeof segment_magic) != 0) return segment_header_status::bad_magic;
    if (le::load_u32(p + crc_offset) != mask_crc(crc32c(header.first(crc_offset))))
        return segment_header_status::bad_crc;
    // A reader knows one major version. Within it, minor versions only give meaning to bytes
    // that older readers ignore (the reserved bytes), so they are not checked here; a
    // different header_size would move the records and is refused like an unknown major.
    const std::uint16_t major = le::load_u16(p + 8);
    if (major != NORIWAL_FORMAT_VERSION_MAJOR || le::load_u32(p + 12) != segment_header_size)
        return segment_header_status::unsupported_version;
    out.major = major;
    out.minor = le::load_u16(p + 10);
    out.segment_id = le::load_u64(p + 16);
    out.base_lsn = le::load_u64(p + 24);
    out.created_ns = le::load_u64(p + 32);
    out.node_id = le::load_u64(p + 40);
    out.prepared_size = le::load_u64(p + 48);  // 0 in 1.0 headers (reserved zeros)
    return segment_header_status::ok;
}

namespace {
constexpr std::byte close_magic[8] = {std::byte{'N'}, std::byte{'O'}, std::byte{'R'}, std::byte{'I'},
                                      std::byte{'C'}, std::byte{'L'}, std::byte{'S'}, std::byte{'D'}};
constexpr std::size_t close_crc_offset = 44;
}  // namespace

void encode_close_marker(const close_marker& m, std::span<std::byte, close_marker_size> out) noexcept {
    std::byte* p = out.data();
    std::memcpy(p, close_magic, sizeof close_magic);
    le::store_u64(p + 8, m.segment_id);
    le::store_u64(p + 16, m.end_offset);
    le::store_u64(p + 24, m.last_lsn);
    le::store_u64(p + 32, m.file_size);
    le::store_u32(p + 40, 0);
    le::store_u32(p + close_crc_offset, mask_crc(crc32c(out.first(close_crc_offset))));
}

bool decode_close_marker(std::span<const std::byte> bytes, close_marker& out) noexcept {
    if (bytes.size() != close_marker_size) return false;
    const std::byte* p = bytes.data();
    if (std::memcmp(p, close_magic, sizeof close_magic) != 0) return false;
    if (le::load_u32(p + close_crc_offset) != mask_crc(crc32c(bytes.first(close_crc_offset)))) return false;
    out.segment_id = le::load_u64(p + 8);
    out.end_offset = le::load_u64(p + 16);
    out.last_lsn = le::load_u64(p + 24);
    out.file_size = le::load_u64(p + 32);
    return true;
}

std::string segment_file_name(std::uint64_t segment_id) {
    std::string name(id_digits, '0');
    for (std::size_t i = id_digits; segment_id != 0; segment_id /= 10)
        name[--i] = static_cast<char>('0' + segment_id % 10);
    name += file_suffix;
    return name;
}

bool parse_segment_file_name(std::string_view name, std::uint64_t& segment_id) noexcept {
    if (name.size() != id_digits + file_suffix.size() || !name.ends_with(file_suffix)) return false;
    std::uint64_t id = 0;
    for (std::size_t i = 0; i < id_digits; ++i) {
        const char c = name[i];
        if (c < '0' || c > '9') return false;
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (id > (UINT64_MAX - digit) / 10) return false;  // more than 2^64 - 1
        id = id * 10 + digit;
    }
    segment_id = id;
    return true;
}

}  // namespace noriwal::detail
