// Power cuts at every disk operation of small engine workloads (and at random operations of
// larger ones): every state the simulated disk can be left in must recover to a contiguous
// prefix holding every acknowledged record. See crash_explorer.hpp for what each state checks.
#include "crash/crash_explorer.hpp"
#include "crash/engine_workload.hpp"

#include <boost/test/unit_test.hpp>

#include <noriwal/error.hpp>

#include "support/printing.hpp"

#include <random>

using namespace noriwal;
using namespace noriwal::test;

namespace {

// Small segments, so that rotation happens every few records.
wal_config small_segments(preallocation prealloc = preallocation::zero_fill) {
    wal_config cfg;
    cfg.max_segment_size = 4096;
    cfg.max_record_size = 3000;
    cfg.prealloc = prealloc;
    return cfg;
}

std::size_t total_points = 0;
std::size_t total_states = 0;

// Prints the counts of a case and requires that no state failed.
void report(std::string_view workload, const crash_explorer& ex) {
    total_points += ex.points();
    total_states += ex.states();
    BOOST_TEST_MESSAGE(workload << ": " << ex.points() << " crash points, " << ex.states()
                                << " crash states checked, " << ex.failures() << " failed");
    BOOST_TEST(ex.points() > 0u);
    BOOST_TEST(ex.failures() == 0u, workload << ": " << ex.failures() << " of " << ex.states()
                                             << " crash states recovered wrongly (first ones above)");
}

struct summary {
    ~summary() {
        if (total_states != 0)
            BOOST_TEST_MESSAGE("crash-state summary: " << total_points << " crash points, " << total_states
                                                       << " crash states checked");
    }
};
BOOST_TEST_GLOBAL_FIXTURE(summary);

// Exhaustive: every mutating operation is a crash point.
exploration_options exhaustive() {
    exploration_options o;
    o.max_exhaustive = test_scale() >= 1 ? 10 : 7;
    o.samples = scaled(64, 6);
    o.max_tears_per_write = scaled(8, 2);
    return o;
}

// Larger workloads: a random sample of operations, fewer states each.
exploration_options sampled(std::uint64_t seed) {
    exploration_options o;
    o.max_exhaustive = 6;
    o.samples = scaled(24, 3);
    o.max_tears_per_write = 4;
    o.seed = seed;
    return o;
}

crash_schedule every_op() { return {1.0, 1}; }
// Under sanitizers fewer operations become crash points (the states per point stay).
crash_schedule some_ops(double p, std::uint64_t seed) { return {std::min(1.0, p * test_scale()), seed}; }

}  // namespace

BOOST_AUTO_TEST_SUITE(engine_crash_states)

// fsync_policy::always as the async layer runs it: every append followed by a sync.
BOOST_AUTO_TEST_CASE(appends_each_synced_with_rotation) {
    crash_explorer ex(small_segments(), exhaustive());
    engine_workload w("always", small_segments(), &ex, every_op());
    for (int i = 0; i < 30; ++i) {
        w.append({w.next_content()});
        w.sync();
    }
    BOOST_TEST(w.log().segments().size() > 3u);  // rotation happened several times
    report("appends each synced", ex);
}

// fsync_policy::batch: groups of requests (one write each), a sync every second group.
BOOST_AUTO_TEST_CASE(groups_synced_every_second_group) {
    crash_explorer ex(small_segments(), exhaustive());
    engine_workload w("batch", small_segments(), &ex, some_ops(1.0, 2));
    for (int i = 0; i < 16; ++i) {
        std::vector<append_group_request> g;
        for (int j = 0; j < 3; ++j) g.push_back({{w.next_content(600)}, false});
        w.append_group(g);
        if (i % 2 == 1) w.sync();
    }
    w.sync();
    report("groups synced every second group", ex);
}

// fsync_policy::os: many unsynced writes between syncs (random subsets of them survive).
BOOST_AUTO_TEST_CASE(unsynced_appends_then_sync) {
    crash_explorer ex(small_segments(), exhaustive());
    engine_workload w("os", small_segments(), &ex, some_ops(1.0, 3));
    for (int i = 0; i < 24; ++i) {
        w.append({w.next_content(900)});
        if (i == 5) w.sync();
    }
    w.sync();
    report("unsynced appends", ex);
}

