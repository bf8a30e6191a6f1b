// wal_config::io_executor and wal_config::idle_spin: the writer strand on a user's executor
// (a single-threaded io_context, a thread_pool), the last handle released on that executor,
// and the polling of the wal's own threads. No assertion depends on timing: waits are on
// handlers, futures and ioc.run() returning.
#include <noriwal/meter.hpp>
#include <noriwal/wal.hpp>

#include "support/printing.hpp"
#include "support/sim_disk.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace asio = boost::asio;
using namespace noriwal;
using namespace std::chrono_literals;
using boost::system::error_code;

namespace {

/// Key and value of a record as the test appended it, to compare what is read back.
using content = std::pair<std::string, std::string>;

std::string text(bytes_view b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

/// The `i`-th record of a test: distinct keys, values of varied length and content.
content make_content(const std::string& prefix, int i) {
    std::string value(40 + (i * 37) % 300, static_cast<char>('a' + i % 26));
    value += std::to_string(i);
    return {prefix + std::to_string(i), std::move(value)};
}

record as_record(const content& c) { return record::put(c.first, c.second); }

/// Names of this process's threads (Linux: /proc/self/task/*/comm).
std::multiset<std::string> thread_names() {
    std::multiset<std::string> names;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(task.path() / "comm");
        std::string name;
        if (std::getline(comm, name)) names.insert(name);
    }
    return names;
}

/// Records the threads the wal's writer works on (meter events come from the writer strand).
class writer_threads final : public meter {
public:
    void on_write(std::uint64_t, std::uint64_t) override {
        std::lock_guard lk(mutex_);
        ids_.insert(std::this_thread::get_id());
    }
    std::set<std::thread::id> ids() const {
        std::lock_guard lk(mutex_);
        return ids_;
    }

private:
    mutable std::mutex mutex_;
    std::set<std::thread::id> ids_;
};

/// Every record a reader of `cfg.dir` finds, by LSN (opens the log read-only: no lock needed).
std::map<lsn_t, content> read_back(const std::filesystem::path& dir) {
    std::map<lsn_t, content> got;
    auto r = reader::open_directory(dir);
    while (auto e = r.try_next()) got[e->lsn()] = {text(e->key()), text(e->value())};
    return got;
}

// ------------------------------------------------------------------ a single-threaded io_context

/// What the tailing reader saw, and how the appending coroutine waits for it.
struct follower {
    std::map<lsn_t, content> seen;
    lsn_t last = 0;                  // highest LSN seen
    std::optional<lsn_t> truncated;  // set by the appender before it truncates
    int truncations_seen = 0;
    error_code end;  // what ended the tail: errc::closed
    std::set<std::thread::id> threads;
    asio::steady_timer* caught_up = nullptr;  // cancelled when `last` moves
};

/// Tails the wal on its executor until it closes. A truncation above what it read is handled
/// as a replica would: drop what was removed and continue after the cut.
asio::awaitable<void> tail(reader r, follower& f) {
    for (;;) {
        auto [ec, e] = co_await r.async_next(asio::as_tuple(asio::use_awaitable));
        f.threads.insert(std::this_thread::get_id());
        if (ec == errc::truncated && f.truncated) {
            ++f.truncations_seen;
            f.seen.erase(f.seen.upper_bound(*f.truncated), f.seen.end());
            f.last = *f.truncated;
            BOOST_TEST_REQUIRE(!r.seek(*f.truncated + 1));
            continue;
        }
        if (ec) {
            f.end = ec;
            co_return;
        }
        BOOST_TEST(e.lsn() == f.last + 1);  // dense, in order
        f.seen[e.lsn()] = {text(e.key()), text(e.value())};
        f.last = e.lsn();
        if (f.caught_up) f.caught_up->cancel();
    }
}

/// What the appending coroutine did, checked after ioc.run() returns.
struct appender {
    std::map<lsn_t, content> expected;  // what the log must hold (by LSN) when closed
    std::vector<lsn_t> lsns;            // LSNs the appends completed with, in completion order
    std::set<std::thread::id> threads;  // where completion handlers ran
    std::uint64_t deleted = 0;
    lsn_t first_deleted_below = 0;
    error_code close_ec{asio::error::would_block};
    bool finished = false;
};

asio::awaitable<void> append_all(wal w, follower& f, appender& a, fsync_policy policy) {
    auto ex = co_await asio::this_coro::executor;
    const bool always = policy == fsync_policy::always();
    int n = 0;
    auto append_one = [&]() -> asio::awaitable<position> {
        auto c = make_content("k", n++);
        auto p = co_await w.async_append(as_record(c), asio::use_awaitable);
        a.threads.insert(std::this_thread::get_id());
        a.lsns.push_back(p.lsn);
        a.expected[p.lsn] = std::move(c);
        if (always) {
            // Complete under always means fdatasync'd: the durable prefix covers it.
            BOOST_TEST(w.durable_lsn() >= p.lsn);
            BOOST_TEST(w.durable_position().lsn > p.lsn);
        }
        co_return p;
    };

    // Phase 1: one append at a time, across several segments.
    std::vector<position> ps;
    for (int i = 0; i < 120; ++i) ps.push_back(co_await append_one());

    // Phase 2: callbacks in flight together; their handlers run on the io_context too.
    std::vector<content> burst;
    for (int i = 0; i < 30; ++i) burst.push_back(make_content("k", n++));
    int burst_done = 0;
    for (const auto& c : burst) {
        w.async_append(as_record(c), [&, c](error_code ec, position p) {
            a.threads.insert(std::this_thread::get_id());
            BOOST_TEST(!ec);
            a.lsns.push_back(p.lsn);
            a.expected[p.lsn] = c;
            ++burst_done;
        });
    }
    co_await w.async_flush(asio::use_awaitable);  // every append initiated before it is written
    if (!always) BOOST_TEST(burst_done == 30);    // and, under os and batch, complete
    co_await w.async_sync(asio::use_awaitable);   // and now durable: complete under always too
    BOOST_TEST(burst_done == 30);
    BOOST_TEST(w.durable_lsn() == w.written_lsn());
    BOOST_TEST(w.durable_lsn() == lsn_t{150});

    // Let the reader pass everything, then delete the oldest segments under it.
    asio::steady_timer caught_up(ex, asio::steady_timer::time_point::max());
    f.caught_up = &caught_up;
    while (f.last < w.written_lsn()) {
        caught_up.expires_at(asio::steady_timer::time_point::max());
        co_await caught_up.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    f.caught_up = nullptr;
    a.first_deleted_below = ps[60].lsn;
    a.deleted = co_await w.async_delete_segments_before(ps[60], asio::use_awaitable);
    a.threads.insert(std::this_thread::get_id());

    // Records that truncate_after removes again; the reader may or may not have read them.
    for (int i = 0; i < 10; ++i) co_await append_one();
    const lsn_t cut = w.written_lsn() - 7;
    f.truncated = cut;
    co_await w.async_truncate_after(cut, asio::use_awaitable);
    // The removed LSNs are given out again by the appends that follow.
    a.expected.erase(a.expected.upper_bound(cut), a.expected.end());
    std::erase_if(a.lsns, [cut](lsn_t l) { return l > cut; });
    BOOST_TEST(w.written_lsn() == cut);
    BOOST_TEST(w.durable_lsn() == cut);

    // Phase 3: appends after the cut continue from it, an atomic batch among them.
    auto after = co_await append_one();
    BOOST_TEST(after.lsn == cut + 1);
    std::vector<content> batch{make_content("b", 0), make_content("b", 1), make_content("b", 2)};
    std::vector<record> records;
    for (const auto& c : batch) records.push_back(as_record(c));
    auto bp = co_await w.async_append_batch(records, asio::use_awaitable);
    BOOST_TEST_REQUIRE(bp.size() == 3u);
    for (std::size_t i = 0; i < bp.size(); ++i) {
        a.lsns.push_back(bp[i].lsn);
        a.expected[bp[i].lsn] = batch[i];
    }
    for (int i = 0; i < 20; ++i) co_await append_one();

    co_await w.async_sync(asio::use_awaitable);
    BOOST_TEST(w.durable_lsn() == w.written_lsn());
    BOOST_TEST(w.current_position().lsn == w.written_lsn() + 1);

    auto [ec] = co_await w.async_close(asio::as_tuple(asio::use_awaitable));
    a.close_ec = ec;
    a.threads.insert(std::this_thread::get_id());
    BOOST_TEST(!w.is_open());
    a.finished = true;
}

void single_threaded_io_context(fsync_policy policy) {
    test::temp_dir dir("noriwal-ioexec");
    asio::io_context ioc(1);
    auto threads = std::make_shared<writer_threads>();
    wal_config cfg;
    cfg.dir = dir.path();
    cfg.fsync = policy;
    cfg.max_segment_size = 8u << 10;  // a few records per segment: rotations and deletions
    cfg.max_record_size = 1u << 10;
    cfg.io_executor = ioc.get_executor();
    cfg.metrics = threads;

    // Blocking open while nothing runs the io_context: recovery does not need it.
    auto [w, info] = wal::open(cfg);
    BOOST_TEST(info.last_lsn == 0u);
    BOOST_TEST((w.get_executor() == asio::any_io_executor(ioc.get_executor())));
    {
        auto names = thread_names();
        BOOST_TEST(names.count("noriwal-writer") == 0u);  // the io_context is the writer
        BOOST_TEST(names.count("noriwal-sync") == 1u);
    }

    follower f;
    appender a;
    asio::co_spawn(ioc, tail(w.make_reader(), f), asio::detached);
    asio::co_spawn(ioc, append_all(std::move(w), f, a, policy), asio::detached);
    ioc.run();  // returns once the wal is closed and the reader has seen the end
    const auto me = std::this_thread::get_id();

    BOOST_TEST_REQUIRE(a.finished);
    BOOST_TEST(!a.close_ec);
    BOOST_TEST(a.threads == std::set<std::thread::id>{me});
    BOOST_TEST(f.threads == std::set<std::thread::id>{me});
    BOOST_TEST(threads->ids() == std::set<std::thread::id>{me});  // every group written here

    // The LSNs that stayed, in completion order: 1, 2, 3, ... (dense, and completed in order).
    BOOST_TEST_REQUIRE(a.lsns.size() == a.expected.size());
    for (std::size_t i = 0; i < a.lsns.size(); ++i) BOOST_TEST(a.lsns[i] == i + 1);
    BOOST_TEST(a.deleted > 0u);

    // The tailing reader saw every record that stayed, byte for byte, and then the close.
    BOOST_TEST((f.end == errc::closed));
    BOOST_TEST((f.seen == a.expected));
    BOOST_TEST(f.truncations_seen <= 1);
    BOOST_TEST(a.expected.rbegin()->first == lsn_t(a.expected.size()));  // dense from 1

    // Reopened (with its own writer thread): every record kept, none of the deleted segments.
    auto again = wal::open([&] {
        auto c = cfg;
        c.io_executor = {};
        c.metrics = nullptr;
        return c;
    }());
    BOOST_TEST(again.recovery.last_lsn == a.expected.rbegin()->first);
    BOOST_TEST(again.recovery.first_lsn > 1u);
    BOOST_TEST(again.recovery.first_lsn <= a.first_deleted_below);
    again.log.close();
    auto back = read_back(dir.path());
    BOOST_TEST_REQUIRE(!back.empty());
    BOOST_TEST(back.begin()->first == again.recovery.first_lsn);
    auto from = a.expected.lower_bound(back.begin()->first);
    BOOST_TEST((back == std::map<lsn_t, content>(from, a.expected.end())));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(io_executor)

BOOST_AUTO_TEST_CASE(single_threaded_io_context_under_os) { single_threaded_io_context(fsync_policy::os()); }

BOOST_AUTO_TEST_CASE(single_threaded_io_context_under_batch) {
    single_threaded_io_context(fsync_policy::batch(2ms));
}

BOOST_AUTO_TEST_CASE(single_threaded_io_context_under_always) {
    single_threaded_io_context(fsync_policy::always());
}

// ------------------------------------------------------------------ a thread pool

BOOST_AUTO_TEST_CASE(thread_pool_of_two_with_four_appenders) {
    auto disk = std::make_shared<test::sim_disk>();
    asio::thread_pool pool(2);
    wal_config cfg;
    cfg.dir = "/log";
    cfg.fs = disk;
    cfg.fsync = fsync_policy::always();
    cfg.max_segment_size = 64u << 10;
    cfg.max_record_size = 1u << 10;
    cfg.io_executor = pool.get_executor();
    auto opened = wal::async_open(pool.get_executor(), cfg, asio::use_future).get();
    BOOST_TEST(std::get<recovery_info>(opened).last_lsn == 0u);
    wal& w = std::get<wal>(opened);

    constexpr int appenders = 4, per_appender = 250;
    std::vector<std::vector<position>> got(appenders);
    std::vector<std::set<std::thread::id>> where(appenders);
    std::vector<std::future<void>> done;
    for (int t = 0; t < appenders; ++t) {
        done.push_back(asio::co_spawn(
            pool,
            [&, t]() -> asio::awaitable<void> {
                for (int i = 0; i < per_appender; ++i) {
                    auto c = make_content("t" + std::to_string(t) + "-", i);
                    auto p = co_await w.async_append(as_record(c), asio::use_awaitable);
                    got[t].push_back(p);
                    where[t].insert(std::this_thread::get_id());
                }
            },
            asio::use_future));
    }
    for (auto& d : done) d.get();
    BOOST_TEST(w.durable_lsn() == lsn_t{appenders * per_appender});

    const auto main_id = std::this_thread::get_id();
    std::set<lsn_t> all;
    std::map<lsn_t, content> expected;
    for (int t = 0; t < appenders; ++t) {
        BOOST_TEST_REQUIRE(got[t].size() == std::size_t{per_appender});
        BOOST_TEST(where[t].count(main_id) == 0u);  // on the pool's threads
        for (int i = 0; i < per_appender; ++i) {
            if (i > 0) BOOST_TEST(got[t][i - 1].lsn < got[t][i].lsn);  // each appender's order
            all.insert(got[t][i].lsn);
            expected[got[t][i].lsn] = make_content("t" + std::to_string(t) + "-", i);
        }
    }
    BOOST_TEST(all.size() == std::size_t{appenders * per_appender});  // unique
    BOOST_TEST(*all.begin() == 1u);                                   // dense from 1
    BOOST_TEST(*all.rbegin() == lsn_t{appenders * per_appender});

    // Read back through the live wal (from this thread, which is not the pool's).
    std::map<lsn_t, content> back;
    auto r = w.make_reader();
    while (auto e = r.try_next()) back[e->lsn()] = {text(e->key()), text(e->value())};
    BOOST_TEST((back == expected));

    w.close();  // blocking: allowed here, this thread does not run the pool
    w = wal{};
    pool.join();
    auto [again, again_info] = wal::open([&] {
        auto c = cfg;
        c.io_executor = {};
        return c;
    }());
    BOOST_TEST(again_info.last_lsn == lsn_t{appenders * per_appender});
}

// ------------------------------------------------------------------ the last handle on the executor

BOOST_AUTO_TEST_CASE(last_handle_released_in_a_handler_on_the_io_executor) {
    test::temp_dir dir("noriwal-ioexec");
    wal_config cfg;
    cfg.dir = dir.path();
    cfg.fsync = fsync_policy::os();
    cfg.max_segment_size = 1u << 20;
    cfg.max_record_size = 1u << 10;
    cfg.prealloc = preallocation::none;  // no zero-fill for run() to wait for: many quick rounds
    std::map<lsn_t, content> completed;
    // Several rounds on one directory, each with an io_context destroyed as soon as run()
    // returns: the wal must be done with it by then (its strand and timers belong to it).
    constexpr int rounds = 30, n = 10;
    for (int round = 0; round < rounds; ++round) {
        BOOST_TEST_CONTEXT("round " << round) {
            asio::io_context ioc(1);
            cfg.io_executor = ioc.get_executor();
            std::error_code ec;
            std::string why;
            auto [w, info] = wal::open(cfg, ec, &why);
            BOOST_TEST_REQUIRE(!ec, why);  // the previous round's close released the lock
            BOOST_TEST(info.last_lsn == lsn_t(completed.size()));
            std::vector<content> cs;
            for (int i = 0; i < n; ++i) cs.push_back(make_content("r" + std::to_string(round) + "-", i));
            // The first handler to run holds the only other handle and drops it: the last one.
            auto last = std::make_shared<wal>(w);
            bool released = false;
            for (int i = 0; i < n; ++i) {
                w.async_append(as_record(cs[i]), [&, i, last](error_code ec, position p) {
                    BOOST_TEST(!ec);
                    if (!ec) completed[p.lsn] = cs[i];
                    if (!released) {
                        released = true;
                        *last = wal{};  // ~wal of the last handle, on the io_context's thread
                    }
                });
            }
            w = wal{};  // `*last` is now the only handle
            ioc.run();  // no deadlock: the close runs on this io_context, then run() returns
            BOOST_TEST(released);
            BOOST_TEST(completed.size() == std::size_t((round + 1) * n));  // appends before the close
        }
    }
    cfg.io_executor = {};
    std::error_code ec;
    std::string why;
    auto again = wal::open(cfg, ec, &why);
    BOOST_TEST_REQUIRE(!ec, why);
    BOOST_TEST(again.recovery.last_lsn == lsn_t{rounds * n});
    again.log.close();
    BOOST_TEST((read_back(dir.path()) == completed));
}

// ------------------------------------------------------------------ idle_spin

BOOST_AUTO_TEST_CASE(idle_spin_zero_and_one_millisecond_both_work) {
    for (auto spin : {std::chrono::microseconds(0), std::chrono::microseconds(1ms)}) {
        BOOST_TEST_CONTEXT("idle_spin " << spin.count() << " us") {
            for (bool shared : {false, true}) {
                BOOST_TEST_CONTEXT((shared ? "on an io_context" : "on the wal's writer thread")) {
                    auto disk = std::make_shared<test::sim_disk>();
                    asio::io_context ioc(1);
                    wal_config cfg;
                    cfg.dir = "/log";
                    cfg.fs = disk;
                    cfg.fsync = fsync_policy::always();  // the sync thread takes part in each append
                    cfg.max_segment_size = 1u << 20;     // a quick spare segment (zero-filled)
                    cfg.max_record_size = 1u << 10;
                    cfg.idle_spin = spin;
                    if (shared) cfg.io_executor = ioc.get_executor();
                    BOOST_TEST(validate(cfg) == "");
                    auto w = wal::open(cfg).log;
                    std::vector<lsn_t> lsns;
                    asio::co_spawn(
                        ioc,
                        [&]() -> asio::awaitable<void> {
                            for (int i = 0; i < 50; ++i) {
                                auto p = co_await w.async_append(record::put("k", "v"), asio::use_awaitable);
                                lsns.push_back(p.lsn);
                            }
                            co_await w.async_close(asio::use_awaitable);
                        },
                        asio::detached);
                    ioc.run();
                    BOOST_TEST_REQUIRE(lsns.size() == 50u);
                    for (std::size_t i = 0; i < lsns.size(); ++i) BOOST_TEST(lsns[i] == i + 1);
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(validate_refuses_idle_spin_out_of_range) {
    test::temp_dir dir("noriwal-ioexec");
    wal_config cfg;
    cfg.dir = dir.path();
    for (auto bad : {std::chrono::microseconds(-1), std::chrono::microseconds(2s)}) {
        cfg.idle_spin = bad;
        auto why = validate(cfg);
        BOOST_TEST(why.find("idle_spin") != std::string::npos, why);
        std::error_code ec;
        std::string open_why;
        auto o = wal::open(cfg, ec, &open_why);
        BOOST_TEST((ec == errc::invalid_config));
        BOOST_TEST(open_why.find("idle_spin") != std::string::npos, open_why);
        BOOST_TEST(!o.log.is_open());
    }
    for (auto good : {std::chrono::microseconds(0), std::chrono::microseconds(1s)}) {
        cfg.idle_spin = good;
        BOOST_TEST(validate(cfg) == "");
    }
}

// An open that fails with an io_executor nothing runs: there is no log to close through the
// strand, so the open returns its error with the wal's threads already ended (none left behind
// waiting for a close that nothing would run).
BOOST_AUTO_TEST_CASE(failed_open_with_an_idle_io_executor_leaves_no_thread) {
    test::temp_dir dir("noriwal-ioexec");
    asio::io_context ioc;
    wal_config cfg;
    cfg.dir = dir.path();
    cfg.io_executor = ioc.get_executor();
    auto first = wal::open(cfg).log;
    const auto before = thread_names();
    for (int round = 0; round < 3; ++round) {
        std::error_code ec;
        auto second = wal::open(cfg, ec);
        BOOST_TEST((ec == errc::locked));
        BOOST_TEST(!second.log.is_open());
        auto after = thread_names();
        BOOST_TEST(after.count("noriwal-sync") == before.count("noriwal-sync"));
        BOOST_TEST(after.count("noriwal-spare") == before.count("noriwal-spare"));
    }
    first.async_close([](boost::system::error_code) {});
    ioc.run();
}

// The same failed open leaves the io_context as it found it: not stopped, so that a later
// run() still runs what is posted to it.
BOOST_AUTO_TEST_CASE(failed_open_leaves_the_io_executor_runnable) {
    test::temp_dir dir("noriwal-ioexec");
    wal_config owner_cfg;
    owner_cfg.dir = dir.path();
    auto owner = wal::open(owner_cfg).log;  // holds the directory, on its own writer thread

    asio::io_context ioc;
    wal_config cfg = owner_cfg;
    cfg.io_executor = ioc.get_executor();
    std::error_code ec;
    auto second = wal::open(cfg, ec);
    BOOST_TEST((ec == errc::locked));
    BOOST_TEST(!ioc.stopped());
    bool ran = false;
    asio::post(ioc, [&] { ran = true; });
    ioc.run();
    BOOST_TEST(ran);
}

BOOST_AUTO_TEST_SUITE_END()
