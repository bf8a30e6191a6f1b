// import as a process: acknowledgements, the import -> dump round trip of arbitrary bytes, TTLs
// and batches, and bad input lines (named by number, nothing from them on appended).
#include "tool_support.hpp"

#include <boost/test/unit_test.hpp>

#include <random>

using namespace noriwal;
using namespace noriwal::test;
namespace json = noriwal::inspect::json;

namespace {

struct item {
    std::string key;
    std::string value;
    bool tombstone = false;
};

// A JSON line for `it`, written by the test itself: text as JSON strings (with escapes the
// tool must decode, surrogate pairs included) when it is valid UTF-8, base64 otherwise.
std::string line_for(const item& it, const std::string& extra = {}) {
    auto field = [](const std::string& name, const std::string& bytes) {
        const std::string_view s(bytes);
        if (json::is_utf8(s)) {
            std::string q;
            json::append_string(q, s);
            return "\"" + name + "\":" + q;
        }
        return "\"" + name + "_base64\":\"" + json::base64_encode(as_bytes(s)) + "\"";
    };
    std::string out = "{" + field("key", it.key);
    if (!it.tombstone) out += "," + field("value", it.value);
    if (it.tombstone) out += ",\"tombstone\":true";
    return out + extra + "}\n";
}

std::string random_bytes(std::mt19937& rng, std::size_t max) {
    std::string s(rng() % (max + 1), '\0');
    for (char& c : s) {
        switch (rng() % 6) {
            case 0:
                c = '\0';
                break;
            case 1:
                c = '"';
                break;
            case 2:
                c = '\\';
                break;
            case 3:
                c = static_cast<char>(0x80 + rng() % 0x80);  // mostly not valid UTF-8
                break;
            default:
                c = static_cast<char>(0x20 + rng() % 0x5f);
        }
    }
    return s;
}

std::vector<json::value> dump_json(const std::filesystem::path& dir) {
    const process_result r = run_inspect({"dump", dir.string(), "--format", "json"});
    BOOST_TEST_REQUIRE(r.status == 0, r.err);
    return json_lines(r.out);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(import_command)

BOOST_AUTO_TEST_CASE(import_then_dump_round_trips_arbitrary_bytes) {
    temp_dir dir("inspect-import");
    std::mt19937 rng(2024);
    std::vector<item> items;
    for (int i = 0; i < 300; ++i) items.push_back({random_bytes(rng, 24), random_bytes(rng, 300), false});
    items.push_back({std::string(1, '\0'), std::string(3, '\0'), false});
    items.push_back({"", "", false});                                              // empty key and value
    items.push_back({"caf\xc3\xa9 \xf0\x9f\x98\x80", "\xe2\x82\xac 100", false});  // UTF-8 text
    items.push_back({"gone", "", true});
    items.push_back({"\xff\xfe", "", true});
    std::string input;
    for (const item& it : items) input += line_for(it);
    input += "\n   \n";  // blank lines are skipped
    // Escapes the writer above never produces: \u escapes, a surrogate pair, \/.
    input += R"({"key":"esc\u00e9\ud83d\ude00\/","value":"a\tb\u0000c"})"
             "\n";
    items.push_back({"esc\xc3\xa9\xf0\x9f\x98\x80/", std::string("a\tb\0c", 5), false});

    const process_result r = run_inspect({"import", dir.path().string(), "--segment-size", "65536"}, input);
    BOOST_TEST_REQUIRE(r.status == 0, r.err);
    const std::vector<json::value> acks = json_lines(r.out);
    BOOST_TEST_REQUIRE(acks.size() == items.size());
    const std::vector<json::value> dumped = dump_json(dir.path());
    BOOST_TEST_REQUIRE(dumped.size() == items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        BOOST_TEST(uint_member(acks[i], "lsn") == i + 1);
        BOOST_TEST(uint_member(dumped[i], "lsn") == uint_member(acks[i], "lsn"));
        BOOST_TEST(uint_member(dumped[i], "segment") == uint_member(acks[i], "segment"));
        BOOST_TEST(uint_member(dumped[i], "offset") == uint_member(acks[i], "offset"));
        BOOST_TEST(bytes_member(dumped[i], "key") == items[i].key, "record " << i);
        BOOST_TEST(bytes_member(dumped[i], "value") == items[i].value, "record " << i);
        BOOST_TEST(member(dumped[i], "tombstone").boolean == items[i].tombstone);
    }

    // And the dump imports again into another log, byte for byte.
    temp_dir again("inspect-reimport");
    const process_result first = run_inspect({"dump", dir.path().string(), "--format", "json"});
    const process_result second = run_inspect({"import", again.path().string()}, first.out);
    BOOST_TEST_REQUIRE(second.status == 0, second.err);
    const std::vector<json::value> copy = dump_json(again.path());
    BOOST_TEST_REQUIRE(copy.size() == dumped.size());
    for (std::size_t i = 0; i < copy.size(); ++i) {
        BOOST_TEST(bytes_member(copy[i], "key") == bytes_member(dumped[i], "key"));
        BOOST_TEST(bytes_member(copy[i], "value") == bytes_member(dumped[i], "value"));
    }
}

BOOST_AUTO_TEST_CASE(ttl_compression_and_batches_round_trip) {
    temp_dir dir("inspect-import-ttl");
    // An absolute expiry an hour ahead, one already past, a relative TTL, compressed values,
    // and an atomic batch.
    const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
    const std::int64_t ahead = now_ms + 3'600'000, past = now_ms - 60'000;
    const std::string big(400, 'c');
    std::string input;
    input += R"({"key":"a","value":"1","expiry_unix_ms":)" + std::to_string(ahead) + "}\n";
    input += R"({"key":"b","value":"2","expiry_unix_ms":)" + std::to_string(past) + ",\"ttl_ms\":5}\n";
    input += R"({"key":"c","value":"3","ttl_ms":60000})"
             "\n";
    input += R"({"key":"d","value":")" + big +
             R"(","compression":"lz4"})"
             "\n";
    input += R"({"key":"e","value":")" + big +
             R"(","compression":"zstd","ttl_ms":null,"expiry_unix_ms":null})"
             "\n";
    input += R"({"key":"f","value":"x","batch":"first"})"
             "\n";
    input += R"({"key":"g","value":"y","batch":"middle"})"
             "\n";
    input += R"({"key":"h","value":"z","batch":"last"})"
             "\n";
    input += R"({"lsn":99,"segment":7,"offset":64,"key":"i","value":"ignored position","batch":"single"})"
             "\n";
    const process_result r = run_inspect({"import", dir.path().string(), "--fsync", "always"}, input);
    BOOST_TEST_REQUIRE(r.status == 0, r.err);
    BOOST_TEST(json_lines(r.out).size() == 9u);
    const std::vector<json::value> d = dump_json(dir.path());
    BOOST_TEST_REQUIRE(d.size() == 9u);
    // The absolute expiry is kept to the millisecond (the import aims at the middle of it).
    const auto exp_a = member(d[0], "expiry_unix_ms").as_int64();
    BOOST_TEST_REQUIRE(exp_a.has_value());
    BOOST_TEST(std::abs(*exp_a - ahead) <= 1);
    BOOST_TEST(member(d[0], "ttl_ms").as_int64().value() > 0);
    // expiry_unix_ms wins over ttl_ms; an expiry in the past stays in the past.
    BOOST_TEST(std::abs(member(d[1], "expiry_unix_ms").as_int64().value() - past) <= 1);
    BOOST_TEST(member(d[1], "ttl_ms").as_int64().value() < 0);
    const auto ttl_c = member(d[2], "ttl_ms").as_int64().value();
    BOOST_TEST(ttl_c > 0);
    BOOST_TEST(ttl_c <= 60000);
    BOOST_TEST(member(d[3], "compression").text == "lz4");
    BOOST_TEST(bytes_member(d[3], "value") == big);
    BOOST_TEST(member(d[4], "compression").text == "zstd");
    BOOST_TEST(member(d[4], "ttl_ms").is_null());
    BOOST_TEST(member(d[5], "batch").text == "first");
    BOOST_TEST(member(d[6], "batch").text == "middle");
    BOOST_TEST(member(d[7], "batch").text == "last");
    BOOST_TEST(uint_member(d[8], "lsn") == 9u);
    BOOST_TEST(member(d[8], "batch").text == "single");
}

