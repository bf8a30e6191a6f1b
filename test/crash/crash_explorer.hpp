// Crash-state exploration on the simulated disk.
//
// A workload runs the log on a sim_disk. At chosen operations (every mutating operation of a
// small workload, a seeded random sample of a large one) the disk is snapshotted: that is a
// crash point. For each crash point the explorer builds the power-cut states the disk can
// produce (unsynced writes dropped, any subset kept, a write torn at 512-byte or 4 KiB
// sectors, a sector of garbage, directory operations rolled back), recovers each one with the
// engine and checks, through an independent reader of the files (support/log_check.hpp):
//   - the LSNs form a contiguous range, every record equal to what was appended at that LSN
//     (no stale, phantom, torn or joined record) and every atomic batch whole or absent;
//   - every LSN acknowledged as durable at the crash point is there;
//   - recovering again (after a process crash, then after a power cut) gives the same log;
//   - appending after recovery works, and survives another power cut;
//   - a clean close of the recovered log leaves a close marker that the next open finds, with
//     no damage before it and every record kept (reopen after recovery).
#pragma once

#include <noriwal/config.hpp>

#include "log/segment_log.hpp"
#include "support/log_check.hpp"
#include "support/sim_disk.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace noriwal::test {

inline const std::filesystem::path crash_dir = "/log";

/// How many power-cut states each crash point gets.
struct exploration_options {
    /// All subsets of the unsynced writes and directory operations when there are at most
    /// this many of them together; otherwise `samples` seeded random plans.
    std::size_t max_exhaustive = 8;
    std::size_t samples = 24;
    /// For each unsynced write: torn at each 512-byte sector prefix (at most this many) and at
    /// each 4 KiB prefix, and a garbage sector at its first and its last 512-byte sector, with
    /// every earlier write kept and every later one dropped (an in-order disk's torn tail).
    std::size_t max_tears_per_write = 6;
    bool garbage = true;
    /// Also recover twice and append after recovery (three recoveries per state).
    bool deep = true;
    std::uint64_t seed = 1;
};

class crash_explorer {
public:
    /// `base` is the configuration recovery opens with (dir and fs are set by the explorer).
    crash_explorer(wal_config base, exploration_options opts);

    /// Checks every power-cut state of `disk` (a snapshot taken at the crash point) against
    /// `e`. `where` names the crash point in failure messages.
    void explore(const sim_disk& disk, const log_expectation& e, const std::string& where);

    /// What a recovered log must satisfy: returns an empty string, or what is wrong.
    using log_check = std::function<std::string(const std::vector<read_record>&)>;
    /// The same with any check of the recovered records (e.g. a concurrent workload whose
    /// records name themselves). `required` (for messages) says what must be there.
    void explore(const sim_disk& disk, const log_check& check, const std::string& where,
                 const std::string& required);

    std::size_t points() const noexcept { return points_; }
    std::size_t states() const noexcept { return states_; }
    std::size_t failures() const noexcept { return failures_; }
    exploration_options& options() noexcept { return opts_; }

private:
    std::vector<power_cut_plan> plans_for(const sim_disk& disk);
    // Returns an empty string or what went wrong.
    std::string check_state(const sim_disk& disk, const power_cut_plan& plan, const log_check& check);
    std::unique_ptr<detail::segment_log> open_on(const std::shared_ptr<sim_disk>& disk, std::string& why,
                                                 recovery_info* found = nullptr);

    wal_config base_;
    exploration_options opts_;
    std::size_t points_ = 0;
    std::size_t states_ = 0;
    std::size_t failures_ = 0;
    std::uint64_t plan_seed_;
};

/// One plan in words, for failure messages.
std::string describe(const power_cut_plan& p);

/// Encodes and appends `contents` as one request (an atomic batch if `atomic`) and returns
/// the append's error; positions receives one position per record.
std::error_code append_contents(detail::segment_log& log, const std::vector<record_content>& contents,
                                bool atomic, std::vector<position>* positions = nullptr);

/// Several requests in one group (one append() call).
struct append_group_request {
    std::vector<record_content> contents;
    bool atomic = false;
};
std::error_code append_group(detail::segment_log& log, const std::vector<append_group_request>& group,
                             std::vector<std::error_code>& results);

/// Whether a sim_op changes the disk (the operations after which a crash point is taken).
bool is_mutating(sim_op op) noexcept;

}  // namespace noriwal::test
