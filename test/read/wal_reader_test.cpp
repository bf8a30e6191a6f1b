// Readers of a live noriwal::wal: reading while a writer thread appends, tailing through the
// wal's hooks, durable-only visibility, pinning under the wal's deletion and truncation, the
// key index across reopen, and another process following a log with a directory reader.
#include <noriwal/error.hpp>
#include <noriwal/reader.hpp>
#include <noriwal/wal.hpp>

#include "support/printing.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

using namespace noriwal;
namespace asio = boost::asio;

namespace {

std::string str(bytes_view b) { return std::string(as_string(b)); }

wal_config small_config(const std::filesystem::path& dir) {
    wal_config cfg;
    cfg.dir = dir;
    cfg.max_segment_size = 64u << 10;
    cfg.max_record_size = 32u << 10;
    cfg.prealloc = preallocation::none;  // no zero-filling: keeps the tests quick
    cfg.fsync = fsync_policy::os();
    return cfg;
}

std::string value_for(std::uint64_t i) { return std::string(i % 500, static_cast<char>('a' + i % 26)); }

}  // namespace

BOOST_AUTO_TEST_SUITE(wal_readers)

BOOST_AUTO_TEST_CASE(reading_while_a_writer_thread_appends) {
    noriwal::test::temp_dir dir("noriwal-wal-read");
    auto w = wal::open(small_config(dir.path())).log;
    constexpr std::uint64_t n = 20000;
    std::thread writer([&] {
        for (std::uint64_t i = 1; i <= n; ++i) w.append(record::put("k" + std::to_string(i), value_for(i)));
    });
    auto r = w.make_reader();
    std::uint64_t next = 1;
    bool ok = true;
    while (next <= n) {
        auto e = r.next();
        if (!e || e->lsn() != next || str(e->key()) != "k" + std::to_string(next) ||
            str(e->value()) != value_for(next)) {
            ok = false;
            break;
        }
        ++next;
    }
    writer.join();
    BOOST_TEST(ok, "stopped at LSN " << next);
    BOOST_TEST(w.stats().segments_rolled > 10u);
}

BOOST_AUTO_TEST_CASE(tailing_reader_wakes_on_append_and_ends_on_close) {
    noriwal::test::temp_dir dir("noriwal-wal-tail");
    asio::io_context ioc;
    auto guard = asio::make_work_guard(ioc);
    std::thread runner([&] { ioc.run(); });
    auto w = wal::open(ioc.get_executor(), small_config(dir.path())).log;
    auto r = w.make_reader();
    auto f1 = r.async_next(asio::use_future);
    w.async_append(record::put("a", "1"), asio::use_future).get();
    const entry e = f1.get();
    BOOST_TEST(str(e.key()) == "a");
    auto f2 = r.async_next(asio::use_future);
    w.close();
    try {
        f2.get();
        BOOST_FAIL("no error after close");
    } catch (const boost::system::system_error& ex) {
        BOOST_TEST(ex.code() == errc::closed);
    }
    guard.reset();
    runner.join();
}

BOOST_AUTO_TEST_CASE(durable_only_reader_waits_for_sync_under_os_policy) {
    noriwal::test::temp_dir dir("noriwal-wal-durable");
    auto w = wal::open(small_config(dir.path())).log;  // fsync_policy::os
    reader_options o;
    o.visible = visibility::durable;
    auto durable = w.make_reader(o);
    auto written = w.make_reader();
    for (int i = 1; i <= 10; ++i) w.append(record::put("k", std::to_string(i)));
    std::error_code ec;
    BOOST_TEST(!durable.try_next(ec).has_value());
    BOOST_TEST(ec == errc::end_of_log);
    BOOST_TEST(written.try_next()->lsn() == 1u);
    auto waiting = durable.async_next(asio::use_future);
    w.sync();
    BOOST_TEST(waiting.get().lsn() == 1u);
    int count = 1;
    while (durable.try_next()) ++count;
    BOOST_TEST(count == 10);
}

