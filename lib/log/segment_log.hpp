// The synchronous log engine: a directory of segment files, one of them active.
//
// The engine owns the on-disk state of a log: it recovers it at open, appends groups of
// encoded records to the active segment (one write_at per segment touched per group), rotates
// into a prepared spare file when the next request does not fit, and tracks two watermarks:
// written (handed to the OS) and durable (covered by a completed fdatasync). It is
// single-threaded: every member function is called from one thread at a time (the writer
// strand of the async layer), except where a comment says otherwise. Two pieces of work are
// built to run elsewhere: run_sync() (the sync thread) and make_spare() (any thread).
//
// Invariants kept at every point where a crash can happen (see doc/durability.md):
// - segment ids only grow, and the segments present always form a contiguous id range;
// - each segment holds consecutive LSNs starting at the base_lsn of its header, and the next
//   segment's base_lsn is one past the previous segment's last LSN;
// - bytes after the written end of the active segment never decode as a record of that
//   segment (they are zeros, or stale records bound to an older segment id);
// - a record is reported durable only after its file was fdatasync'd and every directory
//   change before it (a segment created by rename, a segment removed) was fsync'd.
#pragma once

#include <noriwal/config.hpp>
#include <noriwal/detail/format.hpp>
#include <noriwal/file_system.hpp>
#include <noriwal/position.hpp>
#include <noriwal/recovery_info.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace noriwal::detail {

/// A snapshot of one segment.
struct segment_info {
    std::uint64_t id = 0;
    lsn_t base_lsn = 0;               ///< LSN of its first record (held or to come)
    lsn_t last_lsn = 0;               ///< 0 if it holds no record
    std::uint64_t records = 0;        ///< records it holds (after recovery: valid ones)
    std::uint64_t written_bytes = 0;  ///< end offset of its last record (64 if none)
    std::uint64_t created_ns = 0;     ///< from its header
    bool sealed = false;              ///< false only for the active segment
    std::filesystem::path path;
};

/// Files that must be fdatasync'd (and whether the directory must be fsync'd) to make
/// everything written so far durable. Built on the writer's thread by prepare_sync(), run on
/// any thread by run_sync(), completed on the writer's thread by sync_done(). It holds
/// shared_ptrs so that rotation, deletion or truncation never closes a file under a running
/// sync.
struct sync_job {
    std::vector<std::shared_ptr<file>> files;  ///< in order: sealed segments first, then active
    bool directory = false;                    ///< directory entries (new/renamed/removed) pending
    std::filesystem::path dir;
    std::shared_ptr<file_system> fs;
    lsn_t lsn = 0;                         ///< written watermark when the job was built
    std::uint64_t records = 0;             ///< appends it covers (for the meter's group size)
    std::chrono::nanoseconds duration{0};  ///< set by run_sync (for the meter)
    // Bookkeeping of the engine: which state of the log the job was built from.
    std::uint64_t epoch = 0;       ///< bumped by truncate_after: a job from before is ignored
    std::uint64_t dir_change = 0;  ///< directory changes covered
};

/// Runs a sync job: directory first, then each file (fdatasync). Any thread; touches no
/// engine state. Returns the first error (the job's files are then not known durable).
std::error_code run_sync(sync_job& job);

/// One caller's append in a group: a single record or an atomic batch.
struct append_request {
    /// Records encoded on the caller's thread (encode_record); the engine stamps their
    /// headers (segment id, LSN, type, durable watermark) in place.
    std::span<encoded_record* const> records;
    /// Batch: types first/middle/last, never split across segments; recovery returns all of
    /// it or none. A batch of one record is written as a full record.
    bool atomic = false;
    /// Receives one position per record (may be null).
    position* positions = nullptr;
};

/// What make_spare() needs to prepare the next segment file, by value so that it can run on
/// any thread while the engine goes on.
struct spare_request {
    std::shared_ptr<file_system> fs;
    std::filesystem::path dir;
    std::filesystem::path path;  ///< the spare's file name, chosen by the engine
    std::uint64_t size = 0;      ///< the size to prepare: the next segment's (first_segment_size steps)
    preallocation prealloc = preallocation::zero_fill;
};

/// A prepared spare file.
struct spare_segment {
    std::filesystem::path path;
    std::shared_ptr<file> f;  ///< open read-write
    std::uint64_t size = 0;   ///< its size (0 with preallocation::none): the records it can hold
};

/// Creates the spare file named by `req` and prepares it (zero_fill: written with zeros up to
/// req.size and fdatasync'd; fallocate: space reserved and fdatasync'd; none: empty), then
/// fsyncs the directory. Any thread (the file_system must allow calls from two threads).
/// On error, nothing is left behind that the next open would not remove.
std::error_code make_spare(const spare_request& req, spare_segment& out);

/// The close marker a clean close left in `dir` (doc/format.md), if there is one that decodes.
std::optional<close_marker> read_close_marker(file_system& fs, const std::filesystem::path& dir);

