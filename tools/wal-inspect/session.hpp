// A read subcommand's pass over a log: the segments read without writing anything, the walk,
// progress on stderr, and every damaged region reported on stderr as it is met.
#pragma once

#include "command.hpp"
#include "record_walk.hpp"
#include "text.hpp"

#include <noriwal/file_system.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace noriwal::inspect {

/// The log directory named by the DIR argument.
std::filesystem::path dir_argument(const po::variables_map& vm);

/// One line describing a damaged region the walk stepped over (without a trailing newline).
std::string describe(const walk_damage& d);

class log_session {
public:
    /// Reads the segments of `dir` (throws failure as read_segments does). `activity` names the
    /// operation in the progress line. With `report` false, damage is collected but not printed.
    log_session(context& ctx, const std::filesystem::path& dir, std::string activity, bool report = true);

    record_walk& walk() noexcept { return walk_; }

    /// Finds where a read-write open in the default recovery mode (tolerate_corrupted_tail)
    /// would end the log: records after it lie beyond the recoverable prefix (valid records
    /// after a hole that recovery takes for a torn tail). Reads the whole log once more. For
    /// commands that read a log at rest (dump, get), not for tail -f, whose log grows.
    void find_recoverable_end();
    /// The record at `lsn` is one the default open would cut (find_recoverable_end first).
    bool beyond_recoverable_end(lsn_t lsn) const noexcept {
        return recoverable_end_ && lsn > *recoverable_end_;
    }
    /// The last LSN the default open keeps, when it opens at all (empty: it refuses, cutting
    /// nothing, or find_recoverable_end was not called).
    std::optional<lsn_t> recoverable_end() const noexcept { return recoverable_end_; }
    /// The next record (updating the progress line now and then); false at the end.
    bool next(walked_record& r);
    /// Erases the progress line (before printing a report).
    void done() { progress_.clear(); }

    const std::vector<walk_damage>& damages() const noexcept { return damages_; }
    /// Damage was met other than at the end of the log. A torn record at the end is what a
    /// crash leaves (recovery cuts it) or a write in progress: reported, but not counted.
    bool damaged() const noexcept {
        for (const walk_damage& d : damages_)
            if (!d.at_tail) return true;
        return false;
    }
    /// Exit status for a read subcommand: exit_damage if damage was met, exit_ok otherwise.
    int status() const noexcept { return damaged() ? exit_damage : exit_ok; }
    /// Sum of the segment files' sizes.
    std::uint64_t file_bytes() const noexcept { return total_; }
    const std::filesystem::path& dir() const noexcept { return dir_; }
    const std::shared_ptr<file_system>& fs() const noexcept { return fs_; }

private:
    context* ctx_;
    std::filesystem::path dir_;
    std::shared_ptr<file_system> fs_;
    record_walk walk_;
    progress progress_;
    std::vector<walk_damage> damages_;
    std::uint64_t total_ = 0;
    std::uint64_t count_ = 0;
    std::optional<lsn_t> recoverable_end_;
};

}  // namespace noriwal::inspect
