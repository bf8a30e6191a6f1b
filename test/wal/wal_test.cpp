// noriwal::wal end to end on the simulated disk (and once on real files): every kind of
// completion token, executors, cancellation, close, concurrency, group commit, the batch
// timer, poisoning, reopening. No assertion depends on timing; waits have generous deadlines
// and only bound how long a broken build hangs.
#include <noriwal/wal.hpp>

#include <wal/wal_core.hpp>

#include "support/eventually.hpp"
#include "support/printing.hpp"
#include "support/sim_disk.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>

#include <pthread.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace noriwal {
inline std::ostream& boost_test_print_type(std::ostream& os, const position& p) {
    return os << "{segment " << p.segment_id << ", offset " << p.offset << ", lsn " << p.lsn << "}";
}
}  // namespace noriwal

namespace asio = boost::asio;
using namespace noriwal;
using namespace std::chrono_literals;
using boost::system::error_code;

namespace {

wal_config sim_config(const std::shared_ptr<test::sim_disk>& disk, fsync_policy policy = fsync_policy::os()) {
    wal_config cfg;
    cfg.dir = "/log";
    cfg.fs = disk;
    cfg.fsync = policy;
    cfg.max_segment_size = 1u << 20;
    cfg.max_record_size = 64u << 10;
    return cfg;
}

const record rec = record::put("key", "value");

using test::eventually;

/// Holds the wal's writer strand inside a posted function, holding the writer role, until
/// release(): the writer is busy, so requests initiated meanwhile stay queued in the intake
/// (none is written speculatively).
class strand_blocker {
public:
    explicit strand_blocker(const wal& w) {
        auto release = release_.get_future().share();
        auto core = detail::wal_core::of(w);
        asio::post(core->writer_executor(), [this, release, core] {
            std::lock_guard role(core->writer_role());
            entered_.set_value();
            release.wait();
        });
        entered_.get_future().wait();
    }
    ~strand_blocker() { release(); }
    void release() {
        if (!released_) {
            released_ = true;
            release_.set_value();
        }
    }

private:
    std::promise<void> entered_;
    std::promise<void> release_;
    bool released_ = false;
};

/// Whether the calling thread is the wal's thread of that name ("noriwal-writer",
/// "noriwal-sync"). Fault hooks use it to tell the wal's appends and fsync rounds from the
/// spare segment being prepared on its own thread.
bool on_thread(std::string_view name) {
    char buf[16] = {};
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    return name == buf;
}

/// A fault hook on the simulated disk that the test arms after opening: the next operation
/// `op` made by the wal's thread `thread` fails with `ec`.
struct armed_fault {
    std::atomic<bool> armed{false};
    std::atomic<int> hits{0};
    test::sim_op op = test::sim_op::sync;
    const char* thread = "noriwal-sync";  // null: any thread but the spare segments' one
    std::error_code ec = test::eio();

    test::fault_hook hook() {
        return [this](const test::sim_event& e) -> std::error_code {
            const bool here = thread ? on_thread(thread) : !on_thread("noriwal-spare");
            if (e.op == op && here && armed.exchange(false)) {
                ++hits;
                return ec;
            }
            return {};
        };
    }
};

/// Appends and waits, returning the error instead of throwing.
std::pair<error_code, position> try_append(wal& w, const record& r,
                                           durability d = durability::as_configured()) {
    std::promise<std::pair<error_code, position>> pr;
    auto f = pr.get_future();
    w.async_append(r, d, [&pr](error_code ec, position p) { pr.set_value({ec, p}); });
    return f.get();
}

std::pair<error_code, std::vector<position>> try_append_batch(wal& w, std::span<const record> rs) {
    std::promise<std::pair<error_code, std::vector<position>>> pr;
    auto f = pr.get_future();
    w.async_append_batch(rs, [&pr](error_code ec, std::vector<position> p) {
        pr.set_value({ec, std::move(p)});
    });
    return f.get();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(wal_api)

// ------------------------------------------------------------------ tokens

BOOST_AUTO_TEST_CASE(callback_token_gets_lsns_from_one) {
    auto disk = std::make_shared<test::sim_disk>();
    asio::io_context ioc;
    auto [w, info] = wal::open(ioc.get_executor(), sim_config(disk));
    BOOST_TEST(info.last_lsn == 0u);
    std::vector<position> got;
    for (int i = 0; i < 3; ++i) {
        w.async_append(rec, [&](error_code ec, position p) {
            BOOST_TEST(!ec);
            got.push_back(p);
        });
    }
    ioc.run();  // returns once the three handlers ran: the wal tracks work on ioc
    BOOST_TEST_REQUIRE(got.size() == 3u);
    BOOST_TEST(got[0].lsn == 1u);
    BOOST_TEST(got[1].lsn == 2u);
    BOOST_TEST(got[2].lsn == 3u);
    BOOST_TEST(got[0].segment_id == got[2].segment_id);
    BOOST_TEST(got[0].offset < got[1].offset);
    BOOST_TEST(w.written_lsn() == 3u);
}

BOOST_AUTO_TEST_CASE(use_future_token) {
    auto disk = std::make_shared<test::sim_disk>();
    auto w = wal::open(sim_config(disk, fsync_policy::always())).log;
    auto f1 = w.async_append(rec, asio::use_future);
    auto f2 = w.async_append(rec, asio::use_future);
    BOOST_TEST(f1.get().lsn == 1u);
    BOOST_TEST(f2.get().lsn == 2u);
    BOOST_TEST(w.durable_lsn() >= 2u);  // always: complete means fdatasync'd
    w.async_sync(asio::use_future).get();
    w.async_close(asio::use_future).get();
    // use_future with a function: the future holds what it returns, here the error. (A plain
    // use_future throws it from get(); that path is not taken here because ThreadSanitizer
    // reports the exception_ptr handed between threads inside libstdc++, which it cannot see.)
    auto f3 = w.async_append(rec, asio::use_future([](error_code ec, position) { return ec; }));
    BOOST_TEST((f3.get() == errc::closed));
}

BOOST_AUTO_TEST_CASE(use_awaitable_token_in_a_coroutine) {
    auto disk = std::make_shared<test::sim_disk>();
    asio::io_context ioc;
    bool finished = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto [w, info] = co_await wal::async_open(
                ioc.get_executor(), sim_config(disk, fsync_policy::batch(1ms)), asio::use_awaitable);
            BOOST_TEST(info.valid_records == 0u);
            auto p1 = co_await w.async_append(rec, asio::use_awaitable);
            auto p2 = co_await w.async_append(rec, durability::always(), asio::use_awaitable);
            BOOST_TEST(p1.lsn == 1u);
            BOOST_TEST(p2.lsn == 2u);
            BOOST_TEST(w.durable_lsn() >= 2u);  // durability::always()
            std::vector<record> batch{record::put("a", "1"), record::put("b", "2")};
            auto ps = co_await w.async_append_batch(batch, asio::use_awaitable);
            BOOST_TEST_REQUIRE(ps.size() == 2u);
            BOOST_TEST(ps[0].lsn == 3u);
            BOOST_TEST(ps[1].lsn == 4u);
            co_await w.async_flush(asio::use_awaitable);
            co_await w.async_sync(asio::use_awaitable);
            BOOST_TEST(w.durable_lsn() == 4u);
            co_await w.async_close(asio::use_awaitable);
            try {
                co_await w.async_append(rec, asio::use_awaitable);
                BOOST_FAIL("append after close succeeded");
            } catch (const boost::system::system_error& e) {
                BOOST_TEST((e.code() == errc::closed));
            }
            finished = true;
        },
        asio::detached);
    ioc.run();
    BOOST_TEST(finished);
}