/// Name prefix and suffix of the engine's temporary files. A file named `spare-*.tmp` or
/// `truncate-*.tmp` in the log directory belongs to the engine: open removes it.
inline constexpr std::string_view spare_prefix = "spare-";
inline constexpr std::string_view truncate_prefix = "truncate-";
inline constexpr std::string_view temp_suffix = ".tmp";
/// A spare file that make_spare finished (zero-filled or reserved, synced, then renamed from
/// `spare-<n>.tmp`): `spare-<n>.ready`. It holds nothing but zeros (or a segment header an
/// interrupted activation wrote), so a read-write open keeps it as a spare instead of
/// preparing a new one; close keeps it too.
inline constexpr std::string_view ready_suffix = ".ready";

/// Whether `name` is a prepared spare's (`spare-<n>.ready`); `n` receives its number.
bool parse_ready_spare_name(std::string_view name, std::uint64_t& n) noexcept;

class segment_log {
public:
    /// Opens the log in cfg.dir: validates cfg (errc::invalid_config), creates the directory
    /// if missing unless read_only (read_only: errc::not_found if missing), takes the
    /// directory lock unless read_only (errc::locked), recovers per cfg.recovery and fills
    /// `info` (doc/durability.md has the rules). On failure returns the error and, in `why`,
    /// one line naming the file/field/offset; a refused open changes no file. A read-only
    /// open never writes, truncates, renames or removes anything; `info` then says what a
    /// read-write open would have done. A read-write open fdatasyncs every segment and the
    /// directory before it returns: durable_lsn() == written_lsn() afterwards.
    static std::error_code open(const wal_config& cfg, std::unique_ptr<segment_log>& out, recovery_info& info,
                                std::string& why);

    /// Releases files and the lock without syncing (use close() to sync).
    ~segment_log();
    segment_log(const segment_log&) = delete;
    segment_log& operator=(const segment_log&) = delete;

    // ------------------------------------------------------------- write path (writer thread)

    /// Writes the group with one write_at (pwritev) per segment touched. Assigns consecutive
    /// LSNs in order, stamps each record (segment id, LSN, type, durable watermark), rotates
    /// when the next request does not fit (a batch is never split across segments; a
    /// non-atomic request of several records may be). results[i] receives the outcome of
    /// group[i]: a request with no record or with a record/batch larger than max_record_size
    /// or a segment (minus its header) fails alone (errc::invalid_argument /
    /// errc::record_too_large) and the others are still written. Returns the I/O error if a
    /// write failed (the requests of that write get it too, earlier written ones succeed);
    /// the log is then poisoned: every later call fails with errc::poisoned.
    /// errc::read_only if opened read-only, errc::closed after close().
    std::error_code append(std::span<append_request> group, std::span<std::error_code> results);

    /// Whether append() would write `bytes` of records into the active segment with one write
    /// and nothing else: the log is writable, they fit, and no rotation by age is due. The
    /// wal writes such an append speculatively on its caller's thread, which must never create
    /// or rotate a segment file.
    bool fits_active_segment(std::uint64_t bytes) const;

    /// The job that makes everything written so far durable (empty files and no directory
    /// work if there is nothing to do).
    sync_job prepare_sync();
    /// Completes a job: on success advances the durable watermark to job.lsn (unless a
    /// truncate_after happened since the job was built); on error poisons the log (a failed
    /// fdatasync is never retried as a success).
    void sync_done(const sync_job& job, std::error_code ec);
    /// prepare_sync + run_sync + sync_done on this thread.
    std::error_code sync();

    /// Last LSN written to the OS (0: none). Any thread (an atomic).
    lsn_t written_lsn() const noexcept { return written_lsn_.load(std::memory_order_acquire); }
    /// Last LSN known fdatasync'd. Any thread (an atomic).
    lsn_t durable_lsn() const noexcept { return durable_lsn_.load(std::memory_order_acquire); }
    /// First LSN the log holds (or will hold when empty: then it equals next_position().lsn).
    lsn_t first_lsn() const noexcept;
    /// Where the next record goes if it fits in the active segment (lsn = the next LSN).
    position next_position() const noexcept;
    bool poisoned() const noexcept { return poisoned_; }
    /// LSN ranges missing from the log because skip_corrupted recovery skipped damaged
    /// records (sorted, disjoint; empty in the other modes). Ranges before first_lsn() are
    /// dropped as segments are deleted.
    const std::vector<lsn_range>& skipped() const noexcept { return skipped_; }

    // ------------------------------------------------------------- management (writer thread)

