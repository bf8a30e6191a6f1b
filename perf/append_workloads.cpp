// noriwal::wal, the asynchronous public API: appends under each fsync policy, one writer
// awaiting each append or many appends in flight, concurrent appenders sharing fsyncs, and
// atomic batches. Each workload runs on one io_context driven by the benchmark's thread, as a
// single-threaded Asio server would; the wal adds its writer and sync threads.
//
//   append.<os|batch>.<100b|1k|10k>.<await|pipelined>
//   append.always.1k.<await|w8|w64>
//   append_batch.always.1k.<b10|b100|b1000>
//   batch.window.1k (completion-to-durable time under batch(5 ms))
//   idle.cpu (the CPU time of an open wal with nothing to do)
#include "bench.hpp"

#include <noriwal/wal.hpp>

#include "internal/wal.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace noriwal::bench {
namespace {

namespace asio = boost::asio;

wal_config bench_config(const context& ctx, fsync_policy policy) {
    wal_config cfg;
    cfg.dir = ctx.dir() / "wal";
    cfg.fsync = policy;
    // Smaller than the default so that setting up (the first zero-filled segment) is quick;
    // later segments are prepared on the wal's spare thread while the workload runs.
    cfg.max_segment_size = 64u << 20;
    cfg.max_record_size = 1u << 20;
    // To weigh the polling trade-off (doc/performance.md): the writer and sync threads'
    // idle_spin in microseconds, instead of the default.
    if (const auto spin = idle_spin_from_env()) cfg.idle_spin = *spin;
    // To weigh segment files prepared in steps against full-size ones from the start
    // (doc/performance.md): wal_config::first_segment_size in bytes (0: full size).
    if (const char* first = std::getenv("NORIWAL_BENCH_FIRST_SEGMENT_SIZE"))
        cfg.first_segment_size = std::strtoull(first, nullptr, 10);
    prealloc_from_env(cfg);
    return cfg;
}

fsync_policy policy_named(std::string_view name) {
    if (name == "os") return fsync_policy::os();
    if (name == "batch") return fsync_policy::batch(std::chrono::milliseconds(5));
    return fsync_policy::always();
}

/// Keys differ per record (a realistic log), values are one pattern of the given size.
struct record_source {
    explicit record_source(std::uint64_t value_bytes) : value(value_bytes, 'v') {}
    record next() {
        // 16 decimal digits, rewritten in place: no allocation per record.
        std::uint64_t k = ++counter;
        for (int i = 15; i >= 0; --i, k /= 10)
            key[static_cast<std::size_t>(i)] = static_cast<char>('0' + k % 10);
        return record::put(std::string_view(key, sizeof key), value);
    }
    std::string value;
    char key[16] = {};
    std::uint64_t counter = 0;
};

/// Where the wal's writer strand runs in a workload.
enum class placement {
    writer_thread,  // the default: the wal's own writer thread
    shared,         // wal_config::io_executor = the benchmark's io_context: one thread does all
};

/// Opens the wal and waits until its spare segment is prepared: zero-filling it is set-up, not
/// part of what the workload measures (in steady state it happens long before it is needed).
wal open_ready(asio::io_context& ioc, wal_config cfg, placement where) {
    if (where == placement::shared) cfg.io_executor = ioc.get_executor();
    auto w = wal::open(ioc.get_executor(), cfg).log;
    // A round trip through the writer: it has asked for its spare by now.
    w.async_flush([](boost::system::error_code) {});
    ioc.run();
    ioc.restart();
    const auto& core = detail::wal_core::of(w);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (core->spares_in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ioc.poll();  // with a shared io_context, the spare is handed over here
        ioc.restart();
    }
    return w;
}

/// Closes the wal on its io_context (which a shared writer strand needs to run).
void close_on(asio::io_context& ioc, wal& w) {
    boost::system::error_code result;
    w.async_close([&](boost::system::error_code ec) { result = ec; });
    ioc.restart();
    ioc.run();
    if (result) throw std::runtime_error("close: " + result.message());
}

void add_stats(result& r, const wal& w) {
    const auto s = w.stats();
    r.extra.emplace_back("fsyncs", static_cast<double>(s.fsyncs));
    r.extra.emplace_back("writes", static_cast<double>(s.writes));
    r.extra.emplace_back("records_per_write", s.writes ? static_cast<double>(s.records) / s.writes : 0.0);
    if (s.fsyncs) r.extra.emplace_back("records_per_fsync", static_cast<double>(s.records) / s.fsyncs);
}

void check(boost::system::error_code ec) {
    if (ec) throw std::runtime_error("append: " + ec.message());
}

// A durable append is read against raw.fdatasync.prezeroed.1k, but this machine's fdatasync
// takes 85 us in one second and 130 us in another, so two loops run one after the other can
// differ by a quarter whatever they do. So, after its measured part, a single writer awaiting
// durable appends takes turns with that raw loop and with raw.fdatasync.handoff.1k: `rounds`
// rounds of one slice each (in an order that rotates), each side meeting the disk in the same
// seconds. The rates over the turns and the wal's ratios to both loops are added to `r`
// ("interleaved_*").
void take_turns_with_raw(const context& ctx, asio::io_context& ioc, wal& w, std::uint64_t value_bytes,
                         std::uint64_t n, result& r) {
    constexpr int rounds = 9;
    const std::uint64_t slice = std::clamp<std::uint64_t>(n / rounds, 1, 250);
    fdatasync_slices prezeroed(ctx.dir() / "raw.prezeroed", slice, false);
    fdatasync_slices handed_off(ctx.dir() / "raw.handoff", slice, true);
    fdatasync_slices* raw[3] = {nullptr, &prezeroed, &handed_off};
    std::chrono::nanoseconds took[3] = {};  // the wal, the raw loop, the raw loop handed off
    record_source src(value_bytes);
    auto wal_slice = [&]() -> asio::awaitable<void> {
        const stopwatch t;
        for (std::uint64_t k = 0; k < slice; ++k) co_await w.async_append(src.next(), asio::use_awaitable);
        took[0] += t.elapsed();
    };
    std::exception_ptr failure;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            for (int i = 0; i < rounds; ++i) {
                for (int turn = 0; turn < 3; ++turn) {
                    const int which = (i + turn) % 3;
                    if (which == 0) {
                        co_await wal_slice();
                    } else {
                        took[which] += raw[which]->run(slice);
                    }
                }
            }
        },
        [&](std::exception_ptr e) {
            if (e) failure = e;
        });
    ioc.restart();
    ioc.run();
    if (failure) std::rethrow_exception(failure);
    const double records = static_cast<double>(rounds * slice);
    auto per_s = [&](std::chrono::nanoseconds d) {
        return records / std::chrono::duration<double>(d).count();
    };
    r.extra.emplace_back("interleaved_per_s", per_s(took[0]));
    r.extra.emplace_back("interleaved_prezeroed_per_s", per_s(took[1]));
    r.extra.emplace_back("interleaved_handoff_per_s", per_s(took[2]));
    r.extra.emplace_back("interleaved_ratio_to_prezeroed", per_s(took[0]) / per_s(took[1]));
    r.extra.emplace_back("interleaved_ratio_to_handoff", per_s(took[0]) / per_s(took[2]));
}