BOOST_AUTO_TEST_CASE(deferred_token_starts_when_launched) {
    auto disk = std::make_shared<test::sim_disk>();
    asio::io_context ioc;
    auto w = wal::open(ioc.get_executor(), sim_config(disk)).log;
    std::string key = "k", value = "v";
    auto op = w.async_append(record::put(key, value), asio::deferred);
    // Not launched: nothing queued, nothing written.
    w.flush();
    BOOST_TEST(w.written_lsn() == 0u);
    std::optional<position> got;
    std::move(op)([&](error_code ec, position p) {
        BOOST_TEST(!ec);
        got = p;
    });
    ioc.run();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(got->lsn == 1u);
    // Deferred operations compose: an append, then a sync.
    bool synced = false;
    w.async_append(rec, asio::deferred([&](error_code, position) { return w.async_sync(asio::deferred); }))(
        [&](error_code ec) {
            BOOST_TEST(!ec);
            synced = true;
        });
    ioc.restart();
    ioc.run();
    BOOST_TEST(synced);
    BOOST_TEST(w.durable_lsn() == 2u);
}

BOOST_AUTO_TEST_CASE(as_tuple_token_returns_the_error) {
    auto disk = std::make_shared<test::sim_disk>();
    asio::io_context ioc;
    auto w = wal::open(ioc.get_executor(), sim_config(disk)).log;
    bool finished = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto [ec, p] = co_await w.async_append(rec, asio::as_tuple(asio::use_awaitable));
            BOOST_TEST(!ec);
            BOOST_TEST(p.lsn == 1u);
            auto [ec2] = co_await w.async_close(asio::as_tuple(asio::use_awaitable));
            BOOST_TEST(!ec2);
            auto [ec3, p3] = co_await w.async_append(rec, asio::as_tuple(asio::use_awaitable));
            BOOST_TEST((ec3 == errc::closed));
            BOOST_TEST(p3.lsn == 0u);
            finished = true;
        },
        asio::detached);
    // as_tuple with a plain callback, too.
    w.async_flush(asio::as_tuple([](std::tuple<error_code> t) { BOOST_TEST(!std::get<0>(t)); }));
    ioc.run();
    BOOST_TEST(finished);
}

BOOST_AUTO_TEST_CASE(async_open_with_callback_and_invalid_config) {
    auto disk = std::make_shared<test::sim_disk>();
    asio::io_context ioc;
    auto bad = sim_config(disk);
    bad.max_segment_size = 10;  // smaller than a segment header
    std::optional<error_code> got;
    wal opened;
    wal::async_open(ioc.get_executor(), bad, [&](error_code ec, wal w, recovery_info) {
        got = ec;
        opened = std::move(w);
    });
    ioc.run();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST((*got == errc::invalid_config));
    BOOST_TEST(!opened.is_open());
    // The blocking open says which field is wrong.
    try {
        wal::open(bad);
        BOOST_FAIL("open of an invalid configuration succeeded");
    } catch (const std::system_error& e) {
        BOOST_TEST((e.code() == errc::invalid_config));
        BOOST_TEST(std::string(e.what()).find("max_segment_size") != std::string::npos, e.what());
    }
}

// ------------------------------------------------------------------ executors