    /// Deletes (or recycles, with cfg.recycle_segments) every sealed segment all of whose
    /// records have LSN < p.lsn, oldest first, never the active one; the directory is
    /// fsync'd before it returns. `deleted` receives the count.
    std::error_code delete_segments_before(const position& p, std::uint64_t& deleted);
    /// Removes every record with LSN > lsn, crash-safe (recovery after a crash at any point
    /// yields a contiguous prefix, never a resurrected record). Afterwards everything up to
    /// `lsn` is durable and the next append gets lsn + 1. lsn >= written_lsn(): no-op. An lsn
    /// below the first retained record empties the log (the next append gets lsn + 1;
    /// truncate_after(0) makes it start again at 1). An lsn inside an atomic batch (not its
    /// last record) is refused with errc::invalid_argument and changes nothing.
    std::error_code truncate_after(lsn_t lsn);
    /// Replaces the whole log by an empty one whose next append gets `next_lsn` (any value in
    /// 1 .. 2^63 - 1, below or above the LSNs held), crash-safe: recovery after a crash at any
    /// point yields a contiguous prefix of the old log or the empty new one. Afterwards
    /// first_lsn() == next_position().lsn == next_lsn, durably. errc::invalid_argument for 0.
    std::error_code reset_to(lsn_t next_lsn);
    /// Deletes sealed segments whose newest record is older than cfg.retention at `now_ns`
    /// (nanoseconds since the Unix epoch). No-op when retention is zero.
    std::error_code apply_retention(std::uint64_t now_ns, std::uint64_t& deleted);
    /// Seals the active segment and starts the next one if the active segment holds a
    /// record and was created at least cfg.max_segment_age before `now_ns` (no-op when the
    /// age limit is zero). append() checks this itself with the engine's clock.
    std::error_code rotate_if_older_than(std::uint64_t now_ns);
    /// When the active segment becomes due for rotation by age (empty if never: no age
    /// limit or no record in it). For the async layer's timer.
    std::optional<std::uint64_t> rotation_due_ns() const noexcept;
    /// Seals the active segment now if it holds a record.
    std::error_code rotate();
    /// Syncs, leaves the close marker (doc/format.md: where the log ended, so that the next
    /// open takes damage before it for damage in the durable log), then releases files and the
    /// lock. Every later call fails with errc::closed.
    std::error_code close();

    // ------------------------------------------------------------- spare segment

    /// If no spare file is ready or being prepared, returns the request for one and counts it
    /// as being prepared. Run make_spare(*req, spare) on any thread, then hand the result to
    /// spare_ready() on the writer thread. Without this, rotation creates the spare inline.
    std::optional<spare_request> spare_needed();
    /// Takes a spare prepared by make_spare. With ec set (make_spare failed and removed what
    /// it made) nothing is kept and rotation makes a spare inline. A spare beyond the two the
    /// engine keeps, or handed back after close(), is removed.
    void spare_ready(spare_segment spare, std::error_code ec);

    // ------------------------------------------------------------- inspection

    /// Snapshot of every segment, oldest first (the last one is the active segment).
    std::vector<segment_info> segments() const;
    const wal_config& config() const noexcept { return cfg_; }

    /// The engine's clock (nanoseconds since the Unix epoch): segment creation times and
    /// rotation by age. Default: std::chrono::system_clock. For tests.
    void set_clock(std::function<std::uint64_t()> now_ns);
    /// With recycle_segments, asks whether a deleted segment may be recycled (its file
    /// reused and overwritten); false: it is unlinked instead. Readers that map segments
    /// must answer false for a mapped segment. Default: always true.
    void set_recycle_filter(std::function<bool(std::uint64_t segment_id)> may_recycle);

private:
    struct segment;  // one segment's state (defined in segment_log.cpp)

    segment_log();
    std::error_code check_writable() const;
    std::error_code poison(std::error_code ec);
    std::error_code write_header(file& f, const segment& s);
    spare_request next_spare_request();
    std::uint64_t next_segment_size() const noexcept;
    std::uint64_t capacity_of(std::uint64_t prepared_size) const noexcept;
    std::error_code activate(std::uint64_t id, std::uint64_t need);
    std::error_code rotate_now(std::uint64_t need);
    std::error_code drop_oldest();
    std::error_code sync_directory_now();
    std::error_code write_close_marker();
    std::error_code cut_after(lsn_t lsn, bool empties);
    void forget_skipped_before(lsn_t lsn);

    wal_config cfg_;
    std::shared_ptr<file_system> fs_;
    std::unique_ptr<directory_lock> lock_;
    std::vector<segment> segments_;  // oldest first; back() is active (when writable)
    std::vector<spare_segment> spares_;
    bool spare_in_flight_ = false;
    std::uint64_t spare_counter_ = 0;

    std::atomic<lsn_t> written_lsn_{0};
    std::atomic<lsn_t> durable_lsn_{0};
    lsn_t next_lsn_ = 1;
    std::uint64_t unsynced_records_ = 0;
    std::uint64_t epoch_ = 0;
    std::uint64_t dir_changes_ = 0;  // directory changes made so far
    std::uint64_t dir_changes_synced_ = 0;
    bool poisoned_ = false;
    bool closed_ = false;
    std::vector<lsn_range> skipped_;

    std::function<std::uint64_t()> clock_;
    std::function<bool(std::uint64_t)> may_recycle_;

    // Reused per group (no allocation per record on the hot path).
    std::vector<std::span<const std::byte>> iov_;

    friend struct segment_log_access;  // tests
};

}  // namespace noriwal::detail