// Each of `writers` coroutines appends (or appends a batch of `batch` records) and awaits the
// completion before its next one, until n records are written in all.
result awaiting(context& ctx, fsync_policy policy, std::uint64_t value_bytes, std::uint64_t n, int writers,
                std::size_t batch, placement where) {
    asio::io_context ioc(1);
    auto w = open_ready(ioc, bench_config(ctx, policy), where);
    result r;
    r.latencies.reserve(n / batch + 1);
    std::uint64_t started = 0;
    std::exception_ptr failure;
    auto writer = [&]() -> asio::awaitable<void> {
        record_source src(value_bytes);
        src.counter = started * 1'000'000'000;  // distinct keys per writer
        std::vector<record> records(batch);
        while (started < n) {
            const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(batch, n - started));
            started += k;
            const stopwatch op;
            if (batch == 1) {
                co_await w.async_append(src.next(), asio::use_awaitable);
            } else {
                records.resize(k);
                for (auto& rec : records) rec = src.next();
                co_await w.async_append_batch(records, asio::use_awaitable);
            }
            r.latencies.add(op.elapsed());
        }
    };
    const timed_part total;
    for (int i = 0; i < writers; ++i) {
        asio::co_spawn(ioc, writer, [&](std::exception_ptr e) {
            if (e) failure = e;
        });
    }
    ioc.run();
    total.stop(r);
    if (failure) std::rethrow_exception(failure);
    r.records = n;
    r.value_bytes = value_bytes;
    add_stats(r, w);
    if (policy.policy() == fsync_policy::kind::always && writers == 1 && batch == 1)
        take_turns_with_raw(ctx, ioc, w, value_bytes, n, r);
    close_on(ioc, w);
    return r;
}

