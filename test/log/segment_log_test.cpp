// The engine's write path, reopen, rotation, management and configuration checks.
#include "log_support.hpp"

#include <noriwal/meter.hpp>

#include <boost/test/unit_test.hpp>

#include <thread>

using namespace noriwal;
using namespace noriwal::test;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<sim_disk> fresh_disk() { return std::make_shared<sim_disk>(); }

std::error_code append_one(nd::segment_log& log, nd::encoded_record& e, bool atomic = false,
                           position* pos = nullptr) {
    nd::encoded_record* p = &e;
    nd::append_request req{std::span<nd::encoded_record* const>(&p, 1), atomic, pos};
    std::error_code result;
    const auto ec =
        log.append(std::span<nd::append_request>(&req, 1), std::span<std::error_code>(&result, 1));
    return ec ? ec : result;
}

struct counting_meter : meter {
    std::vector<std::uint64_t> rolled, deleted;
    std::vector<damage> corruptions;
    std::uint64_t writes = 0, fsyncs = 0;
    void on_segment_rolled(std::uint64_t sealed, std::uint64_t, std::uint64_t) override {
        rolled.push_back(sealed);
    }
    void on_segment_deleted(std::uint64_t id) override { deleted.push_back(id); }
    void on_corruption(const damage& d) override { corruptions.push_back(d); }
    void on_write(std::uint64_t, std::uint64_t) override { ++writes; }
    void on_fsync(std::chrono::nanoseconds, std::uint64_t) override { ++fsyncs; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(segment_log_suite)

BOOST_AUTO_TEST_CASE(new_log_starts_at_lsn_1_in_segment_1) {
    auto disk = fresh_disk();
    auto o = open_ok(small_config(disk));
    BOOST_TEST(o.info.valid_records == 0u);
    BOOST_TEST(o.info.first_lsn == 0u);
    BOOST_TEST(!o.info.corruption_detected);
    BOOST_TEST(o.log->next_position().lsn == 1u);
    BOOST_TEST(o.log->next_position().segment_id == 1u);
    BOOST_TEST(o.log->next_position().offset == nd::segment_header_size);
    const auto segs = o.log->segments();
    BOOST_TEST_REQUIRE(segs.size() == 1u);
    BOOST_TEST(!segs[0].sealed);
    BOOST_TEST(segs[0].base_lsn == 1u);
    log_writer w(*o.log);
    const position p = w.put("k", "v");
    BOOST_TEST(p.lsn == 1u);
    BOOST_TEST(p.segment_id == 1u);
    BOOST_TEST(p.offset == nd::segment_header_size);
    BOOST_TEST(o.log->written_lsn() == 1u);
    BOOST_TEST(o.log->durable_lsn() == 0u);
    BOOST_TEST(!o.log->sync());
    BOOST_TEST(o.log->durable_lsn() == 1u);
}

BOOST_AUTO_TEST_CASE(every_record_kind_round_trips_through_reopen) {
    auto disk = fresh_disk();
    auto cfg = small_config(disk);
    cfg.max_segment_size = 64 << 10;
    cfg.max_record_size = 32 << 10;
    std::vector<read_record> expected;
    {
        auto o = open_ok(cfg);
        log_writer w(*o.log);
        const std::string big(3000, 'z');  // compresses
        w.put("plain", "value");
        w.put("", "");  // empty key and value
        w.append({record::put_tombstone("gone")}, false);
        w.append({record::put("ttl", "soon").with_ttl(1h)}, false);
        w.append({record::put("lz4", big).with_compression(compression::lz4)}, false);
        w.append({record::put("zstd", big).with_compression(compression::zstd)}, false);
        w.append({record::put("b1", "x"), record::put("b2", "y"), record::put("b3", "z")}, true);
        w.append({record::put("single-batch", "one")}, true);
        w.append({record::put("n1", "p"), record::put("n2", "q")}, false);
        BOOST_TEST(!o.log->close());
    }
    auto o = open_ok(cfg);
    BOOST_TEST(o.info.valid_records == 12u);
    BOOST_TEST(o.info.first_lsn == 1u);
    BOOST_TEST(o.info.last_lsn == 12u);
    BOOST_TEST(!o.info.corruption_detected);
    BOOST_TEST(o.info.damages.empty());
    const auto got = read_all(*disk, *o.log);
    BOOST_TEST_REQUIRE(got.size() == 12u);
    BOOST_TEST(got[0].key == "plain");
    BOOST_TEST(got[0].value == "value");
    BOOST_TEST(got[1].key.empty());
    BOOST_TEST(got[1].value.empty());
    BOOST_TEST(got[2].tombstone);
    BOOST_TEST(got[2].key == "gone");
    BOOST_TEST(got[3].expiry_ns != 0u);
    BOOST_TEST((got[4].stored == compression::lz4));
    BOOST_TEST(got[4].value == std::string(3000, 'z'));
    BOOST_TEST((got[5].stored == compression::zstd));
    BOOST_TEST(got[5].value == std::string(3000, 'z'));
    BOOST_TEST(got[6].key == "b1");
    BOOST_TEST(got[8].key == "b3");
    BOOST_TEST(got[9].key == "single-batch");
    BOOST_TEST(got[11].key == "n2");
    for (std::size_t i = 0; i < got.size(); ++i) BOOST_TEST(got[i].lsn == i + 1);
    BOOST_TEST(o.info.last_valid.lsn == 12u);
    BOOST_TEST(o.info.last_valid.offset == got[11].offset);
}

BOOST_AUTO_TEST_CASE(reopen_and_append_cycles_continue_lsns) {
    auto disk = fresh_disk();
    const auto cfg = small_config(disk);
    lsn_t next = 1;
    for (int cycle = 0; cycle < 6; ++cycle) {
        auto o = open_ok(cfg);
        BOOST_TEST(o.info.valid_records == next - 1);
        BOOST_TEST(o.log->next_position().lsn == next);
        log_writer w(*o.log);
        for (int i = 0; i < 7; ++i, ++next)
            BOOST_TEST(w.put("k" + std::to_string(next), value_for(next)).lsn == next);
        if (cycle % 2 == 0) BOOST_TEST(!o.log->close());  // odd cycles: destroyed without close
    }
    auto o = open_ok(cfg);
    const auto got = read_all(*disk, *o.log);
    BOOST_TEST_REQUIRE(got.size() == next - 1);
    for (std::size_t i = 0; i < got.size(); ++i) {
        BOOST_TEST(got[i].lsn == i + 1);
        BOOST_TEST(got[i].value == value_for(i + 1));
    }
    BOOST_TEST(o.log->segments().size() > 3u);
}

BOOST_AUTO_TEST_CASE(a_record_that_exactly_fills_the_segment_stays_and_one_byte_more_rotates) {
    auto disk = fresh_disk();
    auto cfg = small_config(disk);
    auto meter = std::make_shared<counting_meter>();
    cfg.metrics = meter;
    auto o = open_ok(cfg);
    // First a record of 1000 bytes; the rest of the segment is then 4096 - 64 - 1000 = 3032.
    auto e = encode(record::put("k", std::string(1000 - 32 - 1, 'a')));
    BOOST_TEST_REQUIRE(e.bytes.size() == 1000u);
    BOOST_TEST(!append_one(*o.log, e));
    // A record of exactly 3032 bytes is too large for max_record_size 1024: use two records of
    // 1016 and one of 1000 to fill to the last byte.
    auto a = encode(record::put("k", std::string(1016 - 32 - 1, 'b')));
    auto b = encode(record::put("k", std::string(1016 - 32 - 1, 'c')));
    auto c = encode(record::put("k", std::string(1000 - 32 - 1, 'd')));
    BOOST_TEST_REQUIRE(a.bytes.size() + b.bytes.size() + c.bytes.size() == 3032u);
    position pc;
    BOOST_TEST(!append_one(*o.log, a));
    BOOST_TEST(!append_one(*o.log, b));
    BOOST_TEST(!append_one(*o.log, c, false, &pc));
    BOOST_TEST(pc.segment_id == 1u);
    BOOST_TEST(pc.offset + 1000 == cfg.max_segment_size);
    BOOST_TEST(meter->rolled.empty());
    // The next record does not fit (0 bytes left): segment 2.
    auto d = encode(record::put("k", "v"));
    position pd;
    BOOST_TEST(!append_one(*o.log, d, false, &pd));
    BOOST_TEST(pd.segment_id == 2u);
    BOOST_TEST(pd.offset == nd::segment_header_size);
    BOOST_TEST(meter->rolled == std::vector<std::uint64_t>{1});

    // In segment 2: fill up to 8 bytes short of a record, then a record 8 bytes (one aligned
    // unit: one byte of body more) larger than what remains rotates.
    const std::uint64_t left = cfg.max_segment_size - pd.offset - d.bytes.size();
    auto f1 = encode(record::put("k", std::string(1000 - 33, 'e')));
    auto f2 = encode(record::put("k", std::string(1000 - 33, 'f')));
    auto f3 = encode(record::put("k", std::string(1000 - 33, 'h')));
    BOOST_TEST(!append_one(*o.log, f1));
    BOOST_TEST(!append_one(*o.log, f2));
    BOOST_TEST(!append_one(*o.log, f3));
    const std::uint64_t rest = left - 3000;  // what remains in segment 2
    auto over = encode(record::put("k", std::string(rest - 32 - 1 + 1, 'g')));
    BOOST_TEST_REQUIRE(over.bytes.size() == rest + 8);
    position po;
    BOOST_TEST(!append_one(*o.log, over, false, &po));
    BOOST_TEST(po.segment_id == 3u);
    o.log.reset();

    auto r = open_ok(cfg);
    BOOST_TEST(r.info.valid_records == 9u);
    BOOST_TEST(!r.info.corruption_detected);
    const auto segs = r.log->segments();
    BOOST_TEST_REQUIRE(segs.size() == 3u);
    BOOST_TEST(segs[0].written_bytes == cfg.max_segment_size);
    BOOST_TEST(segs[0].records == 4u);
    BOOST_TEST(segs[1].base_lsn == 5u);
    BOOST_TEST(segs[2].base_lsn == 9u);
}

BOOST_AUTO_TEST_CASE(records_larger_than_the_limit_or_a_segment_fail_alone) {
    auto disk = fresh_disk();
    auto cfg = small_config(disk);
    auto o = open_ok(cfg);
    auto ok1 = encode(record::put("a", "1"));
    auto huge = encode(record::put("b", std::string(2000, 'x')));  // body > max_record_size 1024
    auto ok2 = encode(record::put("c", "3"));
    std::vector<nd::encoded_record> batch;
    for (int i = 0; i < 5; ++i) batch.push_back(encode(record::put("d", std::string(900, 'y'))));
    std::vector<nd::encoded_record*> bp;
    for (auto& e : batch) bp.push_back(&e);  // 5 x ~936 bytes: more than a segment holds
    nd::encoded_record* p1 = &ok1;
    nd::encoded_record* p2 = &huge;
    nd::encoded_record* p3 = &ok2;
    position pos[3];
    std::vector<nd::append_request> group{{{&p1, 1}, false, &pos[0]},
                                          {{&p2, 1}, false, &pos[1]},
                                          {bp, true, nullptr},
                                          {{}, false, nullptr},
                                          {{&p3, 1}, false, &pos[2]}};
    std::vector<std::error_code> results(group.size());
    BOOST_TEST(!o.log->append(group, results));
    BOOST_TEST(!results[0]);
    BOOST_TEST(results[1] == errc::record_too_large);
    BOOST_TEST(results[2] == errc::record_too_large);
    BOOST_TEST(results[3] == errc::invalid_argument);
    BOOST_TEST(!results[4]);
    BOOST_TEST(pos[0].lsn == 1u);
    BOOST_TEST(pos[2].lsn == 2u);
    BOOST_TEST(o.log->written_lsn() == 2u);
}

BOOST_AUTO_TEST_CASE(an_atomic_batch_is_never_split_across_segments) {
    auto disk = fresh_disk();
    auto cfg = small_config(disk);
    auto o = open_ok(cfg);
    log_writer w(*o.log);
    for (int i = 0; i < 3; ++i) w.put("k", std::string(900, 'a'));  // ~2800 of 4032 bytes used
    const std::string value(500, 'b');
    std::vector<record> rs(3, record::put("b", value));
    const auto pos = w.append(rs, true);  // ~1600 bytes: does not fit in what is left
    BOOST_TEST(pos[0].segment_id == 2u);
    BOOST_TEST(pos[2].segment_id == 2u);
    BOOST_TEST(pos[0].offset == nd::segment_header_size);
}

BOOST_AUTO_TEST_CASE(one_write_per_segment_touched_per_group) {
    auto disk = fresh_disk();
    auto cfg = small_config(disk);
    auto meter = std::make_shared<counting_meter>();
    cfg.metrics = meter;
    auto o = open_ok(cfg);
    std::uint64_t writes = 0;
    disk->set_after_hook([&](const sim_event& ev, std::error_code) {
        if (ev.op == sim_op::write && ev.offset >= nd::segment_header_size) ++writes;  // not a header
    });
    std::vector<nd::encoded_record> enc;
    for (int i = 0; i < 10; ++i)
        enc.push_back(encode(record::put("k" + std::to_string(i), std::string(600, 'v'))));
    std::vector<nd::encoded_record*> ptrs;
    for (auto& e : enc) ptrs.push_back(&e);
    std::vector<nd::append_request> group;
    for (auto*& p : ptrs) group.push_back({{&p, 1}, false, nullptr});
    std::vector<std::error_code> results(group.size());
    BOOST_TEST(!o.log->append(group, results));
    // 10 x 640 bytes span two segments (6 in the first): two record writes.
    BOOST_TEST(writes == 2u);
    BOOST_TEST(meter->writes == 2u);
    BOOST_TEST(o.log->segments().size() == 2u);
}

BOOST_AUTO_TEST_CASE(rotation_by_age) {
    auto disk = fresh_disk();
    auto cfg = small_config(disk);
    cfg.max_segment_age = 1000ms;
    auto o = open_ok(cfg);
    std::uint64_t now = 1'000'000'000'000;
    o.log->set_clock([&] { return now; });
    BOOST_TEST(
        !o.log->rotation_due_ns());  // the first segment was created before the clock was set, and is empty
    log_writer w(*o.log);
    w.put("a", "1");
    BOOST_TEST(o.log->segments().size() == 1u);
    const std::uint64_t due = *o.log->rotation_due_ns();
    now = due - 1;
    BOOST_TEST(!o.log->rotate_if_older_than(now));
    BOOST_TEST(o.log->segments().size() == 1u);
    now = due;
    BOOST_TEST(w.put("b", "2").segment_id == 2u);  // append rotates first
    BOOST_TEST(o.log->segments().front().sealed);
    BOOST_TEST(o.log->segments().back().created_ns == now);
    BOOST_TEST(*o.log->rotation_due_ns() == now + 1'000'000'000);
    now += 5'000'000'000;
    BOOST_TEST(!o.log->rotate_if_older_than(now));
    BOOST_TEST(o.log->segments().size() == 3u);
    BOOST_TEST(!o.log->rotation_due_ns());  // the new one is empty: never rotated by age
}

BOOST_AUTO_TEST_CASE(delete_segments_before_removes_sealed_segments_including_the_one_before_active) {
    auto disk = fresh_disk();
    auto cfg = small_config(disk);
    auto meter = std::make_shared<counting_meter>();
    cfg.metrics = meter;
    auto o = open_ok(cfg);
    log_writer w(*o.log);
    for (int i = 1; i <= 40; ++i) w.put("k", value_for(i));
    auto segs = o.log->segments();
    BOOST_TEST_REQUIRE(segs.size() == 4u);
    std::uint64_t deleted = 0;
    // Segment 2's last record is just below segment 3's base: a position at that LSN keeps it.
    BOOST_TEST(!o.log->delete_segments_before({0, 0, segs[2].base_lsn - 1}, deleted));
    BOOST_TEST(deleted == 1u);
    BOOST_TEST(o.log->segments().front().id == 2u);
    BOOST_TEST(!o.log->delete_segments_before({0, 0, segs[3].base_lsn}, deleted));
    BOOST_TEST(deleted == 2u);  // segments 2 and 3: 3 is the one just before the active one
    BOOST_TEST(o.log->segments().size() == 1u);
    BOOST_TEST(!o.log->delete_segments_before({0, 0, 1000}, deleted));
    BOOST_TEST(deleted == 0u);  // never the active segment
    BOOST_TEST(meter->deleted == (std::vector<std::uint64_t>{1, 2, 3}));
    BOOST_TEST(o.log->first_lsn() == segs[3].base_lsn);
    // Durable before it returned: a power cut keeps the deletions.
    auto after = disk->power_cut();
    std::vector<std::string> names;
    BOOST_TEST(!after->list(log_dir, names));
    BOOST_TEST(std::count_if(names.begin(), names.end(),
                             [](const std::string& n) { return n.ends_with(".wal"); }) == 1);
    o.log.reset();
    auto r = open_ok(small_config(disk));
    BOOST_TEST(r.info.first_lsn == segs[3].base_lsn);
    BOOST_TEST(r.info.last_lsn == 40u);
    BOOST_TEST(!r.info.corruption_detected);
}

BOOST_AUTO_TEST_CASE(retention_deletes_segments_whose_newest_record_is_older_than_the_limit) {
    auto disk = fresh_disk();
    auto cfg = small_config(disk);
    cfg.retention = 10s;
    auto o = open_ok(cfg);
    std::uint64_t now = 100'000'000'000;
    o.log->set_clock([&] { return now; });
    BOOST_TEST(!o.log->rotate());  // empty: nothing to seal
    log_writer w(*o.log);
    std::vector<std::uint64_t> created;
    for (int seg = 0; seg < 3; ++seg) {
        w.put("k", "v");
        now += 1'000'000'000;  // 1 s between segments
        BOOST_TEST(!o.log->rotate());
        created.push_back(now);
    }
    // Segments 2, 3, 4 were created at created[0..2]; segment 1's newest record predates created[0].
    std::uint64_t deleted = 0;
    BOOST_TEST(!o.log->apply_retention(created[0] + 10'000'000'000 - 1, deleted));
    BOOST_TEST(deleted == 0u);
    BOOST_TEST(!o.log->apply_retention(created[0] + 10'000'000'000, deleted));
    BOOST_TEST(deleted == 1u);
    BOOST_TEST(!o.log->apply_retention(created[2] + 10'000'000'000, deleted));
    BOOST_TEST(deleted == 2u);
    BOOST_TEST(o.log->segments().size() == 1u);  // the active one stays
}

BOOST_AUTO_TEST_CASE(a_second_open_of_a_locked_directory_fails) {
    auto disk = fresh_disk();
    auto a = open_ok(small_config(disk));
    auto b = open_log(small_config(disk));
    BOOST_TEST(b.ec == errc::locked);
    BOOST_TEST(b.why.find("/log") != std::string::npos);
    BOOST_TEST(!a.log->close());
    BOOST_TEST(!open_log(small_config(disk)).ec);  // released by close
}

BOOST_AUTO_TEST_CASE(a_real_directory_is_locked_and_holds_the_log) {
    for (preallocation prealloc : {preallocation::zero_fill, preallocation::fallocate, preallocation::none}) {
        temp_dir tmp("noriwal-engine");
        wal_config cfg = small_config(nullptr);
        cfg.dir = tmp / "wal";
        cfg.prealloc = prealloc;
        {
            opened o = open_ok(cfg);
            log_writer w(*o.log);
            for (int i = 1; i <= 30; ++i) w.put("k", value_for(i));
            opened second = open_log(cfg);
            BOOST_TEST(second.ec == errc::locked);
            BOOST_TEST(!o.log->close());
        }
        opened o = open_ok(cfg);
        BOOST_TEST(o.info.valid_records == 30u);
        BOOST_TEST(!o.info.corruption_detected);
        BOOST_TEST(o.info.damages.empty());
        const auto got = read_all(*posix_file_system(), *o.log);
        BOOST_TEST_REQUIRE(got.size() == 30u);
        BOOST_TEST(got[29].value == value_for(30));
        // Preallocated segments have their full size from the start; the others grow.
        const auto segs = o.log->segments();
        BOOST_TEST(std::filesystem::file_size(segs.back().path) ==
                   (prealloc == preallocation::none ? segs.back().written_bytes : cfg.max_segment_size));
    }
}

BOOST_AUTO_TEST_CASE(read_only_open_needs_the_directory_and_refuses_writes) {
    auto disk = fresh_disk();
    auto cfg = small_config(disk);
    cfg.read_only = true;
    auto missing = open_log(cfg);
    BOOST_TEST(missing.ec == errc::not_found);
    {
        auto o = open_ok(small_config(disk));
        log_writer w(*o.log);
        w.put("a", "b");
        BOOST_TEST(!o.log->close());
    }
    auto o = open_ok(cfg);
    BOOST_TEST(o.info.valid_records == 1u);
    auto e = encode(record::put("x", "y"));
    BOOST_TEST(append_one(*o.log, e) == errc::read_only);
    BOOST_TEST(o.log->sync() == errc::read_only);
    std::uint64_t n = 0;
    BOOST_TEST(o.log->delete_segments_before({0, 0, 100}, n) == errc::read_only);
    BOOST_TEST(o.log->truncate_after(0) == errc::read_only);
    // No lock: a writer may open at the same time.
    BOOST_TEST(!open_log(small_config(disk)).ec);
}

BOOST_AUTO_TEST_CASE(a_failed_write_poisons_the_log) {
    auto disk = fresh_disk();
    auto o = open_ok(small_config(disk));
    log_writer w(*o.log);
    w.put("a", "1");
    disk->set_fault_hook(fail_nth(sim_op::write, 0, eio()));
    auto e = encode(record::put("b", "2"));
    BOOST_TEST(append_one(*o.log, e) == std::error_code(EIO, std::system_category()));
    BOOST_TEST(o.log->poisoned());
    disk->set_fault_hook({});
    auto e2 = encode(record::put("c", "3"));
    BOOST_TEST(append_one(*o.log, e2) == errc::poisoned);
    BOOST_TEST(o.log->sync() == errc::poisoned);
    o.log.reset();
    auto r = open_ok(small_config(disk));
    BOOST_TEST(r.info.last_lsn == 1u);
    BOOST_TEST(r.log->next_position().lsn == 2u);
}

BOOST_AUTO_TEST_CASE(a_full_disk_is_no_space_and_leaves_acknowledged_records_intact) {
    for (preallocation prealloc : {preallocation::zero_fill, preallocation::none}) {
        auto disk = fresh_disk();
        const auto cfg = small_config(disk, recovery_mode::absolute_consistency, prealloc);
        lsn_t acknowledged = 0;
        {
            auto o = open_ok(cfg);
            disk->set_capacity(3 * 4096 + 1000);
            std::error_code ec;
            for (lsn_t i = 1; i <= 100 && !ec; ++i) {
                auto e = encode(record::put("k", value_for(i)));
                ec = append_one(*o.log, e);
                if (!ec) ec = o.log->sync();
                if (!ec) acknowledged = i;
            }
            BOOST_TEST(ec == errc::no_space);
            BOOST_TEST(o.log->poisoned());
            BOOST_TEST(acknowledged > 10u);
        }
        disk->set_capacity(std::nullopt);
        const opened r = open_ok(cfg);
        BOOST_TEST(r.info.last_lsn >= acknowledged);
        const auto got = read_all(*disk, *r.log);
        BOOST_TEST_REQUIRE(got.size() >= acknowledged);
        for (lsn_t i = 1; i <= acknowledged; ++i) BOOST_TEST(got[i - 1].value == value_for(i));
    }
}

BOOST_AUTO_TEST_CASE(a_failed_fsync_poisons_and_is_never_reported_durable) {
    auto disk = fresh_disk();
    auto o = open_ok(small_config(disk));
    log_writer w(*o.log);
    w.put("a", "1");
    disk->set_fault_hook(fail_nth(sim_op::sync, 0, eio()));
    BOOST_TEST(o.log->sync() == std::error_code(EIO, std::system_category()));
    BOOST_TEST(o.log->durable_lsn() == 0u);
    disk->set_fault_hook({});
    BOOST_TEST(o.log->sync() == errc::poisoned);
    BOOST_TEST(o.log->durable_lsn() == 0u);
    // Through the job interface too: a job that fails never advances the watermark.
    auto o2 = open_ok(small_config(fresh_disk()));
    log_writer w2(*o2.log);
    w2.put("a", "1");
    auto job = o2.log->prepare_sync();
    BOOST_TEST(job.lsn == 1u);
    o2.log->sync_done(job, eio());
    BOOST_TEST(o2.log->poisoned());
    BOOST_TEST(o2.log->durable_lsn() == 0u);
}

BOOST_AUTO_TEST_CASE(sync_jobs_cover_sealed_segments_and_the_directory) {
    auto disk = fresh_disk();
    auto o = open_ok(small_config(disk));
    log_writer w(*o.log);
    for (int i = 1; i <= 15; ++i) w.put("k", value_for(i));  // rotates once
    BOOST_TEST_REQUIRE(o.log->segments().size() == 2u);
    auto job = o.log->prepare_sync();
    BOOST_TEST(job.files.size() == 2u);
    BOOST_TEST(job.directory);
    BOOST_TEST(job.lsn == 15u);
    BOOST_TEST(!nd::run_sync(job));
    o.log->sync_done(job, {});
    BOOST_TEST(o.log->durable_lsn() == 15u);
    // After the sync everything survives a power cut.
    auto after = disk->power_cut();
    auto r = open_ok(small_config(after));
    BOOST_TEST(r.info.last_lsn == 15u);
    BOOST_TEST(!r.info.corruption_detected);
    auto job2 = o.log->prepare_sync();
    BOOST_TEST(job2.files.empty());
    BOOST_TEST(!job2.directory);
}

BOOST_AUTO_TEST_CASE(spares_prepared_off_thread_are_used_by_rotation) {
    auto disk = fresh_disk();
    auto cfg = small_config(disk, recovery_mode::tolerate_corrupted_tail, preallocation::zero_fill);
    auto o = open_ok(cfg);
    auto req = o.log->spare_needed();
    BOOST_TEST_REQUIRE(req.has_value());
    BOOST_TEST(!o.log->spare_needed());  // one in flight
    nd::spare_segment spare;
    BOOST_TEST(!nd::make_spare(*req, spare));
    BOOST_TEST(spare.path.extension() == ".ready");  // renamed once complete
    BOOST_TEST(file_size(*disk, spare.path) == cfg.max_segment_size);
    o.log->spare_ready(std::move(spare), {});
    BOOST_TEST(!o.log->spare_needed());  // one ready
    std::uint64_t creates = 0;
    disk->set_after_hook([&](const sim_event& ev, std::error_code) { creates += ev.op == sim_op::create; });
    log_writer w(*o.log);
    for (int i = 1; i <= 15; ++i) w.put("k", value_for(i));
    BOOST_TEST(o.log->segments().size() == 2u);
    BOOST_TEST(creates == 0u);  // the prepared spare, not one made inline
    BOOST_TEST(o.log->spare_needed().has_value());
    BOOST_TEST(!o.log->close());
    // open removes leftovers of a spare being prepared (spare-<n>.tmp).
    nd::spare_segment leftover;
    nd::spare_request lreq{disk, log_dir, log_dir / "spare-99.tmp", 4096, preallocation::zero_fill};
    BOOST_TEST(!nd::make_spare(lreq, leftover));
    BOOST_TEST_REQUIRE(!disk->rename(log_dir / "spare-99.ready", log_dir / "spare-99.tmp"));
    auto r = open_ok(cfg);
    BOOST_TEST(r.info.last_lsn == 15u);
    BOOST_TEST(dir_contents(*disk).count("spare-99.tmp") == 0u);
}

// ---------------------------------------------------------------- a small log is cheap (issue 15)

namespace {

// Segment files prepared in steps: 4 KiB, 8 KiB, 16 KiB, then 32 KiB.
wal_config stepped_config(std::shared_ptr<sim_disk> disk) {
    auto cfg =
        small_config(std::move(disk), recovery_mode::tolerate_corrupted_tail, preallocation::zero_fill);
    cfg.max_segment_size = 32 << 10;
    cfg.first_segment_size = 4096;
    cfg.max_record_size = 16 << 10;
    return cfg;
}

std::map<std::string, std::uint64_t> file_sizes(sim_disk& disk) {
    std::map<std::string, std::uint64_t> out;
    for (const auto& [name, bytes] : dir_contents(disk)) out[name] = bytes.size();
    return out;
}

// Bytes written to the disk while it counts (every write_at, zeros included).
struct write_counter {
    std::uint64_t bytes = 0, creates = 0;
    explicit write_counter(sim_disk& disk) {
        disk.set_after_hook([this](const sim_event& ev, std::error_code) {
            if (ev.op == sim_op::write) bytes += ev.length;
            creates += ev.op == sim_op::create;
        });
    }
};

void prepare_spare(nd::segment_log& log) {
    auto req = log.spare_needed();
    BOOST_TEST_REQUIRE(req.has_value());
    nd::spare_segment spare;
    const auto ec = nd::make_spare(*req, spare);
    BOOST_TEST_REQUIRE(!ec);
    log.spare_ready(std::move(spare), ec);
}

}  // namespace

BOOST_AUTO_TEST_CASE(segment_files_are_prepared_in_steps_up_to_max_segment_size) {
    auto disk = fresh_disk();
    const auto cfg = stepped_config(disk);
    {
        auto o = open_ok(cfg);
        BOOST_TEST(file_size(*disk, segment_path(1)) == 4096u);
        log_writer w(*o.log);
        for (lsn_t i = 1; o.log->segments().size() < 6; ++i) w.put("k", value_for(i, 900));
        BOOST_TEST(!o.log->close());
    }
    const auto sizes = file_sizes(*disk);
    for (std::uint64_t id = 1; id <= 6; ++id)
        BOOST_TEST(
            sizes.at(nd::segment_file_name(id)) == std::min<std::uint64_t>(4096u << (id - 1), 32u << 10),
            "segment " << id);
    auto r = open_ok(cfg);
    BOOST_TEST(!r.info.corruption_detected);
    BOOST_TEST(r.info.segments_scanned == 6u);
}

BOOST_AUTO_TEST_CASE(a_record_larger_than_the_next_step_gets_a_segment_that_fits) {
    auto disk = fresh_disk();
    const auto cfg = stepped_config(disk);
    std::vector<position> pos;
    {
        auto o = open_ok(cfg);
        prepare_spare(*o.log);  // 8 KiB: too small for what follows, kept for later
        log_writer w(*o.log);
        pos.push_back(w.put("small", "v"));
        pos.push_back(w.put("big", std::string(10000, 'b')));
        const auto batch =
            w.append({record::put("b1", std::string(5000, '1')), record::put("b2", std::string(5000, '2')),
                      record::put("b3", std::string(5000, '3'))},
                     true);
        pos.insert(pos.end(), batch.begin(), batch.end());
        BOOST_TEST(!o.log->spare_needed().has_value());  // the 8 KiB spare is still there
        pos.push_back(w.put("after", "v"));
        for (lsn_t i = 1; o.log->segments().size() < 4; ++i) w.put("k", value_for(i, 900));
        BOOST_TEST(!o.log->close());
    }
    BOOST_TEST(pos[0].segment_id == 1u);
    BOOST_TEST(pos[1].segment_id == 2u);
    BOOST_TEST(file_size(*disk, segment_path(2)) >= 10000u + nd::segment_header_size);
    BOOST_TEST(pos[2].segment_id == pos[4].segment_id);  // the batch is never split
    BOOST_TEST(file_size(*disk, segment_path(pos[2].segment_id)) >= 15000u);
    BOOST_TEST(file_size(*disk, segment_path(3)) == 24576u);  // twice the 12 KiB one before it
    BOOST_TEST(file_size(*disk, segment_path(4)) == 8192u);   // the kept spare, once one fits
    auto r = open_ok(cfg);
    BOOST_TEST(!r.info.corruption_detected);
    const auto got = read_all(*disk, *r.log);
    BOOST_TEST_REQUIRE(got.size() >= 6u);
    BOOST_TEST(got[1].value == std::string(10000, 'b'));
}

// The first record of a new log may not fit its first segment: that one is sealed empty and the
// record starts segment 2, which recovery and deletion take like any other.
BOOST_AUTO_TEST_CASE(a_first_record_larger_than_the_first_segment) {
    auto disk = fresh_disk();
    const auto cfg = stepped_config(disk);
    {
        auto o = open_ok(cfg);
        log_writer w(*o.log);
        const position p = w.put("big", std::string(6000, 'b'));
        BOOST_TEST(p.segment_id == 2u);
        BOOST_TEST(p.lsn == 1u);
        BOOST_TEST(o.log->first_lsn() == 1u);
        w.put("next", "v");
        BOOST_TEST(!o.log->close());
    }
    {
        auto r = open_ok(cfg);
        BOOST_TEST(!r.info.corruption_detected);
        BOOST_TEST(r.info.valid_records == 2u);
        BOOST_TEST(r.info.first_lsn == 1u);
        std::uint64_t deleted = 0;
        BOOST_TEST(!r.log->delete_segments_before({0, 0, 1}, deleted));
        BOOST_TEST(deleted == 1u);  // the empty segment 1 holds nothing below LSN 1
        BOOST_TEST(!r.log->close());
    }
    auto r = open_ok(cfg);
    BOOST_TEST(!r.info.corruption_detected);
    BOOST_TEST(r.info.valid_records == 2u);
}

BOOST_AUTO_TEST_CASE(a_prepared_spare_is_kept_across_close_and_reused_without_zero_filling) {
    auto disk = fresh_disk();
    const auto cfg = stepped_config(disk);
    {
        auto o = open_ok(cfg);
        prepare_spare(*o.log);
        log_writer w(*o.log);
        w.put("k", "v");
        BOOST_TEST(!o.log->close());
    }
    auto sizes = file_sizes(*disk);
    BOOST_TEST(sizes.count("spare-2.ready") == 1u);
    BOOST_TEST(sizes["spare-2.ready"] == 8192u);
    write_counter count(*disk);
    auto o = open_ok(cfg);
    BOOST_TEST(count.bytes == 0u);  // nothing zero-filled, no header written
    BOOST_TEST(count.creates == 0u);
    BOOST_TEST(!o.log->spare_needed().has_value());  // the kept spare is ready
    log_writer w(*o.log);
    for (lsn_t i = 1; o.log->segments().size() < 2; ++i) w.put("k", value_for(i, 900));
    BOOST_TEST(count.creates == 0u);  // segment 2 is the kept spare
    BOOST_TEST(count.bytes < 8192u);  // records and a header, no zeros
    sizes = file_sizes(*disk);
    BOOST_TEST(sizes.count("spare-2.ready") == 0u);
    BOOST_TEST(sizes[nd::segment_file_name(2)] == 8192u);
    // The next spare does not reuse the kept one's number (spare-1 became segment 1).
    auto req = o.log->spare_needed();
    BOOST_TEST_REQUIRE(req.has_value());
    BOOST_TEST(req->path.filename() == "spare-3.tmp");
    BOOST_TEST(req->size == 16384u);
}

BOOST_AUTO_TEST_CASE(a_kept_spare_with_a_header_or_of_another_size_is_removed) {
    auto disk = fresh_disk();
    auto cfg = stepped_config(disk);
    {
        auto o = open_ok(cfg);
        prepare_spare(*o.log);
        BOOST_TEST(!o.log->close());
    }
    // A byte written at its start: what an activation leaves when a crash undoes its rename.
    {
        std::unique_ptr<file> f;
        BOOST_TEST_REQUIRE(!disk->open(log_dir / "spare-2.ready", open_mode::read_write, f));
        const std::byte one{1};
        BOOST_TEST_REQUIRE(!f->write_at(8, std::span<const std::byte>(&one, 1)));
    }
    {
        auto ro = cfg;
        ro.read_only = true;
        auto o = open_ok(ro);  // a read-only open changes nothing
        BOOST_TEST(file_sizes(*disk).count("spare-2.ready") == 1u);
    }
    {
        auto o = open_ok(cfg);
        BOOST_TEST(file_sizes(*disk).count("spare-2.ready") == 0u);
        prepare_spare(*o.log);  // a new one is needed: spare-3.ready, 8 KiB
        BOOST_TEST(!o.log->close());
    }
    cfg.first_segment_size = 0;  // every segment 32 KiB now: an 8 KiB spare does not fit
    auto o = open_ok(cfg);
    BOOST_TEST(file_sizes(*disk).count("spare-3.ready") == 0u);
}

// A wal closed just before this open may still finish its spare (make_spare renames
// spare-<n>.tmp to spare-<n>.ready) after it released the lock: a leftover that vanishes
// between open's listing and its removal is no error.
BOOST_AUTO_TEST_CASE(a_leftover_spare_renamed_by_a_closing_wal_during_open_is_no_error) {
    auto disk = fresh_disk();
    const auto cfg = stepped_config(disk);
    {
        auto o = open_ok(cfg);
        BOOST_TEST(!o.log->close());
    }
    nd::spare_segment late;
    nd::spare_request req{disk, log_dir, log_dir / "spare-7.tmp", 8192, preallocation::zero_fill};
    BOOST_TEST_REQUIRE(!nd::make_spare(req, late));
    BOOST_TEST_REQUIRE(!disk->rename(log_dir / "spare-7.ready", log_dir / "spare-7.tmp"));
    late.f.reset();
    bool renamed = false;
    disk->set_fault_hook([&](const sim_event& ev) -> std::error_code {
        if (ev.op == sim_op::remove && ev.path.filename() == "spare-7.tmp" && !renamed) {
            renamed = true;  // the other wal's spare thread gets there first
            (void)disk->rename(log_dir / "spare-7.tmp", log_dir / "spare-7.ready");
        }
        return {};
    });
    auto o = open_ok(cfg);
    BOOST_TEST(renamed);
    disk->set_fault_hook({});
    BOOST_TEST(!o.log->close());
    auto r = open_ok(cfg);  // the late spare-7.ready is complete: taken up as a spare
    BOOST_TEST(!r.log->spare_needed().has_value());
}

// The activation of a kept spare renames it to the segment's name; a power cut that undoes the
// rename but keeps the records written into it leaves a spare-<n>.ready holding records of that
// segment. The next open must not take it back as a spare: it would become the same segment
// again and its old records could follow new ones.
BOOST_AUTO_TEST_CASE(a_spare_whose_activation_a_power_cut_undid_is_not_reused) {
    auto disk = fresh_disk();
    const auto cfg = stepped_config(disk);
    auto o = open_ok(cfg);
    prepare_spare(*o.log);
    log_writer w(*o.log);
    for (lsn_t i = 1; o.log->segments().size() < 2; ++i) w.put("k", value_for(i, 900));
    const lsn_t in_first = o.log->segments().front().last_lsn;
    BOOST_TEST_REQUIRE(!o.log->sync());  // every record durable, the rename too
    // Records into segment 2 are not synced; then segment 3 comes from a spare...
    prepare_spare(*o.log);
    for (lsn_t i = 1; o.log->segments().size() < 3; ++i) w.put("k", value_for(i, 900));
    // ...and the cut keeps every write but no directory operation: segment 3 is spare-3.ready
    // again, with its header and records in it.
    power_cut_plan plan;
    plan.keep_other_writes = true;
    auto after = disk->power_cut(plan);
    BOOST_TEST_REQUIRE(file_sizes(*after).count("spare-3.ready") == 1u);
    auto cfg2 = cfg;
    cfg2.fs = after;
    lsn_t last = 0;
    {
        auto r = open_ok(cfg2);
        BOOST_TEST(r.info.last_lsn >= in_first);
        BOOST_TEST(file_sizes(*after).count("spare-3.ready") == 0u);
        last = r.info.last_lsn;
        log_writer w2(*r.log, last);
        for (int i = 0; i < 3; ++i) w2.put("new", "x");
        BOOST_TEST(!r.log->close());
    }
    auto r = open_ok(cfg2);
    BOOST_TEST(!r.info.corruption_detected);
    BOOST_TEST(r.info.last_lsn == last + 3);
}

BOOST_AUTO_TEST_CASE(a_spare_made_on_another_thread_while_the_writer_appends) {
    auto disk = fresh_disk();
    auto cfg = small_config(disk, recovery_mode::tolerate_corrupted_tail, preallocation::zero_fill);
    auto o = open_ok(cfg);
    log_writer w(*o.log);
    for (int round = 0; round < 4; ++round) {
        auto req = o.log->spare_needed();
        BOOST_TEST_REQUIRE(req.has_value());
        nd::spare_segment spare;
        std::error_code made;
        std::thread maker([&] { made = nd::make_spare(*req, spare); });
        for (int i = 0; i < 5; ++i) w.put("k", value_for(static_cast<lsn_t>(i)));  // meanwhile, appends
        maker.join();
        BOOST_TEST(!made);
        o.log->spare_ready(std::move(spare), made);
        for (int i = 0; i < 8; ++i) w.put("k", value_for(static_cast<lsn_t>(i)));  // rotates into it
    }
    BOOST_TEST(!o.log->close());
    auto r = open_ok(cfg);
    BOOST_TEST(r.info.valid_records == 52u);
    BOOST_TEST(!r.info.corruption_detected);
}

BOOST_AUTO_TEST_CASE(the_meter_hears_of_each_damage_and_each_removed_segment) {
    auto disk = fresh_disk();
    {
        auto o = open_ok(small_config(disk));
        log_writer w(*o.log);
        for (lsn_t i = 1; i <= 30; ++i) w.put("k", value_for(i));  // three segments
    }
    // Cut segment 2 short: records are missing before segment 3 (a torn tail: nothing synced).
    truncate_file(*disk, segment_path(2), 100);
    auto cfg = small_config(disk);
    auto meter = std::make_shared<counting_meter>();
    cfg.metrics = meter;
    auto o = open_ok(cfg);
    BOOST_TEST_REQUIRE(o.info.damages.size() == 1u);
    BOOST_TEST_REQUIRE(meter->corruptions.size() == 1u);
    BOOST_TEST(meter->corruptions[0].segment_id == o.info.damages[0].segment_id);
    BOOST_TEST(meter->corruptions[0].offset == o.info.damages[0].offset);
    BOOST_TEST(meter->deleted == std::vector<std::uint64_t>{3});
}

BOOST_AUTO_TEST_CASE(validate_names_the_field_its_value_and_the_range) {
    wal_config cfg;
    cfg.dir = "/x";
    BOOST_TEST(validate(cfg).empty());
    auto check = [](wal_config c, std::string_view field, std::string_view value) {
        const std::string msg = validate(c);
        BOOST_TEST(msg.find(field) != std::string::npos, msg);
        BOOST_TEST(msg.find(value) != std::string::npos, msg);
        BOOST_TEST(msg.find('\n') == std::string::npos);
        std::unique_ptr<nd::segment_log> log;
        recovery_info info;
        std::string why;
        c.fs = std::make_shared<sim_disk>();
        BOOST_TEST(nd::segment_log::open(c, log, info, why) == errc::invalid_config);
        BOOST_TEST(why == msg);
    };
    auto c = cfg;
    c.dir.clear();
    check(c, "dir", "empty");
    c = cfg;
    c.max_segment_size = 4095;
    check(c, "max_segment_size", "4095");
    c.max_segment_size = (1ull << 40) + 1;
    check(c, "max_segment_size", "1099511627777");
    c = cfg;
    c.max_segment_size = 4096;
    c.max_record_size = 4001;  // 4096 - 64 - 32 = 4000 is the largest
    check(c, "max_record_size", "4001");
    c.max_record_size = 4000;
    BOOST_TEST(validate(c).empty());
    c.max_record_size = 0;
    check(c, "max_record_size", "= 0");
    c = cfg;
    c.fsync = fsync_policy::batch(0us);
    check(c, "fsync", "0 us");
    c.fsync = fsync_policy::batch(11s);
    check(c, "fsync", "11000000 us");
    c = cfg;
    c.zstd_level = 0;
    check(c, "zstd_level", "0");
    c.zstd_level = 23;
    check(c, "zstd_level", "23");
    c = cfg;
    c.retention = -1ms;
    check(c, "retention", "-1000 us");
    c = cfg;
    c.max_segment_age = -1ms;
    check(c, "max_segment_age", "-1000 us");
}

BOOST_AUTO_TEST_CASE(foreign_files_are_left_alone_and_misnamed_segments_refused) {
    auto disk = fresh_disk();
    BOOST_TEST(!disk->create_directories(log_dir));
    write_file(*disk, log_dir / "notes.txt", bytes_of("mine"));
    {
        auto o = open_ok(small_config(disk));
        log_writer w(*o.log);
        w.put("a", "b");
    }
    BOOST_TEST(read_file(*disk, log_dir / "notes.txt") == bytes_of("mine"));
    write_file(*disk, log_dir / "backup.wal", bytes_of("x"));
    auto o = open_log(small_config(disk));
    BOOST_TEST(o.ec == errc::not_a_log);
    BOOST_TEST(o.why.find("backup.wal") != std::string::npos);
    BOOST_TEST(!disk->remove(log_dir / "backup.wal"));
    // A file named like a segment that is not one (no magic, no record): refused, untouched.
    write_file(*disk, segment_path(7),
               bytes_of("this is not a log segment at all, but it is long enough to have a header."));
    auto bytes = read_file(*disk, segment_path(7));
    auto o2 = open_log(small_config(disk, recovery_mode::point_in_time));
    BOOST_TEST(o2.ec == errc::not_a_log);
    BOOST_TEST(o2.why.find(nd::segment_file_name(7)) != std::string::npos);
    BOOST_TEST(read_file(*disk, segment_path(7)) == bytes);
}

BOOST_AUTO_TEST_SUITE_END()