BOOST_AUTO_TEST_CASE(readers_survive_deletion_and_truncation_through_the_wal) {
    noriwal::test::temp_dir dir("noriwal-wal-pin");
    auto cfg = small_config(dir.path());
    cfg.recycle_segments = true;
    auto w = wal::open(cfg).log;
    std::vector<position> pos;
    for (std::uint64_t i = 1; i <= 2000; ++i) pos.push_back(w.append(record::put("k", value_for(i))));
    auto r = w.make_reader();
    std::vector<entry> held;  // in the first segments, which are deleted below
    for (int i = 0; i < 10; ++i) held.push_back(*r.try_next());
    auto behind = w.read_from(pos[1499]);  // LSN 1500, below the truncation point
    held.push_back(*behind.try_next());
    auto ahead = w.read_from(pos[1799]);  // LSN 1800, above it
    held.push_back(*ahead.try_next());

    BOOST_TEST(w.delete_segments_before(pos[1000]) >= 3u);
    w.truncate_after(1700);
    for (std::uint64_t i = 1701; i <= 3000; ++i) w.append(record::put("k", value_for(i) + "+"));
    // Entries keep their bytes: recycling never reuses a mapped segment.
    for (const entry& e : held) BOOST_TEST(str(e.value()) == value_for(e.lsn()));
    std::error_code ec;
    BOOST_TEST(!ahead.try_next(ec).has_value());
    BOOST_TEST(ec == errc::truncated);
    // Below the truncation point: the old records up to it, then the new ones.
    lsn_t next = 1501;
    while (auto e = behind.try_next(ec)) {
        BOOST_TEST_REQUIRE(e->lsn() == next);
        BOOST_TEST_REQUIRE(str(e->value()) == (next <= 1700 ? value_for(next) : value_for(next) + "+"));
        ++next;
    }
    BOOST_TEST(ec == errc::end_of_log);
    BOOST_TEST(next == 3001u);
    // A new reader starts at the first retained record.
    auto fresh = w.make_reader();
    const lsn_t first = fresh.try_next()->lsn();
    BOOST_TEST(first > 10u);
    BOOST_TEST(first <= 1001u);
}

BOOST_AUTO_TEST_CASE(key_index_through_the_wal_and_reopen) {
    noriwal::test::temp_dir dir("noriwal-wal-keys");
    auto cfg = small_config(dir.path());
    cfg.index_keys = true;
    {
        auto w = wal::open(cfg).log;
        w.append(record::put("a", "1"));
        w.append(record::put("b", "2"));
        w.append(record::put("a", "3"));
        w.append(record::put_tombstone("b"));
        auto keys = w.keys();
        BOOST_TEST(keys == std::vector<std::string>{"a"});
        BOOST_TEST(w.records_for("a").size() == 2u);
        BOOST_TEST(w.records_for("b").size() == 2u);
        BOOST_TEST(!w.latest("b").has_value());
        auto r = w.make_reader();
        BOOST_TEST(str(r.read_at(*w.latest("a")).value()) == "3");
    }
    auto w = wal::open(cfg).log;  // rebuilt from the segments
    BOOST_TEST(w.latest("a")->lsn == 3u);
    BOOST_TEST(!w.latest("b").has_value());
    BOOST_TEST(w.records_for("b").size() == 2u);
    cfg.index_keys = false;
    w.close();
    auto plain = wal::open(cfg).log;
    BOOST_CHECK_THROW(plain.keys(), std::system_error);
}

// Another process appends; this one follows the log with a directory reader (no lock, no
// writes) and must see every record, in order.
BOOST_AUTO_TEST_CASE(another_process_follows_a_live_log) {
    noriwal::test::temp_dir dir("noriwal-follow");
    constexpr std::uint64_t n = 3000;
    reader_options o;
    o.poll_interval = std::chrono::milliseconds(2);
    auto r = reader::open_directory(dir.path(), o);  // before the log exists
    const pid_t child = ::fork();
    BOOST_TEST_REQUIRE(child >= 0);
    if (child == 0) {
        int status = 0;
        try {
            auto cfg = small_config(dir.path());
            cfg.fsync = fsync_policy::batch(std::chrono::milliseconds(1));
            auto w = wal::open(cfg).log;
            for (std::uint64_t i = 1; i <= n; ++i)
                w.append(record::put("k" + std::to_string(i), value_for(i)));
            w.close();
        } catch (...) {
            status = 1;
        }
        ::_exit(status);
    }
    std::uint64_t next = 1;
    bool ok = true;
    int child_status = 0;
    bool writer_done = false;
    while (next <= n && ok) {
        std::error_code ec;
        auto e = r.try_next(ec);
        if (e) {
            ok = e->lsn() == next && str(e->key()) == "k" + std::to_string(next) &&
                 str(e->value()) == value_for(next);
            ++next;
            continue;
        }
        if (ec != errc::end_of_log) {
            BOOST_TEST_MESSAGE("reader error " << ec.message());
            ok = false;
            break;
        }
        if (writer_done) break;  // at the end after the writer exited: nothing more will come
        if (::waitpid(child, &child_status, WNOHANG) == child) {
            writer_done = true;  // look once more for what it wrote before exiting
            continue;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!writer_done) ::waitpid(child, &child_status, 0);
    BOOST_TEST(WIFEXITED(child_status));
    BOOST_TEST(WEXITSTATUS(child_status) == 0);
    BOOST_TEST(ok, "stopped at LSN " << next);
    BOOST_TEST(next == n + 1);
}

BOOST_AUTO_TEST_SUITE_END()
