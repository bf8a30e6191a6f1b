// Tailing: async_next waiting at the end of the log, woken by appends, ended by close,
// cancelled through its cancellation slot, with each kind of completion token; and the same
// for a directory reader's poll timer.
#include <noriwal/error.hpp>
#include <noriwal/reader.hpp>

#include "read/engine_harness.hpp"
#include "support/printing.hpp"
#include "support/sim_disk.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>

#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace noriwal;
using noriwal::test::engine_log;
using noriwal::test::str;
namespace asio = boost::asio;

namespace {

wal_config sim_config() {
    wal_config cfg;
    cfg.dir = "/data/log";
    cfg.fs = std::make_shared<noriwal::test::sim_disk>();
    cfg.max_segment_size = 4096;
    cfg.max_record_size = 4000;
    cfg.prealloc = preallocation::none;
    return cfg;
}

struct result {
    boost::system::error_code ec;
    entry e;
};

// A handler that stores its result.
auto store(std::optional<result>& out) {
    return [&out](boost::system::error_code ec, entry e) { out = result{ec, std::move(e)}; };
}

// Runs the context until `done` holds (each run_one blocks until a handler ran: no timing).
template <class Pred>
void run_until(asio::io_context& ioc, Pred done) {
    while (!done()) {
        ioc.restart();
        ioc.run_one();
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tailing)

BOOST_AUTO_TEST_CASE(async_next_is_never_completed_inside_the_initiating_function) {
    engine_log log(sim_config());
    log.put("a", "1");
    asio::io_context ioc;
    auto r = log.make_reader({}, ioc.get_executor());
    std::optional<result> got;
    r.async_next(store(got));
    BOOST_TEST(!got.has_value());
    ioc.poll();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(!got->ec);
    BOOST_TEST(str(got->e.key()) == "a");
}

// A handler with an executor of its own gets a record that is already there by a post to that
// executor: not inside the initiating function, even when that is called on the executor's own
// thread, and without a turn through the reader's executor (never run here).
BOOST_AUTO_TEST_CASE(a_record_already_there_is_posted_straight_to_the_handlers_executor) {
    engine_log log(sim_config());
    log.put("a", "1");
    log.put("b", "2");
    asio::io_context reader_ctx;
    asio::io_context handler_ctx;
    auto r = log.make_reader({}, reader_ctx.get_executor());
    std::vector<std::string> keys;
    bool initiated = false;
    bool inline_call = false;
    bool off_thread = false;
    auto handler = [&](boost::system::error_code ec, entry e) {
        BOOST_TEST(!ec);
        inline_call = inline_call || !initiated;
        off_thread = off_thread || !handler_ctx.get_executor().running_in_this_thread();
        keys.push_back(str(e.key()));
    };
    asio::post(handler_ctx, [&] {
        r.async_next(asio::bind_executor(handler_ctx, handler));
        initiated = true;
    });
    while (handler_ctx.poll() > 0) {
    }
    BOOST_TEST(keys == std::vector<std::string>{"a"});
    // The same through a strand of the context.
    initiated = false;
    handler_ctx.restart();  // it ran out of work
    auto strand = asio::make_strand(handler_ctx);
    asio::post(strand, [&] {
        r.async_next(asio::bind_executor(strand, handler));
        initiated = true;
    });
    while (handler_ctx.poll() > 0) {
    }
    BOOST_TEST(keys == (std::vector<std::string>{"a", "b"}));
    BOOST_TEST(!inline_call);
    BOOST_TEST(!off_thread);
    BOOST_TEST(reader_ctx.poll() == 0u);  // nothing went through the reader's executor
}

// A coroutine replaying a backlog: each co_await resumes on the coroutine's own context.
BOOST_AUTO_TEST_CASE(a_coroutine_reads_a_backlog_on_its_own_context) {
    engine_log log(sim_config());
    for (int i = 0; i < 50; ++i) log.put("k" + std::to_string(i), "v");
    asio::io_context reader_ctx;
    asio::io_context ioc;
    auto r = log.make_reader({}, reader_ctx.get_executor());
    std::vector<std::string> keys;
    bool finished = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            for (int i = 0; i < 50; ++i) {
                entry e = co_await r.async_next(asio::use_awaitable);
                keys.push_back(str(e.key()));
            }
            finished = true;
        },
        asio::detached);
    while (ioc.poll() > 0) {
    }
    BOOST_TEST_REQUIRE(finished);
    BOOST_TEST(keys.size() == 50u);
    for (std::size_t i = 0; i < keys.size(); ++i) BOOST_TEST(keys[i] == "k" + std::to_string(i));
    BOOST_TEST(reader_ctx.poll() == 0u);
}

BOOST_AUTO_TEST_CASE(waiting_async_next_wakes_on_append_and_ends_on_close) {
    engine_log log(sim_config());
    asio::io_context ioc;
    auto r = log.make_reader({}, ioc.get_executor());
    std::optional<result> got;
    r.async_next(store(got));
    ioc.poll();
    BOOST_TEST(!got.has_value());  // nothing to read: it waits
    log.put("k", "v");
    run_until(ioc, [&] { return got.has_value(); });
    BOOST_TEST(!got->ec);
    BOOST_TEST(got->e.lsn() == 1u);

    got.reset();
    r.async_next(store(got));
    ioc.poll();
    BOOST_TEST(!got.has_value());
    log.close();
    run_until(ioc, [&] { return got.has_value(); });
    BOOST_TEST(got->ec == errc::closed);
}

