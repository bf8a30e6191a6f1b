// What recovery found when a log was opened.
#pragma once

#include <noriwal/position.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace noriwal {

/// The kinds of damage recovery can find. See doc/durability.md.
enum class damage_kind : std::uint8_t {
    torn_record,          ///< a record cut short by the end of the file or written region
    bad_checksum,         ///< a record whose header or payload CRC32C does not match
    bad_length,           ///< a record length beyond max_record_size or the segment
    stale_record,         ///< bytes of an older record (recycled segment), not of this log
    lsn_gap,              ///< a valid record whose LSN does not follow its predecessor
    incomplete_batch,     ///< the first records of an atomic batch without its last one
    bad_segment_header,   ///< a segment header that fails its CRC or names another segment
    missing_segment,      ///< a segment id missing between two present segments
    unsupported_version,  ///< a segment written by an unknown major format version
    garbage_after_end,    ///< non-zero bytes after the clean end of the last segment
    truncated_file,       ///< a preallocated segment file shorter than it was prepared (something cut it)
};

/// The name of a damage kind, as in the enumeration ("torn_record", ...).
std::string_view to_string(damage_kind) noexcept;

/// One place where recovery found damage.
struct damage {
    /// The segment file it is in.
    std::uint64_t segment_id = 0;
    std::uint64_t offset = 0;  ///< byte offset in the segment file where the damage starts
    std::uint64_t length = 0;  ///< bytes judged damaged (or removed), 0 if unknown
    /// What was found there.
    damage_kind kind{};
    /// True when valid records that were already durable follow the damage (the damage is
    /// in the middle of the log); false for a torn tail of unsynced writes.
    bool mid_log = false;
};

/// What recovery found and did when a log was opened (wal::opened::recovery, the third
/// argument of async_open's handler). doc/durability.md, "What recovery_info says".
struct recovery_info {
    /// Records kept (in skip_corrupted mode, counted across the gaps).
    std::uint64_t valid_records = 0;
    /// Segment files read.
    std::uint64_t segments_scanned = 0;
    /// Bytes removed from the log: the cut tail of the last kept segment and the non-zero
    /// extent of each removed segment.
    std::uint64_t bytes_truncated = 0;
    /// Records the log held that it no longer holds after recovery (cut or skipped). After a
    /// clean close (the log left a close marker) this is exact: every LSN up to the last one
    /// at close that is not kept. Otherwise it counts the valid records found after a cut and
    /// the LSNs skipped, a lower bound (records destroyed by the damage cannot be counted).
    std::uint64_t records_truncated = 0;
    /// The log was closed cleanly last time (it left a close marker): damage before where it
    /// ended is damage in the durable log, never a torn tail.
    bool clean_close = false;
    lsn_t first_lsn = 0;  ///< of the records kept; 0 when the log is empty
    lsn_t last_lsn = 0;   ///< of the records kept; 0 when the log is empty
    /// Segment, offset and LSN of the last record kept.
    position last_valid{};
    /// Some damage was found (informational stale_record entries aside).
    bool corruption_detected = false;
    /// Every damage found, in log order.
    std::vector<damage> damages;
    /// After a failed async_open: one line saying what was wrong, where (file, offset, field)
    /// and what to do: the same line as the blocking open's exception. Empty otherwise.
    std::string error_message;
};

}  // namespace noriwal