// Appends with callbacks, keeping `window` of them in flight: each completion starts the next.
result pipelined(context& ctx, fsync_policy policy, std::uint64_t value_bytes, std::uint64_t n,
                 placement where) {
    constexpr std::uint64_t window = 1024;
    asio::io_context ioc(1);
    auto w = open_ready(ioc, bench_config(ctx, policy), where);
    result r;
    r.latencies.reserve(n);
    record_source src(value_bytes);
    std::uint64_t started = 0, done = 0;
    boost::system::error_code failure;
    struct starter {
        wal& w;
        record_source& src;
        result& r;
        std::uint64_t& started;
        std::uint64_t& done;
        std::uint64_t n;
        boost::system::error_code& failure;
        void operator()() const {
            ++started;
            w.async_append(src.next(), [s = *this, op = stopwatch()](boost::system::error_code ec, position) {
                s.r.latencies.add(op.elapsed());
                ++s.done;
                if (ec && !s.failure) s.failure = ec;
                if (s.started < s.n && !s.failure) s();
            });
        }
    };
    const starter start{w, src, r, started, done, n, failure};
    const timed_part total;
    for (std::uint64_t i = 0; i < window && started < n; ++i) start();
    ioc.run();
    total.stop(r);
    check(failure);
    if (done != n) throw std::runtime_error("completed " + std::to_string(done) + " of " + std::to_string(n));
    r.records = n;
    r.value_bytes = value_bytes;
    add_stats(r, w);
    close_on(ioc, w);
    return r;
}

