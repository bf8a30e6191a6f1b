// The JSON writer and reader of wal-inspect (tools/wal-inspect/json.hpp): escaping, \u escapes
// with surrogate pairs, UTF-8 validation, base64, and what the strict reader refuses.
#include "json.hpp"

#include <boost/test/unit_test.hpp>

#include <random>
#include <string>
#include <vector>

using namespace noriwal::inspect;

namespace {

std::string quoted(std::string_view s) {
    std::string out;
    json::append_string(out, s);
    return out;
}

json::value parsed(std::string_view text) {
    json::value v;
    std::string error;
    BOOST_TEST_REQUIRE(json::parse(text, v, error), error << " in " << text);
    return v;
}

std::string parse_error(std::string_view text) {
    json::value v;
    std::string error;
    BOOST_TEST_REQUIRE(!json::parse(text, v, error), "accepted: " << text);
    BOOST_TEST(!error.empty());
    return error;
}

std::vector<std::byte> bytes(std::string_view s) {
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    return {p, p + s.size()};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(json_codec)

BOOST_AUTO_TEST_CASE(strings_escape_quotes_backslashes_and_control_characters) {
    BOOST_TEST(quoted("plain") == "\"plain\"");
    BOOST_TEST(quoted("a\"b\\c") == "\"a\\\"b\\\\c\"");
    BOOST_TEST(quoted("\n\r\t\b\f") == "\"\\n\\r\\t\\b\\f\"");
    BOOST_TEST(quoted(std::string("\0\x01\x1f\x7f", 4)) == "\"\\u0000\\u0001\\u001f\\u007f\"");
    BOOST_TEST(quoted("caf\xc3\xa9 \xf0\x9f\x98\x80") == "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");  // UTF-8 as is
}

BOOST_AUTO_TEST_CASE(every_string_written_reads_back) {
    std::mt19937 rng(7);
    for (int n = 0; n < 200; ++n) {
        // Random code points (no surrogates), encoded as UTF-8.
        std::string s;
        const int len = static_cast<int>(rng() % 40);
        for (int i = 0; i < len; ++i) {
            std::uint32_t cp = rng() % 4 == 0 ? rng() % 0x20 : rng() % 0x110000;
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
            if (cp < 0x80) {
                s.push_back(static_cast<char>(cp));
            } else if (cp < 0x800) {
                s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
                s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
            } else if (cp < 0x10000) {
                s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
                s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
                s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
            } else {
                s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
                s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
                s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
                s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
            }
        }
        BOOST_TEST_REQUIRE(json::is_utf8(s));
        const json::value v = parsed(quoted(s));
        BOOST_TEST((v.type == json::value::kind::string));
        BOOST_TEST(v.text == s);
    }
}

BOOST_AUTO_TEST_CASE(unicode_escapes_decode_including_surrogate_pairs) {
    BOOST_TEST(parsed("\"\\u0041\\u00e9\\u20ac\"").text == "A\xc3\xa9\xe2\x82\xac");
    BOOST_TEST(parsed("\"\\ud83d\\ude00\"").text == "\xf0\x9f\x98\x80");  // U+1F600
    BOOST_TEST(parsed("\"\\uDBFF\\uDFFF\"").text == "\xf4\x8f\xbf\xbf");  // U+10FFFF
    BOOST_TEST(parsed("\"\\u0000\"").text == std::string(1, '\0'));
    BOOST_TEST(parsed("\"\\/\"").text == "/");
}

BOOST_AUTO_TEST_CASE(unpaired_surrogates_and_bad_escapes_are_refused) {
    parse_error("\"\\ud83d\"");         // high surrogate alone
    parse_error("\"\\ud83dx\"");        // high surrogate, then not an escape
    parse_error("\"\\ud83d\\u0041\"");  // high surrogate, then not a low one
    parse_error("\"\\ude00\"");         // low surrogate alone
    parse_error("\"\\u12\"");
    parse_error("\"\\x41\"");
    parse_error("\"\\");
}

BOOST_AUTO_TEST_CASE(utf8_validation_follows_rfc_3629) {
    BOOST_TEST(json::is_utf8(""));
    BOOST_TEST(json::is_utf8("ascii only, long enough for the eight-byte path"));
    BOOST_TEST(json::is_utf8("\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"));
    BOOST_TEST(!json::is_utf8("\x80"));              // a lone continuation byte
    BOOST_TEST(!json::is_utf8("\xc0\xaf"));          // overlong '/'
    BOOST_TEST(!json::is_utf8("\xe0\x80\xaf"));      // overlong
    BOOST_TEST(!json::is_utf8("\xed\xa0\x80"));      // U+D800, a surrogate
    BOOST_TEST(!json::is_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
    BOOST_TEST(!json::is_utf8("\xf5\x80\x80\x80"));
    BOOST_TEST(!json::is_utf8("ab\xe2\x82"));  // cut short
    BOOST_TEST(!json::is_utf8("\xff"));
    // Raw invalid UTF-8 inside a JSON string is refused too.
    parse_error("\"\xc0\xaf\"");
}

BOOST_AUTO_TEST_CASE(base64_round_trips_and_is_strict) {
    BOOST_TEST(json::base64_encode(bytes("")) == "");
    BOOST_TEST(json::base64_encode(bytes("f")) == "Zg==");
    BOOST_TEST(json::base64_encode(bytes("fo")) == "Zm8=");
    BOOST_TEST(json::base64_encode(bytes("foo")) == "Zm9v");
    BOOST_TEST(json::base64_encode(bytes("foobar")) == "Zm9vYmFy");
    std::mt19937 rng(11);
    for (int n = 0; n < 100; ++n) {
        std::vector<std::byte> b(rng() % 50);
        for (auto& x : b) x = static_cast<std::byte>(rng());
        std::vector<std::byte> back;
        BOOST_TEST_REQUIRE(json::base64_decode(json::base64_encode(b), back));
        BOOST_TEST((back == b));
    }
    std::vector<std::byte> out;
    BOOST_TEST(!json::base64_decode("Zg=", out));   // not a multiple of 4
    BOOST_TEST(!json::base64_decode("Zh==", out));  // non-zero bits under the padding
    BOOST_TEST(!json::base64_decode("Z===", out));
    BOOST_TEST(!json::base64_decode("Zg==Zg==", out));  // padding in the middle
    BOOST_TEST(!json::base64_decode("Zm9v YmFy", out));
    BOOST_TEST(!json::base64_decode("Zm9-", out));  // URL alphabet
}

BOOST_AUTO_TEST_CASE(objects_numbers_and_literals_parse) {
    const json::value v = parsed(
        R"( {"lsn": 18446744073709551615, "neg": -5, "f": 1.5e3, "t": true, "n": null, "a": [1, [], {}], "s": ""} )");
    BOOST_TEST(v.find("lsn")->as_uint64().value() == 18446744073709551615ull);
    BOOST_TEST(!v.find("lsn")->as_int64().has_value());
    BOOST_TEST(v.find("neg")->as_int64().value() == -5);
    BOOST_TEST(!v.find("neg")->as_uint64().has_value());
    BOOST_TEST(!v.find("f")->as_int64().has_value());
    BOOST_TEST(v.find("t")->boolean);
    BOOST_TEST(v.find("n")->is_null());
    BOOST_TEST(v.find("a")->items.size() == 3u);
    BOOST_TEST(v.find("missing") == nullptr);
}

BOOST_AUTO_TEST_CASE(malformed_documents_are_refused_with_a_column) {
    BOOST_TEST(parse_error("{\"a\":1,}").find("column") != std::string::npos);
    parse_error("");
    parse_error("{");
    parse_error("{\"a\" 1}");
    parse_error("{\"a\":1 \"b\":2}");
    parse_error("{a:1}");
    parse_error("[1,]");
    parse_error("01");
    parse_error("1.");
    parse_error("-");
    parse_error("tru");
    parse_error("{\"a\":1}{");
    parse_error("\"tab\there\"");                                // raw control character
    parse_error("{\"a\":1,\"a\":2}");                            // duplicate member
    parse_error(std::string(100, '[') + std::string(100, ']'));  // deeper than 64
    BOOST_TEST(parsed(std::string(60, '[') + std::string(60, ']')).items.size() == 1u);
}

BOOST_AUTO_TEST_CASE(object_writer_chooses_base64_for_bytes_that_are_not_utf8) {
    std::string out;
    json::object_writer w(out);
    w.bytes("key", bytes("k\"1"))
        .bytes("value", bytes(std::string_view("\xff\x00z", 3)))
        .number("lsn", std::uint64_t{7})
        .null("ttl_ms");
    w.end();
    const json::value v = parsed(out);
    BOOST_TEST(v.find("key")->text == "k\"1");
    BOOST_TEST(v.find("value") == nullptr);
    std::vector<std::byte> value;
    BOOST_TEST_REQUIRE(json::base64_decode(v.find("value_base64")->text, value));
    BOOST_TEST((value == bytes(std::string_view("\xff\x00z", 3))));
}

BOOST_AUTO_TEST_SUITE_END()
