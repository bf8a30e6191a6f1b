// Default completion tokens and executors, the Asio way: `co_await log.async_append(r)` without
// a token, rebind_executor, asio::use_awaitable_t<>::as_default_on and asio::as_tuple defaults,
// for the wal and the reader. The static_asserts are the compile test; the cases check that
// what compiles also does the right thing.
#include <noriwal/reader.hpp>
#include <noriwal/wal.hpp>

#include "api/api_support.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <pthread.h>

#include <atomic>
#include <exception>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>

namespace asio = boost::asio;
using namespace noriwal;
using boost::system::error_code;

namespace {

using awaitable_wal = asio::use_awaitable_t<>::as_default_on_t<wal>;
using tuple_wal = asio::as_tuple_t<asio::use_awaitable_t<>>::as_default_on_t<wal>;
using awaitable_reader = asio::use_awaitable_t<>::as_default_on_t<reader>;
using tuple_reader = asio::as_tuple_t<asio::use_awaitable_t<>>::as_default_on_t<reader>;

// rebind_executor follows Asio's convention.
static_assert(std::is_same_v<wal::rebind_executor<asio::io_context::executor_type>::other,
                             basic_wal<asio::io_context::executor_type>>);
static_assert(std::is_same_v<awaitable_wal::executor_type,
                             asio::use_awaitable_t<>::executor_with_default<asio::any_io_executor>>);
static_assert(std::is_same_v<reader::rebind_executor<asio::io_context::executor_type>::other,
                             basic_reader<asio::io_context::executor_type>>);
// A basic_wal is a wal: functions taking a wal& take it.
static_assert(std::is_base_of_v<wal, awaitable_wal>);
static_assert(std::is_base_of_v<reader, awaitable_reader>);
// The default token: the executor's, or asio::deferred when it names none.
static_assert(std::is_same_v<decltype(std::declval<wal&>().async_append(std::declval<const record&>())),
                             decltype(std::declval<wal&>().async_append(std::declval<const record&>(),
                                                                        asio::deferred))>);
static_assert(
    std::is_same_v<decltype(std::declval<awaitable_wal&>().async_append(std::declval<const record&>())),
                   asio::awaitable<position>>);
static_assert(std::is_same_v<decltype(std::declval<tuple_wal&>().async_sync()),
                             asio::awaitable<std::tuple<error_code>>>);
static_assert(
    std::is_same_v<decltype(std::declval<awaitable_wal&>().async_reset_to(lsn_t{1})), asio::awaitable<void>>);
static_assert(
    std::is_same_v<decltype(std::declval<awaitable_reader&>().async_next()), asio::awaitable<entry>>);
static_assert(std::is_same_v<decltype(std::declval<tuple_reader&>().async_next()),
                             asio::awaitable<std::tuple<error_code, entry>>>);

/// Runs `co` on `io` to its end, rethrowing what it threw.
void run(asio::io_context& io, asio::awaitable<void> co) {
    std::exception_ptr failed;
    bool finished = false;
    asio::co_spawn(io, std::move(co), [&](std::exception_ptr e) {
        failed = e;
        finished = true;
    });
    io.run();
    BOOST_TEST_REQUIRE(finished);
    if (failed) std::rethrow_exception(failed);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tokens)

BOOST_AUTO_TEST_CASE(co_await_without_a_token_appends_syncs_and_closes) {
    asio::io_context io;
    run(io, [&]() -> asio::awaitable<void> {
        auto [log, recovery] = co_await wal::async_open(io.get_executor(), test::api_config());
        BOOST_TEST(recovery.valid_records == 0u);
        const position p1 = co_await log.async_append(record::put("k", "v1"));
        const position p2 = co_await log.async_append(record::put("k", "v2"), durability::always());
        const record both[] = {record::put("a", "1"), record::put("b", "2")};
        const auto batch = co_await log.async_append_batch(both);
        co_await log.async_flush();
        co_await log.async_sync();
        BOOST_TEST(p1.lsn == 1u);
        BOOST_TEST(p2.lsn == 2u);
        BOOST_TEST(batch.size() == 2u);
        BOOST_TEST(log.durable_lsn() == 4u);
        co_await log.async_truncate_after(2);  // the batch (3, 4) goes whole
        BOOST_TEST(log.written_lsn() == 2u);
        BOOST_TEST(co_await log.async_delete_segments_before(position{.lsn = 1}) == 0u);
        co_await log.async_reset_to(100);
        BOOST_TEST(log.current_position().lsn == 100u);
        co_await log.async_close();
        BOOST_TEST(!log.is_open());
    }());
}

BOOST_AUTO_TEST_CASE(a_deferred_default_launches_with_a_callback) {
    asio::io_context io;
    auto log = wal::open(io.get_executor(), test::api_config()).log;
    position got{};
    auto op = log.async_append(record::put("k", "v"));  // nothing is appended yet
    BOOST_TEST(log.written_lsn() == 0u);
    std::move(op)([&](error_code ec, position p) {
        BOOST_TEST(!ec);
        got = p;
    });
    io.run();
    BOOST_TEST(got.lsn == 1u);
    log.close();
}

BOOST_AUTO_TEST_CASE(use_awaitable_as_default_on_a_wal_and_a_reader) {
    asio::io_context io;
    auto log = wal::open(io.get_executor(), test::api_config()).log;
    run(io, [&]() -> asio::awaitable<void> {
        auto alog = asio::use_awaitable_t<>::as_default_on(log);  // shares the log
        BOOST_TEST((alog == log));
        BOOST_TEST((alog.get_executor() == log.get_executor()));
        const position p = co_await alog.async_append(record::put("k", "v"));
        BOOST_TEST(p.lsn == 1u);
        auto r = asio::use_awaitable_t<>::as_default_on(log.make_reader());
        const entry e = co_await r.async_next();
        BOOST_TEST(e.lsn() == 1u);
        BOOST_TEST(std::string(e.value()) == "v");
        co_await alog.async_close();
        // A closed wal: use_awaitable throws the error.
        bool threw = false;
        try {
            co_await alog.async_append(record::put("k", "late"));
        } catch (const boost::system::system_error& x) {
            threw = x.code() == errc::closed;
        }
        BOOST_TEST(threw);
    }());
}

BOOST_AUTO_TEST_CASE(as_tuple_defaults_return_the_error_instead_of_throwing) {
    asio::io_context io;
    auto log = wal::open(io.get_executor(), test::api_config()).log;
    run(io, [&]() -> asio::awaitable<void> {
        tuple_wal tlog(log);
        auto [ec, p] = co_await tlog.async_append(record::put("k", "v"));
        BOOST_TEST(!ec);
        BOOST_TEST(p.lsn == 1u);
        tuple_reader r(log.make_reader());
        auto [rec, e] = co_await r.async_next();
        BOOST_TEST(!rec);
        BOOST_TEST(e.lsn() == 1u);
        auto [close_ec] = co_await tlog.async_close();
        BOOST_TEST(!close_ec);
        auto [late_ec, late] = co_await tlog.async_append(record::put("k", "late"));
        BOOST_TEST((late_ec == errc::closed));
        BOOST_TEST(late.lsn == 0u);
        auto [end_ec, none] = co_await r.async_next();
        BOOST_TEST((end_ec == errc::closed));
        BOOST_TEST(none.lsn() == 0u);
    }());
}

BOOST_AUTO_TEST_CASE(a_rebound_executor_runs_handlers_that_have_none) {
    // Handlers without an executor of their own run on the rebound executor (here a strand
    // of a pool), those with one on their own.
    asio::thread_pool pool(2);
    auto log = wal::open(pool.get_executor(), test::api_config()).log;
    using strand = asio::strand<asio::any_io_executor>;
    wal::rebind_executor<strand>::other slog(log);
    static_assert(std::is_same_v<decltype(slog.get_executor()), strand>);
    const strand s = slog.get_executor();
    std::atomic<int> on_strand{0}, done{0};
    constexpr int n = 50;
    for (int i = 0; i < n; ++i) {
        slog.async_append(record::put("k", "v"), [&, s](error_code ec, position) {
            if (!ec && s.running_in_this_thread()) ++on_strand;
            ++done;
        });
    }
    slog.async_sync([&, s](error_code ec) {
        if (!ec && s.running_in_this_thread()) ++on_strand;
        ++done;
    });
    // A handler bound to an executor keeps it.
    asio::io_context other;
    bool ran_on_other = false;
    slog.async_flush(asio::bind_executor(other.get_executor(), [&](error_code) { ran_on_other = true; }));
    BOOST_TEST_REQUIRE(test::eventually([&] { return done == n + 1; }));
    BOOST_TEST(on_strand == n + 1);
    BOOST_TEST(!ran_on_other);
    other.run();
    BOOST_TEST(ran_on_other);
    // Back to a wal: the same log.
    wal back = slog;
    BOOST_TEST((back == log));
    log.close();
    pool.join();
}

BOOST_AUTO_TEST_CASE(a_reader_rebound_to_a_strand_runs_its_handlers_there) {
    asio::thread_pool pool(2);
    auto log = wal::open(pool.get_executor(), test::api_config()).log;
    log.append(record::put("k", "v"));
    using strand = asio::strand<asio::any_io_executor>;
    reader::rebind_executor<strand>::other r(log.make_reader());
    const strand s = r.get_executor();
    std::atomic<bool> on_strand{false}, done{false};
    r.async_next([&, s](error_code ec, const entry& e) {
        on_strand = !ec && e.lsn() == 1u && s.running_in_this_thread();
        done = true;
    });
    BOOST_TEST_REQUIRE(test::eventually([&] { return done.load(); }));
    BOOST_TEST(on_strand.load());
    log.close();
    pool.join();
}

BOOST_AUTO_TEST_CASE(async_open_and_open_give_the_same_pair) {
    asio::io_context io;
    auto cfg = test::api_config();
    {
        auto [log, recovery] = wal::open(cfg);
        log.append(record::put("k", "v"));
        log.close();
        BOOST_TEST(recovery.valid_records == 0u);
    }
    run(io, [&]() -> asio::awaitable<void> {
        // The tuple a coroutine gets converts to what open returns.
        wal::opened o = co_await wal::async_open(io.get_executor(), cfg);
        BOOST_TEST(o.log.is_open());
        BOOST_TEST(o.recovery.valid_records == 1u);
        co_await o.log.async_close();
    }());
}

BOOST_AUTO_TEST_CASE(async_open_recovers_on_the_wals_spare_thread) {
    // wal.hpp and doc/api.md say so: recovery (which lists and reads the log) runs on the
    // spare thread of the new wal, neither on the executor given to open nor on the writer.
    auto cfg = test::api_config();
    auto disk = std::static_pointer_cast<test::sim_disk>(cfg.fs);
    std::mutex m;
    std::set<std::string> recovering;
    disk->set_after_hook([&](const test::sim_event& e, std::error_code) {
        if (e.op != test::sim_op::list && e.op != test::sim_op::lock) return;
        char name[32] = {};
        pthread_getname_np(pthread_self(), name, sizeof name);
        std::lock_guard lk(m);
        recovering.insert(name);
    });
    asio::io_context io;
    run(io, [&]() -> asio::awaitable<void> {
        auto [log, recovery] = co_await wal::async_open(io.get_executor(), cfg);
        co_await log.async_close();
    }());
    disk->set_after_hook({});
    BOOST_TEST(recovering == std::set<std::string>{"noriwal-spare"});
}

BOOST_AUTO_TEST_SUITE_END()
