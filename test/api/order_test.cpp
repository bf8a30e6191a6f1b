// The order in which append handlers run (wal.hpp, "Order"; doc/api.md): the handlers of
// appends that wait for the same event reach their executors in LSN order, so on an executor
// that runs functions in order (an io_context run by one thread, a strand) they run in LSN
// order. Appends are initiated from several threads at once, so that they queue and are
// written in groups.
#include <noriwal/wal.hpp>

#include "api/api_support.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace noriwal;
using boost::system::error_code;

namespace {

constexpr int threads = 3;
constexpr int per_thread = 400;

/// LSNs in the order their handlers ran, split by what the append waited for.
struct completions {
    std::vector<lsn_t> as_configured, always;
    int failed = 0;
};

/// Appends from `threads` threads at once; every `sync_every`-th append of a thread asks for
/// durability::always() (0: none). `bind` gives each handler the executor it runs on.
template <class Bind>
void append_concurrently(wal& log, int sync_every, completions& out, Bind bind) {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                const bool sync = sync_every != 0 && i % sync_every == 0;
                auto& into = sync ? out.always : out.as_configured;
                log.async_append(record::put("k", "v"),
                                 sync ? durability::always() : durability::as_configured(),
                                 bind([&out, &into](error_code ec, position p) {
                                     if (ec) {
                                         ++out.failed;
                                     } else {
                                         into.push_back(p.lsn);
                                     }
                                 }));
            }
            (void)t;
        });
    }
    for (auto& t : ts) t.join();
}

bool increasing(const std::vector<lsn_t>& v) {
    return std::adjacent_find(v.begin(), v.end(), std::greater_equal<>()) == v.end();
}

struct policy_case {
    const char* name;
    fsync_policy policy;
    int sync_every;
};

std::ostream& operator<<(std::ostream& os, const policy_case& c) { return os << c.name; }

const policy_case cases[] = {
    {"always", fsync_policy::always(), 0},
    {"batch", fsync_policy::batch(std::chrono::milliseconds(1)), 0},
    {"os", fsync_policy::os(), 0},
    {"os_with_durable_appends", fsync_policy::os(), 5},
    {"batch_with_durable_appends", fsync_policy::batch(std::chrono::milliseconds(1)), 7},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(order)

BOOST_DATA_TEST_CASE(one_thread_io_context_runs_handlers_in_lsn_order, cases, c) {
    asio::io_context io;
    auto work = asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    auto log = wal::open(io.get_executor(), test::api_config(c.policy)).log;
    completions got;
    append_concurrently(log, c.sync_every, got, [](auto h) { return h; });
    log.close();  // every append completed before close does
    work.reset();
    runner.join();
    BOOST_TEST(got.failed == 0);
    BOOST_TEST(got.as_configured.size() + got.always.size() == std::size_t(threads * per_thread));
    BOOST_TEST(increasing(got.as_configured));
    BOOST_TEST(increasing(got.always));
}

BOOST_AUTO_TEST_CASE(a_strand_of_a_pool_runs_handlers_in_lsn_order) {
    asio::thread_pool pool(2);
    auto log =
        wal::open(pool.get_executor(), test::api_config(fsync_policy::batch(std::chrono::milliseconds(1))))
            .log;
    auto strand = asio::make_strand(pool.get_executor());
    completions got;
    append_concurrently(log, 0, got, [&](auto h) { return asio::bind_executor(strand, std::move(h)); });
    log.close();
    pool.join();
    BOOST_TEST(got.failed == 0);
    BOOST_TEST(got.as_configured.size() == std::size_t(threads * per_thread));
    BOOST_TEST(increasing(got.as_configured));
}

BOOST_AUTO_TEST_SUITE_END()
