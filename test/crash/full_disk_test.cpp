// A real full disk: a small tmpfs mounted for the test and filled through the log. The error is
// errc::no_space, never a crash or a SIGBUS; every acknowledged record is intact after reopening
// (once space is freed, and, where recovery needs no new space, before). Needs root to mount
// (label "root"); without the privilege the case says so and passes.
#include <noriwal/error.hpp>

#include "crash/crash_explorer.hpp"
#include "support/mounts.hpp"
#include "support/printing.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

using namespace noriwal;
using namespace noriwal::test;

namespace {

namespace nd = noriwal::detail;

bool skip_unless_mounted(const test_mount& m) {
    if (m.mounted()) return false;
    BOOST_TEST(m.may_skip(), "mounting failed for another reason than privileges: " << m.error());
    BOOST_TEST_MESSAGE("SKIPPED: " << m.error() << "; run as root to test a real full disk");
    return true;
}

void fill_and_recover(preallocation prealloc) {
    temp_dir tmp("noriwal-full");
    const auto at = tmp / "mnt";
    std::filesystem::create_directory(at);
    auto mount = test_mount::tmpfs(at, 1u << 20);
    if (skip_unless_mounted(mount)) return;

    wal_config cfg;
    cfg.dir = at / "log";
    cfg.max_segment_size = 128u << 10;
    cfg.max_record_size = 8000;
    cfg.prealloc = prealloc;
    std::unique_ptr<nd::segment_log> log;
    recovery_info info;
    std::string why;
    BOOST_TEST_REQUIRE(!nd::segment_log::open(cfg, log, info, why), why);

    log_expectation model;
    lsn_t acked = 0;
    std::error_code failure;
    for (std::uint64_t n = 0; n < 10000 && !failure; ++n) {
        const auto c = make_content("full", n, 6000);
        const lsn_t lsn = log->next_position().lsn;
        model.allow(lsn, c, lsn, lsn);
        failure = append_contents(*log, {c}, false);
        if (!failure) failure = log->sync();  // fsync_policy::always
        if (!failure) acked = lsn;
    }
    BOOST_TEST_REQUIRE(static_cast<bool>(failure), "1 MiB never filled up");
    BOOST_TEST(failure == errc::no_space, "filling the disk failed with " << failure.message());
    BOOST_TEST(acked > 10u);
    // Fail-stop: nothing succeeds afterwards.
    BOOST_TEST(append_contents(*log, {make_content("full", 99999, 10)}, false) == errc::poisoned);
    BOOST_TEST(log->sync() == errc::poisoned);
    log.reset();

    model.required_to = acked;
    // Reopening on the full disk: it recovers, or says there is no space.
    {
        const auto ec = nd::segment_log::open(cfg, log, info, why);
        BOOST_TEST((!ec || ec == errc::no_space),
                   "reopen on a full disk: " << ec.message() << " (" << why << ")");
        log.reset();
        std::vector<read_record> got;
        BOOST_TEST_REQUIRE(read_log(*posix_file_system(), cfg.dir, got) == "");
        BOOST_TEST(check_log(got, model) == "");
    }
    // Space freed: everything acknowledged is there, and appends work again.
    BOOST_TEST_REQUIRE(mount.resize(4u << 20));
    const auto ec = nd::segment_log::open(cfg, log, info, why);
    BOOST_TEST_REQUIRE(!ec, "reopen after freeing space: " << ec.message() << " (" << why << ")");
    std::vector<read_record> got;
    BOOST_TEST_REQUIRE(read_log(*posix_file_system(), cfg.dir, got) == "");
    BOOST_TEST(check_log(got, model) == "");
    BOOST_TEST(!append_contents(*log, {make_content("full", 100000, 10)}, false));
    BOOST_TEST(!log->sync());
    BOOST_TEST_MESSAGE("prealloc " << static_cast<int>(prealloc) << ": " << acked
                                   << " records acknowledged before errc::no_space, all recovered");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(full_disk)

BOOST_AUTO_TEST_CASE(filling_a_tmpfs_with_zero_filled_segments) {
    fill_and_recover(preallocation::zero_fill);
}
BOOST_AUTO_TEST_CASE(filling_a_tmpfs_with_fallocated_segments) { fill_and_recover(preallocation::fallocate); }
BOOST_AUTO_TEST_CASE(filling_a_tmpfs_with_growing_segments) { fill_and_recover(preallocation::none); }

BOOST_AUTO_TEST_SUITE_END()
