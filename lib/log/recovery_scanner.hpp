// The recovery scanner: a sans-I/O state machine that reads the segments of a log, oldest
// first, each as one span of bytes (the caller maps the file and releases the mapping before
// the next), and decides what the log holds and what a recovery mode keeps, cuts or refuses.
// It allocates per segment and per damage, never per record.
//
// How a segment is read. Records are decoded from offset 64. A record is accepted when it
// decodes (CRCs bound to the segment id), its LSN is the next expected one, and its batch
// completes (first..last without interruption; a batch never spans segments). Anything else
// is a stop. From a stop the scanner surveys forward in 8-byte steps for the next record that
// decodes under the segment id (cheap field checks before any CRC), noting the extent of
// non-zero bytes and whether the bytes hold stale records (see below).
//
// Stops and damage:
// - All-zero header, or the exact end of the file, with nothing valid after it in the
//   segment: the end of the segment. For a sealed segment it is proven by the next segment,
//   whose base_lsn must be the next expected LSN (otherwise the stop is damage: records were
//   lost there, torn_record). In the last segment it is the clean end of the log, provided no
//   non-zero bytes follow (garbage_after_end otherwise).
// - Stale bytes (a header whose CRC holds under an older segment id, or a record of this
//   segment with an LSN already passed): left by an earlier use of a recycled file. Where the
//   segment would otherwise end, they are its end; in the last segment this is reported as a
//   stale_record entry that is informational (no corruption, never refused).
// - Anything else (bad CRC, bad length, a record cut short, an LSN gap, a batch without its
//   last record, a bad segment header, a missing segment id) is damage.
// Each damage carries the LSN n that was expected where it starts. It lies in the durable
// middle of the log ("mid_log") when a valid record found after it (same segment, later
// segments) carries a durable hint >= n: its writer knew record n was fdatasync'd.
// Two more kinds of evidence make damage mid-log whatever the hints say (doc/durability.md):
// - a close marker (the log was closed cleanly at LSN L): damage at n <= L, and records up to
//   L that are missing at the end, hit records that were durable;
// - a segment header's prepared_size: a preallocated file never shrinks, so a file shorter
//   than it was prepared, whose records run into its end, was cut (truncated_file).
#pragma once

#include <noriwal/config.hpp>
#include <noriwal/detail/format.hpp>
#include <noriwal/recovery_info.hpp>

#include "format/record_walk.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace noriwal::detail {

/// What the scanner learned about one segment file.
struct scanned_segment {
    std::uint64_t id = 0;
    std::uint64_t file_size = 0;
    bool header_ok = false;   ///< the header decodes and names this segment
    segment_header header{};  ///< valid when header_ok
    lsn_t base_lsn = 0;       ///< the header's, or the LSN expected where the segment began
    lsn_t first_lsn = 0;      ///< of the accepted records (0: none)
    lsn_t last_lsn = 0;
    std::uint64_t records = 0;        ///< accepted records
    std::uint64_t last_offset = 0;    ///< offset of the last accepted record
    std::uint64_t end = 0;            ///< offset after the last accepted record (64 if none)
    std::uint64_t data_end = 0;       ///< offset after the last non-zero byte of the file
    std::uint64_t prepared_size = 0;  ///< the header's (0: not preallocated, or unknown)
    bool all_zero = false;            ///< every byte is zero (a file activated but never written)
    bool tail_clean = true;           ///< nothing but zeros or stale bytes after `end` needs cutting
};

/// What recovery keeps, cuts and reports. Applying it is the engine's job.
struct recovery_plan {
    std::error_code error;  ///< corrupted / unsupported_version / not_a_log (then nothing else counts)
    std::string why;        ///< one line naming the file and offset
    std::vector<scanned_segment> kept;   ///< the segments that stay, oldest first
    std::vector<std::uint64_t> removed;  ///< segment ids to delete, highest first
    /// Bytes of kept.back() to overwrite with zeros: a cut tail [zero_from, zero_to).
    std::uint64_t zero_from = 0;
    std::uint64_t zero_to = 0;
    /// The last kept segment is an all-zero file (activated, never written): its header is
    /// to be written again.
    bool reset_last = false;
    recovery_info info;              ///< valid_records .. damages (bytes_truncated included)
    std::vector<lsn_range> skipped;  ///< skip_corrupted: LSNs without a record
    lsn_t next_lsn = 1;              ///< the LSN the next append gets
};

