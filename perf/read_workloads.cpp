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
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
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
    // The default preallocation (zero_fill): the page cache then holds the segment files in
    // the 256 KiB folios of their zero-filling writes. A file grown by appends alone
    // (preallocation::none) sits in small folios and maps slower (doc/performance.md, "Where
    // a scan and a recovery spend their time").
    // Several segments, so that a scan crosses segment boundaries and releases mappings.
    cfg.max_segment_size = 32u << 20;
    cfg.max_record_size = 1u << 20;
    prealloc_from_env(cfg);
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
// that did not read all `n` records is an error, not a figure. Its MB/s are those of the log
// bytes it walked (`log_bytes`: framing included, as raw.mmap_crc.1gib counts every byte).
void scanned(result& r, const std::string& workload, std::uint64_t n, std::uint64_t count,
             std::uint64_t value_bytes, std::uint64_t bytes, std::uint64_t log_bytes) {
    if (count != n)
        throw std::runtime_error(workload + ": read " + std::to_string(count) + " records, expected " +
                                 std::to_string(n));
    keep(bytes);
    r.records = n;
    r.value_bytes = value_bytes;
    r.bytes = log_bytes;
}

// A sequential scan of the whole log by a new reader, the log's bytes in the page cache
// (they were just written, then synced so that no writeback runs during the scan): decode,
// CRC-check and return every record as a zero-copy view. The reader maps each segment as it
// reaches it (the page faults of mapping are in the time) and releases it when it moves on;
// the resident set is sampled during the first scan to show that what a reader holds does
// not grow with the log. One scan of 200 000 records takes about 40 ms: scans by new readers repeat
// until stable_seconds have passed (one scan when --records is given), as the raw baselines
// do; `records` and the bytes count every scan (`scans`).
result scan_1k(context& ctx) {
    const std::uint64_t n = ctx.records(200'000);
    const std::uint64_t value_bytes = ctx.value_bytes(1024);
    auto w = wal::open(read_config(ctx)).log;
    fill(w, n, value_bytes);
    w.sync();
    wait_for_spare(w);
    const std::uint64_t log_bytes = w.stats().bytes;

    const std::uint64_t rss_before = rss_bytes();
    std::uint64_t rss_max = rss_before;
    std::uint64_t bytes = 0;
    std::uint64_t scans = 0;
    result r;
    r.latencies.reserve(64);
    const timed_part total;
    do {
        const stopwatch op;
        auto rd = w.make_reader();
        std::uint64_t count = 0;
        while (auto e = rd.try_next()) {
            bytes += e->key().size() + e->value().size();
            // The first scan samples the resident set (a read of /proc, 2 % of a scan's time);
            // the others only read.
            if ((++count & 8191) == 0 && scans == 0) rss_max = std::max(rss_max, rss_bytes());
        }
        r.latencies.add(op.elapsed());
        if (count != n)
            throw std::runtime_error("scan.1k: read " + std::to_string(count) + " records, expected " +
                                     std::to_string(n));
        ++scans;
    } while (!ctx.records_fixed() && total.seconds() < stable_seconds);
    total.stop(r);
    scanned(r, "scan.1k", n * scans, n * scans, value_bytes, bytes, log_bytes * scans);
    r.extra.emplace_back("scans", static_cast<double>(scans));
    r.extra.emplace_back("data_mib", static_cast<double>(bytes / scans) / (1 << 20));
    r.extra.emplace_back("segment_mib", static_cast<double>(read_config(ctx).max_segment_size) / (1 << 20));
    r.extra.emplace_back("rss_growth_mib", static_cast<double>(rss_max - rss_before) / (1 << 20));
    same_files_floor(r, ctx, read_config(ctx).dir, log_bytes, static_cast<double>(log_bytes * scans));
    r.note =
        "rss_growth_mib: the most the resident set grew during a scan (one segment mapped at a time); "
        "same_files: raw.mmap_crc's loop over this log's own segment files";
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
    w.sync();
    wait_for_spare(w);
    const std::uint64_t log_bytes = w.stats().bytes;

    boost::asio::io_context ioc;
    std::uint64_t bytes = 0;
    std::uint64_t count = 0;
    result r;
    auto rd = w.make_reader();
    const timed_part total;
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
    total.stop(r);
    scanned(r, "scan.1k.async", n, count, value_bytes, bytes, log_bytes);
    return r;
}

// append -> a reader waiting in async_next completes: the time from just before the append is
// initiated until the reader's handler runs, one record at a time. The appending thread then
// sleeps on a condition variable until the reader's handler has seen the record (and waits in
// async_next again): no thread of the benchmark spins, so that on a small machine the wal's
// and the reader's threads get the cores, as they would under a service that blocks or awaits.
// Also reported: when the append's own completion handler ran (same io_context as the reader).
// os policy: no fsync in the path. NORIWAL_BENCH_TAIL_SPIN=1 makes the appending thread spin
// until the reader has the record instead (what this workload did before): on two cores its
// p99 then shows what a busy-waiting thread does to the wal's wake-ups (doc/performance.md).
result tail_latency(context& ctx) {
    const std::uint64_t n = ctx.records(20'000);
    const std::uint64_t value_bytes = ctx.value_bytes(100);
    boost::asio::io_context ioc;
    auto guard = boost::asio::make_work_guard(ioc);
    wal_config cfg = read_config(ctx);
    cfg.prealloc = preallocation::none;  // as before the scans' change: no zero-filling spare thread
    if (const auto spin = idle_spin_from_env()) cfg.idle_spin = *spin;  // the writer's polling
    auto w = wal::open(ioc.get_executor(), cfg).log;
    std::thread runner([&] { ioc.run(); });
    auto rd = w.make_reader();
    const std::string value(value_bytes, 'v');
    using clock = std::chrono::steady_clock;

    std::mutex m;
    std::condition_variable seen_cv;
    std::uint64_t seen = 0;                 // guarded by m
    std::uint64_t completions = 0;          // guarded by m
    clock::time_point woke, written;        // guarded by m
    boost::system::error_code failure;      // guarded by m: the reader or an append failed
    std::atomic<std::uint64_t> handled{0};  // both handlers of a record count, for the spinning variant
    const char* spin_env = std::getenv("NORIWAL_BENCH_TAIL_SPIN");
    const bool spin = spin_env != nullptr && std::string_view(spin_env) == "1";
    std::function<void()> wait_next;
    wait_next = [&] {
        rd.async_next([&](boost::system::error_code ec, entry) {
            if (ec) {  // the cancel at the end, or a failure the loop must not wait for
                {
                    std::lock_guard lk(m);
                    failure = ec;
                }
                handled.fetch_add(2, std::memory_order_release);  // ends a spinning wait too
                seen_cv.notify_one();
                return;
            }
            const auto now = clock::now();
            wait_next();  // waiting again before the next append starts: every record is a wake-up
            {
                std::lock_guard lk(m);
                woke = now;
                ++seen;
            }
            handled.fetch_add(1, std::memory_order_release);
            seen_cv.notify_one();
        });
    };
    boost::asio::post(ioc, [&] { wait_next(); });
    {  // the reader waits at the end of the log before the first append
        std::promise<void> armed;
        boost::asio::post(ioc, [&] { armed.set_value(); });
        armed.get_future().wait();
    }

    result r;
    r.latencies.reserve(n);
    latency_samples completed;
    completed.reserve(n);
    const timed_part total;
    for (std::uint64_t i = 1; i <= n; ++i) {
        const auto t0 = clock::now();
        w.async_append(record::put("k", value), [&](boost::system::error_code ec, position) {
            const auto now = clock::now();
            {
                std::lock_guard lk(m);
                written = now;
                ++completions;
                if (ec) failure = ec;
            }
            handled.fetch_add(1, std::memory_order_release);
            seen_cv.notify_one();
        });
        if (spin) {
            while (handled.load(std::memory_order_acquire) < 2 * i) {
            }
        }
        std::unique_lock lk(m);
        seen_cv.wait(lk, [&] { return (seen >= i && completions >= i) || failure; });
        if (failure) throw std::runtime_error("tail.latency: " + failure.message());
        r.latencies.add(std::chrono::duration_cast<std::chrono::nanoseconds>(woke - t0));
        completed.add(std::chrono::duration_cast<std::chrono::nanoseconds>(written - t0));
    }
    total.stop(r);
    rd.cancel();
    w.close();
    guard.reset();
    runner.join();
    r.records = n;
    r.value_bytes = value_bytes;
    r.extra.emplace_back("append_completed_p50_us", completed.percentile_us(50));
    r.extra.emplace_back("append_completed_p99_us", completed.percentile_us(99));
    r.note =
        spin ? "NORIWAL_BENCH_TAIL_SPIN=1: the appending thread spins until the reader has the record"
             : "reader handler on its own io_context thread; appends from this thread, which sleeps until "
               "the reader has the record";
    return r;
}

const registration regs[] = {
    registration{{"scan.1k",
                  "sequential scans of 200 000 x 1 KiB records by new readers, page cache warm, for >= 0.5 s "
                  "(MB/s of log bytes, framing included)",
                  scan_1k, "raw.mmap_crc.1gib", rate::mb_per_s}},
    registration{{"scan.1k.async",
                  "scan.1k by a coroutine co_awaiting async_next per record on one io_context thread",
                  scan_1k_async, "scan.1k", rate::mb_per_s}},
    registration{{"tail.latency",
                  "append -> a tailing reader's async_next completes (p50/p99), os policy; the appender "
                  "sleeps until the reader has the record",
                  tail_latency,
                  {}}},
};

}  // namespace
}  // namespace noriwal::bench
