// Configuration of a wal. Every field has a safe default; validate() names the field and the
// allowed range of anything out of bounds.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <noriwal/record.hpp>

#include <boost/asio/any_io_executor.hpp>

namespace noriwal {

class file_system;
class meter;

/// When appends are made durable. See doc/durability.md for the exact contract.
/// A small value type: compare with ==, copy freely.
class fsync_policy {
public:
    /// Which of the three policies (see the factory functions below).
    enum class kind : std::uint8_t { always, batch, os };

    /// Every append completes only after an fdatasync that covers it (shared by concurrent
    /// appenders: group commit).
    static constexpr fsync_policy always() noexcept { return {kind::always, {}}; }
    /// Appends complete once written to the OS; a timer fdatasyncs every record at most
    /// `window` after its append completed, even if no further append comes.
    static constexpr fsync_policy batch(std::chrono::microseconds window) noexcept {
        return {kind::batch, window};
    }
    /// Appends complete once written to the OS; fdatasync only on async_sync, rotation of a
    /// durable append (durability::always()) and close.
    static constexpr fsync_policy os() noexcept { return {kind::os, {}}; }

    /// Which policy this is.
    constexpr kind policy() const noexcept { return kind_; }
    /// The batch window (zero for always and os).
    constexpr std::chrono::microseconds window() const noexcept { return window_; }
    friend constexpr bool operator==(const fsync_policy&, const fsync_policy&) = default;

private:
    constexpr fsync_policy(kind k, std::chrono::microseconds w) noexcept : kind_(k), window_(w) {}
    kind kind_;
    std::chrono::microseconds window_;
};

/// What recovery does with damage (the names and meanings of RocksDB's WAL recovery modes).
enum class recovery_mode : std::uint8_t {
    /// A torn tail of unsynced writes is cut off; damage that durable records follow is an
    /// error (errc::corrupted).
    tolerate_corrupted_tail,
    /// Any damage, even a torn tail, is an error. Only a clean end is accepted.
    absolute_consistency,
    /// The log ends at the first damage, wherever it is; everything after it is cut off.
    point_in_time,
    /// Damaged records are skipped and every valid record after them is kept (salvage):
    /// LSNs may then have gaps, which recovery_info lists.
    skip_corrupted,
};

/// The enumerator's name, as spelled in code ("point_in_time").
std::string_view to_string(recovery_mode m) noexcept;

/// How the next segment file is prepared before it is needed.
enum class preallocation : std::uint8_t {
    zero_fill,  ///< written with zeros and fdatasync'd ahead of need (fastest fdatasync)
    fallocate,  ///< space reserved with fallocate (unwritten extents)
    none,       ///< the file grows as records are appended
};

/// Configuration of a wal, given to wal::open / wal::async_open (which copy it). Every field
/// has a safe default except dir; validate() checks them all.
struct wal_config {
    /// Directory of the log; created if missing (unless read_only).
    std::filesystem::path dir;
    /// LSN of the first record of a new log (one whose directory holds no segment file yet),
    /// for a log that continues a sequence kept elsewhere (a raft log after a snapshot). A log
    /// that exists keeps its own LSNs. At least 1, below 2^63.
    std::uint64_t first_lsn = 1;
    /// A segment is sealed and the next one started when the next write would exceed this.
    std::uint64_t max_segment_size = 128ull << 20;
    /// With preallocation (zero_fill, fallocate): the size the first segment file of a log is
    /// prepared to. Each later segment file is prepared twice as large as the active one, up
    /// to max_segment_size, so that a small log takes little disk and opens quickly while a
    /// busy one reaches full-size segments after a few rotations (doc/api.md, "Disk space").
    /// A record that does not fit gets a segment file large enough for it. Zero, or a value
    /// >= max_segment_size: every segment file is max_segment_size. 0 or 4096 .. 2^40.
    std::uint64_t first_segment_size = 1ull << 20;
    /// A segment is also sealed once it is this old (zero: no age limit).
    std::chrono::milliseconds max_segment_age{0};
    /// Largest record (key + value as stored + metadata) accepted; larger is
    /// errc::record_too_large. An atomic batch must fit in one segment.
    std::uint32_t max_record_size = 64u << 20;
    /// When appends are made durable (doc/durability.md). The window must be > 0 and <= 10 s.
    fsync_policy fsync = fsync_policy::batch(std::chrono::milliseconds(5));
    /// What open does with damage it finds.
    recovery_mode recovery = recovery_mode::tolerate_corrupted_tail;
    /// How the next segment file is prepared.
    preallocation prealloc = preallocation::zero_fill;
    /// Reuse deleted segments as the next segment instead of unlinking them.
    bool recycle_segments = false;
    /// Compression used when a record does not choose one.
    compression default_compression = compression::none;
    /// Values shorter than this are never compressed by default_compression.
    std::uint32_t compression_min_size = 256;
    /// Zstd compression level, 1 .. 22.
    int zstd_level = 3;
    /// Written into every segment header (identifies the writer, as in nori-wal).
    std::uint64_t node_id = 0;
    /// Sealed segments whose newest record is older than this are deleted (zero: keep all).
    std::chrono::milliseconds retention{0};
    /// Keep an in-memory index from key to positions (keys(), records_for(), latest()).
    bool index_keys = false;
    /// Open without writing anything: no lock, no recovery truncation, no appends.
    bool read_only = false;
    /// The longest the wal's writer and sync threads poll for work after a piece of work
    /// before they go to sleep. A sleeping thread costs a wake-up (several microseconds on a
    /// virtual machine) on each hand-over; polling spends CPU time instead, yielding the core
    /// to any other thread that wants it. They poll only while polling has recently paid (a
    /// poll that found work, or a sleep cut short within this window), so an open wal with no
    /// appends uses no CPU and a thread whose work comes rarely sleeps at once. A caller of a
    /// blocking function (append, sync, ...) polls for its result the same way. Zero: never
    /// poll. At most one second. See doc/api.md, "Threads".
    std::chrono::microseconds idle_spin{100};
    /// Where the writer strand runs. Empty (the default): on an io_context the wal owns, run
    /// by a thread of its own. Given: on a strand of this executor, and the wal starts no
    /// writer thread. Appends are then framed and written (one buffered write per group) on
    /// this executor's threads, so hand in an executor meant for I/O, or accept those writes
    /// on your own: a single-threaded io_context that both awaits and writes pays no thread
    /// hand-over per append. fdatasync and spare segments stay on the wal's own threads
    /// (except the final sync of close), and so does the recovery of async_open (a blocking
    /// open recovers on its calling thread). See doc/api.md, "Threads". Never call the blocking conveniences
    /// (open, append, sync, flush, close) on this executor's threads: they wait for work that only those
    /// threads can do. The handlers' default executor, unless open was given one.
    boost::asio::any_io_executor io_executor;
    /// File access; null means the real (POSIX) file system.
    std::shared_ptr<file_system> fs;
    /// Observability hooks; null means none.
    std::shared_ptr<noriwal::meter> metrics;
};

/// Checks every field. Returns an empty string when the configuration is valid, otherwise
/// one line naming the field, its value and the allowed range.
std::string validate(const wal_config& cfg);

}  // namespace noriwal