BOOST_AUTO_TEST_CASE(durable_reader_is_woken_by_sync_not_by_write) {
    engine_log log(sim_config());
    asio::io_context ioc;
    reader_options o;
    o.visible = visibility::durable;
    auto r = log.make_reader(o, ioc.get_executor());
    std::optional<result> got;
    r.async_next(store(got));
    log.put("k", "v");
    ioc.poll();
    BOOST_TEST(!got.has_value());
    log.sync();
    run_until(ioc, [&] { return got.has_value(); });
    BOOST_TEST(got->e.lsn() == 1u);
}

BOOST_AUTO_TEST_CASE(cancellation_aborts_a_waiting_async_next) {
    engine_log log(sim_config());
    asio::io_context ioc;
    auto r = log.make_reader({}, ioc.get_executor());
    asio::cancellation_signal sig;
    std::optional<result> got;
    r.async_next(asio::bind_cancellation_slot(sig.slot(), store(got)));
    ioc.poll();
    BOOST_TEST(!got.has_value());
    sig.emit(asio::cancellation_type::terminal);
    run_until(ioc, [&] { return got.has_value(); });
    BOOST_TEST(got->ec == asio::error::operation_aborted);
    // The reader is where it was: the next record comes next.
    log.put("after", "x");
    got.reset();
    r.async_next(store(got));
    run_until(ioc, [&] { return got.has_value(); });
    BOOST_TEST(!got->ec);
    BOOST_TEST(got->e.lsn() == 1u);

    // reader::cancel and destroying the reader cancel as well.
    got.reset();
    r.async_next(store(got));
    ioc.poll();
    r.cancel();
    run_until(ioc, [&] { return got.has_value(); });
    BOOST_TEST(got->ec == asio::error::operation_aborted);
    got.reset();
    {
        auto r2 = log.make_reader({}, ioc.get_executor());
        BOOST_TEST(!r2.seek_end());
        r2.async_next(store(got));
        ioc.poll();
    }
    run_until(ioc, [&] { return got.has_value(); });
    BOOST_TEST(got->ec == asio::error::operation_aborted);
}

BOOST_AUTO_TEST_CASE(outstanding_work_keeps_run_going_until_the_handler_ran) {
    engine_log log(sim_config());
    asio::io_context ioc;
    auto r = log.make_reader({}, ioc.get_executor());
    std::optional<result> got;
    r.async_next(store(got));
    std::thread runner([&] { ioc.run(); });  // returns only once the handler has run
    log.put("k", "v");
    runner.join();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(got->e.lsn() == 1u);
}

BOOST_AUTO_TEST_CASE(every_completion_token) {
    engine_log log(sim_config());
    asio::io_context ioc;
    auto guard = asio::make_work_guard(ioc);
    std::thread runner([&] { ioc.run(); });
    auto r = log.make_reader({}, ioc.get_executor());

    // use_future
    auto fut = r.async_next(asio::use_future);
    log.put("f", "1");
    BOOST_TEST(fut.get().lsn() == 1u);

    // deferred: nothing starts until the operation is launched
    auto op = r.async_next(asio::deferred);
    log.put("d", "2");
    std::promise<lsn_t> p;
    std::move(op)([&](boost::system::error_code ec, entry e) { p.set_value(ec ? 0 : e.lsn()); });
    BOOST_TEST(p.get_future().get() == 2u);

    // use_awaitable: a coroutine tails 50 records appended by this thread
    std::promise<lsn_t> done;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            lsn_t expect = 3;
            for (int i = 0; i < 50; ++i) {
                entry e = co_await r.async_next(asio::use_awaitable);
                if (e.lsn() != expect || str(e.key()) != "c" + std::to_string(expect)) break;
                ++expect;
            }
            done.set_value(expect);
        },
        asio::detached);
    for (int i = 3; i < 53; ++i) log.put("c" + std::to_string(i), "v");
    BOOST_TEST(done.get_future().get() == 53u);

    // A closed log fails the awaiting coroutine with errc::closed (thrown).
    std::promise<bool> threw;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            try {
                co_await r.async_next(asio::use_awaitable);
                threw.set_value(false);
            } catch (const boost::system::system_error& e) {
                threw.set_value(e.code() == errc::closed);
            }
        },
        asio::detached);
    log.close();
    BOOST_TEST(threw.get_future().get());
    guard.reset();
    runner.join();
}

BOOST_AUTO_TEST_CASE(directory_reader_tails_with_its_poll_timer) {
    auto fs = std::make_shared<noriwal::test::sim_disk>();
    auto cfg = sim_config();
    cfg.fs = fs;
    engine_log log(cfg);
    asio::io_context ioc;
    reader_options o;
    o.fs = fs;
    o.poll_interval = std::chrono::milliseconds(1);
    auto r = reader::open_directory(ioc.get_executor(), "/data/log", o);
    std::optional<result> got;
    r.async_next(store(got));
    ioc.poll();
    BOOST_TEST(!got.has_value());
    log.put("k", "v");
    run_until(ioc, [&] { return got.has_value(); });
    BOOST_TEST(!got->ec);
    BOOST_TEST(got->e.lsn() == 1u);
    // Cancelling the poll.
    asio::cancellation_signal sig;
    got.reset();
    r.async_next(asio::bind_cancellation_slot(sig.slot(), store(got)));
    ioc.poll();
    sig.emit(asio::cancellation_type::terminal);
    run_until(ioc, [&] { return got.has_value(); });
    BOOST_TEST(got->ec == asio::error::operation_aborted);
}

BOOST_AUTO_TEST_CASE(empty_reader_completes_with_closed) {
    reader r;
    auto fut = r.async_next(asio::use_future);
    try {
        fut.get();
        BOOST_FAIL("no error");
    } catch (const boost::system::system_error& e) {
        BOOST_TEST(e.code() == errc::closed);
    }
    std::error_code ec;
    BOOST_TEST(!r.try_next(ec).has_value());
    BOOST_TEST(ec == errc::closed);
}

BOOST_AUTO_TEST_SUITE_END()