BOOST_AUTO_TEST_CASE(a_bad_line_stops_the_import_and_is_named) {
    struct bad_case {
        std::string line;
        std::string mentions;
    };
    const std::vector<bad_case> cases = {
        {"{\"key\":\"x\",", "line 3"},
        {"not json", "line 3"},
        {"[1,2]", "expected a JSON object"},
        {"{\"value\":\"no key\"}", "no \"key\""},
        {"{\"key\":\"x\",\"vlaue\":\"typo\"}", "unknown member \"vlaue\""},
        {"{\"key\":\"x\",\"key_base64\":\"eA==\"}", "both"},
        {"{\"key_base64\":\"not base64!\"}", "key_base64"},
        {"{\"key\":\"x\",\"ttl_ms\":1.5}", "ttl_ms"},
        {"{\"key\":\"x\",\"tombstone\":true,\"value\":\"v\"}", "tombstone"},
        {"{\"key\":\"x\",\"compression\":\"gzip\"}", "compression"},
        {"{\"key\":\"x\",\"batch\":\"last\"}", "without a \"first\""},
        {"{\"key\":\"\\ud800\"}", "surrogate"},
    };
    for (const bad_case& c : cases) {
        temp_dir dir("inspect-import-bad");
        const std::string input = "{\"key\":\"one\",\"value\":\"1\"}\n{\"key\":\"two\",\"value\":\"2\"}\n" +
                                  c.line + "\n{\"key\":\"four\",\"value\":\"4\"}\n";
        const process_result r = run_inspect({"import", dir.path().string()}, input);
        BOOST_TEST(r.status == 2, c.line);
        BOOST_TEST(one_line_naming(r.err, "line 3"), c.line << ": " << r.err);
        BOOST_TEST(r.err.find(c.mentions) != std::string::npos, c.line << ": " << r.err);
        // The two lines before it were appended and acknowledged; nothing from it on.
        const auto acks = json_lines(r.out);
        BOOST_TEST_REQUIRE(acks.size() == 2u, c.line);
        const std::vector<json::value> d = dump_json(dir.path());
        BOOST_TEST_REQUIRE(d.size() == 2u);
        BOOST_TEST(bytes_member(d[1], "key") == "two");
    }
    // A batch left open at the end of the input is not appended at all.
    temp_dir dir("inspect-import-open-batch");
    const process_result r = run_inspect(
        {"import", dir.path().string()},
        "{\"key\":\"one\",\"value\":\"1\"}\n{\"key\":\"b1\",\"value\":\"x\",\"batch\":\"first\"}\n");
    BOOST_TEST(r.status == 2);
    BOOST_TEST(one_line_naming(r.err, "line 2"), r.err);
    BOOST_TEST(json_lines(r.out).size() == 1u);
    BOOST_TEST(dump_json(dir.path()).size() == 1u);
}

BOOST_AUTO_TEST_CASE(import_refuses_a_log_another_writer_holds) {
    temp_dir dir("inspect-import-locked");
    wal::opened o = wal::open(test_config(dir.path()));
    const process_result r =
        run_inspect({"import", dir.path().string()}, "{\"key\":\"k\",\"value\":\"v\"}\n");
    BOOST_TEST(r.status == 2);
    BOOST_TEST(one_line_naming(r.err, "locked"), r.err);
    BOOST_TEST(r.out.empty());
    o.log.close();
}

BOOST_AUTO_TEST_SUITE_END()