BOOST_AUTO_TEST_CASE(handler_bound_to_a_strand_runs_on_it) {
    auto disk = std::make_shared<test::sim_disk>();
    asio::thread_pool pool(2);
    auto w = wal::open(pool.get_executor(), sim_config(disk, fsync_policy::always())).log;
    auto strand = asio::make_strand(pool.get_executor());
    // Handlers run on pool threads: they only count (Boost.Test is not thread-safe).
    std::atomic<int> on_strand{0}, off_strand{0}, errors{0};
    std::atomic<int> default_on_pool{0};
    std::promise<void> all;
    std::atomic<int> left{20};
    for (int i = 0; i < 10; ++i) {
        w.async_append(rec, asio::bind_executor(strand, [&](error_code ec, position) {
                           if (ec) ++errors;
                           (strand.running_in_this_thread() ? on_strand : off_strand)++;
                           if (--left == 0) all.set_value();
                       }));
        // Without an executor of its own, a handler runs on the executor given to open.
        w.async_append(rec, [&](error_code ec, position) {
            if (ec) ++errors;
            if (pool.get_executor().running_in_this_thread()) default_on_pool++;
            if (--left == 0) all.set_value();
        });
    }
    BOOST_TEST_REQUIRE((all.get_future().wait_for(20s) == std::future_status::ready));
    BOOST_TEST(errors.load() == 0);
    BOOST_TEST(on_strand.load() == 10);
    BOOST_TEST(off_strand.load() == 0);
    BOOST_TEST(default_on_pool.load() == 10);
    w.close();
    pool.join();
}

BOOST_AUTO_TEST_CASE(handler_never_runs_inside_the_initiating_function) {
    auto disk = std::make_shared<test::sim_disk>();
    asio::io_context ioc;
    auto w = wal::open(ioc.get_executor(), sim_config(disk)).log;
    w.close();
    // Immediate failures (closed, too large) still complete later, through the executor.
    int ran = 0;
    bool returned = false;
    asio::post(ioc, [&] {
        w.async_append(rec, [&](error_code ec, position) {
            BOOST_TEST((ec == errc::closed));
            BOOST_TEST(returned);
            ++ran;
        });
        w.async_sync([&](error_code ec) {
            BOOST_TEST((ec == errc::closed));
            BOOST_TEST(returned);
            ++ran;
        });
        returned = true;
    });
    ioc.run();
    BOOST_TEST(ran == 2);
    // An empty wal completes with errc::closed too.
    wal empty;
    BOOST_TEST(!empty.is_open());
    BOOST_TEST(!empty.get_executor());
    BOOST_TEST(empty.config().dir.empty());
    BOOST_TEST(empty.written_lsn() == 0u);
    BOOST_TEST(empty.stats().appends == 0u);
    std::promise<error_code> p;
    empty.async_flush([&](error_code ec) { p.set_value(ec); });
    auto fut = p.get_future();
    BOOST_TEST_REQUIRE((fut.wait_for(20s) == std::future_status::ready));
    BOOST_TEST((fut.get() == errc::closed));
}

// ------------------------------------------------------------------ cancellation

BOOST_AUTO_TEST_CASE(cancelled_queued_append_is_aborted_and_writes_nothing) {
    auto disk = std::make_shared<test::sim_disk>();
    asio::io_context ioc;
    auto w = wal::open(ioc.get_executor(), sim_config(disk)).log;
    std::optional<error_code> first, second;
    asio::cancellation_signal signal;
    {
        strand_blocker blocked(w);
        w.async_append(rec, asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, position p) {
                           first = ec;
                           BOOST_TEST(p.lsn == 0u);
                       }));
        // The signal is emitted where the handler runs (this thread runs ioc), the strand is
        // held: the append is still queued.
        signal.emit(asio::cancellation_type::terminal);
        ioc.run();
        BOOST_TEST_REQUIRE(first.has_value());  // completed while the strand is still held
        BOOST_TEST((*first == asio::error::operation_aborted));
    }
    w.flush();
    BOOST_TEST(w.written_lsn() == 0u);  // its LSN was never assigned
    w.async_append(rec, [&](error_code ec, position p) {
        second = ec;
        BOOST_TEST(p.lsn == 1u);  // the next record gets LSN 1
    });
    ioc.restart();
    ioc.run();
    BOOST_TEST_REQUIRE(second.has_value());
    BOOST_TEST(!*second);
    BOOST_TEST(w.stats().failed_appends == 1u);
    BOOST_TEST(w.stats().records == 1u);
}

BOOST_AUTO_TEST_CASE(cancelling_a_written_append_has_no_effect) {
    auto disk = std::make_shared<test::sim_disk>();
    std::promise<void> sync_entered, sync_release;
    auto release = sync_release.get_future().share();
    std::atomic<bool> hold{false};
    disk->set_fault_hook([&](const test::sim_event& e) -> std::error_code {
        if (e.op == test::sim_op::sync && on_thread("noriwal-sync") && hold.exchange(false)) {
            sync_entered.set_value();
            release.wait();
        }
        return {};
    });
    asio::io_context ioc;
    auto w = wal::open(ioc.get_executor(), sim_config(disk, fsync_policy::always())).log;
    hold = true;
    asio::cancellation_signal signal;
    std::optional<error_code> got;
    w.async_append(rec, asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, position p) {
                       got = ec;
                       BOOST_TEST(p.lsn == 1u);
                   }));
    // Written, its fdatasync held on the sync thread.
    BOOST_TEST_REQUIRE((sync_entered.get_future().wait_for(20s) == std::future_status::ready));
    BOOST_TEST(w.written_lsn() == 1u);
    signal.emit(asio::cancellation_type::terminal);
    sync_release.set_value();
    ioc.run();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(!*got);
    BOOST_TEST(w.durable_lsn() == 1u);
}

BOOST_AUTO_TEST_CASE(coroutine_cancelled_by_a_timeout_leaves_no_record) {
    auto disk = std::make_shared<test::sim_disk>();
    asio::io_context ioc;
    auto w = wal::open(ioc.get_executor(), sim_config(disk)).log;
    asio::cancellation_signal signal;
    std::optional<error_code> got;
    {
        strand_blocker blocked(w);
        asio::co_spawn(
            ioc,
            [&]() -> asio::awaitable<void> {
                auto [ec, p] = co_await w.async_append(rec, asio::as_tuple(asio::use_awaitable));
                got = ec;
            },
            asio::bind_cancellation_slot(signal.slot(), asio::detached));
        ioc.poll();  // the coroutine starts and its append is queued
        BOOST_TEST(!got.has_value());
        signal.emit(asio::cancellation_type::terminal);
        ioc.run();
        BOOST_TEST_REQUIRE(got.has_value());
        BOOST_TEST((*got == asio::error::operation_aborted));
    }
    w.flush();
    BOOST_TEST(w.written_lsn() == 0u);
}