class recovery_scanner {
public:
    explicit recovery_scanner(recovery_mode mode) noexcept : mode_(mode) {}

    /// The log was closed cleanly where `m` says (its CLOSED file), before any segment is fed.
    void set_clean_close(const close_marker& m) { closed_ = m; }

    /// Feeds the next segment file (ids strictly increasing): its id from the file name and
    /// all its bytes. Returns an error when the file cannot be read as a segment at all
    /// (unsupported_version; not_a_log for a file without the magic that holds no record);
    /// the scan is then over and `why` names the file.
    std::error_code add_segment(std::uint64_t id, std::span<const std::byte> bytes, std::string& why);

    /// Decides, after the last segment.
    recovery_plan finish();

private:
    enum class cause : std::uint8_t { zero, eof, stale, damage };
    struct stop {
        cause why = cause::eof;
        damage_kind kind{};  // when why == damage
        std::uint64_t offset = 0;
        std::uint64_t first_nonzero = 0;  // of the bytes after the stop
        bool junk_after = false;          // non-zero bytes after a zero stop
        bool stale_after = false;         // ... among which a stale record header
    };
    struct open_batch {
        bool open = false;
        std::uint64_t start = 0;  // offset of its first record
        lsn_t first = 0;
        lsn_t next = 0;
        std::uint64_t count = 0;
        std::uint64_t last_offset = 0;
        std::uint64_t end = 0;
    };

    void scan_records(std::span<const std::byte> bytes);
    bool on_record(const record_view& rv, std::uint64_t offset);
    void drop_batch(std::uint64_t at);
    void accept(const record_view& rv, std::uint64_t offset);
    void note_valid(const record_view& rv);
    void add_damage(std::uint64_t segment_id, std::uint64_t offset, std::uint64_t length, damage_kind kind,
                    lsn_t n, std::uint64_t cut_index, std::uint64_t cut_offset);
    void informational(std::uint64_t segment_id, std::uint64_t offset, std::uint64_t length,
                       damage_kind kind);
    void resolve_pending_stop(bool at_finish, bool next_continues);
    void add_truncated_file(const scanned_segment& s, std::uint64_t offset, lsn_t n, std::uint64_t index);
    void check_closed_end();
    bool cutting() const noexcept { return mode_ != recovery_mode::skip_corrupted; }

    recovery_mode mode_;
    std::vector<scanned_segment> segments_;
    lsn_t expected_ = 0;      // next LSN expected; 0: unknown (no usable header or record seen yet)
    open_batch batch_;        // while open, expected_ is its first LSN
    bool surveying_ = false;  // a cutting mode found its first damage: only hints are collected
    std::uint64_t valid_in_segment_ = 0;

    stop last_stop_{};           // where the last segment fed ended
    bool stop_pending_ = false;  // last_stop_ awaits the next segment (or finish) to be judged

    struct damage_entry {
        damage d;
        lsn_t n = 0;  // LSN expected where it starts (0: set by the next valid record)
        bool informational = false;
        std::string reason;  // why it is mid-log when not by the hints (close marker, cut file)
    };
    std::vector<damage_entry> damages_;
    std::size_t marked_ = 0;  // damages_[0, marked_) are settled (mid-log, or informational)

    // Cutting modes: the log is kept up to the first damage. Segments [0, cut_index_] stay
    // (none if cut_index_ is before_all), the last of them up to cut_offset_.
    bool have_cut_ = false;
    std::uint64_t cut_index_ = 0;
    std::uint64_t cut_offset_ = 0;
    std::size_t cut_damage_ = 0;  // index in damages_ of the first damage
    std::vector<lsn_range> skipped_;
    std::optional<close_marker> closed_;  // the log was closed cleanly there
    std::uint64_t surveyed_records_ = 0;  // valid records seen after the cut (cutting modes)
};

}  // namespace noriwal::detail
