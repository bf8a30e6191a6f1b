// Fail-stop under the async wal: EIO or ENOSPC injected at each write, fdatasync and directory
// fsync in turn (and a disk that fills up), while appends are in flight (group commit under
// fsync_policy::always). The failure reaches the operations that depended on it; no operation
// completes successfully after the first failed one (in completion order), a retried async_sync
// fails instead of reporting the dropped pages as durable, wal::failure() names the error, and
// reopening recovers every acknowledged record (after a process crash and after a power cut).
// A fault on the spare-preparation thread may instead be absorbed: that file is not part of
// the log yet.
#include <noriwal/error.hpp>
#include <noriwal/wal.hpp>

#include "crash/crash_explorer.hpp"
#include "crash/wal_model.hpp"
#include "support/printing.hpp"

#include <boost/test/unit_test.hpp>

#include <pthread.h>

#include <atomic>
#include <future>
#include <mutex>

using namespace noriwal;
using namespace noriwal::test;
using boost::system::error_code;

namespace {

namespace nd = noriwal::detail;

wal_config config(const std::shared_ptr<sim_disk>& disk) {
    wal_config cfg;
    cfg.dir = crash_dir;
    cfg.fs = disk;
    cfg.max_segment_size = 4096;
    cfg.max_record_size = 3000;
    cfg.fsync = fsync_policy::always();
    cfg.recycle_segments = true;
    return cfg;
}

std::string thread_name() {
    char buf[16] = {};
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    return buf;
}

// Completions in the order their handlers ran.
struct completions {
    std::mutex m;
    std::vector<std::pair<std::string, std::error_code>> order;
    void add(std::string what, std::error_code ec) {
        std::lock_guard g(m);
        order.emplace_back(std::move(what), ec);
    }
};

struct run_result {
    bool open_failed = false;
    std::error_code first_error;
    std::string violation;
    lsn_t written_at_end = 0;
};

bool acceptable_first(std::error_code got, std::error_code injected) {
    if (got == injected) return true;
    if (injected == errc::no_space) return got == errc::no_space;
    return got == errc::io_failed || got == errc::poisoned;
}

// The workload: bursts of appends (singles and batches) in flight together, a sync, a GC; at
// the end a retried sync and close. Returns what it saw.
run_result run(const std::shared_ptr<sim_disk>& disk, wal_model& model, std::error_code injected) {
    run_result r;
    std::error_code ec;
    std::string why;
    auto opened = noriwal::wal::open(config(disk), ec, &why);
    if (ec) {
        r.open_failed = true;
        r.first_error = ec;
        return r;
    }
    noriwal::wal w = std::move(opened.log);
    completions done;
    auto append_burst = [&](int round) {
        std::vector<std::future<void>> waits;
        for (int i = 0; i < 3; ++i) {
            auto pr = std::make_shared<std::promise<void>>();
            waits.push_back(pr->get_future());
            if ((round + i) % 4 == 3) {
                auto recs = model.next_batch("batch", 2);
                std::vector<record> rs;
                for (const auto& c : recs) rs.push_back(c.as_record());
                w.async_append_batch(rs, [&, recs, pr](error_code e, std::vector<position> pos) {
                    if (!e)
                        for (std::size_t k = 0; k < recs.size(); ++k) model.acked(recs[k], pos[k].lsn, true);
                    done.add("batch", e);
                    pr->set_value();
                });
            } else {
                auto c = std::make_shared<record_content>(model.next("single", 1200));
                w.async_append(c->as_record(), [&, c, pr](error_code e, position p) {
                    if (!e) model.acked(*c, p.lsn, true);
                    done.add("append", e);
                    pr->set_value();
                });
            }
        }
        for (auto& f : waits) f.get();
    };
    auto sync = [&](const char* what) {
        std::promise<error_code> pr;
        w.async_sync([&](error_code e) { pr.set_value(e); });
        const std::error_code e = pr.get_future().get();
        done.add(what, e);
        return e;
    };
    for (int round = 0; round < 14; ++round) {
        append_burst(round);
        if (round == 6) sync("sync");
        if (round == 8) {
            const lsn_t before = w.written_lsn() > 5 ? w.written_lsn() - 5 : 1;
            model.gc(before);
            std::promise<error_code> pr;
            w.async_delete_segments_before(position{0, 0, before},
                                           [&](error_code e, std::uint64_t) { pr.set_value(e); });
            done.add("delete_segments_before", pr.get_future().get());
        }
    }
    sync("a sync after the workload");
    const bool failed_before = [&] {
        std::lock_guard g(done.m);
        for (const auto& [what, e] : done.order)
            if (e) return true;
        return false;
    }();
    if (failed_before) {
        // A retried fsync must not report the dropped pages as durable.
        sync("a retried sync");
        append_burst(99);
        if (!w.failure()) r.violation = "wal::failure() is empty on a poisoned log";
    }
    r.written_at_end = w.written_lsn();
    std::promise<error_code> pr;
    w.async_close([&](error_code e) { pr.set_value(e); });
    done.add("close", pr.get_future().get());
    w = {};

    std::lock_guard g(done.m);
    bool failed = false;
    for (const auto& [what, e] : done.order) {
        if (e && !failed) {
            failed = true;
            r.first_error = e;
            if (!acceptable_first(e, injected) && r.violation.empty())
                r.violation =
                    what + " failed first, with " + e.message() + ", not the injected " + injected.message();
        } else if (!e && failed && what != "close" && r.violation.empty()) {
            r.violation = what + " succeeded after an operation had failed";
        }
    }
    return r;
}

// Reopens what the disk holds and checks the model.
std::string recovered(const std::shared_ptr<sim_disk>& disk, const wal_model& model, bool power_cut) {
    const auto d = power_cut ? disk->power_cut(power_cut_plan::drop_all()) : disk->snapshot();
    d->set_capacity(std::nullopt);
    std::unique_ptr<nd::segment_log> log;
    recovery_info info;
    std::string why;
    if (auto ec = nd::segment_log::open(config(d), log, info, why))
        return "reopen: " + ec.message() + " (" + why + ")";
    std::vector<read_record> got;
    if (auto err = read_log(*d, crash_dir, got); !err.empty()) return err;
    // Acknowledged appends are durable (fsync always): required whatever the watermark.
    return model.check(got, 0);
}

std::uint64_t count_ops(sim_op op) {
    auto disk = std::make_shared<sim_disk>();
    std::atomic<std::uint64_t> n{0};
    disk->set_fault_hook([&](const sim_event& e) -> std::error_code {
        if (e.op == op) ++n;
        return {};
    });
    wal_model model;
    const auto r = run(disk, model, {});
    BOOST_TEST_REQUIRE(!r.first_error, "the workload fails without faults: " << r.first_error.message());
    return n;
}

void inject_each(sim_op op) {
    const std::uint64_t total = count_ops(op);
    BOOST_TEST_REQUIRE(total > 0u);
    std::size_t runs = 0;
    std::size_t absorbed = 0;
    for (const std::error_code injected : {eio(), make_error_code(errc::no_space)}) {
        // The number of operations varies a little with the threads' timing: go a bit further.
        for (std::uint64_t n = 0; n < total + 2; ++n) {
            auto disk = std::make_shared<sim_disk>();
            std::atomic<bool> fired{false};
            std::string fired_on;
            std::mutex m;
            auto fail = fail_nth(op, n, injected);
            disk->set_fault_hook([&](const sim_event& e) {
                auto ec = fail(e);
                if (ec) {
                    std::lock_guard g(m);
                    fired = true;
                    fired_on = thread_name() + " " + e.path.filename().string();
                }
                return ec;
            });
            wal_model model;
            const run_result r = run(disk, model, injected);
            disk->set_fault_hook({});
            if (!fired) continue;
            ++runs;
            const std::string where = std::string(to_string(op)) + " #" + std::to_string(n) + " (" +
                                      fired_on + ") failing with " + injected.message() + ": ";
            const bool on_spare = fired_on.starts_with("noriwal-spare");
            if (!r.first_error) {
                ++absorbed;
                BOOST_TEST(on_spare, where << "no operation reported the error");
            }
            BOOST_TEST(r.violation.empty(), where << r.violation);
            const auto crashed = recovered(disk, model, false);
            BOOST_TEST(crashed.empty(), where << "after a process crash: " << crashed);
            const auto cut = recovered(disk, model, true);
            BOOST_TEST(cut.empty(), where << "after a power cut: " << cut);
        }
    }
    BOOST_TEST_MESSAGE(to_string(op) << " failing (" << total << " in the workload): " << runs << " runs, "
                                     << absorbed << " faults on the spare thread absorbed");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(wal_fail_stop)

BOOST_AUTO_TEST_CASE(each_write_fails_in_turn) { inject_each(sim_op::write); }
BOOST_AUTO_TEST_CASE(each_fdatasync_fails_in_turn) { inject_each(sim_op::sync); }
BOOST_AUTO_TEST_CASE(each_directory_fsync_fails_in_turn) { inject_each(sim_op::dir_sync); }
BOOST_AUTO_TEST_CASE(each_rename_fails_in_turn) { inject_each(sim_op::rename); }

// The simulated disk fills up at every capacity the workload crosses, with writes that store
// what fits: errc::no_space, then nothing succeeds, and every acknowledged record is intact.
BOOST_AUTO_TEST_CASE(the_disk_fills_up) {
    std::uint64_t needed = 0;
    {
        auto disk = std::make_shared<sim_disk>();
        wal_model model;
        run(disk, model, {});
        needed = disk->used_bytes();
    }
    std::size_t full = 0;
    for (std::uint64_t cap = 4096; cap < needed + 8192; cap += 1024) {
        auto disk = std::make_shared<sim_disk>();
        disk->set_capacity(cap, true);
        wal_model model;
        const run_result r = run(disk, model, make_error_code(errc::no_space));
        if (!r.first_error) continue;
        ++full;
        BOOST_TEST(r.first_error == errc::no_space, "capacity " << cap << ": " << r.first_error.message());
        BOOST_TEST(r.violation.empty(), "capacity " << cap << ": " << r.violation);
        const auto crashed = recovered(disk, model, false);
        BOOST_TEST(crashed.empty(), "capacity " << cap << ", after a process crash: " << crashed);
        const auto cut = recovered(disk, model, true);
        BOOST_TEST(cut.empty(), "capacity " << cap << ", after a power cut: " << cut);
    }
    BOOST_TEST(full > 5u);
    BOOST_TEST_MESSAGE("full disk under the wal: " << full << " capacities ran out of space");
}

BOOST_AUTO_TEST_SUITE_END()