// Atomic batches, some of which do not fit in what is left of the segment.
BOOST_AUTO_TEST_CASE(atomic_batches_whole_or_absent) {
    crash_explorer ex(small_segments(), exhaustive());
    engine_workload w("batches", small_segments(), &ex, some_ops(1.0, 4));
    for (int i = 0; i < 16; ++i) {
        std::vector<record_content> b;
        for (int j = 0; j < 2 + i % 4; ++j) b.push_back(w.next_content(700));
        w.append(std::move(b), true);
        if (i % 3 != 1) w.sync();
    }
    std::vector<append_group_request> g{
        {{w.next_content(300), w.next_content(300)}, true},
        {{w.next_content(300)}, false},
        {{w.next_content(900), w.next_content(900), w.next_content(900)}, true}};
    w.append_group(g);
    w.sync();
    report("atomic batches", ex);
}

BOOST_AUTO_TEST_CASE(preallocation_none_and_fallocate) {
    for (const auto prealloc : {preallocation::none, preallocation::fallocate}) {
        crash_explorer ex(small_segments(prealloc), exhaustive());
        engine_workload w(prealloc == preallocation::none ? "prealloc-none" : "prealloc-fallocate",
                          small_segments(prealloc), &ex, some_ops(1.0, 5));
        for (int i = 0; i < 20; ++i) {
            w.append({w.next_content()});
            if (i % 2 == 0) w.sync();
        }
        w.sync();
        report(prealloc == preallocation::none ? "preallocation none" : "preallocation fallocate", ex);
    }
}

BOOST_AUTO_TEST_CASE(delete_segments_before) {
    crash_explorer ex(small_segments(), exhaustive());
    engine_workload w("gc", small_segments(), &ex, some_ops(1.0, 6));
    for (int i = 0; i < 40; ++i) w.append({w.next_content()});
    w.sync();
    const auto segs = w.log().segments();
    BOOST_TEST_REQUIRE(segs.size() >= 4u);
    BOOST_TEST(w.delete_before(segs[2].base_lsn + 1) == 2u);
    for (int i = 0; i < 4; ++i) w.append({w.next_content(1200)});
    w.delete_before(w.log().written_lsn());  // every sealed segment
    w.append({w.next_content()});
    w.sync();
    report("delete_segments_before", ex);
}

BOOST_AUTO_TEST_CASE(truncate_after) {
    crash_explorer ex(small_segments(), exhaustive());
    engine_workload w("truncate", small_segments(), &ex, some_ops(1.0, 7));
    for (int i = 0; i < 30; ++i) w.append({w.next_content()});
    w.sync();
    w.append({w.next_content(300)});  // not synced: truncation makes the kept prefix durable
    const auto segs = w.log().segments();
    BOOST_TEST_REQUIRE(segs.size() >= 3u);
    w.truncate_after(segs[1].base_lsn + 1);  // into a sealed segment
    for (int i = 0; i < 3; ++i) w.append({w.next_content(900)});
    w.truncate_after(w.log().written_lsn() - 1);  // into the active segment, unsynced record cut
    w.append({w.next_content(), w.next_content(200)}, true);
    w.sync();
    w.truncate_after(0);  // the whole log: it starts again at LSN 1
    w.append({w.next_content()});
    w.sync();
    report("truncate_after", ex);
}

// Deleted segments recycled as the next segments: their old records stay in the files and must
// never be read as records of the new segment.
BOOST_AUTO_TEST_CASE(recycled_segments) {
    wal_config cfg = small_segments();
    cfg.recycle_segments = true;
    crash_explorer ex(cfg, exhaustive());
    engine_workload w("recycle", cfg, &ex, some_ops(1.0, 8));
    for (int i = 0; i < 30; ++i) w.append({w.next_content()});
    w.sync();
    BOOST_TEST_REQUIRE(w.log().segments().size() >= 4u);
    w.delete_before(w.log().written_lsn());
    for (int i = 0; i < 20; ++i) {
        w.append({w.next_content(i % 2 == 0 ? 100 : 1500)});  // short records over long stale ones
        if (i % 3 == 2) w.sync();
    }
    w.truncate_after(w.log().written_lsn() - 2);
    w.delete_before(w.log().written_lsn());
    w.append({w.next_content(50), w.next_content(50)}, true);
    w.sync();
    report("recycled segments", ex);
}

