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
//         const timed_part total;                         // wall clock and CPU time from here
//         for (std::uint64_t i = 0; i < n; ++i) {
//             const stopwatch op;
//             ... one operation ...
//             r.latencies.add(op.elapsed());
//         }
//         total.stop(r);                                  // r.seconds, r.cpu_seconds
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
// Every workload times its measured part with a timed_part, so that its CPU time per record
// is reported next to its wall-clock rate (wal-bench refuses a result without it).
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace noriwal {
class wal;
struct wal_config;
}  // namespace noriwal

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
    /// Whether --records fixed the count (a raw baseline then runs exactly that many records
    /// instead of running until its rate is stable: see stable_loop).
    bool records_fixed() const noexcept { return records_.has_value(); }

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

/// CPU time (user + system) the whole process has used so far, all its threads, in seconds.
inline double process_cpu_seconds() noexcept {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto s = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return s(ru.ru_utime) + s(ru.ru_stime);
}

/// NORIWAL_BENCH_IDLE_SPIN_US, if set: the wal_config::idle_spin (microseconds) that the append
/// workloads and tail.latency use instead of the default, to weigh polling against sleeping.
inline std::optional<std::chrono::microseconds> idle_spin_from_env() {
    const char* spin = std::getenv("NORIWAL_BENCH_IDLE_SPIN_US");
    if (spin == nullptr) return std::nullopt;
    return std::chrono::microseconds(std::strtol(spin, nullptr, 10));
}

/// NORIWAL_BENCH_PREALLOC, if set (zero_fill, fallocate or none): the wal_config::prealloc
/// that the append, read and recovery workloads use instead of the default, to weigh the ways
/// of preparing a segment file (open_workloads.cpp).
void prealloc_from_env(wal_config& cfg);

/// Which rate a ratio to the baseline compares.
enum class rate : std::uint8_t { records_per_s, mb_per_s };

/// What a workload reports. records_per_s and mb_per_s are derived from these.
struct result {
    std::uint64_t records = 0;      ///< records (or operations) done in `seconds`
    std::uint64_t value_bytes = 0;  ///< bytes per record
    /// Bytes moved in `seconds`, for mb_per_s; 0 means records * value_bytes.
    std::uint64_t bytes = 0;
    double seconds = 0;  ///< wall-clock time of the measured part only
    /// CPU time (user + system, every thread of the process: the wal's threads included) over
    /// the same measured part; set by timed_part::stop.
    std::optional<double> cpu_seconds;
    latency_samples latencies;
    /// Free-form numeric figures (e.g. "fsyncs", "group_size"), printed after the standard ones.
    std::vector<std::pair<std::string, double>> extra;
    /// A remark for the human-readable output only (e.g. which CRC32C code ran).
    std::string note;
};

/// The measured part of a workload: wall-clock time and the process's CPU time, from
/// construction to stop(). Unlike a stopwatch it calls getrusage, so it times a whole loop,
/// not one operation.
class timed_part {
public:
    timed_part() noexcept : cpu_start_(process_cpu_seconds()) {}
    /// Sets r.seconds and r.cpu_seconds to what passed since construction.
    void stop(result& r) const noexcept {
        r.seconds = wall_.seconds();
        r.cpu_seconds = process_cpu_seconds() - cpu_start_;
    }
    std::chrono::nanoseconds elapsed() const noexcept { return wall_.elapsed(); }
    double seconds() const noexcept { return wall_.seconds(); }

private:
    double cpu_start_;
    stopwatch wall_;  // started after the first getrusage: its cost is not in the time
};

/// How long a raw baseline runs when --records does not fix its count: long enough that its
/// rate is stable from run to run (a 20 ms loop over cached data swings by a third).
inline constexpr double stable_seconds = 0.5;

/// The loop of a raw baseline: at least `default_records` iterations and, unless --records
/// fixed the count (then exactly that many), more in steps of `step` until the workload's
/// timed part has lasted stable_seconds. `step` keeps the clock out of short iterations.
class stable_loop {
public:
    stable_loop(const context& ctx, std::uint64_t default_records, std::uint64_t step = 1) noexcept
        : min_(ctx.records(default_records)),
          step_(std::max<std::uint64_t>(step, 1)),
          timed_(!ctx.records_fixed()) {}
    /// Whether iteration number `done` (0-based: `done` iterations are complete) should run.
    bool more(std::uint64_t done, const timed_part& total) const noexcept {
        if (done < min_) return true;
        if (!timed_) return false;
        return done % step_ != 0 || total.seconds() < stable_seconds;
    }
    /// The least number of iterations: what to reserve room for, times a margin.
    std::uint64_t min_records() const noexcept { return min_; }

private:
    std::uint64_t min_;
    std::uint64_t step_;
    bool timed_;
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

/// Waits until the wal's spare thread has prepared the spare it asked for (at most 60 s), so
/// that no zero-filling runs during a measured part (open_workloads.cpp).
void wait_for_spare(wal& w);

/// CRC32C of each KiB of the first `limit` bytes of `files`, taken in order, each file mapped
/// read-only and unmapped before the next: one pass of raw.mmap_crc.1gib. The CRCs folded.
std::uint32_t mmap_crc_pass(const std::vector<std::filesystem::path>& files, std::uint64_t limit);

/// The rate (MB/s) of mmap_crc_pass over the first `limit` bytes of the segment files of the
/// log in `dir`, in log order, repeated for stable_seconds (one pass when `once`): the floor of
/// reading exactly the bytes a scan or a recovery of that log reads, in the folios the page
/// cache holds them in.
double log_files_crc_mb_per_s(const std::filesystem::path& dir, std::uint64_t limit, bool once);

/// Adds to `r` (whose timed part read `read_bytes` of the log in `dir`) the rate of
/// log_files_crc_mb_per_s over `limit` bytes, "same_files_mb_per_s" (one pass when --records
/// fixed the scale), and r's rate as a fraction of it, "ratio_to_same_files": what a reader
/// of the log costs beyond checking the CRCs of its bytes where they lie. The row's ratio_to
/// raw.mmap_crc.1gib also includes how the page cache holds those bytes.
void same_files_floor(result& r, const context& ctx, const std::filesystem::path& dir, std::uint64_t limit,
                      double read_bytes);

/// raw.fdatasync.prezeroed.1k's loop (and raw.fdatasync.handoff.1k's, with `handed_off`), run
/// in slices, so that a workload can take turns with it: each slice of the wal and each slice
/// of the raw loop then meets the disk in the same seconds. The file holds `room` records,
/// zero-filled and synced at construction; writes go round it. The hand-over's second thread
/// runs during run() only.
class fdatasync_slices {
public:
    fdatasync_slices(const std::filesystem::path& file, std::uint64_t room, bool handed_off);
    ~fdatasync_slices();
    fdatasync_slices(const fdatasync_slices&) = delete;
    fdatasync_slices& operator=(const fdatasync_slices&) = delete;
    /// Writes and syncs `n` 1 KiB records, one at a time; the time it took.
    std::chrono::nanoseconds run(std::uint64_t n);

private:
    struct loop;
    std::unique_ptr<loop> loop_;
};

template <class T>
inline void keep(const T& value) noexcept {
    asm volatile("" : : "r,m"(value) : "memory");
}

}  // namespace noriwal::bench