// ------------------------------------------------------------------ close

BOOST_AUTO_TEST_CASE(operations_after_close_get_errc_closed) {
    auto disk = std::make_shared<test::sim_disk>();
    auto w = wal::open(sim_config(disk)).log;
    BOOST_TEST(w.is_open());
    w.append(rec);
    w.close();
    BOOST_TEST(!w.is_open());
    auto check = [](auto f) {
        try {
            f();
            BOOST_FAIL("succeeded after close");
        } catch (const std::system_error& e) {
            BOOST_TEST((e.code() == errc::closed));
        }
    };
    check([&] { w.append(rec); });
    check([&] { w.sync(); });
    check([&] { w.flush(); });
    check([&] { w.truncate_after(0); });
    check([&] { w.delete_segments_before(w.current_position()); });
    w.close();  // closing a closed wal is not an error
    // The lock is released: the directory opens again, with the record.
    auto [again, info] = wal::open(sim_config(disk));
    BOOST_TEST(info.last_lsn == 1u);
}

BOOST_AUTO_TEST_CASE(close_with_appends_in_flight_loses_nothing_that_completed) {
    auto disk = std::make_shared<test::sim_disk>();
    auto w = wal::open(sim_config(disk, fsync_policy::always())).log;
    constexpr int threads = 4;
    std::mutex m;
    std::set<lsn_t> acknowledged;
    std::atomic<int> failed_closed{0}, failed_other{0};
    std::vector<std::thread> appenders;
    std::atomic<int> started{0};
    for (int t = 0; t < threads; ++t) {
        appenders.emplace_back([&] {
            ++started;
            for (;;) {  // until close turns the appends away
                auto [ec, p] = [&] {
                    std::promise<std::pair<error_code, position>> pr;
                    auto f = pr.get_future();
                    w.async_append(rec, [&pr](error_code ec, position p) { pr.set_value({ec, p}); });
                    return f.get();
                }();
                if (!ec) {
                    std::lock_guard lk(m);
                    acknowledged.insert(p.lsn);
                } else if (ec == errc::closed) {
                    ++failed_closed;
                    return;
                } else {
                    ++failed_other;
                    return;
                }
            }
        });
    }
    BOOST_TEST_REQUIRE(eventually([&] { return w.durable_lsn() >= 50; }));
    std::promise<error_code> closed;
    w.async_close([&](error_code ec) { closed.set_value(ec); });
    auto close_result = closed.get_future();
    BOOST_TEST_REQUIRE((close_result.wait_for(20s) == std::future_status::ready));
    BOOST_TEST(!close_result.get());
    for (auto& t : appenders) t.join();
    BOOST_TEST(failed_other.load() == 0);
    BOOST_TEST(failed_closed.load() == threads);  // each thread's next append after close
    // Every acknowledged record survives a power cut (always: acknowledged means synced), and
    // the acknowledged LSNs are exactly 1..n.
    auto after = disk->power_cut();
    auto [reopened, info] = wal::open(sim_config(after));
    BOOST_TEST_REQUIRE(!acknowledged.empty());
    BOOST_TEST(*acknowledged.begin() == 1u);
    BOOST_TEST(*acknowledged.rbegin() == acknowledged.size());
    BOOST_TEST(info.last_lsn == acknowledged.size());
}

BOOST_AUTO_TEST_CASE(dropping_the_last_handle_closes_and_syncs) {
    auto disk = std::make_shared<test::sim_disk>();
    {
        auto w = wal::open(sim_config(disk, fsync_policy::os())).log;
        for (int i = 0; i < 10; ++i) w.async_append(rec, [](error_code, position) {});
        // No close: the destructor of the last handle writes and syncs what is queued.
    }
    auto after = disk->power_cut();  // only what was synced survives
    auto [w, info] = wal::open(sim_config(after));
    BOOST_TEST(info.last_lsn == 10u);
    BOOST_TEST(w.append(rec).lsn == 11u);  // and LSNs continue
}

// ------------------------------------------------------------------ concurrency, group commit

BOOST_AUTO_TEST_CASE(concurrent_appenders_get_unique_dense_ordered_lsns) {
    auto disk = std::make_shared<test::sim_disk>();
    auto w = wal::open(sim_config(disk, fsync_policy::batch(2ms))).log;
    constexpr int threads = 4, per_thread = 500;
    std::vector<std::vector<lsn_t>> lsns(threads);
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&, t] {
            // Pipelined: all of this thread's appends in flight at once, in initiation order.
            std::vector<std::future<position>> fs;
            for (int i = 0; i < per_thread; ++i) {
                std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
                fs.push_back(w.async_append(record::put(key, "v"), asio::use_future));
            }
            for (auto& f : fs) lsns[t].push_back(f.get().lsn);
        });
    }
    for (auto& t : ts) t.join();
    std::set<lsn_t> all;
    for (auto& v : lsns) {
        for (std::size_t i = 1; i < v.size(); ++i) BOOST_TEST(v[i - 1] < v[i]);  // per-thread order
        all.insert(v.begin(), v.end());
    }
    BOOST_TEST(all.size() == std::size_t{threads * per_thread});  // unique
    BOOST_TEST(*all.begin() == 1u);                               // dense from 1
    BOOST_TEST(*all.rbegin() == lsn_t{threads * per_thread});
    BOOST_TEST(w.stats().appends == std::uint64_t{threads * per_thread});
}

