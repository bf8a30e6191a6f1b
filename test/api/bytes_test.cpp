// Bytes in and out: records take the contiguous byte ranges people hold, and the views a
// reader gives back convert explicitly to std::string and std::vector<std::byte>.
#include <noriwal/bytes.hpp>
#include <noriwal/reader.hpp>
#include <noriwal/record.hpp>
#include <noriwal/wal.hpp>

#include "api/api_support.hpp"

#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

using namespace noriwal;

namespace {

// In: implicit, as std::string_view is from a std::string.
static_assert(std::is_convertible_v<const std::string&, bytes_view>);
static_assert(std::is_convertible_v<std::string_view, bytes_view>);
static_assert(std::is_convertible_v<const std::vector<char>&, bytes_view>);
static_assert(std::is_convertible_v<const std::vector<unsigned char>&, bytes_view>);
static_assert(std::is_convertible_v<const std::vector<std::byte>&, bytes_view>);
static_assert(std::is_convertible_v<std::span<const std::byte>, bytes_view>);
static_assert(std::is_convertible_v<std::span<std::byte>, bytes_view>);
static_assert(std::is_convertible_v<const std::array<char, 4>&, bytes_view>);
static_assert(std::is_convertible_v<const unsigned char (&)[4], bytes_view>);
static_assert(std::is_convertible_v<const std::byte (&)[4], bytes_view>);
static_assert(std::is_convertible_v<const char*, bytes_view>);
// Not from ranges of wider elements.
static_assert(!std::is_convertible_v<const std::vector<int>&, bytes_view>);
// Out: explicit copies (a view never turns into an owner behind the reader's back).
static_assert(std::is_constructible_v<std::string, bytes_view>);
static_assert(std::is_constructible_v<std::vector<std::byte>, bytes_view>);
static_assert(!std::is_convertible_v<bytes_view, std::string>);
static_assert(!std::is_convertible_v<bytes_view, std::vector<std::byte>>);
// And it is still a span of bytes.
static_assert(std::is_convertible_v<bytes_view, std::span<const std::byte>>);

std::vector<std::byte> bytes_of(std::string_view s) {
    const auto b = as_bytes(s);
    return {b.begin(), b.end()};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bytes)

BOOST_AUTO_TEST_CASE(records_take_every_contiguous_byte_range) {
    auto log = wal::open(test::api_config()).log;
    const std::string s = "string";
    const std::string_view sv = "string_view";
    const std::vector<char> vc{'v', 'c'};
    const std::vector<unsigned char> vu{'v', 'u'};
    const std::vector<std::byte> vb = bytes_of("vb");
    const std::span<const std::byte> sp(vb);
    const std::array<char, 3> ac{'a', 'c', '!'};
    const unsigned char ua[2] = {'u', 'a'};
    const std::byte ba[2] = {std::byte{'b'}, std::byte{'a'}};
    log.append(record::put(s, sv));
    log.append(record::put("literal", vc));
    log.append(record::put(vu, vb));
    log.append(record::put(sp, ac));
    log.append(record::put(ua, ba));
    log.append(record::put(std::string("temporary"), std::vector<char>{'t', 'v'}));
    log.append(record::put_tombstone(s));

    const std::vector<std::pair<std::string, std::string>> expected = {
        {"string", "string_view"}, {"literal", "vc"}, {"vu", "vb"}, {"vb", "ac!"}, {"ua", "ba"},
        {"temporary", "tv"},       {"string", ""}};
    auto r = log.make_reader();
    for (const auto& [key, value] : expected) {
        auto e = r.try_next();
        BOOST_TEST_REQUIRE(e.has_value());
        BOOST_TEST(std::string(e->key()) == key);
        BOOST_TEST(static_cast<std::string>(e->value()) == value);
        const std::vector<std::byte> copied(e->value());
        BOOST_TEST(copied == bytes_of(value));
    }
    BOOST_TEST(!r.try_next().has_value());
    log.close();
}

BOOST_AUTO_TEST_CASE(copies_outlive_the_entry) {
    auto log = wal::open(test::api_config()).log;
    log.append(record::put("k", std::string(300, 'x')).with_compression(compression::lz4));
    std::string value;
    std::vector<std::byte> bytes;
    {
        auto e = log.make_reader().try_next();
        BOOST_TEST_REQUIRE(e.has_value());
        BOOST_TEST((e->stored_compression() == compression::lz4));
        value = std::string(e->value());
        bytes = std::vector<std::byte>(e->value());
    }
    BOOST_TEST(value == std::string(300, 'x'));
    BOOST_TEST(bytes == bytes_of(std::string(300, 'x')));
    log.close();
}

BOOST_AUTO_TEST_CASE(a_char_array_is_a_c_string_as_for_string_view) {
    // As std::string_view does: up to the first NUL. A binary char buffer goes through a span.
    const char buf[8] = "ab";
    BOOST_TEST(bytes_view(buf).size() == 2u);
    BOOST_TEST(bytes_view("abc").size() == 3u);
    BOOST_TEST(bytes_view(std::as_bytes(std::span(buf))).size() == 8u);
    const unsigned char raw[4] = {0, 1, 0, 2};
    BOOST_TEST(bytes_view(raw).size() == 4u);
}

BOOST_AUTO_TEST_SUITE_END()
