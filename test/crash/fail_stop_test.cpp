// Fail-stop: an injected EIO or ENOSPC at each write, fdatasync and directory fsync of a
// workload, in turn. The error must reach the caller of the operation that hit it; from then on
// every operation fails and nothing more is acknowledged (written or durable watermark); a
// retried fsync is never reported as success (the simulated disk drops the dirty pages after a
// failed fsync and reports the next one as a success, as Linux does); and reopening recovers
// every record acknowledged before the failure: after a process crash everything written,
// after a power cut everything durable. Also a disk that fills up (capacity), with writes that
// store a prefix before they fail.
#include <noriwal/error.hpp>

#include "crash/crash_explorer.hpp"
#include "support/printing.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>

using namespace noriwal;
using namespace noriwal::test;

namespace {

namespace nd = noriwal::detail;

wal_config config(const std::shared_ptr<sim_disk>& disk, preallocation prealloc = preallocation::zero_fill) {
    wal_config cfg;
    cfg.dir = crash_dir;
    cfg.fs = disk;
    cfg.max_segment_size = 4096;
    cfg.max_record_size = 3000;
    cfg.prealloc = prealloc;
    cfg.recycle_segments = true;
    return cfg;
}

// What a run acknowledged before it stopped.
struct run_result {
    std::error_code first_error;  // of the first operation that failed
    std::string failed_op;
    bool open_failed = false;
    lsn_t acked_written = 0;  // every append up to here returned success
    lsn_t acked_durable = 0;  // covered by a sync (or truncate_after) that returned success
    log_expectation model;
    std::string violation;      // what the run itself saw wrong (empty if nothing)
    bool spare_failed = false;  // make_spare reported the fault (the log stays usable)
    lsn_t required_from = 1;    // records below may be deleted (delete_segments_before ran)
};

bool matches(std::error_code got, std::error_code injected) {
    if (got == injected) return true;
    if (injected == errc::no_space) return got == errc::no_space;
    return got == errc::io_failed;
}

// The workload: appends (single, batch, group), syncs every second step, rotation through
// small segments, a spare prepared ahead, GC with recycling, a truncation, a reopen, close.
// It stops at the first operation that fails and then checks that every operation after it
// fails too and that the watermarks stand still.
run_result run(const std::shared_ptr<sim_disk>& disk, preallocation prealloc, std::error_code injected,
               const std::atomic<bool>& fired) {
    run_result r;
    std::unique_ptr<nd::segment_log> log;
    std::uint64_t counter = 0;
    auto content = [&](std::size_t max) { return make_content("fail", counter++, max); };

    auto open = [&](const char* what) {
        recovery_info info;
        std::string why;
        const auto ec = nd::segment_log::open(config(disk, prealloc), log, info, why);
        if (ec) {
            r.first_error = ec;
            r.failed_op = what;
            r.open_failed = true;
            if (!fired) r.violation = std::string(what) + " failed without an injected fault: " + why;
            return false;
        }
        r.acked_durable = std::max(r.acked_durable, log->durable_lsn());
        r.acked_written = std::max(r.acked_written, log->written_lsn());
        return true;
    };
    // Runs one operation; false once something failed.
    auto step = [&](const std::string& what, auto&& op) {
        const lsn_t written = log->written_lsn();
        const lsn_t durable = log->durable_lsn();
        const std::error_code ec = op();
        if (!ec) {
            r.acked_written = std::max(r.acked_written, log->written_lsn());
            r.acked_durable = std::max(r.acked_durable, log->durable_lsn());
            return true;
        }
        r.first_error = ec;
        r.failed_op = what;
        if (!fired) r.violation = what + " failed (" + ec.message() + ") without an injected fault";
        if (log->durable_lsn() > durable)
            r.violation = what + " failed but advanced the durable watermark from " +
                          std::to_string(durable) + " to " + std::to_string(log->durable_lsn());
        if (log->written_lsn() > written && what.starts_with("append"))
            r.violation = what + " failed but advanced the written watermark";
        return false;
    };
    auto append = [&](std::vector<record_content> c, bool atomic) {
        const lsn_t first = log->next_position().lsn;
        for (std::size_t i = 0; i < c.size(); ++i)
            r.model.allow(first + i, c[i], atomic ? first : first + i,
                          atomic ? first + c.size() - 1 : first + i);
        return step("append of LSN " + std::to_string(first),
                    [&] { return append_contents(*log, c, atomic); });
    };
    auto sync = [&] { return step("sync", [&] { return log->sync(); }); };

    if (!open("first open")) return r;
    bool ok = true;
    for (int i = 0; ok && i < 36; ++i) {
        if (i % 4 == 3) {
            ok = append({content(700), content(700), content(300)}, true);
        } else {
            ok = append({content(1500)}, false);
        }
        if (ok && i % 2 == 1) ok = sync();
        if (ok && i % 12 == 5) {
            // A spare prepared ahead: its failure is reported to whoever prepares it and
            // leaves the log usable (rotation then makes its own).
            if (auto req = log->spare_needed()) {
                nd::spare_segment spare;
                const auto ec = nd::make_spare(*req, spare);
                log->spare_ready(std::move(spare), ec);
                r.spare_failed = r.spare_failed || static_cast<bool>(ec);
                if (ec && !fired) r.violation = "make_spare failed without an injected fault";
                if (ec && !matches(ec, injected)) r.violation = "make_spare failed with " + ec.message();
            }
        }
        if (ok && i % 12 == 8) {
            // Segments may be gone even if the deletion fails (its directory fsync did).
            const auto segs = log->segments();
            r.required_from = segs.size() > 1 ? segs.back().base_lsn : segs.front().base_lsn;
            std::uint64_t deleted = 0;
            ok = step("delete_segments_before", [&] {
                return log->delete_segments_before(position{0, 0, log->written_lsn()}, deleted);
            });
            if (ok) {
                r.model.floor = log->segments().front().base_lsn;
                for (lsn_t l = 1; l < r.model.floor && l < r.model.allowed.size(); ++l)
                    r.model.allowed[l].reset();
            }
        }
        if (ok && i % 12 == 10) {
            const lsn_t to = log->written_lsn() - 1;
            ok = step("truncate_after", [&] { return log->truncate_after(to); });
            if (ok) {
                r.model.forget_after(to);
                r.acked_written = r.acked_durable = to;
            } else {
                // A failed truncation may have removed some of what it was removing.
                r.acked_written = std::min(r.acked_written, to);
                r.acked_durable = std::min(r.acked_durable, to);
            }
        }
        if (ok && i % 12 == 11) {
            ok = step("close", [&] { return log->close(); });
            if (ok) {
                r.acked_durable = std::max(r.acked_durable, log->written_lsn());
                log.reset();
                if (!open("reopen")) return r;
            }
        }
    }
    if (ok) ok = sync();
    if (ok) return r;

    // Fail-stop: nothing succeeds after the failure, nothing more is acknowledged.
    const lsn_t written = log->written_lsn();
    const lsn_t durable = log->durable_lsn();
    if (!matches(r.first_error, injected) && r.violation.empty())
        r.violation = r.failed_op + " failed with " + r.first_error.message() + ", not the injected " +
                      injected.message();
    auto must_fail = [&](const char* what, std::error_code ec) {
        if (!ec && r.violation.empty())
            r.violation = std::string(what) + " succeeded after " + r.failed_op + " had failed";
    };
    must_fail("a retried sync", log->sync());
    must_fail("an append", append_contents(*log, {content(100)}, false));
    must_fail("a batch", append_contents(*log, {content(100), content(100)}, true));
    must_fail("another sync", log->sync());
    std::uint64_t deleted = 0;
    must_fail("delete_segments_before", log->delete_segments_before(position{0, 0, written}, deleted));
    if (written > 0) must_fail("truncate_after", log->truncate_after(written - 1));
    // close() of a poisoned log releases the files and the lock; whether it also reports the
    // failure again is the async layer's choice (its close completes with the error).
    if (log->written_lsn() != written || log->durable_lsn() > durable)
        r.violation = "the watermarks moved after the failure";
    if (r.violation.empty() && durable < r.acked_durable)
        r.violation = "the durable watermark went back below what a sync acknowledged";
    return r;
}

// Opens what the disk holds without faults and checks it holds `required_to` and before.
std::string recovered(const std::shared_ptr<sim_disk>& disk, const run_result& r, lsn_t required_to) {
    std::unique_ptr<nd::segment_log> log;
    recovery_info info;
    std::string why;
    if (auto ec = nd::segment_log::open(config(disk), log, info, why))
        return "reopen failed: " + ec.message() + " (" + why + ")";
    std::vector<read_record> got;
    if (auto err = read_log(*disk, crash_dir, got); !err.empty()) return err;
    log_expectation e = r.model;
    e.required_from = std::max(e.floor, r.required_from);
    e.required_to = required_to;
    if (auto err = check_log(got, e); !err.empty()) return err;
    // And the reopened log takes appends again.
    if (auto ec = append_contents(*log, {make_content("after", 0, 100)}, false))
        return "append after reopen: " + ec.message();
    if (auto ec = log->sync()) return "sync after reopen: " + ec.message();
    return {};
}

// How many operations of each kind the workload performs without faults.
std::uint64_t count_ops(sim_op op, preallocation prealloc) {
    auto disk = std::make_shared<sim_disk>();
    std::atomic<std::uint64_t> n{0};
    disk->set_fault_hook([&](const sim_event& e) -> std::error_code {
        if (e.op == op) ++n;
        return {};
    });
    std::atomic<bool> fired{false};
    const auto r = run(disk, prealloc, eio(), fired);
    BOOST_TEST_REQUIRE(r.violation.empty(), r.violation);
    BOOST_TEST_REQUIRE(!r.first_error, "the workload fails without faults: " << r.first_error.message());
    return n;
}

std::size_t runs = 0;

void inject_each(sim_op op, preallocation prealloc, bool keep_cache) {
    const std::uint64_t total = count_ops(op, prealloc);
    BOOST_TEST_REQUIRE(total > 0u);
    const std::size_t runs_before = runs;
    for (const std::error_code injected : {eio(), make_error_code(errc::no_space)}) {
        for (std::uint64_t n = 0; n < total; ++n) {
            auto disk = std::make_shared<sim_disk>();
            disk->set_failed_sync_keeps_cache(keep_cache);
            std::atomic<bool> fired{false};
            std::filesystem::path fired_at;
            auto fail = fail_nth(op, n, injected);
            disk->set_fault_hook([&](const sim_event& e) {
                auto ec = fail(e);
                if (ec) {
                    fired = true;
                    fired_at = e.path;
                }
                return ec;
            });
            const run_result r = run(disk, prealloc, injected, fired);
            disk->set_fault_hook({});
            ++runs;
            const std::string where = std::string(to_string(op)) + " #" + std::to_string(n) +
                                      " failing with " + injected.message() +
                                      (keep_cache ? "" : " (pages evicted)") + ": ";
            BOOST_TEST(fired.load(), where << "never reached");
            // Removing the engine's own temporary files is best effort (open removes leftovers).
            const std::string name = fired_at.filename().string();
            const bool best_effort = op == sim_op::remove && name.ends_with(".tmp");
            if (!best_effort)
                BOOST_TEST((r.first_error || r.spare_failed),
                           where << "no operation reported the error (" << name << ")");
            BOOST_TEST(r.violation.empty(), where << r.violation);
            // A process crash now: the page cache survives; with evicted pages only what is
            // durable is certain.
            const lsn_t after_crash = keep_cache ? r.acked_written : r.acked_durable;
            const auto crashed = recovered(disk->snapshot(), r, after_crash);
            BOOST_TEST(crashed.empty(), where << "after a process crash: " << crashed);
            // A power cut now: what was acknowledged durable survives.
            const auto cut = recovered(disk->power_cut(power_cut_plan::drop_all()), r, r.acked_durable);
            BOOST_TEST(cut.empty(), where << "after a power cut: " << cut);
        }
    }
    BOOST_TEST_MESSAGE(to_string(op) << " failing (" << total << " in the workload, prealloc "
                                     << static_cast<int>(prealloc) << (keep_cache ? "" : ", pages evicted")
                                     << "): " << runs - runs_before << " runs");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fail_stop)

BOOST_AUTO_TEST_CASE(each_write_fails_in_turn) {
    inject_each(sim_op::write, preallocation::zero_fill, true);
    inject_each(sim_op::write, preallocation::none, true);
}

BOOST_AUTO_TEST_CASE(each_fdatasync_fails_in_turn) {
    inject_each(sim_op::sync, preallocation::zero_fill, true);
    inject_each(sim_op::sync, preallocation::zero_fill, false);
}

BOOST_AUTO_TEST_CASE(each_directory_fsync_fails_in_turn) {
    inject_each(sim_op::dir_sync, preallocation::zero_fill, true);
}

BOOST_AUTO_TEST_CASE(each_rename_remove_and_create_fails_in_turn) {
    inject_each(sim_op::rename, preallocation::zero_fill, true);
    inject_each(sim_op::remove, preallocation::zero_fill, true);
    inject_each(sim_op::create, preallocation::zero_fill, true);
}

// A disk that fills up: every capacity from nearly empty to what the workload needs, with
// writes that store what fits before failing. The error is errc::no_space, and everything
// acknowledged survives a process crash, a power cut, and a reopen once space is freed.
BOOST_AUTO_TEST_CASE(the_disk_fills_up) {
    std::uint64_t needed = 0;
    {
        auto disk = std::make_shared<sim_disk>();
        std::atomic<bool> fired{false};
        run(disk, preallocation::zero_fill, {}, fired);
        needed = disk->used_bytes();
    }
    std::size_t full = 0;
    for (std::uint64_t cap = 0; cap < needed + 8192; cap += 512) {
        auto disk = std::make_shared<sim_disk>();
        disk->set_capacity(cap, true);
        std::atomic<bool> fired{true};  // capacity faults are not injected through the hook
        const run_result r = run(disk, preallocation::zero_fill, make_error_code(errc::no_space), fired);
        ++runs;
        if (!r.first_error) continue;
        ++full;
        BOOST_TEST(r.first_error == errc::no_space,
                   "capacity " << cap << ": " << r.failed_op << " failed with " << r.first_error.message());
        BOOST_TEST(r.violation.empty(), "capacity " << cap << ": " << r.violation);
        // Space freed (the capacity lifted) before the reopen.
        auto crashed = disk->snapshot();
        crashed->set_capacity(std::nullopt);
        const auto a = recovered(crashed, r, r.acked_written);
        BOOST_TEST(a.empty(), "capacity " << cap << ", after a process crash: " << a);
        auto cut = disk->power_cut(power_cut_plan::drop_all());
        cut->set_capacity(std::nullopt);
        const auto b = recovered(cut, r, r.acked_durable);
        BOOST_TEST(b.empty(), "capacity " << cap << ", after a power cut: " << b);
    }
    BOOST_TEST(full > 10u);
    BOOST_TEST_MESSAGE("full disk: " << full << " capacities ran out of space (" << runs << " runs)");
}

BOOST_AUTO_TEST_SUITE_END()