// batch(5 ms) under load: 1024 1 KiB appends in flight; for every record, the time from its
// append's completion to the moment durable_lsn() covered it (a thread polls the watermark every
// 20 us, which adds up to that much to each figure). doc/durability.md states the promise this
// measures: w, plus the rest of a round in flight, plus one round.
result batch_window(context& ctx, std::uint64_t n) {
    constexpr std::uint64_t window = 1024;
    asio::io_context ioc(1);
    auto w = open_ready(ioc, bench_config(ctx, fsync_policy::batch(std::chrono::milliseconds(5))),
                        placement::writer_thread);
    using clock = std::chrono::steady_clock;
    const lsn_t first = w.written_lsn() + 1;
    std::vector<std::int64_t> completed(n, 0), durable(n, 0);
    std::atomic<bool> stop{false};
    const auto t0 = clock::now();
    auto ns_since = [t0] {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count();
    };
    std::thread poller([&] {
        lsn_t seen = first - 1;
        while (!stop.load(std::memory_order_acquire)) {
            const lsn_t d = w.durable_lsn();
            const auto now = ns_since();
            for (; seen < d && seen + 1 < first + n; ++seen) durable[seen + 1 - first] = now;
            std::this_thread::sleep_for(std::chrono::microseconds(20));
        }
    });
    result r;
    r.latencies.reserve(n);
    record_source src(ctx.value_bytes(1024));
    std::uint64_t started = 0, done = 0;
    boost::system::error_code failure;
    std::function<void()> start = [&] {
        ++started;
        w.async_append(src.next(), [&, op = stopwatch()](boost::system::error_code ec, position p) {
            r.latencies.add(op.elapsed());
            ++done;
            if (ec && !failure) failure = ec;
            if (!ec && p.lsn >= first && p.lsn < first + n) completed[p.lsn - first] = ns_since();
            if (started < n && !failure) start();
        });
    };
    const timed_part total;
    for (std::uint64_t i = 0; i < window && started < n; ++i) start();
    ioc.run();
    total.stop(r);
    check(failure);
    w.sync();  // the last records' rounds, so that every record has a durable time
    const auto deadline = clock::now() + std::chrono::seconds(10);
    while (w.durable_lsn() < first + n - 1 && clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    stop = true;
    poller.join();
    std::vector<double> gaps;
    gaps.reserve(n);
    for (std::uint64_t i = 0; i < n; ++i)
        if (completed[i] != 0 && durable[i] != 0)
            gaps.push_back(static_cast<double>(std::max<std::int64_t>(0, durable[i] - completed[i])) / 1e6);
    std::sort(gaps.begin(), gaps.end());
    auto pct = [&](double q) {
        return gaps.empty() ? 0.0
                            : gaps[std::min(gaps.size() - 1, static_cast<std::size_t>(q * gaps.size()))];
    };
    r.extra.emplace_back("completion_to_durable_p50_ms", pct(0.50));
    r.extra.emplace_back("completion_to_durable_p99_ms", pct(0.99));
    r.extra.emplace_back("completion_to_durable_max_ms", gaps.empty() ? 0.0 : gaps.back());
    r.records = n;
    r.value_bytes = ctx.value_bytes(1024);
    add_stats(r, w);
    close_on(ioc, w);
    return r;
}

// An open wal with the default configuration and nothing to do, for 2 s (after its first segment
// and its spare are ready): the CPU time its threads use at rest, which should be none. The
// benchmark's thread sleeps meanwhile, so that `cpu_s` is the wal's alone.
result idle_cpu(context& ctx) {
    wal_config cfg;
    cfg.dir = ctx.dir() / "wal";
    asio::io_context ioc(1);
    auto w = open_ready(ioc, cfg, placement::writer_thread);
    result r;
    const timed_part total;
    std::this_thread::sleep_for(std::chrono::seconds(2));
    total.stop(r);
    r.records = 0;  // no cpu_us_per_record: the figure is cpu_s
    r.extra.emplace_back("cpu_s", r.cpu_seconds.value_or(0));
    r.note = "default wal_config, no appends; cpu_s: CPU seconds (user + system, all threads) over `seconds`";
    close_on(ioc, w);
    return r;
}

// Each workload also runs with the writer strand on the benchmark's own io_context (suffix
// ".shared": wal_config::io_executor), where one thread awaits, frames and writes.
constexpr struct {
    placement where;
    const char* suffix;
    const char* note;
} placements[] = {
    {placement::writer_thread, "", ""},
    {placement::shared, ".shared", "; writer strand on the same io_context (io_executor)"},
};

std::vector<registration> register_all() {
    std::vector<registration> regs;
    for (const auto& pl : placements) {
        const auto where = pl.where;
        for (const char* policy : {"os", "batch"}) {
            for (const auto& size : append_sizes) {
                const std::string base = std::string("append.") + policy + "." + size.name;
                const auto p = policy_named(policy);
                // An awaited append is a group of one: one write system call per record, as
                // raw.pwrite.<size> does it. Pipelined appends share writes: 100-byte records
                // are then bound by the CPU work per record (a memcpy and CRC of each), larger
                // ones by page-cache bandwidth (1 MiB writes).
                const std::string await_baseline = std::string("raw.pwrite.") + size.name;
                const bool small = size.bytes < 1024;
                const std::string pipelined_baseline = small ? "raw.memcpy_crc.100b" : "raw.write.1m";
                const rate pipelined_compare = small ? rate::records_per_s : rate::mb_per_s;
                regs.emplace_back(workload{base + ".await" + pl.suffix,
                                           std::string("one coroutine co_awaits each ") + size.name +
                                               " append, fsync_policy::" + policy + pl.note,
                                           [p, size, where](context& ctx) {
                                               return awaiting(ctx, p, ctx.value_bytes(size.bytes),
                                                               ctx.records(size.await_records), 1, 1, where);
                                           },
                                           await_baseline, rate::records_per_s});
                regs.emplace_back(workload{base + ".pipelined" + pl.suffix,
                                           std::string("1024 ") + size.name +
                                               " appends in flight (callbacks), fsync_policy::" + policy +
                                               pl.note,
                                           [p, size, where](context& ctx) {
                                               return pipelined(ctx, p, ctx.value_bytes(size.bytes),
                                                                ctx.records(size.pipelined_records), where);
                                           },
                                           pipelined_baseline, pipelined_compare});
            }
        }
        for (const auto& c : concurrent_writers) {
            regs.emplace_back(workload{std::string("append.always.1k.") + c.suffix + pl.suffix,
                                       std::to_string(c.writers) +
                                           " coroutine(s) each co_await 1 KiB appends, fsync_policy::always" +
                                           pl.note,
                                       [c, where](context& ctx) {
                                           return awaiting(ctx, fsync_policy::always(), ctx.value_bytes(1024),
                                                           ctx.records(c.records), c.writers, 1, where);
                                       },
                                       "raw.fdatasync.prezeroed.1k", rate::records_per_s});
        }
        for (const auto& b : append_batches) {
            regs.emplace_back(workload{std::string("append_batch.always.1k.") + b.suffix + pl.suffix,
                                       "one coroutine co_awaits atomic batches of " +
                                           std::to_string(b.batch) + " 1 KiB records, fsync_policy::always" +
                                           pl.note,
                                       [b, where](context& ctx) {
                                           return awaiting(ctx, fsync_policy::always(), ctx.value_bytes(1024),
                                                           ctx.records(b.records), 1, b.batch, where);
                                       },
                                       "raw.fdatasync.prezeroed.1k", rate::records_per_s});
        }
    }
    regs.emplace_back(workload{"idle.cpu",
                               "an open wal with the default config left idle for 2 s: CPU seconds it uses "
                               "(cpu_s)",
                               idle_cpu,
                               {}});
    regs.emplace_back(workload{"batch.window.1k",
                               "1024 1 KiB appends in flight under fsync_policy::batch(5 ms): the time from "
                               "each completion to durability (max, p99)",
                               [](context& ctx) { return batch_window(ctx, ctx.records(200'000)); },
                               "raw.write.1m", rate::mb_per_s});
    return regs;
}

const std::vector<registration> regs = register_all();

}  // namespace
}  // namespace noriwal::bench
