// wal-bench: the registry of workloads and what a workload reports.
//
// A workload is a function from a context (where to write, how many records) to a result
// (how many records and bytes, how long, per-operation latencies). To add one, write a .cpp
// file in perf/ (the build globs them) with a namespace-scope registration:
//
//     #include "bench.hpp"
//     namespace noriwal::bench {
//     namespace {
//     result my_workload(context& ctx) {
//         const std::uint64_t n = ctx.records(100'000);  // default scale
//         result r;
//         r.latencies.reserve(n);                         // no allocation in the timed loop
//         const stopwatch total;
//         for (std::uint64_t i = 0; i < n; ++i) {
//             const stopwatch op;
//             ... one operation ...
//             r.latencies.add(op.elapsed());
//         }
//         r.seconds = total.seconds();
//         r.records = n;
//         r.value_bytes = 1024;
//         return r;
//     }
//     const registration reg{{"wal.append.1k", "what it measures, in one line", my_workload,
//                             /*baseline=*/"raw.fdatasync.prezeroed.1k"}};
//     }  // namespace
//     }  // namespace noriwal::bench
//
// A workload that names a baseline is compared with it in the same run: wal-bench runs the
// baseline too (before it) and reports the ratio of the chosen rate (records/s by default).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace noriwal::bench {

/// Where a workload runs and at what scale.
class context {
public:
    context(std::filesystem::path dir, std::optional<std::uint64_t> records,
            std::optional<std::uint64_t> value_bytes)
        : dir_(std::move(dir)), records_(records), value_bytes_(value_bytes) {}

    /// An empty directory of its own, removed after the workload.
    const std::filesystem::path& dir() const noexcept { return dir_; }
    /// The number of records (or operations) to run: --records if given, else `default_records`.
    std::uint64_t records(std::uint64_t default_records) const noexcept {
        return records_.value_or(default_records);
    }
    /// The value size to use: --value-bytes if given and the workload accepts it, else `default_bytes`.
    std::uint64_t value_bytes(std::uint64_t default_bytes) const noexcept {
        return value_bytes_.value_or(default_bytes);
    }

private:
    std::filesystem::path dir_;
    std::optional<std::uint64_t> records_;
    std::optional<std::uint64_t> value_bytes_;
};

/// Per-operation latencies, in nanoseconds. reserve() before the timed loop: add() never
/// allocates (samples beyond the reserved room are dropped and counted).
class latency_samples {
public:
    /// Room for n samples, at most 16 Mi of them (128 MiB): a huge --records drops the
    /// samples past that (reported as latency_samples_dropped) rather than allocate without bound.
    void reserve(std::uint64_t n) {
        samples_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(n, max_samples)));
    }
    static constexpr std::uint64_t max_samples = std::uint64_t{1} << 24;
    void add(std::chrono::nanoseconds d) noexcept {
        if (samples_.size() < samples_.capacity()) {
            samples_.push_back(d.count());
        } else {
            ++dropped_;
        }
    }
    bool empty() const noexcept { return samples_.empty(); }
    std::size_t size() const noexcept { return samples_.size(); }
    std::uint64_t dropped() const noexcept { return dropped_; }
    /// The p-th percentile (0 <= p <= 100) in microseconds, nearest-rank; sorts the samples.
    double percentile_us(double p);

private:
    std::vector<std::int64_t> samples_;
    std::uint64_t dropped_ = 0;
    bool sorted_ = false;
};

/// A monotonic stopwatch started at construction.
class stopwatch {
public:
    using clock = std::chrono::steady_clock;
    stopwatch() noexcept : start_(clock::now()) {}
    std::chrono::nanoseconds elapsed() const noexcept {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - start_);
    }
    double seconds() const noexcept { return std::chrono::duration<double>(clock::now() - start_).count(); }

private:
    clock::time_point start_;
};

/// Which rate a ratio to the baseline compares.
enum class rate : std::uint8_t { records_per_s, mb_per_s };

/// What a workload reports. records_per_s and mb_per_s are derived from these.
struct result {
    std::uint64_t records = 0;      ///< records (or operations) done in `seconds`
    std::uint64_t value_bytes = 0;  ///< bytes per record
    /// Bytes moved in `seconds`, for mb_per_s; 0 means records * value_bytes.
    std::uint64_t bytes = 0;
    double seconds = 0;  ///< wall-clock time of the measured part only
    latency_samples latencies;
    /// Free-form numeric figures (e.g. "fsyncs", "group_size"), printed after the standard ones.
    std::vector<std::pair<std::string, double>> extra;
    /// A remark for the human-readable output only (e.g. which CRC32C code ran).
    std::string note;
};

struct workload {
    std::string name;         ///< e.g. "raw.fdatasync.prezeroed.1k": part.what.detail
    std::string description;  ///< one line, for --list
    std::function<result(context&)> run;
    std::string baseline;  ///< optional: the workload this one is compared with
    rate compare = rate::records_per_s;
};

/// Every registered workload, in registration order.
std::vector<workload>& workloads();

/// Registers a workload at static initialisation.
struct registration {
    explicit registration(workload w);
};

/// Keeps the compiler from discarding a computed value.
/// The record sizes of the append workloads and their default record counts (awaited one at a
/// time, or pipelined): ours and their rocksdb. twins run the same.
struct size_spec {
    const char* name;
    std::uint64_t bytes;
    std::uint64_t await_records;
    std::uint64_t pipelined_records;
};

inline constexpr size_spec append_sizes[] = {
    {"100b", 100, 300'000, 2'000'000},
    {"1k", 1024, 200'000, 1'000'000},
    {"10k", 10 * 1024, 40'000, 100'000},
};

/// The writer counts of the concurrent 1 KiB fsync_policy::always append workloads ("await":
/// one writer) and their default record counts: ours and their rocksdb twins run the same.
struct writers_spec {
    const char* suffix;
    int writers;
    std::uint64_t records;
};

inline constexpr writers_spec concurrent_writers[] = {
    {"await", 1, 5'000},
    {"w8", 8, 40'000},
    {"w64", 64, 150'000},
};

/// The batch sizes of the 1 KiB fsync_policy::always atomic batch workloads and their default
/// record counts: ours and their rocksdb twins run the same.
struct batch_spec {
    const char* suffix;
    std::size_t batch;
    std::uint64_t records;
};

inline constexpr batch_spec append_batches[] = {
    {"b10", 10, 50'000},
    {"b100", 100, 200'000},
    {"b1000", 1000, 500'000},
};

template <class T>
inline void keep(const T& value) noexcept {
    asm volatile("" : : "r,m"(value) : "memory");
}

}  // namespace noriwal::bench