BOOST_AUTO_TEST_CASE(handlers_on_one_executor_run_once_each_in_lsn_order) {
    for (auto policy : {fsync_policy::os(), fsync_policy::always()}) {
        auto disk = std::make_shared<test::sim_disk>();
        asio::io_context ioc;
        auto w = wal::open(ioc.get_executor(), sim_config(disk, policy)).log;
        std::vector<lsn_t> order;
        constexpr int n = 2000;
        for (int i = 0; i < n; ++i) {
            w.async_append(rec, [&](error_code ec, position p) {
                BOOST_TEST(!ec);
                order.push_back(p.lsn);
            });
        }
        ioc.run();
        BOOST_TEST_REQUIRE(order.size() == std::size_t{n});
        for (std::size_t i = 0; i < order.size(); ++i) BOOST_TEST(order[i] == i + 1);
    }
}

BOOST_AUTO_TEST_CASE(a_throwing_handler_does_not_lose_the_others) {
    auto disk = std::make_shared<test::sim_disk>();
    asio::io_context ioc;
    auto w = wal::open(ioc.get_executor(), sim_config(disk)).log;
    std::vector<lsn_t> ran;
    {
        strand_blocker blocked(w);  // the three are written as one group, delivered together
        for (int i = 0; i < 3; ++i) {
            w.async_append(rec, [&](error_code, position p) {
                ran.push_back(p.lsn);
                if (p.lsn == 1) throw std::runtime_error("handler failure");
            });
        }
    }
    // As with any Asio handler, the exception leaves run(); running again delivers the rest.
    BOOST_CHECK_THROW(ioc.run(), std::runtime_error);
    ioc.restart();
    ioc.run();
    BOOST_TEST(ran == (std::vector<lsn_t>{1, 2, 3}));
}

BOOST_AUTO_TEST_CASE(group_commit_shares_fsyncs_under_always) {
    auto disk = std::make_shared<test::sim_disk>();
    constexpr int threads = 8, per_thread = 25;
    // The first fdatasync after open is held until every thread has an append written, so
    // the fsync rounds must be shared: a count, not a timing.
    std::atomic<bool> gate{false};
    std::atomic<const wal*> watched{nullptr};
    disk->set_fault_hook([&](const test::sim_event& e) -> std::error_code {
        if (e.op == test::sim_op::sync && on_thread("noriwal-sync") && gate.exchange(false)) {
            eventually([&] { return watched.load()->written_lsn() >= threads; });
        }
        return {};
    });
    auto w = wal::open(sim_config(disk, fsync_policy::always())).log;
    watched = &w;
    gate = true;
    std::vector<std::thread> ts;
    std::atomic<int> failures{0};
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&] {
            for (int i = 0; i < per_thread; ++i) {
                try {
                    auto p = w.append(rec);
                    if (w.durable_lsn() < p.lsn) ++failures;  // completed before it was durable
                } catch (...) {
                    ++failures;
                }
            }
        });
    }
    for (auto& t : ts) t.join();
    auto s = w.stats();
    BOOST_TEST(failures.load() == 0);
    BOOST_TEST(s.appends == std::uint64_t{threads * per_thread});
    BOOST_TEST(s.fsyncs < s.appends);
    BOOST_TEST(s.fsyncs > 0u);
    BOOST_TEST(s.fsync_group_size.count == s.fsyncs);
    BOOST_TEST(s.fsync_group_size.sum >= double(threads * per_thread));  // every record covered
    BOOST_TEST(w.durable_lsn() == lsn_t{threads * per_thread});
}

BOOST_AUTO_TEST_CASE(batch_timer_syncs_without_further_appends) {
    auto disk = std::make_shared<test::sim_disk>();
    auto w = wal::open(sim_config(disk, fsync_policy::batch(20ms))).log;
    auto p = w.append(rec);  // completes once written
    // No other append, no sync call: the timer alone makes it durable.
    BOOST_TEST(eventually([&] { return w.durable_lsn() >= p.lsn; }));
    BOOST_TEST(w.durable_position().lsn == p.lsn + 1);
    // And durable means it survives a power cut.
    auto after = disk->power_cut();
    auto [again, info] = wal::open(sim_config(after));
    BOOST_TEST(info.last_lsn == p.lsn);
}

BOOST_AUTO_TEST_CASE(os_policy_syncs_on_request_and_per_append_override) {
    auto disk = std::make_shared<test::sim_disk>();
    auto w = wal::open(sim_config(disk, fsync_policy::os())).log;
    w.append(rec);
    w.append(rec);
    w.flush();
    BOOST_TEST(w.written_lsn() == 2u);
    auto forced = w.append(rec, durability::always());
    BOOST_TEST(w.durable_lsn() >= forced.lsn);  // complete means fdatasync'd
    w.append(rec);
    w.sync();
    BOOST_TEST(w.durable_lsn() == 4u);
    BOOST_TEST(w.durable_position() == w.current_position());
}

// ------------------------------------------------------------------ failures

