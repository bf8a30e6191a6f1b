// Tailing: async_next waiting at the end of the log, woken by appends, ended by close,
// cancelled through its cancellation slot, with each kind of completion token; and the same
// for a directory reader's poll timer.
#include <noriwal/error.hpp>
#include <noriwal/reader.hpp>

#include "read/engine_harness.hpp"
#include "support/printing.hpp"
#include "support/sim_disk.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>

#include <future>
#include <optional>
#include <thread>

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
