// wal-inspect as a process: help for the tool and each subcommand, usage errors, and paths
// that are not a readable log (one line on stderr naming the path, exit status 2).
#include "tool_support.hpp"

#include <noriwal/detail/format.hpp>

#include <boost/test/unit_test.hpp>

#include <fstream>

using namespace noriwal;
using namespace noriwal::test;

namespace {

const std::vector<std::string> subcommands = {"list",   "dump",  "get",    "tail",
                                              "verify", "stats", "import", "repair"};

// Read subcommands, with the options each needs, for a given directory.
std::vector<std::vector<std::string>> read_commands(const std::string& dir) {
    return {{"list", dir},  {"dump", dir},           {"get", dir, "--key", "k1"}, {"tail", dir},
            {"stats", dir}, {"list", dir, "--json"}, {"stats", dir, "--json"}};
}

void write_text(const std::filesystem::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
}

// A log of two segments or more, written through the wal.
std::vector<written_record> small_log(const std::filesystem::path& dir) {
    std::vector<written_record> recs = sample_records(300);
    write_log(test_config(dir), recs, 10);
    BOOST_TEST_REQUIRE(segment_files(dir).size() >= 2u);
    return recs;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(usage)

BOOST_AUTO_TEST_CASE(help_for_the_tool_and_every_subcommand) {
    const process_result tool = run_inspect({"--help"});
    BOOST_TEST(tool.status == 0);
    for (const std::string& c : subcommands) {
        BOOST_TEST(tool.out.find("  " + c) != std::string::npos, "tool help lists " << c);
        const process_result r = run_inspect({c, "--help"});
        BOOST_TEST(r.status == 0, c << ": " << r.err);
        BOOST_TEST(r.out.find("Usage: wal-inspect " + c) != std::string::npos, r.out);
        BOOST_TEST(r.out.find("--help") != std::string::npos);
        BOOST_TEST(r.err.empty());
        const process_result h = run_inspect({"help", c});
        BOOST_TEST(h.status == 0);
        BOOST_TEST(h.out == r.out);
    }
    BOOST_TEST(run_inspect({"dump", "--help"}).out.find("--from-lsn") != std::string::npos);
    BOOST_TEST(run_inspect({"import", "--help"}).out.find("--fsync") != std::string::npos);
    BOOST_TEST(run_inspect({"repair", "--help"}).out.find("--mode") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2_with_one_line) {
    temp_dir dir("inspect-usage");
    small_log(dir.path());
    const std::string d = dir.path().string();
    struct usage_case {
        std::vector<std::string> args;
        std::string mentions;
    };
    const std::vector<usage_case> cases = {
        {{"frobnicate", d}, "unknown command 'frobnicate'"},
        {{"dump"}, "give the log directory"},
        {{"dump", d, "--from-lsnn", "3"}, "from-lsnn"},
        {{"dump", d, "--from-lsn", "abc"}, "from-lsn"},
        {{"dump", d, d}, "wal-inspect dump"},
        {{"dump", d, "--format", "xml"}, "--format xml"},
        {{"dump", d, "--from-lsn", "9", "--to-lsn", "3"}, "--from-lsn 9"},
        {{"get", d}, "--key"},
        {{"get", d, "--key", "a", "--key-base64", "YQ=="}, "not both"},
        {{"get", d, "--key-base64", "%%%"}, "--key-base64"},
        {{"repair", d}, "--mode"},
        {{"repair", d, "--mode", "absolute_consistency"}, "--mode absolute_consistency"},
        {{"import", d, "--fsync", "sometimes"}, "--fsync sometimes"},
    };
    for (const usage_case& c : cases) {
        const process_result r = run_inspect(c.args);
        BOOST_TEST(r.status == 2, c.args.front() << " " << c.mentions << ": " << r.err);
        BOOST_TEST(one_line_naming(r.err, c.mentions), "stderr: " << r.err);
    }
    BOOST_TEST(run_inspect({}).status == 2);
}

BOOST_AUTO_TEST_CASE(a_missing_directory_is_one_line_and_exit_2) {
    temp_dir dir("inspect-missing");
    const std::string missing = (dir.path() / "no-such-log").string();
    for (auto args : read_commands(missing)) {
        const process_result r = run_inspect(args);
        BOOST_TEST(r.status == 2, args.front());
        BOOST_TEST(one_line_naming(r.err, missing), args.front() << ": " << r.err);
    }
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"verify", missing}, {"repair", missing, "--mode", "point_in_time"}}) {
        const process_result r = run_inspect(args);
        BOOST_TEST(r.status == 2);
        BOOST_TEST(one_line_naming(r.err, missing), r.err);
    }
    BOOST_TEST(!std::filesystem::exists(missing));  // nothing read-only creates it
}

