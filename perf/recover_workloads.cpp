// Opening a log (recovery) and the memory a wal uses, through the public API.
//
//   recover.1gib         wal::open of a log of 1 GiB of 1 KiB records, page cache warm
//   memory.recover.4gib  the same with 4 GiB: its peak memory is that of recover.1gib (recovery
//                        maps one segment at a time), not four times it
//   memory.append.4gib   4 GiB of 1 KiB appends in flight under the default policy: the peak
//                        memory of a writing wal, which does not grow with what it wrote
//
// Both report the peaks of the heap (rss_anon_peak_mb) and of mapped files (rss_file_peak_mb),
// sampled every 2 ms, besides the row's peak_rss_mb (their sum's high-water mark).
#include "bench.hpp"
#include "rss_sampler.hpp"

#include <noriwal/wal.hpp>

#include "internal/log.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

namespace noriwal::bench {
namespace {

namespace asio = boost::asio;

constexpr std::uint64_t key_bytes = 16;
// A framed record of exactly 1 KiB: 32-byte header, 16-byte key, value.
constexpr std::uint64_t value_for_1k = 1024 - detail::record_header_size - key_bytes;

/// 16 decimal digits of a counter, rewritten in place (no allocation per record).
struct key_source {
    char key[key_bytes] = {};
    std::uint64_t counter = 0;
    std::string_view next() {
        std::uint64_t k = ++counter;
        for (int i = 15; i >= 0; --i, k /= 10)
            key[static_cast<std::size_t>(i)] = static_cast<char>('0' + k % 10);
        return {key, sizeof key};
    }
};

wal_config recover_config(const context& ctx) {
    wal_config cfg;
    cfg.dir = ctx.dir() / "wal";
    cfg.fsync = fsync_policy::os();
    // The default preallocation (zero_fill), so that the segment files sit in the page cache
    // as a wal with the default configuration leaves them: in the 256 KiB folios of their
    // zero-filling writes (a file grown by appends alone maps slower: doc/performance.md). The spare is
    // prepared before the measured opens, so none of them zero-fills one.
    prealloc_from_env(cfg);
    return cfg;
}

// Writes n 1 KiB records with the engine (the quickest way to make a big log; the bytes are
// what the wal writes), then closes it.
void fill(const wal_config& cfg, std::uint64_t n) {
    std::unique_ptr<detail::segment_log> log;
    recovery_info ri;
    std::string why;
    if (const auto ec = detail::segment_log::open(cfg, log, ri, why))
        throw std::runtime_error("open: " + ec.message() + ": " + why);
    const std::string value(value_for_1k, 'v');
    key_source keys;
    // Groups of 256 records per write, as a busy writer strand would write them.
    constexpr std::size_t group = 256;
    std::vector<detail::encoded_record> encoded(group);
    std::vector<detail::encoded_record*> ptrs(group);
    std::vector<detail::append_request> reqs(group);
    std::vector<std::error_code> results(group);
    for (std::uint64_t done = 0; done < n;) {
        const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(group, n - done));
        for (std::size_t i = 0; i < k; ++i) {
            if (detail::encode_record(record::put(keys.next(), value), {}, encoded[i]))
                throw std::runtime_error("encode");
            ptrs[i] = &encoded[i];
            reqs[i] = {std::span<detail::encoded_record* const>(&ptrs[i], 1), false, nullptr};
        }
        if (const auto ec = log->append(std::span(reqs.data(), k), results))
            throw std::runtime_error("append: " + ec.message());
        done += k;
    }
    if (const auto ec = log->close()) throw std::runtime_error("close: " + ec.message());
}

// One recovery takes about 0.15 s: when `repeat`, opens (each followed by a close, untimed)
// repeat until stable_seconds of opening have passed, one open when --records is given.
result recover(context& ctx, std::uint64_t default_records, bool repeat) {
    const std::uint64_t n = ctx.records(default_records);
    const wal_config cfg = recover_config(ctx);
    fill(cfg, n);
    {  // warm the page cache, and let the spare be prepared outside the measured opens
        auto w = wal::open(cfg).log;
        wait_for_spare(w);
        w.close();
    }
    result r;
    r.latencies.reserve(64);
    rss_sampler rss;
    std::uint64_t opens = 0;
    std::uint64_t segments = 0;
    double cpu_seconds = 0;
    do {
        const double cpu_before = process_cpu_seconds();
        const stopwatch op;
        auto opened = wal::open(cfg);
        const auto took = op.elapsed();
        cpu_seconds += process_cpu_seconds() - cpu_before;
        r.latencies.add(took);
        r.seconds += std::chrono::duration<double>(took).count();
        ++opens;
        if (opened.recovery.valid_records != n)
            throw std::runtime_error("recovered " + std::to_string(opened.recovery.valid_records) + " of " +
                                     std::to_string(n));
        segments = opened.recovery.segments_scanned;
        opened.log.close();
    } while (repeat && !ctx.records_fixed() && r.seconds < stable_seconds);
    rss.stop();
    r.cpu_seconds = cpu_seconds;
    r.records = n * opens;
    r.value_bytes = 1024;  // framed: the bytes of log read per record
    r.extra.emplace_back("segments", static_cast<double>(segments));
    r.extra.emplace_back("opens", static_cast<double>(opens));
    r.extra.emplace_back("rss_anon_peak_mb", rss.anon_peak_mb());
    r.extra.emplace_back("rss_file_peak_mb", rss.file_peak_mb());
    same_files_floor(r, ctx, cfg.dir, n * 1024, static_cast<double>(n * 1024 * opens));
    r.note = "same_files: raw.mmap_crc's loop over this log's own segment files";
    return r;
}

// Appends with callbacks, 1024 in flight (each completion starts the next), until `bytes` of
// 1 KiB records are written. No per-record latency sample: 4 Mi samples would be 32 MiB of
// the benchmark's own memory in the figure this workload is about.
result append_memory(context& ctx) {
    const std::uint64_t n = ctx.records(std::uint64_t{4} << 20);  // 4 GiB of 1 KiB records
    wal_config cfg;
    cfg.dir = ctx.dir() / "wal";
    asio::io_context ioc(1);
    auto w = wal::open(ioc.get_executor(), cfg).log;
    const std::string value(value_for_1k, 'v');
    key_source keys;
    std::uint64_t started = 0, done = 0;
    boost::system::error_code failure;
    std::function<void()> start;
    start = [&] {
        ++started;
        w.async_append(record::put(keys.next(), value), [&](boost::system::error_code ec, position) {
            ++done;
            if (ec && !failure) failure = ec;
            if (started < n && !failure) start();
        });
    };
    rss_sampler rss;
    const timed_part total;
    for (std::uint64_t i = 0; i < 1024 && started < n; ++i) start();
    ioc.run();
    result r;
    total.stop(r);
    rss.stop();
    if (failure) throw std::runtime_error("append: " + failure.message());
    if (done != n) throw std::runtime_error("completed " + std::to_string(done) + " of " + std::to_string(n));
    const auto s = w.stats();
    w.close();
    r.records = n;
    r.value_bytes = 1024;
    r.extra.emplace_back("segments_rolled", static_cast<double>(s.segments_rolled));
    r.extra.emplace_back("fsyncs", static_cast<double>(s.fsyncs));
    r.extra.emplace_back("rss_anon_peak_mb", rss.anon_peak_mb());
    r.extra.emplace_back("rss_file_peak_mb", rss.file_peak_mb());
    r.note = "default config: batch(5ms), 128 MiB segments zero-filled ahead";
    return r;
}

const registration regs[] = {
    registration{{"recover.1gib",
                  "wal::open (recovery) of a log of 1 GiB of 1 KiB records, page cache warm, opens repeated "
                  "for >= 0.5 s",
                  [](context& ctx) { return recover(ctx, std::uint64_t{1} << 20, true); },
                  "raw.mmap_crc.1gib", rate::mb_per_s}},
    registration{{"memory.recover.4gib",
                  "wal::open of a 4 GiB log: peak memory (compare with recover.1gib's), page cache warm",
                  [](context& ctx) { return recover(ctx, std::uint64_t{4} << 20, false); },
                  "raw.mmap_crc.1gib", rate::mb_per_s}},
    registration{{"memory.append.4gib",
                  "4 GiB of 1 KiB appends, 1024 in flight, default config: peak memory of a writing wal",
                  append_memory,
                  {}}},
};

}  // namespace
}  // namespace noriwal::bench