BOOST_AUTO_TEST_CASE(failed_fsync_poisons_and_reopen_recovers) {
    auto disk = std::make_shared<test::sim_disk>();
    armed_fault fault;
    disk->set_fault_hook(fault.hook());
    {
        auto w = wal::open(sim_config(disk, fsync_policy::always())).log;
        auto ok = w.append(record::put("a", "acknowledged"));
        BOOST_TEST(ok.lsn == 1u);
        fault.armed = true;  // the next fdatasync fails with EIO
        try {
            w.append(record::put("b", "lost"));
            BOOST_FAIL("append over a failed fsync succeeded");
        } catch (const std::system_error& e) {
            BOOST_TEST((e.code() == errc::io_failed));
        }
        BOOST_TEST(fault.hits.load() == 1);
        // Everything after it fails, and a sync is never reported as success again, though
        // the disk would now sync fine.
        for (int i = 0; i < 2; ++i) {
            try {
                w.append(rec);
                BOOST_FAIL("append after poisoning succeeded");
            } catch (const std::system_error& e) {
                BOOST_TEST((e.code() == errc::poisoned));
            }
        }
        try {
            w.sync();
            BOOST_FAIL("sync after poisoning succeeded");
        } catch (const std::system_error& e) {
            BOOST_TEST((e.code() == errc::poisoned));
        }
        BOOST_TEST(w.failure() == test::eio());
        BOOST_TEST(w.stats().poisoned);
        BOOST_TEST(w.durable_lsn() == 1u);
    }
    // Reopen (after a power cut, even): the acknowledged record is there, LSNs continue.
    auto after = disk->power_cut();
    auto [w, info] = wal::open(sim_config(after, fsync_policy::always()));
    BOOST_TEST(info.last_lsn >= 1u);
    BOOST_TEST(w.append(rec).lsn == info.last_lsn + 1);
}

BOOST_AUTO_TEST_CASE(failed_write_poisons) {
    auto disk = std::make_shared<test::sim_disk>();
    armed_fault fault;
    fault.op = test::sim_op::write;
    fault.thread = nullptr;  // the writer thread, or the caller's in a speculative write
    disk->set_fault_hook(fault.hook());
    auto w = wal::open(sim_config(disk, fsync_policy::os())).log;
    w.append(rec);
    fault.armed = true;
    auto [ec1, p1] = try_append(w, rec);
    BOOST_TEST((ec1 == errc::io_failed));
    auto [ec2, p2] = try_append(w, rec);
    BOOST_TEST((ec2 == errc::poisoned));
    BOOST_TEST(w.written_lsn() == 1u);
}

BOOST_AUTO_TEST_CASE(full_disk_is_errc_no_space) {
    auto disk = std::make_shared<test::sim_disk>();
    auto cfg = sim_config(disk, fsync_policy::os());
    cfg.prealloc = preallocation::none;  // the segment grows with each write
    auto w = wal::open(cfg).log;
    w.append(rec);
    disk->set_capacity(disk->used_bytes());
    auto [ec, p] = try_append(w, rec);
    BOOST_TEST((ec == errc::no_space));
    auto [ec2, p2] = try_append(w, rec);
    BOOST_TEST((ec2 == errc::poisoned));
}

BOOST_AUTO_TEST_CASE(record_too_large_fails_alone) {
    auto disk = std::make_shared<test::sim_disk>();
    auto cfg = sim_config(disk);
    cfg.max_record_size = 1024;
    auto w = wal::open(cfg).log;
    std::string big(4096, 'x');
    auto [ec, p] = try_append(w, record::put("k", big));
    BOOST_TEST((ec == errc::record_too_large));
    BOOST_TEST(w.append(rec).lsn == 1u);  // nothing was written, nothing poisoned
    auto [ec2, ps] = try_append_batch(w, std::span<const record>{});
    BOOST_TEST((ec2 == errc::invalid_argument));
}

BOOST_AUTO_TEST_CASE(second_open_of_a_directory_is_locked) {
    auto disk = std::make_shared<test::sim_disk>();
    auto w = wal::open(sim_config(disk)).log;
    std::error_code ec;
    std::string why;
    auto second = wal::open(sim_config(disk), ec, &why);
    BOOST_TEST((ec == errc::locked));
    BOOST_TEST(!second.log.is_open());
}

// ------------------------------------------------------------------ management

BOOST_AUTO_TEST_CASE(rotation_delete_and_truncate) {
    auto disk = std::make_shared<test::sim_disk>();
    auto cfg = sim_config(disk, fsync_policy::os());
    cfg.max_segment_size = 4096;
    cfg.max_record_size = 1024;
    auto w = wal::open(cfg).log;
    std::string value(200, 'v');
    std::vector<position> ps;
    for (int i = 0; i < 100; ++i) ps.push_back(w.append(record::put("k", value)));
    BOOST_TEST(ps.back().segment_id > ps.front().segment_id);
    auto s = w.stats();
    BOOST_TEST(s.segments_rolled == ps.back().segment_id - ps.front().segment_id);
    auto deleted = w.delete_segments_before(ps[60]);
    BOOST_TEST(deleted > 0u);
    BOOST_TEST(w.stats().segments_deleted == deleted);
    w.truncate_after(80);
    BOOST_TEST(w.written_lsn() == 80u);
    BOOST_TEST(w.durable_lsn() == 80u);
    BOOST_TEST(w.append(rec).lsn == 81u);
    BOOST_TEST(w.current_position().lsn == 82u);
}