// Spares prepared ahead, a clean close and reopen, and a power cut in the middle of the
// workload followed by recovery and more appends (crash points inside that recovery too).
BOOST_AUTO_TEST_CASE(spares_reopen_and_recovery_after_a_cut) {
    crash_explorer ex(small_segments(), exhaustive());
    engine_workload w("reopen", small_segments(), &ex, some_ops(1.0, 9));
    w.prepare_spare();
    for (int i = 0; i < 10; ++i) w.append({w.next_content()});
    w.sync();
    w.prepare_spare();
    w.close_and_reopen();
    for (int i = 0; i < 8; ++i) w.append({w.next_content()});
    w.power_cut_and_recover(42);
    for (int i = 0; i < 8; ++i) {
        w.append({w.next_content()});
        w.sync();
    }
    report("spares, reopen, recovery after a cut", ex);
}

// Issue 15: segment files prepared in steps (4, 8, then 16 KiB), a batch larger than the next
// step (a segment file made to fit it), and prepared spares (spare-<n>.ready) kept across clean
// closes and taken up again by the reopen and by the recovery after a cut. Every operation is a
// crash point, including those of make_spare (creation, zeros, rename to .ready).
BOOST_AUTO_TEST_CASE(stepped_segments_and_kept_spares) {
    wal_config cfg = small_segments();
    cfg.max_segment_size = 16 << 10;
    cfg.first_segment_size = 4096;
    cfg.max_record_size = 4000;
    crash_explorer ex(cfg, exhaustive());
    engine_workload w("steps", cfg, &ex, some_ops(1.0, 12));
    w.prepare_spare();
    for (int i = 0; i < 5; ++i) {
        w.append({w.next_content()});
        w.sync();
    }
    w.prepare_spare();
    w.close_and_reopen();  // the spare is kept, and used by the next rotation
    for (int i = 0; i < 5; ++i) {
        w.append({w.next_content()});
        if (i % 2 == 1) w.sync();
    }
    w.append({w.next_content(4000), w.next_content(4000), w.next_content(4000)}, true);
    w.sync();
    w.prepare_spare();
    w.power_cut_and_recover(5);
    for (int i = 0; i < 6; ++i) {
        w.append({w.next_content()});
        w.sync();
    }
    w.prepare_spare();
    w.close_and_reopen();
    w.append({w.next_content()});
    w.sync();
    report("stepped segments, kept spares", ex);
}

// Issue 17: the first open creates the log directory (its parent fsync'd: every crash point
// after it must keep the directory), clean closes leave a close marker and reopens remove it,
// and recovery after a power cut is followed by more appends, a clean close and a reopen. Every
// operation is a crash point, including those of each open, close and recovery.
BOOST_AUTO_TEST_CASE(directory_creation_clean_close_and_reopen_after_recovery) {
    crash_explorer ex(small_segments(), exhaustive());
    engine_workload w("edges", small_segments(), &ex, every_op());
    for (int i = 0; i < 6; ++i) {
        w.append({w.next_content()});
        w.sync();
    }
    w.close_and_reopen();
    for (int i = 0; i < 6; ++i) {
        w.append({w.next_content(900)});
        if (i % 2 == 1) w.sync();
    }
    w.power_cut_and_recover(7);
    for (int i = 0; i < 6; ++i) {
        w.append({w.next_content()});
        w.sync();
    }
    w.close_and_reopen();
    w.power_cut_and_recover(11);
    for (int i = 0; i < 4; ++i) {
        w.append({w.next_content()});
        w.sync();
    }
    report("directory creation, clean close, reopen after recovery", ex);
}

