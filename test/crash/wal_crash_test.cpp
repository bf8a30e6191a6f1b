// Power cuts under the public asynchronous wal: several threads appending at once (group
// commit under fsync_policy::always), the batch timer, durability::always() overrides, async_sync,
// GC and truncation, with the wal's own writer, sync and spare threads doing the disk work.
// Crash points are a seeded sample of the disk operations those threads perform; every
// power-cut state of each is recovered and checked against a model of what the appenders were
// told (crash/wal_model.hpp): every acknowledged-durable record at its LSN, a contiguous log,
// batches whole, nothing torn, stale, phantom or resurrected.
#include "crash/wal_workload.hpp"

#include <noriwal/error.hpp>

#include "support/printing.hpp"

#include <boost/test/unit_test.hpp>

#include <thread>

using namespace noriwal;
using namespace noriwal::test;
using namespace std::chrono_literals;

namespace {

wal_config small_segments(fsync_policy policy) {
    wal_config cfg;
    cfg.max_segment_size = 4096;
    cfg.max_record_size = 3000;
    cfg.fsync = policy;
    return cfg;
}

exploration_options options(std::uint64_t seed) {
    exploration_options o;
    o.max_exhaustive = 6;
    o.samples = scaled(24, 3);
    o.max_tears_per_write = 3;
    o.seed = seed;
    return o;
}

std::size_t total_points = 0;
std::size_t total_states = 0;

void report(std::string_view workload, const crash_explorer& ex, wal_workload& w) {
    total_points += ex.points();
    total_states += ex.states();
    BOOST_TEST_MESSAGE(workload << ": " << ex.points() << " crash points, " << ex.states()
                                << " crash states checked, " << ex.failures() << " failed; "
                                << w.model().acked_count() << " appends acknowledged");
    BOOST_TEST(ex.points() > 0u);
    BOOST_TEST(ex.failures() == 0u, workload << ": " << ex.failures() << " of " << ex.states()
                                             << " crash states recovered wrongly (first ones above)");
    const auto closed = w.check_closed();
    BOOST_TEST(closed.empty(), workload << ": after close: " << closed);
}

struct summary {
    ~summary() {
        if (total_states != 0)
            BOOST_TEST_MESSAGE("crash-state summary: " << total_points << " crash points, " << total_states
                                                       << " crash states checked");
    }
};
BOOST_TEST_GLOBAL_FIXTURE(summary);

// Runs `fn(i)` on n threads and joins them.
template <class Fn>
void on_threads(std::size_t n, Fn fn) {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < n; ++i) threads.emplace_back([&fn, i] { fn(i); });
    for (auto& t : threads) t.join();
}

// Waits until `done()` holds. The limit only bounds how long a broken build hangs.
template <class Pred>
bool eventually(Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

// Fraction of disk operations that become crash points (fewer under sanitizers).
double sample(double p) { return std::min(1.0, p * test_scale()); }

}  // namespace

BOOST_AUTO_TEST_SUITE(wal_crash_states)

// fsync_policy::always: four threads with several appends in flight each share fdatasyncs.
// Every completion promises durability.
BOOST_AUTO_TEST_CASE(always_with_concurrent_appenders) {
    const auto cfg = small_segments(fsync_policy::always());
    crash_explorer ex(cfg, options(1));
    wal_workload w("always", cfg, &ex, sample(0.5), 1);
    on_threads(4, [&](std::size_t i) {
        const auto ec = w.append_stream("t" + std::to_string(i), 80, 1 + i, i == 0 ? 0 : 4);
        BOOST_TEST(!ec, ec.message());
    });
    BOOST_TEST(!w.close());
    report("wal always, 4 appenders", ex, w);
}

// fsync_policy::batch: appends complete once written; the timer makes them durable without
// another append. At the end, once the durable watermark reached the written one on its own,
// every record is required.
BOOST_AUTO_TEST_CASE(batch_policy_and_its_timer) {
    const auto cfg = small_segments(fsync_policy::batch(2ms));
    crash_explorer ex(cfg, options(2));
    wal_workload w("batch", cfg, &ex, sample(0.6), 2);
    on_threads(2, [&](std::size_t i) {
        const auto ec = w.append_stream("b" + std::to_string(i), 80, 3, 3);
        BOOST_TEST(!ec, ec.message());
    });
    BOOST_TEST(!w.sync());
    BOOST_TEST(!w.append_stream("late", 5, 5, 0));
    BOOST_TEST_REQUIRE(eventually([&] { return w.log().durable_lsn() == w.log().written_lsn(); }),
                       "the batch timer never synced the last appends");
    w.crash_point("after the batch timer synced the last appends");
    BOOST_TEST(!w.close());
    report("wal batch(2ms)", ex, w);
}

// fsync_policy::os with durability::always() on one stream, async_sync, GC while appending, then
// a truncation in a quiet moment, with recycled segments.
BOOST_AUTO_TEST_CASE(os_policy_sync_overrides_gc_and_truncation) {
    auto cfg = small_segments(fsync_policy::os());
    cfg.recycle_segments = true;
    crash_explorer ex(cfg, options(3));
    wal_workload w("os", cfg, &ex, sample(0.6), 3);
    on_threads(3, [&](std::size_t i) {
        if (i == 2) {
            // GC and syncs while the others append.
            for (int k = 0; k < 6; ++k) {
                BOOST_TEST(!w.sync());
                const lsn_t written = w.log().written_lsn();
                if (written > 20) BOOST_TEST(!w.delete_before(written - 15));
                std::this_thread::yield();
            }
            return;
        }
        const auto ec = w.append_stream("o" + std::to_string(i), 80, 2, 5,
                                        i == 0 ? durability::always() : durability::as_configured());
        BOOST_TEST(!ec, ec.message());
    });
    // A quiet moment: truncate after a single record, append again.
    BOOST_TEST_REQUIRE(!w.append_stream("quiet", 1, 1, 0));
    const lsn_t keep = w.log().written_lsn();
    BOOST_TEST_REQUIRE(!w.append_stream("quiet", 4, 2, 0));
    BOOST_TEST(!w.truncate_after(keep));
    BOOST_TEST(w.log().durable_lsn() == keep);
    BOOST_TEST(!w.append_stream("after-truncate", 10, 3, 3));
    BOOST_TEST(!w.sync());
    BOOST_TEST(!w.close());
    report("wal os, sync overrides, GC, truncation", ex, w);
}

BOOST_AUTO_TEST_SUITE_END()
