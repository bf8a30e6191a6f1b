// A real full disk: a small tmpfs mounted for the test and filled through the wal (two threads
// appending under fsync_policy::always). The error is
// errc::no_space, never a crash or a SIGBUS; every acknowledged record is intact after reopening
// (once space is freed, and, where recovery needs no new space, before). Needs root to mount
// (label "root"); without the privilege the case says so and passes.
#include <noriwal/error.hpp>

#include <noriwal/wal.hpp>

#include "crash/crash_explorer.hpp"
#include "crash/wal_model.hpp"
#include "support/mounts.hpp"
#include "support/printing.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <thread>

using namespace noriwal;
using namespace noriwal::test;

namespace {

using boost::system::error_code;

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
    cfg.fsync = fsync_policy::always();
    std::error_code ec;
    std::string why;
    auto opened = noriwal::wal::open(cfg, ec, &why);
    BOOST_TEST_REQUIRE(!ec, why);
    noriwal::wal w = std::move(opened.log);

    // Two appenders with several appends in flight each, until the disk is full.
    wal_model model;
    std::atomic<bool> full{false};
    std::mutex m;
    std::vector<std::error_code> failures;
    auto appender = [&](const std::string& stream) {
        while (!full) {
            std::vector<std::future<error_code>> inflight;
            for (int i = 0; i < 4; ++i) {
                auto c = std::make_shared<record_content>(model.next(stream, 6000));
                auto pr = std::make_shared<std::promise<error_code>>();
                inflight.push_back(pr->get_future());
                w.async_append(c->as_record(), [&model, c, pr](error_code e, position p) {
                    if (!e) model.acked(*c, p.lsn, true);
                    pr->set_value(e);
                });
            }
            for (auto& f : inflight) {
                if (const std::error_code e = f.get()) {
                    full = true;
                    std::lock_guard g(m);
                    failures.push_back(e);
                }
            }
        }
    };
    std::thread other(appender, "b");
    appender("a");
    other.join();
    BOOST_TEST_REQUIRE(!failures.empty());
    // The first failure is the full disk; the others are that or the poisoned log.
    BOOST_TEST(std::count(failures.begin(), failures.end(), make_error_code(errc::no_space)) >= 1);
    for (const auto& e : failures)
        BOOST_TEST((e == errc::no_space || e == errc::poisoned),
                   "filling the disk failed with " << e.message());
    BOOST_TEST(model.acked_count() > 10u);
    BOOST_TEST(w.failure() == errc::no_space, "wal::failure() is " << w.failure().message());
    // Fail-stop: nothing succeeds afterwards.
    std::promise<error_code> synced;
    w.async_sync([&](error_code e) { synced.set_value(e); });
    BOOST_TEST(static_cast<bool>(synced.get_future().get()));
    w = {};

    // Reopening on the full disk: it recovers, or says there is no space; the files hold every
    // acknowledged record either way.
    {
        auto again = noriwal::wal::open(cfg, ec, &why);
        BOOST_TEST((!ec || ec == errc::no_space),
                   "reopen on a full disk: " << ec.message() << " (" << why << ")");
        again.log = {};
        std::vector<read_record> got;
        BOOST_TEST_REQUIRE(read_log(*posix_file_system(), cfg.dir, got) == "");
        BOOST_TEST(model.check(got, 0) == "");
    }
    // Space freed: everything acknowledged is there, and appends work again.
    BOOST_TEST_REQUIRE(mount.resize(4u << 20));
    auto again = noriwal::wal::open(cfg, ec, &why);
    BOOST_TEST_REQUIRE(!ec, "reopen after freeing space: " << ec.message() << " (" << why << ")");
    std::vector<read_record> got;
    BOOST_TEST_REQUIRE(read_log(*posix_file_system(), cfg.dir, got) == "");
    BOOST_TEST(model.check(got, 0) == "");
    BOOST_TEST(again.log.append(record::put("after", "the disk was full")).lsn == got.back().lsn + 1);
    again.log.close();
    BOOST_TEST_MESSAGE("prealloc " << static_cast<int>(prealloc) << ": " << model.acked_count()
                                   << " appends acknowledged before errc::no_space, all recovered");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(full_disk)

BOOST_AUTO_TEST_CASE(filling_a_tmpfs_with_zero_filled_segments) {
    fill_and_recover(preallocation::zero_fill);
}
BOOST_AUTO_TEST_CASE(filling_a_tmpfs_with_fallocated_segments) { fill_and_recover(preallocation::fallocate); }
BOOST_AUTO_TEST_CASE(filling_a_tmpfs_with_growing_segments) { fill_and_recover(preallocation::none); }

BOOST_AUTO_TEST_SUITE_END()