// first_lsn(): where the log starts, after open (wal_config::first_lsn for a new log),
// delete_segments_before and reset_to; reset_to replaces the log, durably.
BOOST_AUTO_TEST_CASE(first_lsn_and_reset_to) {
    auto disk = std::make_shared<test::sim_disk>();
    auto cfg = sim_config(disk, fsync_policy::always());
    cfg.max_segment_size = 4096;
    cfg.max_record_size = 1024;
    cfg.first_lsn = 101;
    std::string value(200, 'v');
    {
        auto w = wal::open(cfg).log;
        BOOST_TEST(w.first_lsn() == 101u);
        BOOST_TEST(w.current_position().lsn == 101u);
        std::vector<position> ps;
        for (int i = 0; i < 60; ++i) ps.push_back(w.append(record::put("k", value)));
        BOOST_TEST(ps.front().lsn == 101u);
        BOOST_TEST(w.first_lsn() == 101u);
        BOOST_TEST_REQUIRE(w.delete_segments_before(ps[40]) > 0u);
        BOOST_TEST(w.first_lsn() > 101u);
        BOOST_TEST(w.first_lsn() <= ps[40].lsn);
        // A reader of the whole log starts at first_lsn().
        auto rd = w.make_reader();
        auto e = rd.next();
        BOOST_TEST_REQUIRE(e.has_value());
        BOOST_TEST(e->lsn() == w.first_lsn());
        w.reset_to(1000);
        BOOST_TEST(w.first_lsn() == 1000u);
        BOOST_TEST(w.written_lsn() == 999u);
        BOOST_TEST(w.durable_lsn() == 999u);
        BOOST_TEST(w.append(record::put("k", "after")).lsn == 1000u);
        BOOST_TEST(w.first_lsn() == 1000u);
        error_code ec;
        try {
            w.reset_to(0);
        } catch (const std::system_error& err) {
            ec = err.code();
        }
        BOOST_TEST((ec == errc::invalid_argument));
    }
    auto w = wal::open(cfg).log;
    BOOST_TEST(w.first_lsn() == 1000u);
    BOOST_TEST(w.written_lsn() == 1000u);
    auto rd = w.make_reader();
    auto e = rd.next();
    BOOST_TEST_REQUIRE(e.has_value());
    BOOST_TEST(e->lsn() == 1000u);
    BOOST_TEST(as_string(e->value()) == "after");
    // Below the old start.
    w.reset_to(5);
    BOOST_TEST(w.append(rec).lsn == 5u);
    BOOST_TEST(wal{}.first_lsn() == 0u);
}

BOOST_AUTO_TEST_CASE(lsns_continue_after_reopen_on_real_files) {
    test::temp_dir dir("noriwal-wal");
    wal_config cfg;
    cfg.dir = dir.path();
    cfg.max_segment_size = 1u << 20;
    cfg.max_record_size = 64u << 10;
    cfg.fsync = fsync_policy::always();
    {
        auto [w, info] = wal::open(cfg);
        BOOST_TEST(info.last_lsn == 0u);
        BOOST_TEST(w.append(rec).lsn == 1u);
        BOOST_TEST(w.append(rec).lsn == 2u);
        w.close();
    }
    auto [w, info] = wal::open(cfg);
    BOOST_TEST(info.last_lsn == 2u);
    BOOST_TEST(info.valid_records == 2u);
    BOOST_TEST(w.append(rec).lsn == 3u);
}

BOOST_AUTO_TEST_CASE(stats_of_a_live_wal_render_as_prometheus) {
    auto disk = std::make_shared<test::sim_disk>();
    auto w = wal::open(sim_config(disk, fsync_policy::always())).log;
    for (int i = 0; i < 5; ++i) w.append(rec);
    auto s = w.stats();
    BOOST_TEST(s.appends == 5u);
    BOOST_TEST(s.records == 5u);
    BOOST_TEST(s.bytes > 0u);
    BOOST_TEST(s.writes >= 1u);
    BOOST_TEST(s.append_seconds.count == 5u);
    BOOST_TEST(s.written_lsn == 5u);
    BOOST_TEST(s.durable_lsn == 5u);
    auto text = to_prometheus(s);
    BOOST_TEST(text.find("noriwal_appends_total 5\n") != std::string::npos);
    BOOST_TEST(text.find("noriwal_append_duration_seconds_count 5\n") != std::string::npos);
    BOOST_TEST(text.find("noriwal_durable_lsn 5\n") != std::string::npos);
}

// Issue 15: with the default sizes an empty log takes its 1 MiB first segment and the 2 MiB
// spare the wal prepares after open, and a restart writes no zeros: the spare is kept across
// close and taken up by the next open.
BOOST_AUTO_TEST_CASE(an_empty_log_takes_3_mib_and_a_restart_writes_no_zeros) {
    auto disk = std::make_shared<test::sim_disk>();
    wal_config cfg;  // the default sizes and preallocation
    cfg.dir = "/log";
    cfg.fs = disk;
    auto files = [&] {
        std::map<std::string, std::uint64_t> out;
        std::vector<std::string> names;
        BOOST_TEST_REQUIRE(!disk->list(cfg.dir, names));
        for (const auto& n : names) {
            if (n == "LOCK" || n == "CLOSED") continue;
            out[n] = test::file_size(*disk, cfg.dir / n);
        }
        return out;
    };
    const std::map<std::string, std::uint64_t> expected{{"00000000000000000001.wal", 1u << 20},
                                                        {"spare-2.ready", 2u << 20}};
    {
        auto w = wal::open(cfg).log;
        // Listed by name only: the spare thread renames spare-2.tmp meanwhile.
        BOOST_TEST_REQUIRE(eventually([&] {
            std::vector<std::string> names;
            return !disk->list(cfg.dir, names) &&
                   std::find(names.begin(), names.end(), "spare-2.ready") != names.end();
        }));
        w.close();
    }
    BOOST_TEST(files() == expected);
    std::atomic<std::uint64_t> written{0};
    disk->set_after_hook([&](const test::sim_event& ev, std::error_code) {
        if (ev.op == test::sim_op::write) written += ev.length;
    });
    for (int i = 0; i < 3; ++i) {
        auto w = wal::open(cfg).log;
        w.flush();  // a round trip through the writer: a spare it wanted would be asked for by now
        w.close();
    }
    BOOST_TEST(written.load() < 1024u);  // close markers only: no zero fill, no header
    BOOST_TEST(files() == expected);
}

BOOST_AUTO_TEST_SUITE_END()

// ------------------------------------------------------------------ the speculative write

BOOST_AUTO_TEST_SUITE(speculative_write)

