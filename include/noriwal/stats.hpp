// Counters and histograms of a wal, and their rendering in the Prometheus text format.
#pragma once

#include <noriwal/position.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace noriwal {

/// A histogram snapshot. `counts[i]` holds the observations `v` with
/// `bounds[i-1] < v <= bounds[i]` (not cumulative); the last count, `counts[bounds.size()]`,
/// holds those above the last bound. `sum` is the sum of all observations, in the unit of the
/// bounds (seconds for durations, a count for sizes).
struct histogram {
    std::vector<double> bounds;
    std::vector<std::uint64_t> counts;
    double sum = 0;
    std::uint64_t count = 0;

    /// The smallest bound below which at least `q` (0..1) of the observations fall; the last
    /// bound when they lie above it, 0 when the histogram is empty. An upper estimate of the
    /// q-quantile with the resolution of the buckets.
    double quantile(double q) const noexcept;
};

/// A snapshot of what a wal has done since it was opened. Taken with wal::stats() from any
/// thread; the fields are read one by one, so two of them may differ by appends that
/// completed while the snapshot was taken.
struct wal_stats {
    std::uint64_t appends = 0;           ///< appends completed successfully (a batch counts once)
    std::uint64_t records = 0;           ///< records written (a batch counts each record)
    std::uint64_t bytes = 0;             ///< bytes written to segments, framing included
    std::uint64_t writes = 0;            ///< write system calls (one per group per segment touched)
    std::uint64_t fsyncs = 0;            ///< fdatasync rounds completed (group commits)
    std::uint64_t failed_appends = 0;    ///< appends completed with an error (aborted ones included)
    std::uint64_t segments_rolled = 0;   ///< segments sealed
    std::uint64_t segments_deleted = 0;  ///< segments deleted or recycled
    lsn_t written_lsn = 0;               ///< last LSN handed to the OS
    lsn_t durable_lsn = 0;               ///< last LSN known to be fdatasync'd
    bool poisoned = false;               ///< a write or fsync failed; the wal accepts nothing more

    histogram fsync_seconds;     ///< duration of each fdatasync round (directory + files)
    histogram append_seconds;    ///< from initiation of an append to its completion
    histogram fsync_group_size;  ///< records made durable by each fdatasync round
    histogram write_group_size;  ///< records written by each group write
};

/// Renders `s` in the Prometheus text exposition format (version 0.0.4): a HELP and a TYPE
/// line per metric, counters named `<prefix>_..._total`, histograms as `_bucket{le="..."}`
/// (cumulative, ending with `le="+Inf"`), `_sum` and `_count`. `prefix` must be a valid
/// metric name prefix (letters, digits, underscores); "noriwal" when left out.
std::string to_prometheus(const wal_stats& s, std::string_view prefix = "noriwal");

}  // namespace noriwal
