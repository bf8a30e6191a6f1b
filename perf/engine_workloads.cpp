// The synchronous engine on its own (lib/log/segment_log.hpp): append throughput with no fsync
// and no async layer, and the time to open (recover) a large log.
#include "bench.hpp"

#include <noriwal/error.hpp>

#include "internal/log.hpp"

#include <stdexcept>
#include <string>

namespace noriwal::bench {
namespace {

wal_config engine_config(const context& ctx) {
    wal_config cfg;
    cfg.dir = ctx.dir() / "wal";
    cfg.fsync = fsync_policy::os();
    // Growing files: no zero fill inside the timed loop at rotation (the async layer prepares
    // spares on another thread; this workload has none).
    cfg.prealloc = preallocation::none;
    return cfg;
}

std::unique_ptr<detail::segment_log> open_engine(const wal_config& cfg, recovery_info* info = nullptr) {
    std::unique_ptr<detail::segment_log> log;
    recovery_info ri;
    std::string why;
    if (const auto ec = detail::segment_log::open(cfg, log, ri, why))
        throw std::runtime_error("open: " + ec.message() + ": " + why);
    if (info != nullptr) *info = ri;
    return log;
}

detail::encoded_record encoded(std::uint64_t value_bytes) {
    const std::string key = "key-0000000001";
    const std::string value(value_bytes, 'v');
    detail::encoded_record e;
    if (detail::encode_record(record::put(key, value), {}, e)) throw std::runtime_error("encode");
    return e;
}

// One append of one record at a time (a group of one): stamping, one pwrite, bookkeeping.
// The record is encoded once before the clock starts (encoding is the caller's work) and
// stamped again by every append.
result append_loop(context& ctx, std::uint64_t default_bytes, std::uint64_t default_records) {
    const std::uint64_t value_bytes = ctx.value_bytes(default_bytes);
    const std::uint64_t n = ctx.records(default_records);
    const wal_config cfg = engine_config(ctx);
    auto log = open_engine(cfg);
    detail::encoded_record e = encoded(value_bytes);
    detail::encoded_record* p = &e;
    detail::append_request req{std::span<detail::encoded_record* const>(&p, 1), false, nullptr};
    std::error_code one;
    result r;
    r.latencies.reserve(n);
    const timed_part total;
    for (std::uint64_t i = 0; i < n; ++i) {
        const stopwatch op;
        if (const auto ec =
                log->append(std::span<detail::append_request>(&req, 1), std::span<std::error_code>(&one, 1)))
            throw std::runtime_error("append: " + ec.message());
        r.latencies.add(op.elapsed());
    }
    total.stop(r);
    r.records = n;
    r.value_bytes = value_bytes;
    r.bytes = n * e.bytes.size();  // framed bytes written
    r.extra.emplace_back("segments", static_cast<double>(log->segments().size()));
    r.extra.emplace_back("framed_bytes_per_record", static_cast<double>(e.bytes.size()));
    return r;
}

result append_100b(context& ctx) { return append_loop(ctx, 100, 1'000'000); }
result append_1k(context& ctx) { return append_loop(ctx, 1024, 300'000); }
result append_10k(context& ctx) { return append_loop(ctx, 10 * 1024, 40'000); }

// Open of a log of 1 GiB of 1 KiB records (by default), written and closed before the clock
// starts and opened once untimed so that the page cache holds it: the cost of recovery itself
// (mapping each segment, decoding and checking every record) without the disk.
result recover(context& ctx) {
    const std::uint64_t n = ctx.records(1u << 20);
    const wal_config cfg = engine_config(ctx);
    {
        auto log = open_engine(cfg);
        detail::encoded_record e = encoded(1024 - 14 - 32);  // 1 KiB framed, with the key and header
        detail::encoded_record* p = &e;
        detail::append_request req{std::span<detail::encoded_record* const>(&p, 1), false, nullptr};
        std::error_code one;
        for (std::uint64_t i = 0; i < n; ++i)
            if (const auto ec = log->append(std::span<detail::append_request>(&req, 1),
                                            std::span<std::error_code>(&one, 1)))
                throw std::runtime_error("append: " + ec.message());
        if (const auto ec = log->close()) throw std::runtime_error("close: " + ec.message());
    }
    open_engine(cfg)->close();  // warm the cache
    recovery_info info;
    result r;
    r.latencies.reserve(1);
    const timed_part total;
    auto log = open_engine(cfg, &info);
    r.latencies.add(total.elapsed());
    total.stop(r);
    if (info.valid_records != n) throw std::runtime_error("recovered " + std::to_string(info.valid_records));
    r.records = n;
    r.value_bytes = 1024;
    r.extra.emplace_back("segments", static_cast<double>(info.segments_scanned));
    r.extra.emplace_back("gib_per_s",
                         r.seconds > 0 ? static_cast<double>(n * 1024) / (1u << 30) / r.seconds : 0.0);
    return r;
}

const registration regs[] = {
    registration{{"engine.append.100b",
                  "segment_log::append of one 100-byte record per call (no fsync, no async layer)",
                  append_100b, "raw.pwrite.100b", rate::records_per_s}},
    registration{{"engine.append.1k",
                  "segment_log::append of one 1 KiB record per call (no fsync, no async layer)", append_1k,
                  "raw.pwrite.1k", rate::records_per_s}},
    registration{{"engine.append.10k",
                  "segment_log::append of one 10 KiB record per call (no fsync, no async layer)", append_10k,
                  "raw.pwrite.10k", rate::records_per_s}},
    registration{{"engine.recover.1gib",
                  "segment_log::open (recovery) of a log of 1 GiB of 1 KiB records, page cache warm", recover,
                  "raw.mmap_crc.1gib", rate::mb_per_s}},
};

}  // namespace
}  // namespace noriwal::bench
