// The directory source of a reader (reader::open_directory): the segment files of a log
// directory that another process may be writing. It lists and maps the files itself, takes no
// lock and never writes.
//
// It has no watermark: the end of the log is where no record with the expected LSN decodes,
// and the next segment file, when one appears, says whether the current one is finished (its
// base LSN is the next LSN). A writer that truncates its log replaces the file of the segment
// it cuts, and its garbage collection deletes files: the source notices both (see
// verify_current_file).
#pragma once

#include <noriwal/file_system.hpp>
#include <noriwal/reader.hpp>

#include "read/cursor.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <system_error>
#include <vector>

namespace noriwal::detail {

class directory_source {
public:
    /// `dir` is a directory of `fs`.
    directory_source(std::shared_ptr<file_system> fs, std::filesystem::path dir, const reader_options& opts);

    /// Records with a longer body are taken for damage (reader_options::max_record_size).
    std::uint32_t decode_limit() const noexcept { return limit_; }

    // The steps of reader_core::try_next.
    /// Before a read: now and then (every poll_interval, looked at every 64 reads), checks that
    /// the file the cursor reads is still its segment's file.
    std::error_code begin_read(cursor_state& cur);
    /// Maps the segment of `cur.expected` if the cursor has none.
    read_step find_record(cursor_state& cur, std::error_code& ec);
    /// The bytes at the cursor are not the record expected: the file may have grown, the
    /// segment may be finished (or damaged), or this is the end of the log for now.
    read_step on_mismatch(cursor_state& cur, decode_status st, const record_view& rv, std::error_code& ec);
    /// Damage is final: no view of the log to take again.
    bool view_changed() const noexcept { return false; }

    /// Before the first record of the first segment file (seek_start) or after the last record
    /// of the last one (seek_end, `to_end`).
    std::error_code seek_edge(cursor_state& cur, bool to_end) { return seek_to(cur, 0, to_end); }
    std::error_code seek(cursor_state& cur, lsn_t lsn) { return seek_to(cur, lsn, false); }
    /// `p.lsn` is not 0.
    std::error_code seek(cursor_state& cur, const position& p);
    /// For read_at: p's segment file mapped, and its size; errc::not_found if there is none.
    std::error_code map_for_read_at(const position& p, std::shared_ptr<const segment_map>& out,
                                    std::uint64_t& end);

    /// Waits a poll_interval (next()).
    void wait_for_change() const;

private:
    struct listed_segment {
        std::uint64_t id = 0;
        lsn_t base_lsn = 0;
    };

    std::error_code seek_to(cursor_state& cur, lsn_t lsn, bool to_end);
    std::error_code list_directory();
    std::error_code read_segment_header(std::uint64_t id, lsn_t& base);
    std::error_code map_file(std::uint64_t id, std::shared_ptr<const segment_map>& out);
    /// Maps the segment of cur.expected (the first one when the log's start is followed) and
    /// finds its offset there.
    std::error_code enter_segment(cursor_state& cur);
    /// The segment after the cursor's, if there is one now.
    bool probe_next_segment(const cursor_state& cur, listed_segment& next);
    std::error_code verify_current_file(cursor_state& cur, bool& switched);

    std::shared_ptr<file_system> fs_;
    std::filesystem::path dir_;
    std::uint32_t limit_;
    std::chrono::milliseconds poll_interval_;
    std::vector<listed_segment> segments_;  // as last listed or probed, oldest first
    std::chrono::steady_clock::time_point last_verify_{};
    unsigned reads_since_verify_ = 0;
    bool verified_ = false;  // in the read going on (at most once per read)
};

}  // namespace noriwal::detail