// Rounds of nine unsynced appends and a sync (up to 2^10 power-cut states at each of their
// operations: every subset of the unsynced writes), with a clean close and reopen, or a power
// cut and recovery, every few rounds.
BOOST_AUTO_TEST_CASE(unsynced_rounds_with_clean_closes_and_recoveries) {
    crash_explorer ex(small_segments(), exhaustive());
    engine_workload w("rounds", small_segments(), &ex, every_op());
    const std::size_t rounds = scaled(24, 7);  // fewer under sanitizers
    for (std::size_t round = 0; round < rounds; ++round) {
        for (int i = 0; i < 9; ++i) w.append({w.next_content(300)});
        w.sync();
        if (round % 7 == 3) w.close_and_reopen();
        if (round % 7 == 6) w.power_cut_and_recover(100 + round);
    }
    report("unsynced rounds, clean closes, recoveries", ex);
}

// delete_segments_before removes several segments. Until the directory is fsync'd, any subset
// of those removals may survive a power cut: with the oldest segment back and the second one
// gone, the log must still open, starting after the hole, with every durable record.
BOOST_AUTO_TEST_CASE(gc_of_several_segments_never_leaves_a_hole) {
    engine_workload w("gc-hole", small_segments(), nullptr);
    for (int i = 0; i < 30; ++i) w.append({w.next_content()});
    w.sync();
    const auto segs = w.log().segments();
    BOOST_TEST_REQUIRE(segs.size() >= 4u);
    // Crash right after the second removal.
    std::shared_ptr<sim_disk> at_crash;
    int removals = 0;
    w.disk().set_after_hook([&](const sim_event& ev, std::error_code) {
        if (ev.op == sim_op::remove && ++removals == 2) at_crash = w.disk().snapshot();
    });
    std::uint64_t deleted = 0;
    BOOST_TEST_REQUIRE(!w.log().delete_segments_before(position{0, 0, segs[2].base_lsn}, deleted));
    w.disk().set_after_hook({});
    BOOST_TEST_REQUIRE(deleted == 2u);
    BOOST_TEST_REQUIRE(at_crash != nullptr);
    // Whatever subset of the pending directory operations survives (with the second removal
    // kept and the first undone, the oldest segment comes back with a hole after it), the log
    // opens and holds every durable record.
    log_expectation e = w.model();
    e.floor = 1;
    e.required_from = segs[2].base_lsn;
    e.required_to = w.log().durable_lsn();
    for (std::uint64_t mask = 0; mask < (1u << at_crash->volatile_dir_op_count()); ++mask) {
        const auto cut = at_crash->power_cut(power_cut_plan::from_bits(0, mask));
        wal_config cfg = small_segments();
        cfg.dir = crash_dir;
        cfg.fs = cut;
        std::unique_ptr<detail::segment_log> log;
        recovery_info info;
        std::string why;
        const auto ec = detail::segment_log::open(cfg, log, info, why);
        BOOST_TEST(!ec, "directory operations kept " << mask << ": the log does not open: " << ec.message()
                                                     << " (" << why << ")");
        if (ec) continue;
        std::vector<read_record> got;
        BOOST_TEST(read_log(*cut, crash_dir, got) == "");
        BOOST_TEST(check_log(got, e) == "", "directory operations kept " << mask);
    }
}

// truncate_after(lsn) with lsn inside an atomic batch: afterwards every LSN up to the durable
// watermark must be recoverable, batches whole or absent, and the log must keep opening after
// more appends. (Refusing such an lsn with errc::invalid_argument would also keep the contract.)
BOOST_AUTO_TEST_CASE(truncate_inside_an_atomic_batch) {
    engine_workload w("truncate-batch", small_segments(), nullptr);
    w.append({w.next_content(200)});
    const auto pos = w.append({w.next_content(200), w.next_content(200), w.next_content(200)}, true);
    w.sync();
    const lsn_t inside = pos[1].lsn;  // the middle of the batch
    const auto ec = w.log().truncate_after(inside);
    if (ec) {
        BOOST_TEST(ec == errc::invalid_argument,
                   "truncate_after inside a batch failed with " << ec.message());
        BOOST_TEST(w.log().written_lsn() == pos[2].lsn);  // refused: nothing removed
        return;
    }
    const lsn_t durable = w.log().durable_lsn();
    std::vector<position> more;
    BOOST_TEST_REQUIRE(!append_contents(w.log(), {w.next_content(200)}, false, &more));
    BOOST_TEST_REQUIRE(!w.log().sync());
    const auto cut = w.disk().power_cut(power_cut_plan::drop_all());
    wal_config cfg = small_segments();
    cfg.dir = crash_dir;
    cfg.fs = cut;
    std::unique_ptr<detail::segment_log> log;
    recovery_info info;
    std::string why;
    const auto open_ec = detail::segment_log::open(cfg, log, info, why);
    BOOST_TEST_REQUIRE(!open_ec, "after truncate_after("
                                     << inside << ") inside the batch " << pos[0].lsn << ".." << pos[2].lsn
                                     << " and one more append, the log does not "
                                     << "open: " << open_ec.message() << " (" << why << ")");
    std::vector<read_record> got;
    BOOST_TEST_REQUIRE(read_log(*cut, crash_dir, got) == "");
    BOOST_TEST(!got.empty());
    BOOST_TEST(got.back().lsn == more[0].lsn, "recovered " << describe(got)
                                                           << " after truncate_after reported "
                                                           << "LSN " << durable << " durable");
}

