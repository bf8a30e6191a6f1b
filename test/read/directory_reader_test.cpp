// Directory readers: read-only readers of a log directory that another writer (here the
// engine, driven as the wal drives it) appends to, rotates, deletes from and truncates.
#include <noriwal/error.hpp>
#include <noriwal/reader.hpp>

#include "read/engine_harness.hpp"
#include "support/printing.hpp"
#include "support/sim_disk.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <map>
#include <string>

using namespace noriwal;
using noriwal::test::engine_log;
using noriwal::test::str;

namespace {

wal_config sim_config(std::shared_ptr<file_system> fs, std::uint64_t segment_size = 4096,
                      preallocation prealloc = preallocation::none) {
    wal_config cfg;
    cfg.dir = "/data/log";
    cfg.fs = std::move(fs);
    cfg.max_segment_size = segment_size;
    cfg.max_record_size = static_cast<std::uint32_t>(std::min<std::uint64_t>(64u << 20, segment_size - 96));
    cfg.prealloc = prealloc;
    return cfg;
}

reader_options dir_options(std::shared_ptr<file_system> fs) {
    reader_options o;
    o.fs = std::move(fs);
    o.poll_interval = std::chrono::milliseconds(0);  // check the file on every read at the end
    return o;
}

std::string value_for(std::uint64_t i) { return std::string(i % 200, static_cast<char>('a' + i % 26)); }

void fill(engine_log& log, std::uint64_t from, std::uint64_t n) {
    for (std::uint64_t i = from; i < from + n; ++i) log.put("key-" + std::to_string(i), value_for(i));
}

// Reads what is there now; checks dense LSNs from `first` and the contents fill() wrote.
lsn_t drain(reader& r, lsn_t first, std::error_code& ec) {
    lsn_t next = first;
    while (auto e = r.try_next(ec)) {
        BOOST_TEST_REQUIRE(e->lsn() == next);
        BOOST_TEST_REQUIRE(str(e->key()) == "key-" + std::to_string(next));
        BOOST_TEST_REQUIRE(str(e->value()) == value_for(next));
        ++next;
    }
    return next;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(directory_reader)

BOOST_AUTO_TEST_CASE(reads_and_follows_a_live_log_on_each_preallocation) {
    for (auto prealloc : {preallocation::none, preallocation::zero_fill, preallocation::fallocate}) {
        auto fs = std::make_shared<noriwal::test::sim_disk>();
        engine_log log(sim_config(fs, 4096, prealloc));
        fill(log, 1, 100);
        auto r = reader::open_directory("/data/log", dir_options(fs));
        std::error_code ec;
        BOOST_TEST(drain(r, 1, ec) == 101u);
        BOOST_TEST(ec == errc::end_of_log);
        fill(log, 101, 500);  // more records, more segments
        BOOST_TEST(drain(r, 101, ec) == 601u);
        BOOST_TEST(ec == errc::end_of_log);
        log.put("key-601", value_for(601));
        BOOST_TEST(drain(r, 601, ec) == 602u);
    }
}

BOOST_AUTO_TEST_CASE(start_modes_and_random_access) {
    auto fs = std::make_shared<noriwal::test::sim_disk>();
    engine_log log(sim_config(fs));
    fill(log, 1, 300);
    auto w = log.make_reader();
    BOOST_TEST(!w.seek(150));
    const position p150 = w.tell();
    log.close();

    auto r = reader::open_directory("/data/log", dir_options(fs));
    BOOST_TEST(!r.seek(150));
    BOOST_TEST(r.try_next()->lsn() == 150u);
    BOOST_TEST(!r.seek(p150));
    auto e = r.try_next();
    BOOST_TEST(e->pos().offset == p150.offset);
    BOOST_TEST(r.read_at(p150).lsn() == 150u);
    BOOST_TEST(!r.seek_end());
    std::error_code ec;
    BOOST_TEST(!r.try_next(ec).has_value());
    BOOST_TEST(ec == errc::end_of_log);
    BOOST_TEST(r.tell().lsn == 301u);
    BOOST_TEST(!r.seek(301));  // the end
    BOOST_TEST(r.seek(302) == errc::invalid_argument);
    BOOST_TEST(!r.seek_start());
    BOOST_TEST(drain(r, 1, ec) == 301u);
}

BOOST_AUTO_TEST_CASE(waits_for_a_log_that_does_not_exist_yet) {
    auto fs = std::make_shared<noriwal::test::sim_disk>();
    BOOST_TEST_REQUIRE(!fs->create_directories("/data/log"));
    auto r = reader::open_directory("/data/log", dir_options(fs));
    std::error_code ec;
    BOOST_TEST(!r.try_next(ec).has_value());
    BOOST_TEST(ec == errc::end_of_log);
    engine_log log(sim_config(fs));
    fill(log, 1, 50);
    BOOST_TEST(drain(r, 1, ec) == 51u);
    // A missing directory is an error.
    reader::open_directory("/data/nothing", dir_options(fs), ec);
    BOOST_TEST(ec == errc::not_found);
}

BOOST_AUTO_TEST_CASE(follows_deletion_and_detects_truncation_by_the_writer) {
    auto fs = std::make_shared<noriwal::test::sim_disk>();
    engine_log log(sim_config(fs));
    fill(log, 1, 400);
    auto ahead = reader::open_directory("/data/log", dir_options(fs));
    auto behind = reader::open_directory("/data/log", dir_options(fs));
    std::error_code ec;
    BOOST_TEST(drain(ahead, 1, ec) == 401u);
    for (int i = 0; i < 100; ++i) behind.try_next();
    std::vector<entry> kept;
    for (int i = 0; i < 3; ++i) kept.push_back(*behind.try_next());  // 101..103

    // Deletion of the segments behind both readers: their mappings stay valid.
    auto w = log.make_reader();
    BOOST_TEST(!w.seek(300));
    log.delete_before(w.tell());
    for (const entry& e : kept) BOOST_TEST(str(e.value()) == value_for(e.lsn()));

    // Truncation below `ahead`, above `behind`, then new records.
    log.truncate_after(250);
    for (int i = 251; i <= 270; ++i) log.put("key-" + std::to_string(i), value_for(i));
    BOOST_TEST(!ahead.try_next(ec).has_value());
    BOOST_TEST(ec == errc::truncated);
    // `behind` reads on to the end of its mapped segment, then finds the next ones deleted.
    lsn_t next = 104;
    while (auto e = behind.try_next(ec)) {
        BOOST_TEST_REQUIRE(e->lsn() == next);
        BOOST_TEST_REQUIRE(str(e->value()) == value_for(next));
        ++next;
    }
    BOOST_TEST(ec == errc::not_found, ec.message());
    BOOST_TEST(next < 300u);
    // Sought again, a reader reads the new log.
    BOOST_TEST(!ahead.seek(260));
    BOOST_TEST(drain(ahead, 260, ec) == 271u);
    BOOST_TEST(ec == errc::end_of_log);
}

BOOST_AUTO_TEST_CASE(truncation_above_a_directory_reader_lets_it_continue) {
    auto fs = std::make_shared<noriwal::test::sim_disk>();
    engine_log log(sim_config(fs, 64u << 10));
    fill(log, 1, 100);
    auto r = reader::open_directory("/data/log", dir_options(fs));
    for (int i = 0; i < 80; ++i) r.try_next();
    log.truncate_after(80);
    std::error_code ec;
    BOOST_TEST(!r.try_next(ec).has_value());
    BOOST_TEST(ec == errc::end_of_log);
    // The writer replaced the segment's file; the reader finds its last record in the new
    // file and reads what follows there.
    for (int i = 81; i <= 110; ++i) log.put("key-" + std::to_string(i), value_for(i) + "!");
    lsn_t next = 81;
    while (auto e = r.try_next(ec)) {
        BOOST_TEST_REQUIRE(e->lsn() == next);
        BOOST_TEST_REQUIRE(str(e->value()) == value_for(next) + "!");
        ++next;
    }
    BOOST_TEST(next == 111u);
}

BOOST_AUTO_TEST_CASE(read_only_reader_never_modifies_files) {
    noriwal::test::temp_dir dir("noriwal-ro");
    wal_config cfg;
    cfg.dir = dir.path();
    cfg.max_segment_size = 64u << 10;
    cfg.max_record_size = 4096;
    cfg.prealloc = preallocation::zero_fill;
    {
        engine_log log(cfg);
        fill(log, 1, 2000);
        log.truncate_after(1900);
        log.close();
    }
    auto snapshot = [&] {
        std::map<std::string, std::vector<std::byte>> files;
        for (const auto& f : std::filesystem::directory_iterator(dir.path()))
            files[f.path().filename().string()] = noriwal::test::read_file(f.path());
        return files;
    };
    const auto before = snapshot();
    {
        reader_options o;
        o.poll_interval = std::chrono::milliseconds(0);
        auto r = reader::open_directory(dir.path(), o);
        std::error_code ec;
        lsn_t n = 0;
        while (auto e = r.try_next(ec)) n = e->lsn();
        BOOST_TEST(n == 1900u);
        BOOST_TEST(!r.seek(1000));
        auto e = r.try_next();
        BOOST_TEST(r.read_at(e->pos()).lsn() == 1000u);
        BOOST_TEST(!r.seek_end());
        BOOST_TEST(!r.try_next(ec).has_value());
    }
    BOOST_TEST((snapshot() == before));
}

BOOST_AUTO_TEST_SUITE_END()
