#include <noriwal/detail/crc32c.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

using noriwal::detail::crc32c_extend;
using noriwal::detail::crc32c_extend_portable;

namespace {

std::uint32_t crc_of(const void* p, std::size_t n) { return crc32c_extend(0, p, n); }

std::vector<unsigned char> random_bytes(std::size_t n, std::uint32_t seed) {
    std::mt19937 gen(seed);
    std::vector<unsigned char> v(n);
    for (auto& b : v) b = static_cast<unsigned char>(gen());
    return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(crc32c)

BOOST_AUTO_TEST_CASE(standard_check_values) {
    BOOST_TEST_MESSAGE("implementation: " << noriwal::detail::crc32c_implementation());
    constexpr std::string_view check = "123456789";
    BOOST_TEST(crc_of(check.data(), check.size()) == 0xE3069283u);
    BOOST_TEST(crc32c_extend_portable(0, check.data(), check.size()) == 0xE3069283u);

    // The test vectors of RFC 3720 (iSCSI), appendix B.4.
    unsigned char zeros[32] = {};
    unsigned char ones[32];
    unsigned char ascending[32];
    unsigned char descending[32];
    for (int i = 0; i < 32; ++i) {
        ones[i] = 0xFF;
        ascending[i] = static_cast<unsigned char>(i);
        descending[i] = static_cast<unsigned char>(31 - i);
    }
    for (auto f : {crc32c_extend, crc32c_extend_portable}) {
        BOOST_TEST(f(0, zeros, 32) == 0x8A9136AAu);
        BOOST_TEST(f(0, ones, 32) == 0x62A8AB43u);
        BOOST_TEST(f(0, ascending, 32) == 0x46DD794Eu);
        BOOST_TEST(f(0, descending, 32) == 0x113FDB5Cu);
    }
}

BOOST_AUTO_TEST_CASE(nothing_has_crc_zero) {
    BOOST_TEST(crc_of(nullptr, 0) == 0u);
    BOOST_TEST(crc32c_extend(0x12345678u, nullptr, 0) == 0x12345678u);
    BOOST_TEST(noriwal::detail::crc32c({}) == 0u);
}

BOOST_AUTO_TEST_CASE(implementation_is_named) {
    const std::string_view name = noriwal::detail::crc32c_implementation();
    BOOST_TEST((name == "sse4.2" || name == "armv8-crc" || name == "portable"));
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) BOOST_TEST(name == "sse4.2");
#endif
}

// Every length up to 1600 crosses the byte, 8-byte, 3 x 64 and 3 x 256 block paths; every start
// offset modulo 8 exercises the alignment prologue.
BOOST_AUTO_TEST_CASE(dispatched_equals_portable_at_every_length_and_alignment) {
    const auto data = random_bytes(1600 + 16, 1);
    for (std::size_t offset = 0; offset < 16; ++offset)
        for (std::size_t n = 0; n + offset <= data.size() && n <= 1600; ++n) {
            const std::uint32_t expected = crc32c_extend_portable(0, data.data() + offset, n);
            if (crc32c_extend(0, data.data() + offset, n) != expected)
                BOOST_FAIL("mismatch at offset " << offset << ", length " << n);
        }
}

// Sizes around the long-block boundary (3 x 8192 bytes) and a few MiB.
BOOST_AUTO_TEST_CASE(dispatched_equals_portable_on_large_buffers) {
    const auto data = random_bytes((4u << 20) + 64, 2);
    for (std::size_t n : {3u * 8192 - 1, 3u * 8192, 3u * 8192 + 1, 3u * 8192 + 3 * 256 + 7, 6u * 8192 + 5,
                          (1u << 20) + 3, 4u << 20}) {
        for (std::size_t offset : {0u, 1u, 5u, 8u}) {
            BOOST_TEST_CONTEXT("length " << n << ", offset " << offset) {
                BOOST_TEST(crc32c_extend(0, data.data() + offset, n) ==
                           crc32c_extend_portable(0, data.data() + offset, n));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(extend_equals_one_shot) {
    const auto data = random_bytes(100000, 3);
    const std::uint32_t whole = crc_of(data.data(), data.size());
    std::mt19937 gen(4);
    for (int trial = 0; trial < 200; ++trial) {
        // Split into up to four pieces at random points.
        std::size_t cuts[3];
        for (auto& c : cuts) c = gen() % (data.size() + 1);
        std::sort(std::begin(cuts), std::end(cuts));
        std::uint32_t c = 0, p = 0;
        std::size_t from = 0;
        for (std::size_t to : {cuts[0], cuts[1], cuts[2], data.size()}) {
            c = crc32c_extend(c, data.data() + from, to - from);
            p = crc32c_extend_portable(p, data.data() + from, to - from);
            from = to;
        }
        BOOST_TEST(c == whole);
        BOOST_TEST(p == whole);
    }
}

BOOST_AUTO_TEST_CASE(every_single_bit_flip_changes_the_crc) {
    auto data = random_bytes(64, 5);
    const std::uint32_t original = crc_of(data.data(), data.size());
    for (std::size_t bit = 0; bit < data.size() * 8; ++bit) {
        data[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
        BOOST_TEST(crc_of(data.data(), data.size()) != original);
        data[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
    }
}

BOOST_AUTO_TEST_SUITE_END()