// An append initiated while the writer is idle is written in its initiating call (its LSN is
// in written_lsn() when the call returns), yet its handler runs only later, on its executor:
// never inside the call, even though this thread runs that executor.
BOOST_AUTO_TEST_CASE(uncontended_append_is_written_in_its_call_and_its_handler_runs_later) {
    auto disk = std::make_shared<test::sim_disk>();
    asio::io_context ioc;
    auto w = wal::open(ioc.get_executor(), sim_config(disk)).log;
    auto core = detail::wal_core::of(w);
    int completed = 0, written_in_call = 0;
    for (int i = 0; i < 50; ++i) {
        // Let a step of the writer thread (the spare segment) finish first.
        { std::lock_guard idle(core->writer_role()); }
        bool ran = false;
        // Initiated from a handler of ioc: ioc's executor runs on this thread during the call.
        asio::post(ioc, [&] {
            const lsn_t before = w.written_lsn();
            w.async_append(rec, [&, before](error_code ec, position p) {
                BOOST_TEST(!ec);
                BOOST_TEST(p.lsn == before + 1);
                ran = true;
                ++completed;
            });
            BOOST_TEST(!ran);  // never inline
            if (w.written_lsn() == before + 1) ++written_in_call;
        });
        ioc.restart();
        ioc.run();
        BOOST_TEST(ran);
    }
    BOOST_TEST(completed == 50);
    BOOST_TEST(written_in_call > 0);
    BOOST_TEST(w.stats().appends == 50u);
}

// A durable append completes once its round returns, from whichever thread ran that step,
// but only after that thread let go of the writer: the handler that starts the next append
// finds the writer idle, so each append of a chain awaited one after another is written in
// its initiating call, under fsync_policy::always as under os.
BOOST_AUTO_TEST_CASE(each_append_of_a_durable_chain_is_written_in_its_call) {
    auto disk = std::make_shared<test::sim_disk>();
    asio::io_context ioc;
    auto w = wal::open(ioc.get_executor(), sim_config(disk, fsync_policy::always())).log;
    auto core = detail::wal_core::of(w);
    w.flush();  // a round trip through the writer: the spare segment is asked for by now
    BOOST_TEST_REQUIRE(eventually([&] { return core->spares_in_flight() == 0; }));
    { std::lock_guard idle(core->writer_role()); }  // the spare's step has ended
    constexpr int chain = 200;
    int completed = 0, written_in_call = 0;
    std::function<void()> next = [&] {
        const lsn_t before = w.written_lsn();
        w.async_append(rec, [&, before](error_code ec, position p) {
            BOOST_TEST(!ec);
            BOOST_TEST(p.lsn == before + 1);
            BOOST_TEST(w.durable_lsn() >= p.lsn);
            if (++completed < chain) next();
        });
        if (w.written_lsn() == before + 1) ++written_in_call;
    };
    asio::post(ioc, next);
    ioc.run();
    BOOST_TEST(completed == chain);
    BOOST_TEST(written_in_call == chain);
    BOOST_TEST(w.stats().fsyncs >= std::uint64_t(chain));
}

// The caller's thread writes, but never creates, renames, allocates or syncs a file: a
// rotation that needs a new segment is left to the writer thread.
BOOST_AUTO_TEST_CASE(caller_thread_only_writes_and_rotation_falls_back_to_the_writer_thread) {
    auto disk = std::make_shared<test::sim_disk>();
    const auto caller = std::this_thread::get_id();
    std::mutex m;
    std::set<test::sim_op> on_caller;
    disk->set_fault_hook([&](const test::sim_event& e) -> std::error_code {
        if (std::this_thread::get_id() == caller) {
            std::lock_guard lk(m);
            on_caller.insert(e.op);
        }
        return {};
    });
    auto cfg = sim_config(disk, fsync_policy::batch(std::chrono::milliseconds(1)));
    cfg.max_segment_size = 64u << 10;
    cfg.max_record_size = 8u << 10;
    auto w = wal::open(cfg).log;
    {
        std::lock_guard lk(m);
        on_caller.clear();  // what open did
    }
    const std::string value(4000, 'v');
    for (int i = 0; i < 100; ++i) BOOST_TEST(w.append(record::put("k", value)).lsn == lsn_t(i + 1));
    BOOST_TEST(w.stats().segments_rolled >= 5u);
    w.close();
    disk->set_fault_hook({});
    BOOST_TEST(on_caller.count(test::sim_op::write) == 1u);  // some appends were speculative
    for (auto op : on_caller) BOOST_TEST((op == test::sim_op::write), "caller did op " << int(op));
    auto reopened = wal::open(sim_config(disk)).log;
    auto r = reopened.make_reader();
    lsn_t n = 0;
    while (auto e = r.try_next()) BOOST_TEST(e->lsn() == ++n);
    BOOST_TEST(n == 100u);
}

// Appends from several threads at once, some written speculatively, some queued: each
// handler sees its own LSN, LSNs are unique and dense, and one thread's appends get
// increasing LSNs in the order it initiated them.
BOOST_AUTO_TEST_CASE(concurrent_initiators_get_dense_lsns_in_their_own_order) {
    auto disk = std::make_shared<test::sim_disk>();
    auto w = wal::open(sim_config(disk)).log;
    constexpr int threads = 4, each = 300;
    std::vector<std::vector<lsn_t>> got(threads);
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
        ts.emplace_back([&, t] {
            for (int i = 0; i < each; ++i) got[t].push_back(w.append(rec).lsn);
        });
    for (auto& t : ts) t.join();
    std::set<lsn_t> all;
    for (auto& g : got) {
        for (std::size_t i = 1; i < g.size(); ++i) BOOST_TEST(g[i - 1] < g[i]);
        all.insert(g.begin(), g.end());
    }
    BOOST_TEST(all.size() == std::size_t(threads * each));
    BOOST_TEST(*all.begin() == 1u);
    BOOST_TEST(*all.rbegin() == lsn_t(threads * each));
    BOOST_TEST(w.written_lsn() == lsn_t(threads * each));
}

BOOST_AUTO_TEST_SUITE_END()
