// Readers (include/noriwal/reader.hpp): how fast a reader scans a log from the page cache, how
// much memory it holds while doing so, and how soon a tailing reader sees a new record.
#include "bench.hpp"

#include <noriwal/error.hpp>
#include <noriwal/reader.hpp>
#include <noriwal/wal.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>
#include <atomic>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace noriwal::bench {
namespace {

// Resident set size of this process, in bytes (/proc/self/statm: pages).
std::uint64_t rss_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::uint64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

wal_config read_config(const context& ctx) {
    wal_config cfg;
    cfg.dir = ctx.dir() / "wal";
    cfg.fsync = fsync_policy::os();
    cfg.prealloc = preallocation::none;
    // Several segments, so that a scan crosses segment boundaries and releases mappings.
    cfg.max_segment_size = 32u << 20;
    cfg.max_record_size = 1u << 20;
    return cfg;
}

// Fills the log with n records of `value_bytes` (key "key-<i>"), in batches: setup, untimed.
void fill(wal& w, std::uint64_t n, std::uint64_t value_bytes) {
    const std::string value(value_bytes, 'v');
    std::vector<std::string> keys;
    std::vector<record> batch;
    constexpr std::uint64_t per_batch = 256;
    for (std::uint64_t i = 0; i < n; i += per_batch) {
        const std::uint64_t m = std::min(per_batch, n - i);
        keys.clear();
        batch.clear();
        for (std::uint64_t k = 0; k < m; ++k) keys.push_back("key-" + std::to_string(i + k));
        for (std::uint64_t k = 0; k < m; ++k) batch.push_back(record::put(keys[k], value));
        w.append_batch(batch);
    }
}

// The figures of a scan that read `count` records holding `bytes` of keys and values; a scan
// that did not read all `n` records is an error, not a figure.
void scanned(result& r, const std::string& workload, std::uint64_t n, std::uint64_t count,
             std::uint64_t value_bytes, std::uint64_t bytes) {
    if (count != n)
        throw std::runtime_error(workload + ": read " + std::to_string(count) + " records, expected " +
                                 std::to_string(n));
    keep(bytes);
    r.records = n;
    r.value_bytes = value_bytes;
    r.bytes = bytes;
}

// A sequential scan of the whole log by a new reader, the log's bytes in the page cache
// (they were just written): decode, CRC-check and return every record as a zero-copy view.
// The reader maps each segment as it reaches it (the page faults of mapping are in the time)
// and releases it when it moves on; the resident set is sampled during the scan to show that
// what a reader holds does not grow with the log.
result scan_1k(context& ctx) {
    const std::uint64_t n = ctx.records(200'000);
    const std::uint64_t value_bytes = ctx.value_bytes(1024);
    auto w = wal::open(read_config(ctx)).log;
    fill(w, n, value_bytes);

    const std::uint64_t rss_before = rss_bytes();
    std::uint64_t rss_max = rss_before;
    std::uint64_t bytes = 0;
    std::uint64_t count = 0;
    result r;
    {
        auto rd = w.make_reader();
        const stopwatch total;
        while (auto e = rd.try_next()) {
            bytes += e->key().size() + e->value().size();
            if ((++count & 8191) == 0) rss_max = std::max(rss_max, rss_bytes());
        }
        r.seconds = total.seconds();
    }
    scanned(r, "scan.1k", n, count, value_bytes, bytes);
    r.extra.emplace_back("data_mib", static_cast<double>(bytes) / (1 << 20));
    r.extra.emplace_back("segment_mib", static_cast<double>(read_config(ctx).max_segment_size) / (1 << 20));
    r.extra.emplace_back("rss_growth_mib", static_cast<double>(rss_max - rss_before) / (1 << 20));
    r.note = "rss_growth_mib: the most the resident set grew during the scan (one segment mapped at a time)";
    return r;
}

// The same scan as scan.1k, but by a coroutine that co_awaits async_next for each record on
// a single-threaded io_context: what replaying a log asynchronously costs per record (each
// record is posted to the coroutine's context, none goes through another thread).
result scan_1k_async(context& ctx) {
    const std::uint64_t n = ctx.records(200'000);
    const std::uint64_t value_bytes = ctx.value_bytes(1024);
    auto w = wal::open(read_config(ctx)).log;
    fill(w, n, value_bytes);

    boost::asio::io_context ioc;
    std::uint64_t bytes = 0;
    std::uint64_t count = 0;
    result r;
    auto rd = w.make_reader();
    const stopwatch total;
    boost::asio::co_spawn(
        ioc,
        [&]() -> boost::asio::awaitable<void> {
            while (count < n) {
                entry e = co_await rd.async_next(boost::asio::use_awaitable);
                bytes += e.key().size() + e.value().size();
                ++count;
            }
        },
        boost::asio::detached);
    ioc.run();
    r.seconds = total.seconds();
    scanned(r, "scan.1k.async", n, count, value_bytes, bytes);
    return r;
}

// append -> a reader waiting in async_next completes: the time from just before the append is
// initiated until the reader's handler runs, one record at a time (the next append starts
// after the reader saw the previous one). os policy: no fsync in the path.
result tail_latency(context& ctx) {
    const std::uint64_t n = ctx.records(20'000);
    const std::uint64_t value_bytes = ctx.value_bytes(100);
    boost::asio::io_context ioc;
    auto guard = boost::asio::make_work_guard(ioc);
    auto w = wal::open(ioc.get_executor(), read_config(ctx)).log;
    std::thread runner([&] { ioc.run(); });
    auto rd = w.make_reader();
    const std::string value(value_bytes, 'v');

    std::atomic<std::uint64_t> seen{0};
    std::atomic<std::int64_t> woke_ns{0};
    std::function<void()> wait_next;
    wait_next = [&] {
        rd.async_next([&](boost::system::error_code ec, entry) {
            if (ec) return;
            woke_ns.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                          std::memory_order_relaxed);
            seen.fetch_add(1, std::memory_order_release);
            wait_next();
        });
    };
    boost::asio::post(ioc, [&] { wait_next(); });

    result r;
    r.latencies.reserve(n);
    const stopwatch total;
    for (std::uint64_t i = 1; i <= n; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        w.async_append(record::put("k", value), [](boost::system::error_code, position) {});
        while (seen.load(std::memory_order_acquire) < i) {
        }
        r.latencies.add(std::chrono::nanoseconds(woke_ns.load(std::memory_order_relaxed) -
                                                 t0.time_since_epoch().count()));
    }
    r.seconds = total.seconds();
    rd.cancel();
    w.close();
    guard.reset();
    runner.join();
    r.records = n;
    r.value_bytes = value_bytes;
    r.note = "reader handler on its own io_context thread; appends from this thread, one at a time";
    return r;
}

const registration regs[] = {
    registration{{"scan.1k", "sequential scan of 200 000 x 1 KiB records by a new reader, page cache warm",
                  scan_1k, "raw.memcpy_crc", rate::mb_per_s}},
    registration{{"scan.1k.async",
                  "scan.1k by a coroutine co_awaiting async_next per record on one io_context thread",
                  scan_1k_async, "scan.1k", rate::mb_per_s}},
    registration{{"tail.latency",
                  "append -> a tailing reader's async_next completes (p50/p99), os policy",
                  tail_latency,
                  {}}},
};

}  // namespace
}  // namespace noriwal::bench
