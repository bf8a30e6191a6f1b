// Power cuts on the simulated disk: whatever survives, recovery yields a contiguous prefix of
// the LSNs that contains every record made durable, with no stale and no resurrected record.
#include "log_support.hpp"

#include <boost/test/unit_test.hpp>

using namespace noriwal;
using namespace noriwal::test;

namespace {

// The records recovered must be exactly `expected` (LSN -> value) restricted to a prefix of
// its LSNs that reaches at least `durable`.
struct prefix_check {
    std::map<lsn_t, std::string> expected;
    lsn_t durable = 0;
};

// Recovers the disk, checks that the records read form such a prefix (no hole, no stale or
// foreign record, no mid-log damage), and returns the last LSN recovered.
lsn_t recover_prefix(const std::shared_ptr<sim_disk>& disk, const prefix_check& want, recovery_mode mode,
                     preallocation prealloc, const std::string& ctx) {
    const opened o = open_log(small_config(disk, mode, prealloc));
    BOOST_TEST_REQUIRE(!o.ec, ctx << ": " << o.ec.message() << ": " << o.why);
    const auto got = read_all(*disk, *o.log);
    const lsn_t first = want.expected.begin()->first;
    const lsn_t last = got.empty() ? first - 1 : got.back().lsn;
    bool ok = last >= want.durable && o.info.valid_records == got.size();
    for (std::size_t i = 0; ok && i < got.size(); ++i) {
        const auto it = want.expected.find(got[i].lsn);
        ok = got[i].lsn == first + i && it != want.expected.end() && it->second == got[i].value;
    }
    BOOST_TEST(ok, ctx << ": recovered " << got.size() << " records up to " << last << " (durable "
                       << want.durable << "), not a prefix of what was written");
    for (const damage& d : o.info.damages) BOOST_TEST(!d.mid_log, ctx << ": mid-log " << to_string(d.kind));
    BOOST_TEST(o.log->next_position().lsn == last + 1, ctx);
    return last;
}

// Every subset of up to 6 unsynced operations, else 16 random plans; 2 torn prefixes per write.
power_cut_enumeration few_power_cuts() {
    power_cut_enumeration opts;
    opts.max_exhaustive = 6;
    opts.samples = 16;
    opts.max_tears_per_write = 2;
    return opts;
}

bool mutates(sim_op op) {
    return op == sim_op::create || op == sim_op::write || op == sim_op::sync || op == sim_op::truncate ||
           op == sim_op::allocate || op == sim_op::rename || op == sim_op::remove || op == sim_op::dir_sync;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(crash)

BOOST_AUTO_TEST_CASE(a_preallocated_zero_tail_after_a_crash_is_a_clean_end) {
    auto disk = std::make_shared<sim_disk>();
    const auto cfg = small_config(disk, recovery_mode::absolute_consistency, preallocation::zero_fill);
    prefix_check want;
    {
        auto o = open_ok(cfg);
        log_writer w(*o.log);
        for (lsn_t i = 1; i <= 25; ++i) {
            w.put("k", value_for(i));
            want.expected[i] = value_for(i);
        }
        w.sync();
        want.durable = 25;
        for (lsn_t i = 26; i <= 28; ++i) w.put("k", value_for(i));  // lost by the power cut
    }
    auto after = disk->power_cut(power_cut_plan::drop_all());
    const opened o =
        open_ok(small_config(after, recovery_mode::absolute_consistency, preallocation::zero_fill));
    BOOST_TEST(o.info.valid_records == 25u);
    BOOST_TEST(o.info.last_lsn == 25u);
    BOOST_TEST(!o.info.corruption_detected);
    BOOST_TEST(o.info.damages.empty());
    BOOST_TEST(o.info.bytes_truncated == 0u);
    // The active segment is still the preallocated file: appending continues in it.
    const auto segs = o.log->segments();
    BOOST_TEST(file_size(*after, segs.back().path) == 4096u);
    log_writer w(*o.log, 25);
    BOOST_TEST(w.put("k", "after").lsn == 26u);
}

BOOST_AUTO_TEST_CASE(every_power_cut_of_unsynced_appends_and_a_rotation_recovers_a_prefix) {
    struct variant {
        preallocation prealloc;
        bool recycle;
    };
    for (const variant v : {variant{preallocation::zero_fill, false}, variant{preallocation::none, false},
                            variant{preallocation::zero_fill, true}}) {
        const preallocation prealloc = v.prealloc;
        auto disk = std::make_shared<sim_disk>();
        prefix_check want;
        {
            auto cfg = small_config(disk, recovery_mode::tolerate_corrupted_tail, prealloc);
            cfg.recycle_segments = v.recycle;
            auto o = open_ok(cfg);
            log_writer w(*o.log);
            const lsn_t synced = v.recycle ? 38 : 8;
            for (lsn_t i = 1; i <= synced; ++i) {
                w.put("k", value_for(i));
                want.expected[i] = value_for(i);
            }
            if (v.recycle) {
                // The next segment will be a recycled file full of older records.
                std::uint64_t deleted = 0;
                BOOST_TEST_REQUIRE(!o.log->delete_segments_before(o.log->next_position(), deleted));
                BOOST_TEST_REQUIRE(deleted == 3u);
                for (lsn_t i = 1; i < o.log->first_lsn(); ++i) want.expected.erase(i);
            }
            w.sync();
            want.durable = synced;
            // Unsynced: appends that cross into the next segment (a header, a rename).
            const std::uint64_t segments = o.log->segments().size();
            for (lsn_t i = synced + 1; i <= synced + 5; ++i) {
                w.put("k", v.recycle ? "short" + std::to_string(i) : value_for(i));
                want.expected[i] = v.recycle ? "short" + std::to_string(i) : value_for(i);
                if (v.recycle && i == synced + 2) BOOST_TEST_REQUIRE(!o.log->rotate());
            }
            BOOST_TEST_REQUIRE(o.log->segments().size() == segments + 1);
            o.log.reset();
        }
        std::size_t plans = 0;
        power_cut_enumeration opts;
        opts.max_exhaustive = 14;
        const std::size_t enumerated = for_each_power_cut(
            *disk,
            [&](const power_cut_plan& plan) {
                ++plans;
                auto after = disk->power_cut(plan);
                const lsn_t k = recover_prefix(after, want, recovery_mode::tolerate_corrupted_tail, prealloc,
                                               "plan " + std::to_string(plans));
                // The repair is durable: a second power cut right away changes nothing.
                auto again = after->power_cut();
                BOOST_TEST(
                    recover_prefix(again, want, recovery_mode::absolute_consistency, prealloc, "again") == k);
            },
            opts);
        BOOST_TEST(plans == enumerated);
        BOOST_TEST(plans >= 64u);
    }
}

BOOST_AUTO_TEST_CASE(a_torn_atomic_batch_is_recovered_whole_or_not_at_all) {
    auto disk = std::make_shared<sim_disk>();
    prefix_check want;
    const auto cfg = small_config(disk, recovery_mode::tolerate_corrupted_tail, preallocation::zero_fill);
    {
        auto o = open_ok(cfg);
        log_writer w(*o.log);
        w.put("before", "x");
        w.sync();
        want.expected[1] = "x";
        want.durable = 1;
        std::vector<record> batch;
        std::vector<std::string> values;
        for (int i = 0; i < 6; ++i) values.push_back(value_for(static_cast<lsn_t>(i), 400));
        for (int i = 0; i < 6; ++i) batch.push_back(record::put("b", values[static_cast<std::size_t>(i)]));
        w.append(batch, true);  // ~2.6 KiB in one write: six sectors
        for (int i = 0; i < 6; ++i)
            want.expected[static_cast<lsn_t>(i + 2)] = values[static_cast<std::size_t>(i)];
    }
    BOOST_TEST_REQUIRE(disk->unsynced_write_count() == 1u);
    const std::size_t sectors = disk->sector_count(0, 512);
    BOOST_TEST_REQUIRE(sectors >= 5u);
    std::size_t whole = 0, none = 0;
    auto check_plan = [&](const power_cut_plan& plan, const std::string& ctx) {
        for (recovery_mode mode : {recovery_mode::tolerate_corrupted_tail, recovery_mode::point_in_time,
                                   recovery_mode::skip_corrupted}) {
            const lsn_t k = recover_prefix(disk->power_cut(plan), want, mode, preallocation::zero_fill, ctx);
            BOOST_TEST((k == 1 || k == 7), ctx << ": " << k << " records: a batch split");
            (k == 7 ? whole : none) += 1;
        }
    };
    // Every subset of its sectors (a disk may write them back in any order).
    for (std::uint64_t mask = 0; mask < (std::uint64_t{1} << sectors); ++mask) {
        power_cut_plan plan;
        plan.tear = sector_tear{0, 512, 0, {}};
        for (std::size_t s = 0; s < sectors; ++s) plan.tear->sectors.push_back(((mask >> s) & 1) != 0);
        check_plan(plan, "sectors " + std::to_string(mask));
    }
    // A sector of garbage anywhere in it.
    for (std::size_t s = 0; s < sectors; ++s) {
        power_cut_plan plan = power_cut_plan::keep_all();
        plan.garbage = sector_garbage{0, 512, s, 99 + s};
        check_plan(plan, "garbage in sector " + std::to_string(s));
    }
    BOOST_TEST(whole > 0u);
    BOOST_TEST(none > 0u);
    // A partly written batch is reported as such.
    power_cut_plan half;
    half.tear = sector_tear{0, 512, sectors / 2, {}};
    const opened o = open_ok(small_config(disk->power_cut(half), recovery_mode::tolerate_corrupted_tail,
                                          preallocation::zero_fill));
    BOOST_TEST_REQUIRE(!o.info.damages.empty());
    BOOST_TEST(to_string(o.info.damages.front().kind) == "incomplete_batch");
    BOOST_TEST(!o.info.damages.front().mid_log);
}

// truncate_after at every step of its work, and of the appends that follow it: a power cut
// leaves either a prefix of the old log that keeps everything up to the truncation point, or
// that point followed by a prefix of the new records. Never an old record after a new one, never
// a hole.
BOOST_AUTO_TEST_CASE(truncate_after_survives_a_power_cut_at_every_step) {
    for (lsn_t cut : {lsn_t{15}, lsn_t{0}, lsn_t{3}, lsn_t{20}}) {
        for (preallocation prealloc : {preallocation::zero_fill, preallocation::none}) {
            auto disk = std::make_shared<sim_disk>();
            std::map<lsn_t, std::string> old_values, new_values;
            lsn_t old_last = 0;
            lsn_t boundary = 0;  // LSN at which segment 3 starts
            {
                auto o = open_ok(small_config(disk, recovery_mode::tolerate_corrupted_tail, prealloc));
                log_writer w(*o.log);
                for (lsn_t i = 1; i <= 35; ++i) {
                    w.put("k", "old" + value_for(i));
                    old_values[i] = "old" + value_for(i);
                }
                w.sync();
                old_last = 35;
                const auto segs = o.log->segments();
                BOOST_TEST_REQUIRE(segs.size() >= 3u);
                boundary = segs[2].base_lsn;
                if (cut == 20) cut = boundary - 1;  // the exact end of segment 2
                std::vector<std::shared_ptr<sim_disk>> states;
                disk->set_after_hook([&](const sim_event& ev, std::error_code) {
                    if (mutates(ev.op)) states.push_back(disk->snapshot());
                });
                BOOST_TEST_REQUIRE(!o.log->truncate_after(cut));
                BOOST_TEST(o.log->written_lsn() == cut);
                BOOST_TEST(o.log->durable_lsn() == cut);
                BOOST_TEST(o.log->next_position().lsn == cut + 1);
                log_writer w2(*o.log, cut);
                for (lsn_t i = cut + 1; i <= cut + 4; ++i) {
                    BOOST_TEST(w2.put("k", "new" + value_for(i)).lsn == i);
                    new_values[i] = "new" + value_for(i);
                }
                w2.sync();
                disk->set_after_hook({});
                o.log.reset();

                std::size_t tried = 0;
                for (std::size_t step = 0; step < states.size(); ++step) {
                    for_each_power_cut(
                        *states[step],
                        [&](const power_cut_plan& plan) {
                            ++tried;
                            for (recovery_mode mode :
                                 {recovery_mode::tolerate_corrupted_tail, recovery_mode::skip_corrupted}) {
                                auto after = states[step]->power_cut(plan);
                                const opened r = open_log(small_config(after, mode, prealloc));
                                const std::string ctx =
                                    "cut " + std::to_string(cut) + " step " + std::to_string(step);
                                BOOST_TEST_REQUIRE(!r.ec, ctx << ": " << r.why);
                                const auto got = read_all(*after, *r.log);
                                // Old prefix 1..k (k >= cut), or old 1..cut then new cut+1..m.
                                // Salvage (skip_corrupted) may keep a record after a lost
                                // unsynced one: LSNs then only increase, with the gap listed.
                                const bool salvage = mode == recovery_mode::skip_corrupted;
                                bool ok = true;
                                bool in_new = false;
                                for (std::size_t i = 0; ok && i < got.size(); ++i) {
                                    const lsn_t l = got[i].lsn;
                                    ok = salvage && l > cut ? (i == 0 || l > got[i - 1].lsn) : l == i + 1;
                                    if (!ok) break;
                                    if (l <= cut) {
                                        ok = got[i].value == old_values[l];
                                    } else if (!in_new && got[i].value == old_values[l]) {
                                    } else {
                                        // Once a new record is read, no old one may follow.
                                        in_new = true;
                                        ok = new_values.count(l) != 0 && got[i].value == new_values[l];
                                    }
                                }
                                BOOST_TEST(ok, ctx << ": not a prefix of the old or the new log");
                                BOOST_TEST(got.size() >= std::min<lsn_t>(cut, old_last),
                                           ctx << ": lost durable records");
                                if (salvage) {
                                    std::uint64_t missing = 0;
                                    for (const auto& gap : r.log->skipped())
                                        missing += gap.last - gap.first + 1;
                                    BOOST_TEST((got.empty() || got.back().lsn == got.size() + missing), ctx);
                                }
                                BOOST_TEST((r.info.damages.empty() || !r.info.damages.front().mid_log), ctx);
                            }
                        },
                        few_power_cuts());
                }
                BOOST_TEST(tried > states.size());
            }
            // After everything: the new records.
            const opened r = open_ok(small_config(disk, recovery_mode::absolute_consistency, prealloc));
            const auto got = read_all(*disk, *r.log);
            BOOST_TEST_REQUIRE(got.size() == cut + 4);
            for (const auto& g : got)
                BOOST_TEST(g.value == (g.lsn <= cut ? old_values[g.lsn] : new_values[g.lsn]));
            BOOST_TEST(!r.info.corruption_detected);
            if (cut < boundary) BOOST_TEST(r.log->segments().back().id <= 3u);
        }
    }
}

BOOST_AUTO_TEST_CASE(truncate_after_edges) {
    auto disk = std::make_shared<sim_disk>();
    auto o = open_ok(small_config(disk));
    log_writer w(*o.log);
    for (lsn_t i = 1; i <= 30; ++i) w.put("k", value_for(i));
    BOOST_TEST(!o.log->truncate_after(30));  // at the end: nothing to do
    BOOST_TEST(!o.log->truncate_after(100));
    BOOST_TEST(o.log->written_lsn() == 30u);
    std::uint64_t deleted = 0;
    BOOST_TEST(!o.log->delete_segments_before({0, 0, 25}, deleted));
    BOOST_TEST_REQUIRE(deleted >= 1u);
    const lsn_t first = o.log->first_lsn();
    BOOST_TEST(first > 1u);
    // Below the first retained record: the log is emptied and continues after the given LSN.
    BOOST_TEST(!o.log->truncate_after(first - 2));
    BOOST_TEST(o.log->written_lsn() == first - 2);
    BOOST_TEST(o.log->next_position().lsn == first - 1);
    BOOST_TEST(o.log->segments().size() == 1u);
    BOOST_TEST(o.log->segments().front().records == 0u);
    BOOST_TEST(w.put("k", "again").lsn == first - 1);
    o.log.reset();
    auto r = open_ok(small_config(disk, recovery_mode::absolute_consistency));
    BOOST_TEST(r.info.valid_records == 1u);
    BOOST_TEST(r.info.first_lsn == first - 1);
    // truncate_after(0) starts again at 1.
    BOOST_TEST(!r.log->truncate_after(0));
    BOOST_TEST(r.log->next_position().lsn == 1u);
    log_writer w2(*r.log);
    BOOST_TEST(w2.put("k", "one").lsn == 1u);
    r.log.reset();
    auto r2 = open_ok(small_config(disk, recovery_mode::absolute_consistency));
    BOOST_TEST(r2.info.first_lsn == 1u);
    BOOST_TEST(r2.info.last_lsn == 1u);
}

// A new log starts at wal_config::first_lsn; an existing one keeps its own LSNs.
BOOST_AUTO_TEST_CASE(a_new_log_starts_at_first_lsn) {
    auto disk = std::make_shared<sim_disk>();
    auto cfg = small_config(disk, recovery_mode::absolute_consistency);
    cfg.first_lsn = 1000;
    {
        auto o = open_ok(cfg);
        BOOST_TEST(o.log->first_lsn() == 1000u);
        BOOST_TEST(o.log->written_lsn() == 999u);
        log_writer w(*o.log);
        BOOST_TEST(w.put("k", "a").lsn == 1000u);
        BOOST_TEST(w.put("k", "b").lsn == 1001u);
        w.sync();
    }
    cfg.first_lsn = 7;  // ignored: the log exists
    auto r = open_ok(cfg);
    BOOST_TEST(r.info.first_lsn == 1000u);
    BOOST_TEST(r.info.last_lsn == 1001u);
    BOOST_TEST(r.log->next_position().lsn == 1002u);
    // An empty log reopened keeps its start too.
    auto disk2 = std::make_shared<sim_disk>();
    auto cfg2 = small_config(disk2);
    cfg2.first_lsn = 50;
    { auto o = open_ok(cfg2); }
    cfg2.first_lsn = 1;
    BOOST_TEST(open_ok(cfg2).log->next_position().lsn == 50u);
    cfg2.first_lsn = 0;
    BOOST_TEST((open_log(cfg2).ec == errc::invalid_config));
}

// reset_to below, inside and above the LSNs held: the log is empty and continues at the given
// LSN, in memory and after a reopen.
BOOST_AUTO_TEST_CASE(reset_to_replaces_the_whole_log) {
    for (lsn_t next : {lsn_t{1}, lsn_t{5}, lsn_t{20}, lsn_t{31}, lsn_t{500}}) {
        auto disk = std::make_shared<sim_disk>();
        auto o = open_ok(small_config(disk));
        log_writer w(*o.log);
        for (lsn_t i = 1; i <= 30; ++i) w.put("k", value_for(i));
        std::uint64_t deleted = 0;
        BOOST_TEST(!o.log->delete_segments_before({0, 0, 3}, deleted));
        BOOST_TEST_REQUIRE(o.log->segments().size() > 2u);
        BOOST_TEST_REQUIRE(!o.log->reset_to(next));
        BOOST_TEST(o.log->first_lsn() == next);
        BOOST_TEST(o.log->next_position().lsn == next);
        BOOST_TEST(o.log->written_lsn() == next - 1);
        BOOST_TEST(o.log->durable_lsn() == next - 1);
        BOOST_TEST(o.log->segments().size() == 1u);
        BOOST_TEST(read_all(*disk, *o.log).empty());
        log_writer w2(*o.log, next - 1);
        BOOST_TEST(w2.put("k", "new").lsn == next);
        o.log.reset();
        auto r = open_ok(small_config(disk, recovery_mode::absolute_consistency));
        const auto got = read_all(*disk, *r.log);
        BOOST_TEST_REQUIRE(got.size() == 1u);
        BOOST_TEST(got[0].lsn == next);
        BOOST_TEST(got[0].value == "new");
        BOOST_TEST(r.log->first_lsn() == next);
        BOOST_TEST((r.log->reset_to(0) == errc::invalid_argument));
        BOOST_TEST(r.log->next_position().lsn == next + 1);
    }
}

// reset_to at every step of its work: a power cut leaves a prefix of the old log that keeps
// every synced record, or the empty new log (then the records appended after it, as a prefix).
BOOST_AUTO_TEST_CASE(reset_to_survives_a_power_cut_at_every_step) {
    for (lsn_t next : {lsn_t{3}, lsn_t{100}}) {
        auto disk = std::make_shared<sim_disk>();
        std::map<lsn_t, std::string> old_values;
        std::vector<std::shared_ptr<sim_disk>> states;
        {
            auto o =
                open_ok(small_config(disk, recovery_mode::tolerate_corrupted_tail, preallocation::zero_fill));
            log_writer w(*o.log);
            for (lsn_t i = 1; i <= 35; ++i) {
                w.put("k", "old" + value_for(i));
                old_values[i] = "old" + value_for(i);
            }
            w.sync();
            disk->set_after_hook([&](const sim_event& ev, std::error_code) {
                if (mutates(ev.op)) states.push_back(disk->snapshot());
            });
            BOOST_TEST_REQUIRE(!o.log->reset_to(next));
            log_writer w2(*o.log, next - 1);
            for (lsn_t i = next; i < next + 3; ++i) BOOST_TEST(w2.put("k", "new" + value_for(i)).lsn == i);
            w2.sync();
            disk->set_after_hook({});
        }
        std::size_t tried = 0;
        for (std::size_t step = 0; step < states.size(); ++step) {
            for_each_power_cut(
                *states[step],
                [&](const power_cut_plan& plan) {
                    ++tried;
                    auto after = states[step]->power_cut(plan);
                    const std::string ctx = "next " + std::to_string(next) + " step " + std::to_string(step);
                    const opened r = open_log(small_config(after, recovery_mode::tolerate_corrupted_tail,
                                                           preallocation::zero_fill));
                    BOOST_TEST_REQUIRE(!r.ec, ctx << ": " << r.why);
                    const auto got = read_all(*after, *r.log);
                    bool ok = true;
                    if (!got.empty() && got.front().lsn == 1 && got.front().value == old_values[1]) {
                        // The old log: all 35 records (they were synced), or a prefix of them
                        // once the removals of later segments were made durable.
                        for (std::size_t i = 0; ok && i < got.size(); ++i)
                            ok = got[i].lsn == i + 1 && got[i].value == old_values[i + 1];
                    } else {
                        // The new log: starts at `next`, then only new records.
                        BOOST_TEST(r.log->first_lsn() == next, ctx);
                        for (std::size_t i = 0; ok && i < got.size(); ++i)
                            ok = got[i].lsn == next + i && got[i].value == "new" + value_for(next + i);
                    }
                    BOOST_TEST(ok, ctx << ": neither a prefix of the old log nor of the new one");
                },
                few_power_cuts());
        }
        BOOST_TEST(tried > states.size());
    }
}

BOOST_AUTO_TEST_CASE(recycled_segments_never_return_stale_records) {
    for (recovery_mode mode : all_modes) {
        auto disk = std::make_shared<sim_disk>();
        auto cfg = small_config(disk, mode, preallocation::zero_fill);
        cfg.recycle_segments = true;
        std::map<lsn_t, std::string> values;
        lsn_t next = 1;
        {
            auto o = open_ok(cfg);
            log_writer w(*o.log);
            for (; next <= 40; ++next) values[next] = "first-life-" + value_for(next);
            for (lsn_t i = 1; i <= 40; ++i) w.put("k", values[i]);
            std::uint64_t deleted = 0;
            BOOST_TEST_REQUIRE(!o.log->delete_segments_before(o.log->next_position(), deleted));
            BOOST_TEST(deleted == 3u);
            std::vector<std::string> names;
            BOOST_TEST(!disk->list(log_dir, names));
            BOOST_TEST(std::count_if(names.begin(), names.end(),
                                     [](const std::string& n) { return n.starts_with("spare-"); }) == 2);
            // The next segments are recycled files full of older records: a few short records
            // leave most of the old ones behind the new end.
            for (int i = 0; i < 14; ++i, ++next) {
                values[next] = "v" + std::to_string(next);
                w.put("k", values[next]);
                if (i == 6) BOOST_TEST(!o.log->rotate());
            }
            w.sync();
        }
        const opened o = open_ok(cfg);
        BOOST_TEST(!o.info.corruption_detected, to_string(mode));
        const auto got = read_all(*disk, *o.log);
        const lsn_t first = got.empty() ? 0 : got.front().lsn;
        BOOST_TEST(got.size() == next - first);
        for (std::size_t i = 0; i < got.size(); ++i) {
            BOOST_TEST(got[i].lsn == first + i);
            BOOST_TEST(got[i].value == values[got[i].lsn]);
        }
        BOOST_TEST(o.info.last_lsn == next - 1);
        // The stale bytes behind the end of the active (recycled) segment are reported, not damage.
        BOOST_TEST_REQUIRE(o.info.damages.size() == 1u);
        BOOST_TEST(to_string(o.info.damages[0].kind) == "stale_record");
        BOOST_TEST(!o.info.damages[0].mid_log);
        BOOST_TEST(o.info.damages[0].segment_id == o.log->segments().back().id);
        BOOST_TEST(o.info.damages[0].offset == o.log->segments().back().written_bytes);
    }
}

BOOST_AUTO_TEST_SUITE_END()