BOOST_AUTO_TEST_CASE(a_regular_file_an_empty_directory_and_a_foreign_name) {
    temp_dir dir("inspect-paths");
    const auto file = dir / "not-a-dir";
    write_text(file, "hello");
    const auto empty = dir / "empty";
    std::filesystem::create_directory(empty);
    const auto named = dir / "named";
    std::filesystem::create_directory(named);
    write_text(named / "notes.wal", "not a segment");
    for (const auto& [path, mentions] : std::vector<std::pair<std::filesystem::path, std::string>>{
             {file, "not a directory"}, {empty, "no segment file"}, {named, "notes.wal"}}) {
        for (auto args : read_commands(path.string())) {
            const process_result r = run_inspect(args);
            BOOST_TEST(r.status == 2, args.front() << " on " << path);
            BOOST_TEST(one_line_naming(r.err, mentions), args.front() << ": " << r.err);
            BOOST_TEST(r.err.find(path.string()) != std::string::npos);
        }
        const process_result v = run_inspect({"verify", path.string()});
        BOOST_TEST(v.status == 2);
        BOOST_TEST(one_line_naming(v.err, mentions), v.err);
    }
}

BOOST_AUTO_TEST_CASE(a_file_named_like_a_segment_that_is_not_one) {
    temp_dir dir("inspect-foreign");
    const auto seg = dir / detail::segment_file_name(1);
    write_text(seg, "this is a text file that someone put here, not a segment of a log");
    for (auto args : read_commands(dir.path().string())) {
        const process_result r = run_inspect(args);
        BOOST_TEST(r.status == 2, args.front());
        BOOST_TEST(one_line_naming(r.err, seg.string()), args.front() << ": " << r.err);
        BOOST_TEST(r.err.find("not a noriwal segment") != std::string::npos, r.err);
    }
    const process_result v = run_inspect({"verify", dir.path().string()});
    BOOST_TEST(v.status == 2);
    BOOST_TEST(one_line_naming(v.err, seg.string()), v.err);
}

BOOST_AUTO_TEST_CASE(a_damaged_segment_header_is_one_line_and_exit_2) {
    temp_dir dir("inspect-header");
    small_log(dir.path());
    const auto first = segment_files(dir.path()).front();
    flip_bit(first, 30);  // inside base_lsn: the header CRC no longer matches
    for (auto args : read_commands(dir.path().string())) {
        const process_result r = run_inspect(args);
        BOOST_TEST(r.status == 2, args.front());
        BOOST_TEST(one_line_naming(r.err, first.string()), args.front() << ": " << r.err);
        BOOST_TEST(r.err.find("damaged segment header") != std::string::npos, r.err);
    }
    // verify reports it as damage (exit 1), with the segment named.
    const process_result v = run_inspect({"verify", dir.path().string(), "--json"});
    BOOST_TEST(v.status == 1, v.err);
    const inspect::json::value doc = json_doc(v.out);
    bool named = false;
    for (const auto& d : member(doc, "damages").items)
        named = named || (member(d, "kind").text == "bad_segment_header" && uint_member(d, "segment") == 1);
    BOOST_TEST(named, v.out);
}

BOOST_AUTO_TEST_CASE(a_short_segment_file_is_a_damaged_header) {
    temp_dir dir("inspect-short");
    small_log(dir.path());
    const auto first = segment_files(dir.path()).front();
    truncate_file(first, 20);
    const process_result r = run_inspect({"list", dir.path().string()});
    BOOST_TEST(r.status == 2);
    BOOST_TEST(one_line_naming(r.err, first.string()), r.err);
}

BOOST_AUTO_TEST_SUITE_END()