// truncate_after(lsn) promises that everything up to lsn is durable when it returns, also the
// records of earlier segments that no sync covered yet (fsync_policy::os or batch).
BOOST_AUTO_TEST_CASE(truncate_after_makes_every_earlier_record_durable) {
    engine_workload w("truncate-durable", small_segments(), nullptr);
    for (int i = 0; i < 30; ++i) w.append({w.next_content()});  // never synced
    const auto segs = w.log().segments();
    BOOST_TEST_REQUIRE(segs.size() >= 4u);
    const lsn_t keep = segs[2].base_lsn + 1;
    BOOST_TEST_REQUIRE(!w.log().truncate_after(keep));
    BOOST_TEST(w.log().durable_lsn() == keep);
    const auto cut = w.disk().power_cut(power_cut_plan::drop_all());
    wal_config cfg = small_segments();
    cfg.dir = crash_dir;
    cfg.fs = cut;
    std::unique_ptr<detail::segment_log> log;
    recovery_info info;
    std::string why;
    BOOST_TEST_REQUIRE(!detail::segment_log::open(cfg, log, info, why), why);
    std::vector<read_record> got;
    BOOST_TEST_REQUIRE(read_log(*cut, crash_dir, got) == "");
    log_expectation e = w.model();
    e.forget_after(keep);
    e.required_to = keep;
    const auto bad = check_log(got, e);
    BOOST_TEST(bad.empty(), "after truncate_after(" << keep << ") reported LSN " << keep
                                                    << " durable, and a power cut: " << bad);
}

// Seeded random workloads mixing everything, with crash points at a sample of operations.
BOOST_AUTO_TEST_CASE(random_mixed_workloads) {
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        wal_config cfg = small_segments();
        cfg.recycle_segments = seed % 2 == 0;
        if (seed == 5) cfg.prealloc = preallocation::none;
        // Recovery that ends the log at the first damage keeps the same promises after a crash.
        if (seed % 3 == 0) cfg.recovery = recovery_mode::point_in_time;
        crash_explorer ex(cfg, sampled(seed));
        engine_workload w("random-" + std::to_string(seed), cfg, &ex, some_ops(0.1, seed));
        std::mt19937_64 rng(seed);
        for (int step = 0; step < 120; ++step) {
            const auto op = rng() % 20;
            if (op < 12) {
                w.append_mix(1 + rng() % 4, 1 + rng() % 3, rng);
            } else if (op < 14) {
                w.sync();
            } else if (op == 14) {
                w.delete_before(w.log().first_lsn() +
                                rng() % (w.log().written_lsn() + 1 - w.log().first_lsn()));
            } else if (op == 15 && w.log().written_lsn() > 3) {
                // Inside an atomic batch is a case of its own (truncate_inside_an_atomic_batch).
                w.truncate_after(w.batch_boundary(w.log().written_lsn() - 1 - rng() % 3));
            } else if (op == 16) {
                w.prepare_spare();
            } else if (op == 17) {
                w.rotate();
            } else if (op == 18) {
                w.close_and_reopen();
            } else {
                w.power_cut_and_recover(rng());
            }
        }
        report("random workload " + std::to_string(seed), ex);
    }
}

BOOST_AUTO_TEST_SUITE_END()
