// noriwal-kvd's command line and request syntax (tools/noriwal-kvd/kvd.hpp).
#include "kvd.hpp"

#include <boost/test/unit_test.hpp>

using noriwal::kvd::options;
using noriwal::kvd::parse_options;

namespace {

bool parse(std::vector<std::string> args, options& o, std::string& error) {
    bool help = false;
    return parse_options(args, o, error, help);
}

const std::vector<std::string> required = {
    "--id",          "2", "--dir", "d", "--cluster", "1=127.0.0.1:7001,2=127.0.0.1:7002", "--client",
    "127.0.0.1:7102"};

}  // namespace

BOOST_AUTO_TEST_SUITE(kvd_command_line)

BOOST_AUTO_TEST_CASE(required_and_optional_options) {
    options o;
    std::string error;
    BOOST_REQUIRE_MESSAGE(parse(required, o, error), error);
    BOOST_TEST(o.id == 2u);
    BOOST_TEST(o.cluster.size() == 2u);
    BOOST_TEST(o.cluster.at(1) == "127.0.0.1:7001");
    BOOST_TEST(o.election_timeout_ms == 1000u);
    BOOST_TEST((o.fsync == noriwal::fsync_policy::always()));
    auto args = required;
    for (std::string a : {"--election-timeout", "300", "--heartbeat", "50", "--snapshot-threshold", "64",
                          "--snapshot-trailing", "16", "--fsync", "batch:5", "--segment-size", "4"})
        args.push_back(a);
    BOOST_REQUIRE_MESSAGE(parse(args, o, error), error);
    BOOST_TEST(o.election_timeout_ms == 300u);
    BOOST_TEST(o.heartbeat_ms == 50u);
    BOOST_TEST(o.snapshot_threshold == 64u);
    BOOST_TEST(o.snapshot_trailing == 16u);
    BOOST_TEST(o.segment_mib == 4u);
    BOOST_TEST((o.fsync == noriwal::fsync_policy::batch(std::chrono::milliseconds(5))));
}

BOOST_AUTO_TEST_CASE(bad_command_lines_are_refused_with_a_reason) {
    const std::vector<std::vector<std::string>> bad = {
        {},
        {"--id", "3", "--dir", "d", "--cluster", "1=127.0.0.1:7001", "--client",
         "127.0.0.1:1"},  // id not in cluster
        {"--id", "1", "--dir", "d", "--cluster", "1=localhost", "--client", "127.0.0.1:1"},  // no port
        {"--id", "1", "--dir", "d", "--cluster", "1=127.0.0.1:1,1=127.0.0.1:2", "--client", "127.0.0.1:1"},
        {"--id", "x", "--dir", "d", "--cluster", "1=127.0.0.1:1", "--client", "127.0.0.1:1"},
        {"--id", "1", "--dir", "d", "--cluster", "1=127.0.0.1:1", "--client", "127.0.0.1:1", "--fsync",
         "never"},
        {"--id", "1", "--dir", "d", "--cluster", "1=127.0.0.1:1", "--client", "127.0.0.1:1", "--heartbeat",
         "2000"},
        {"--id", "1", "--dir", "d", "--cluster", "1=127.0.0.1:1", "--client", "127.0.0.1:1", "--bogus", "1"},
        {"--id", "1", "--dir", "d", "--cluster", "1=127.0.0.1:1", "--client"},
    };
    for (const auto& args : bad) {
        options o;
        std::string error;
        BOOST_TEST(!parse(args, o, error));
        BOOST_TEST(!error.empty());
    }
    options o;
    std::string error;
    bool help = false;
    BOOST_TEST(!parse_options({"--help"}, o, error, help));
    BOOST_TEST(help);
}

BOOST_AUTO_TEST_CASE(request_syntax) {
    std::string reply;
    for (std::string ok : {"SET k v", "GET k", "STATUS", "SET k\xc3\xa9 v"}) {
        BOOST_TEST(!noriwal::kvd::reject_malformed(ok, reply), ok);
    }
    for (std::string bad :
         {"", "SET k", "SET k v w", "get k", "GET", "STATUS x", "SET  k v", "SET k v ", "GET k\x7f"}) {
        BOOST_TEST(noriwal::kvd::reject_malformed(bad, reply), bad);
        BOOST_TEST(reply.rfind("ERR ", 0) == 0u);
    }
}

BOOST_AUTO_TEST_SUITE_END()
