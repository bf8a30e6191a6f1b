// A read subcommand's pass over a log: the segments read without writing anything, the walk,
// progress on stderr, and every damaged region reported on stderr as it is met.
#pragma once

#include "command.hpp"
#include "record_walk.hpp"
#include "text.hpp"

#include <noriwal/file_system.hpp>

#include <filesystem>
#include <memory>
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
};

}  // namespace noriwal::inspect
