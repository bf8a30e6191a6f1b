// Segment headers and segment file names.
#include <noriwal/detail/crc32c.hpp>
#include <noriwal/detail/format.hpp>
#include <noriwal/version.hpp>

#include "print.hpp"

#include <boost/endian/conversion.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace nd = noriwal::detail;
using nd::segment_header_status;

namespace {

std::array<std::byte, 64> encoded(std::uint64_t id = 3) {
    nd::segment_header h;
    h.segment_id = id;
    h.base_lsn = 1000;
    h.created_ns = 1'700'000'000'000'000'000ull;
    h.node_id = 0xABCDEF;
    std::array<std::byte, 64> b;
    nd::encode_segment_header(h, b);
    return b;
}

// Recomputes the header CRC, as a writer of another format version would.
void reseal(std::array<std::byte, 64>& b) {
    auto* p = reinterpret_cast<unsigned char*>(b.data());
    boost::endian::store_little_u32(p + 60, nd::mask_crc(nd::crc32c_extend(0, p, 60)));
}

segment_header_status decode(std::span<const std::byte> b) {
    nd::segment_header h;
    return nd::decode_segment_header(b, h);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(segment_header)

BOOST_AUTO_TEST_CASE(round_trips_with_current_version) {
    const auto b = encoded(3);
    nd::segment_header h;
    BOOST_TEST_REQUIRE((nd::decode_segment_header(b, h) == segment_header_status::ok));
    BOOST_TEST(h.major == NORIWAL_FORMAT_VERSION_MAJOR);
    BOOST_TEST(h.minor == NORIWAL_FORMAT_VERSION_MINOR);
    BOOST_TEST(h.segment_id == 3u);
    BOOST_TEST(h.base_lsn == 1000u);
    BOOST_TEST(h.created_ns == 1'700'000'000'000'000'000ull);
    BOOST_TEST(h.node_id == 0xABCDEFu);
    BOOST_TEST(std::equal(b.begin(), b.begin() + 8, std::begin(nd::segment_magic)));
    // Only the first 64 bytes are the header: records may follow.
    std::vector<std::byte> file(b.begin(), b.end());
    file.resize(4096, std::byte{0x55});
    BOOST_TEST((decode(file) == segment_header_status::ok));
}

BOOST_AUTO_TEST_CASE(zeros_and_short_files) {
    std::vector<std::byte> zeros(4096);
    BOOST_TEST((decode(zeros) == segment_header_status::zero));
    BOOST_TEST((decode(std::span(zeros).first(63)) == segment_header_status::short_file));
    BOOST_TEST((decode({}) == segment_header_status::short_file));
    const auto b = encoded();
    BOOST_TEST((decode(std::span(b).first(63)) == segment_header_status::short_file));
}

BOOST_AUTO_TEST_CASE(every_single_bit_flip_is_detected) {
    auto b = encoded();
    for (std::size_t bit = 0; bit < 64 * 8; ++bit) {
        b[bit / 8] ^= std::byte{static_cast<unsigned char>(1u << (bit % 8))};
        const auto expected = bit < 64 ? segment_header_status::bad_magic : segment_header_status::bad_crc;
        BOOST_TEST((decode(b) == expected), "bit " << bit);
        b[bit / 8] ^= std::byte{static_cast<unsigned char>(1u << (bit % 8))};
    }
    BOOST_TEST((decode(b) == segment_header_status::ok));
}

BOOST_AUTO_TEST_CASE(other_files_are_not_segments) {
    std::string text =
        "this is not a wal segment, just some text that is long enough to fill a whole segment header.";
    BOOST_TEST((decode(noriwal::as_bytes(text)) == segment_header_status::bad_magic));
}

BOOST_AUTO_TEST_CASE(unknown_major_version_is_refused_minor_is_accepted) {
    auto b = encoded();
    auto* p = reinterpret_cast<unsigned char*>(b.data());
    boost::endian::store_little_u16(p + 8, NORIWAL_FORMAT_VERSION_MAJOR + 1);
    reseal(b);
    BOOST_TEST((decode(b) == segment_header_status::unsupported_version));
    boost::endian::store_little_u16(p + 8, 0);
    reseal(b);
    BOOST_TEST((decode(b) == segment_header_status::unsupported_version));

    // A later minor version may use the reserved bytes: this reader ignores them.
    b = encoded();
    boost::endian::store_little_u16(p + 10, NORIWAL_FORMAT_VERSION_MINOR + 7);
    std::fill(b.begin() + 48, b.begin() + 60, std::byte{0xEE});
    reseal(b);
    nd::segment_header h;
    BOOST_TEST_REQUIRE((nd::decode_segment_header(b, h) == segment_header_status::ok));
    BOOST_TEST(h.minor == NORIWAL_FORMAT_VERSION_MINOR + 7);
    BOOST_TEST(h.segment_id == 3u);

    // A different header size would move the records: refused like an unknown major.
    b = encoded();
    boost::endian::store_little_u32(p + 12, 128);
    reseal(b);
    BOOST_TEST((decode(b) == segment_header_status::unsupported_version));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(segment_file_name)

BOOST_AUTO_TEST_CASE(names_are_twenty_digits_and_sort_in_log_order) {
    BOOST_TEST(nd::segment_file_name(0) == "00000000000000000000.wal");
    BOOST_TEST(nd::segment_file_name(42) == "00000000000000000042.wal");
    BOOST_TEST(nd::segment_file_name(UINT64_MAX) == "18446744073709551615.wal");
    const std::uint64_t ids[] = {0, 1, 9, 10, 99, 100, 12345678901234ull, UINT64_MAX - 1, UINT64_MAX};
    for (std::size_t i = 0; i + 1 < std::size(ids); ++i)
        BOOST_TEST(nd::segment_file_name(ids[i]) < nd::segment_file_name(ids[i + 1]));
    for (std::uint64_t id : ids) {
        std::uint64_t parsed = 12345;
        BOOST_TEST_REQUIRE(nd::parse_segment_file_name(nd::segment_file_name(id), parsed));
        BOOST_TEST(parsed == id);
    }
}

BOOST_AUTO_TEST_CASE(other_names_are_rejected) {
    const char* names[] = {
        "",
        ".wal",
        "1.wal",
        "0000000000000000001.wal",    // 19 digits
        "000000000000000000001.wal",  // 21 digits
        "18446744073709551616.wal",   // 2^64
        "99999999999999999999.wal",
        "0000000000000000000a.wal",
        "+0000000000000000001.wal",
        "-0000000000000000001.wal",
        " 0000000000000000001.wal",
        "00000000000000000001.WAL",
        "00000000000000000001.wal.tmp",
        "00000000000000000001.wa",
        "00000000000000000001_wal",
        "00000000000000000001",
        "LOCK",
    };
    for (const char* n : names) {
        std::uint64_t id = 77;
        BOOST_TEST(!nd::parse_segment_file_name(n, id), "accepted \"" << n << '"');
        BOOST_TEST(id == 77u);
    }
    std::uint64_t id = 0;
    BOOST_TEST(nd::parse_segment_file_name("18446744073709551615.wal", id));
    BOOST_TEST(id == UINT64_MAX);
}

BOOST_AUTO_TEST_SUITE_END()
