// The main demonstration (examples/demo.cpp) runs to its end with a small number of records:
// it writes, crashes a child writer with SIGKILL, recovers, and shows the log with wal-inspect.
#include "process.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>

using namespace noriwal::test;

BOOST_AUTO_TEST_SUITE(demo)

#ifdef NORIWAL_DEMO
BOOST_AUTO_TEST_CASE(the_demo_runs_and_shows_the_recovery) {
    const process_result r = run_process(NORIWAL_DEMO, {"--records", "3000"}, {}, std::chrono::seconds(120));
    BOOST_TEST_REQUIRE(!r.timed_out);
    BOOST_TEST(r.status == 0, r.out << r.err);
    BOOST_TEST(r.out.find("recovery_info: ") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("every acknowledged record survived the crash") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("$ wal-inspect list") != std::string::npos);
    BOOST_TEST(r.out.find("$ wal-inspect stats") != std::string::npos);
    BOOST_TEST(r.out.find("$ wal-inspect tail") != std::string::npos);
    // It removed its temporary directory, and said so.
    const auto removed = r.out.find("Removed ");
    BOOST_TEST_REQUIRE(removed != std::string::npos);
    const auto end = r.out.find(" (run with --keep", removed);
    BOOST_TEST(!std::filesystem::exists(r.out.substr(removed + 8, end - removed - 8)));
}
#else
BOOST_AUTO_TEST_CASE(the_demo_is_not_built_in_this_configuration) { BOOST_TEST_MESSAGE("no noriwal-demo"); }
#endif

BOOST_AUTO_TEST_SUITE_END()
