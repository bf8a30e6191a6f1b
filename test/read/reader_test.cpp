// Readers over the engine and the segment registry (the wal's hooks called by engine_log):
// start modes, crossing segments, record sizes, compression, visibility, pinning under
// deletion and truncation, random access, TTL and damage left by skip_corrupted.
#include <noriwal/error.hpp>
#include <noriwal/reader.hpp>

#include "read/engine_harness.hpp"
#include "support/printing.hpp"
#include "support/sim_disk.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <map>
#include <random>
#include <string>

using namespace noriwal;
using noriwal::test::engine_log;
using noriwal::test::str;

namespace {

wal_config sim_config(std::uint64_t segment_size = 4096) {
    wal_config cfg;
    cfg.dir = "/data/log";
    cfg.fs = std::make_shared<noriwal::test::sim_disk>();
    cfg.max_segment_size = segment_size;
    cfg.prealloc = preallocation::none;
    cfg.max_record_size =
        static_cast<std::uint32_t>(std::min<std::uint64_t>(cfg.max_record_size, segment_size - 96));
    return cfg;
}

// A value that says which record it belongs to, of any length.
std::string value_for(std::uint64_t i, std::size_t len) {
    std::string v(len, '\0');
    for (std::size_t k = 0; k < len; ++k) v[k] = static_cast<char>('a' + (i * 7 + k) % 26);
    return v;
}

std::string key_for(std::uint64_t i) { return "key-" + std::to_string(i); }

// Appends n records key-i/value_for(i, len(i)) for i in [from, from + n).
std::vector<position> fill(engine_log& log, std::uint64_t from, std::uint64_t n, std::size_t max_len = 300) {
    std::vector<position> out;
    for (std::uint64_t i = from; i < from + n; ++i) {
        const std::string k = key_for(i);
        const std::string v = value_for(i, i % (max_len + 1));
        out.push_back(log.put(k, v));
    }
    return out;
}

// Reads everything visible now; checks LSNs are dense from `first` and contents match fill().
std::uint64_t read_all_checked(reader& r, lsn_t first, std::size_t max_len = 300) {
    std::uint64_t n = 0;
    std::error_code ec;
    while (auto e = r.try_next(ec)) {
        const lsn_t lsn = first + n;
        BOOST_TEST_REQUIRE(e->lsn() == lsn);
        BOOST_TEST_REQUIRE(str(e->key()) == key_for(lsn));
        BOOST_TEST_REQUIRE(str(e->value()) == value_for(lsn, lsn % (max_len + 1)));
        ++n;
    }
    BOOST_TEST(ec == errc::end_of_log, ec.message());
    return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reader_engine)

BOOST_AUTO_TEST_CASE(scan_crosses_many_segments_in_lsn_order) {
    engine_log log(sim_config(4096));
    fill(log, 1, 2000);
    BOOST_TEST(log.log().segments().size() > 50u);
    auto r = log.make_reader();
    BOOST_TEST(read_all_checked(r, 1) == 2000u);
    // More appends: the same reader carries on where it stopped.
    fill(log, 2001, 300);
    BOOST_TEST(read_all_checked(r, 2001) == 300u);
}

BOOST_AUTO_TEST_CASE(every_start_mode) {
    engine_log log(sim_config(4096));
    const auto pos = fill(log, 1, 1000);

    auto r = log.make_reader();
    BOOST_TEST(!r.seek_start());
    BOOST_TEST(r.try_next()->lsn() == 1u);

    for (lsn_t l : {1ull, 2ull, 77ull, 500ull, 999ull, 1000ull}) {
        BOOST_TEST(!r.seek(l));
        auto e = r.try_next();
        BOOST_TEST_REQUIRE(e.has_value());
        BOOST_TEST(e->lsn() == l);
        BOOST_TEST(e->pos().offset == pos[l - 1].offset);
        BOOST_TEST(e->pos().segment_id == pos[l - 1].segment_id);
        BOOST_TEST(str(e->value()) == value_for(l, l % 301));
    }
    // From a position (as an append returned it).
    BOOST_TEST(!r.seek(pos[420]));
    BOOST_TEST(r.try_next()->lsn() == 421u);
    // A position whose LSN does not match its place is refused, and the reader stays put.
    position wrong = pos[10];
    wrong.lsn = 12;
    BOOST_TEST(r.seek(wrong) == errc::not_found);
    BOOST_TEST(r.try_next()->lsn() == 422u);

    // From the end: nothing now, then exactly what comes next.
    BOOST_TEST(!r.seek_end());
    std::error_code ec;
    BOOST_TEST(!r.try_next(ec).has_value());
    BOOST_TEST(ec == errc::end_of_log);
    log.put("new", "record");
    auto e = r.try_next();
    BOOST_TEST_REQUIRE(e.has_value());
    BOOST_TEST(e->lsn() == 1001u);
    BOOST_TEST(str(e->key()) == "new");

    // The next LSN is a valid place to wait at; beyond it is not.
    BOOST_TEST(!r.seek(1002));
    BOOST_TEST(r.seek(1003) == errc::invalid_argument);
    BOOST_TEST(r.seek(0) == errc::invalid_argument);
    log.put("newer", "record");
    BOOST_TEST(r.try_next()->lsn() == 1002u);
}

BOOST_AUTO_TEST_CASE(seek_uses_lsn_samples_and_scans_old_segments) {
    // Big segments so that a seek must find its record inside one: after a reopen there are
    // no samples from the writer, the first seek scans and leaves samples for the next.
    engine_log log(sim_config(8u << 20));
    fill(log, 1, 20000, 200);
    log.reopen();
    auto r = log.make_reader();
    for (lsn_t l : {19999ull, 10000ull, 3ull, 15000ull, 20000ull}) {
        BOOST_TEST_REQUIRE(!r.seek(l));
        auto e = r.try_next();
        BOOST_TEST_REQUIRE(e.has_value());
        BOOST_TEST(e->lsn() == l);
        BOOST_TEST(str(e->key()) == key_for(l));
    }
}

BOOST_AUTO_TEST_CASE(empty_and_very_large_records) {
    auto cfg = sim_config(16u << 20);
    cfg.max_record_size = 12u << 20;
    engine_log log(cfg);
    const std::string big(6u << 20, 'x');
    std::string big2 = value_for(3, 9u << 20);
    log.append(record::put("", ""));
    log.append(record::put("big", big));
    log.append(record::put("big2", big2));
    log.append(record::put("", "v"));
    log.append(record::put("k", ""));
    auto r = log.make_reader();
    auto e1 = r.try_next();
    BOOST_TEST(e1->key().empty());
    BOOST_TEST(e1->value().empty());
    auto e2 = r.try_next();
    BOOST_TEST(e2->value().size() == big.size());
    BOOST_TEST(str(e2->value()) == big);
    auto e3 = r.try_next();
    BOOST_TEST(str(e3->value()) == big2);
    BOOST_TEST(str(r.try_next()->value()) == "v");
    auto e5 = r.try_next();
    BOOST_TEST(str(e5->key()) == "k");
    BOOST_TEST(e5->value().empty());
    BOOST_TEST(!r.try_next().has_value());
}

BOOST_AUTO_TEST_CASE(compressed_values_read_back_uncompressed) {
    engine_log log(sim_config(1u << 20));
    const std::string text = value_for(1, 100) + std::string(5000, 'z') + value_for(2, 100);
    log.append(record::put("lz4", text).with_compression(compression::lz4));
    log.append(record::put("zstd", text).with_compression(compression::zstd));
    log.append(record::put("raw", text));
    auto r = log.make_reader();
    auto a = r.try_next();
    auto b = r.try_next();
    auto c = r.try_next();
    BOOST_TEST((a->stored_compression() == compression::lz4));
    BOOST_TEST((b->stored_compression() == compression::zstd));
    BOOST_TEST((c->stored_compression() == compression::none));
    // All three held at once: each keeps its own value.
    BOOST_TEST(str(a->value()) == text);
    BOOST_TEST(str(b->value()) == text);
    BOOST_TEST(str(c->value()) == text);
    BOOST_TEST(str(a->key()) == "lz4");
    BOOST_TEST(str(b->key()) == "zstd");
}

BOOST_AUTO_TEST_CASE(durable_reader_sees_only_synced_records) {
    engine_log log(sim_config(4096));
    reader_options o;
    o.visible = visibility::durable;
    auto durable = log.make_reader(o);
    auto written = log.make_reader();
    fill(log, 1, 10);
    std::error_code ec;
    BOOST_TEST(!durable.try_next(ec).has_value());
    BOOST_TEST(ec == errc::end_of_log);
    BOOST_TEST(written.try_next()->lsn() == 1u);
    log.sync();
    BOOST_TEST(read_all_checked(durable, 1) == 10u);
}

BOOST_AUTO_TEST_CASE(batch_parts_are_reported) {
    engine_log log(sim_config(4096));
    std::vector<record> batch{record::put("a", "1"), record::put("b", "2"), record::put_tombstone("c")};
    log.append_group(batch, true);
    log.put("d", "4");
    auto r = log.make_reader();
    BOOST_TEST((r.try_next()->batch() == batch_part::first));
    BOOST_TEST((r.try_next()->batch() == batch_part::middle));
    auto last = r.try_next();
    BOOST_TEST((last->batch() == batch_part::last));
    BOOST_TEST(last->tombstone());
    BOOST_TEST((r.try_next()->batch() == batch_part::single));
}

BOOST_AUTO_TEST_CASE(read_at_returns_one_checked_record) {
    engine_log log(sim_config(4096));
    const auto pos = fill(log, 1, 300);
    auto r = log.make_reader();
    for (std::size_t i : {0u, 5u, 150u, 299u}) {
        auto e = r.read_at(pos[i]);
        BOOST_TEST(e.lsn() == i + 1);
        BOOST_TEST(str(e.key()) == key_for(i + 1));
    }
    // The reader did not move.
    BOOST_TEST(r.try_next()->lsn() == 1u);
    std::error_code ec;
    position p = pos[7];
    p.offset += 8;
    BOOST_TEST(!r.read_at(p, ec).has_value());
    BOOST_TEST(ec == errc::not_found);
    p = pos[7];
    p.lsn = 9;
    BOOST_TEST(!r.read_at(p, ec).has_value());
    BOOST_TEST(ec == errc::not_found);
    p = pos[7];
    p.segment_id += 1;
    BOOST_TEST(!r.read_at(p, ec).has_value());
    BOOST_TEST(ec == errc::not_found);
    BOOST_TEST(!r.read_at(position{pos[299].segment_id, pos[299].offset + 64, 301}, ec).has_value());
    BOOST_TEST(ec == errc::not_found);
}

BOOST_AUTO_TEST_CASE(skip_expired_records) {
    engine_log log(sim_config(4096));
    log.append(record::put("old", "x").with_ttl(std::chrono::nanoseconds(-1000000000)));
    log.append(record::put("live", "y").with_ttl(std::chrono::hours(1)));
    log.append(record::put("forever", "z"));
    reader_options o;
    o.skip_expired = true;
    auto skipping = log.make_reader(o);
    auto e = skipping.try_next();
    BOOST_TEST(str(e->key()) == "live");
    BOOST_TEST(e->expiry().has_value());
    BOOST_TEST(!e->expired());
    BOOST_TEST(str(skipping.try_next()->key()) == "forever");
    auto all = log.make_reader();
    auto old = all.try_next();
    BOOST_TEST(str(old->key()) == "old");
    BOOST_TEST(old->expired());
}

BOOST_AUTO_TEST_CASE(entries_survive_deletion_of_their_segments) {
    engine_log log(sim_config(4096));
    const auto pos = fill(log, 1, 500);
    auto r = log.make_reader();
    std::vector<entry> kept;
    for (int i = 0; i < 40; ++i) kept.push_back(*r.try_next());  // in the first few segments
    auto lagging = log.make_reader();
    BOOST_TEST(!lagging.seek(pos[100]));  // mapped its segment
    auto unmapped = log.make_reader();
    BOOST_TEST(!unmapped.seek(5));
    BOOST_TEST(!unmapped.seek_end());  // releases the first segment
    const auto second_half = pos[400];
    BOOST_TEST(log.delete_before(second_half) > 5u);
    // Entries and the reader's segment stay readable, byte for byte.
    for (const entry& e : kept) {
        BOOST_TEST(str(e.key()) == key_for(e.lsn()));
        BOOST_TEST(str(e.value()) == value_for(e.lsn(), e.lsn() % 301));
    }
    // The reader goes on through its mapped segment, then finds the next one deleted.
    std::error_code ec;
    lsn_t last = 40;
    while (auto e = r.try_next(ec)) {
        BOOST_TEST_REQUIRE(e->lsn() == last + 1);
        BOOST_TEST_REQUIRE(str(e->value()) == value_for(e->lsn(), e->lsn() % 301));
        last = e->lsn();
    }
    BOOST_TEST(ec == errc::not_found);
    BOOST_TEST(last < 400u);
    BOOST_TEST(!r.try_next(ec).has_value());
    BOOST_TEST(ec == errc::not_found);  // sticky until a seek
    BOOST_TEST(!r.seek_start());
    const lsn_t first = r.try_next()->lsn();
    BOOST_TEST(first <= 401u);
    BOOST_TEST(first > 40u);
    // A reader positioned at start follows the start of the log.
    auto from_start = log.make_reader();
    BOOST_TEST(from_start.try_next()->lsn() == first);
}

BOOST_AUTO_TEST_CASE(retention_deletes_old_segments_under_readers) {
    auto cfg = sim_config(4096);
    cfg.retention = std::chrono::hours(1);
    cfg.index_keys = true;
    engine_log log(cfg);
    std::uint64_t now = 1'000'000'000'000'000'000ull;
    log.log().set_clock([&] { return now; });
    fill(log, 1, 200);  // segments created "now"
    auto r = log.make_reader();
    std::vector<entry> kept;
    for (int i = 0; i < 5; ++i) kept.push_back(*r.try_next());
    BOOST_TEST_REQUIRE(!log.log().rotate());
    fill(log, 201, 5);
    now += 2ull * 3600 * 1'000'000'000ull;  // two hours later
    BOOST_TEST(log.apply_retention(now) > 3u);
    BOOST_TEST(log.log().first_lsn() == 201u);
    for (const entry& e : kept) BOOST_TEST(str(e.value()) == value_for(e.lsn(), e.lsn() % 301));
    // The index forgot the deleted records; a new reader starts after them.
    BOOST_TEST(log.registry().indexed_records() == 5u);
    BOOST_TEST(!log.registry().latest(as_bytes(key_for(7))).has_value());
    BOOST_TEST(log.make_reader().try_next()->lsn() == 201u);
}

BOOST_AUTO_TEST_CASE(recycling_never_reuses_a_mapped_segment) {
    auto cfg = sim_config(4096);
    cfg.recycle_segments = true;
    engine_log log(cfg);
    const auto pos = fill(log, 1, 300);
    auto r = log.make_reader();
    std::vector<entry> kept;
    for (int i = 0; i < 3; ++i) kept.push_back(*r.try_next());
    log.delete_before(pos[200]);
    fill(log, 301, 600);  // rotates through recycled files
    for (const entry& e : kept) BOOST_TEST(str(e.value()) == value_for(e.lsn(), e.lsn() % 301));
    // The reader's own segment is intact too.
    std::error_code ec;
    lsn_t last = 3;
    while (auto e = r.try_next(ec)) {
        BOOST_TEST_REQUIRE(str(e->value()) == value_for(e->lsn(), e->lsn() % 301));
        last = e->lsn();
    }
    BOOST_TEST(ec == errc::not_found);
    BOOST_TEST(last > 3u);
}

BOOST_AUTO_TEST_CASE(truncation_below_a_reader_is_reported_above_it_continues) {
    engine_log log(sim_config(4096));
    fill(log, 1, 400);
    auto ahead = log.make_reader();
    for (int i = 0; i < 300; ++i) ahead.try_next();
    auto behind = log.make_reader();
    for (int i = 0; i < 100; ++i) behind.try_next();
    std::vector<entry> kept;
    for (int i = 0; i < 5; ++i) kept.push_back(*ahead.try_next());  // 301..305
    log.truncate_after(200);
    std::error_code ec;
    BOOST_TEST(!ahead.try_next(ec).has_value());
    BOOST_TEST(ec == errc::truncated);
    BOOST_TEST(!ahead.try_next(ec).has_value());
    BOOST_TEST(ec == errc::truncated);
    for (const entry& e : kept) BOOST_TEST(str(e.value()) == value_for(e.lsn(), e.lsn() % 301));
    // New records take the LSNs above 200.
    for (int i = 201; i <= 260; ++i) log.put("after-" + std::to_string(i), "t");
    lsn_t next = 101;
    while (auto e = behind.try_next(ec)) {
        BOOST_TEST_REQUIRE(e->lsn() == next);
        if (next <= 200) {
            BOOST_TEST_REQUIRE(str(e->key()) == key_for(next));
        } else {
            BOOST_TEST_REQUIRE(str(e->key()) == "after-" + std::to_string(next));
        }
        ++next;
    }
    BOOST_TEST(ec == errc::end_of_log);
    BOOST_TEST(next == 261u);
    // After a seek the truncated reader reads the new log.
    BOOST_TEST(!ahead.seek(200));
    BOOST_TEST(str(ahead.try_next()->key()) == key_for(200));
    BOOST_TEST(str(ahead.try_next()->key()) == "after-201");
}

BOOST_AUTO_TEST_CASE(truncation_inside_the_readers_segment_then_appends) {
    engine_log log(sim_config(64u << 10));
    fill(log, 1, 50);
    auto r = log.make_reader();
    for (int i = 0; i < 20; ++i) r.try_next();
    log.truncate_after(20);
    for (int i = 21; i <= 30; ++i) log.put("again-" + std::to_string(i), "v");
    std::error_code ec;
    lsn_t next = 21;
    while (auto e = r.try_next(ec)) {
        BOOST_TEST_REQUIRE(e->lsn() == next);
        BOOST_TEST_REQUIRE(str(e->key()) == "again-" + std::to_string(next));
        ++next;
    }
    BOOST_TEST(next == 31u);
}

BOOST_AUTO_TEST_CASE(closed_log_ends_readers_with_closed) {
    engine_log log(sim_config(4096));
    fill(log, 1, 3);
    auto r = log.make_reader();
    log.close();
    BOOST_TEST(r.try_next()->lsn() == 1u);
    BOOST_TEST(r.try_next()->lsn() == 2u);
    BOOST_TEST(r.try_next()->lsn() == 3u);
    std::error_code ec;
    BOOST_TEST(!r.try_next(ec).has_value());
    BOOST_TEST(ec == errc::closed);
    BOOST_TEST(!r.next(ec).has_value());  // does not wait on a closed log
    BOOST_TEST(ec == errc::closed);
    BOOST_TEST(!r.next().has_value());
}

BOOST_AUTO_TEST_CASE(readers_step_over_damage_skipped_by_recovery) {
    noriwal::test::temp_dir dir("noriwal-read");
    wal_config cfg;
    cfg.dir = dir.path();
    cfg.max_segment_size = 1u << 20;
    cfg.max_record_size = 1u << 16;
    cfg.prealloc = preallocation::none;
    std::vector<position> pos;
    {
        engine_log log(cfg);
        pos = fill(log, 1, 40);
        log.sync();
        log.close();
    }
    // Damage the body of record 10 and the header of record 25.
    noriwal::test::flip_bit(cfg.dir / detail::segment_file_name(pos[9].segment_id), pos[9].offset + 40);
    noriwal::test::flip_bit(cfg.dir / detail::segment_file_name(pos[24].segment_id), pos[24].offset + 9);
    cfg.recovery = recovery_mode::skip_corrupted;
    engine_log log(cfg);
    BOOST_TEST(log.log().skipped().size() == 2u);
    auto r = log.make_reader();
    std::vector<lsn_t> seen;
    std::error_code ec;
    while (auto e = r.try_next(ec)) {
        BOOST_TEST_REQUIRE(str(e->key()) == key_for(e->lsn()));
        seen.push_back(e->lsn());
    }
    BOOST_TEST(ec == errc::end_of_log);
    BOOST_TEST(seen.size() == 38u);
    BOOST_TEST(std::count(seen.begin(), seen.end(), 10u) == 0);
    BOOST_TEST(std::count(seen.begin(), seen.end(), 25u) == 0);
    // Seeking into a skipped LSN lands on the next record; the log goes on after it.
    BOOST_TEST(!r.seek(25));
    BOOST_TEST(r.try_next()->lsn() == 26u);
    log.put("k", "after");
    BOOST_TEST(r.seek_end() == std::error_code{});
    BOOST_TEST(!r.seek(40));
    BOOST_TEST(r.try_next()->lsn() == 40u);
    BOOST_TEST(str(r.try_next()->value()) == "after");
}

BOOST_AUTO_TEST_CASE(many_readers_on_many_threads_while_appending) {
    engine_log log(sim_config(16u << 10));
    fill(log, 1, 200);
    std::atomic<bool> failed{false};
    std::vector<std::thread> threads;
    constexpr lsn_t total = 3000;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, r = log.make_reader()]() mutable {
            lsn_t next = 1;
            while (next <= total && !failed) {
                std::error_code ec;
                auto e = r.next(ec);
                if (!e || e->lsn() != next || str(e->value()) != value_for(next, next % 301)) {
                    failed = true;
                    break;
                }
                ++next;
            }
        });
    }
    fill(log, 201, total - 200);
    for (auto& t : threads) t.join();
    BOOST_TEST(!failed);
}

BOOST_AUTO_TEST_SUITE_END()
