// A simulated disk: an in-memory noriwal::file_system that remembers what a real disk would
// keep after a power cut, and can fail any operation on demand. It is the ground on which the
// crash tests stand, in the spirit of RocksDB's FaultInjectionTestFS and SQLite's crash VFS.
//
// The model
// ---------
// Every file (an inode) has two contents:
//   - its durable content, as of its last successful sync(), and
//   - its current content, which reads and mappings see.
// The disk keeps one ordered list of the data operations made since each file's last sync
// (the "unsynced writes": writes, truncations, allocations). A successful sync() of a file
// applies that file's entries, in order, to its durable content and removes them.
//
// Directories hold entries name -> inode, also in two versions: the durable entries, as of the
// last sync_directory() of each directory, and the current ones. Creating, renaming and
// removing a file append to one ordered list of "volatile directory operations";
// sync_directory(d) makes those of d durable. Therefore:
//   - a new file whose directory was never synced vanishes at a power cut, even if its data
//     was synced;
//   - a rename that was not followed by a directory sync may be rolled back;
//   - a removal that was not followed by a directory sync may be undone, resurrecting the file
//     with its durable content.
// A rename between two directories is recorded as a removal in the first and a creation in the
// second, each made durable by syncing its own directory (so the file may end up in both or in
// neither, as the kernel permits).
//
// A power cut (power_cut()) builds a new disk from the durable state plus any chosen subset of
// the unsynced writes and of the volatile directory operations, applied in their original
// order; it may also tear one write at sector boundaries, or fill one of its sectors with
// garbage. The numbers of unsynced writes and volatile directory operations are exposed so
// that a test can enumerate every state of a small workload (for_each_power_cut) and draw
// seeded random states for a large one.
//
// Failed fsync, as Linux does it: when sync() fails (an error injected by the fault hook), the
// file's unsynced writes are dropped from the list (the kernel marks the dirty pages clean
// after a write-back error) and are never made durable; the next sync() of the file succeeds
// and covers only what was written after the failure. By default reads still see the lost
// bytes (the pages stay in the cache until evicted), which is the most deceptive case; see
// set_failed_sync_keeps_cache().
//
// Directories are entries too: create_directories() appends one "mkdir" volatile directory
// operation per directory it creates (outermost first), made durable by syncing the parent
// directory. A power cut that rolls a mkdir back loses the directory and everything under it,
// synced or not, as a real file system may when the parent was never fsync'd.
//
// Simplifications (deliberate, documented):
//   - Directories cannot be renamed or removed.
//   - Capacity counts the current size of every file reachable by a name (an unlinked file that
//     is still open does not count).
//   - A mapping is a private buffer of `len` bytes that every later write through this disk
//     updates (within `len`); truncating the file does not shrink it (a real mapping would
//     raise SIGBUS on the cut pages, which noriwal avoids by design). Bytes past the end of
//     the file read as zeros. A reader must synchronise (e.g. through the wal's watermarks)
//     before reading bytes written concurrently, as with a real mapping: ThreadSanitizer sees
//     the simulated writes and reports otherwise.
//   - Power cuts and snapshots do not carry locks, hooks, mappings or open files over: they are
//     what a rebooted machine finds.
//
// Thread safety: all state is behind one mutex, so files may be written, synced and listed from
// several threads. The hooks are called without the mutex held (they may call snapshot() or any
// other function of the disk) and possibly from several threads at once.
#pragma once

#include <noriwal/file_system.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace noriwal::test {

/// The operations a fault hook sees.
enum class sim_op : std::uint8_t {
    open,                ///< open of an existing file (read_only or read_write)
    create,              ///< open with create_exclusive
    write,               ///< write_at, plain or vectored
    read,                ///< read_at
    sync,                ///< file::sync (fdatasync)
    size,                ///< file::size
    truncate,            ///< file::truncate
    allocate,            ///< file::allocate
    map,                 ///< file::map
    list,                ///< file_system::list and file_system::is_directory
    create_directories,  ///< file_system::create_directories
    rename,              ///< file_system::rename
    remove,              ///< file_system::remove
    dir_sync,            ///< file_system::sync_directory
    lock,                ///< file_system::lock
};

std::string_view to_string(sim_op op) noexcept;

/// One operation, as passed to the hooks.
struct sim_event {
    sim_op op;
    std::filesystem::path path;    ///< the file or directory (rename: the source)
    std::filesystem::path target;  ///< rename: the destination; empty otherwise
    std::uint64_t offset = 0;      ///< write, read, allocate: where; truncate: the new size
    std::uint64_t length = 0;      ///< write, read, allocate, map: how many bytes
    std::uint64_t seq = 0;         ///< 0, 1, 2... over all operations of this disk
};

/// Called before each operation; a non-empty error_code makes the operation fail with it and
/// do nothing (a failed sync also drops the file's unsynced writes, see above). Return
/// make_error_code(errc::no_space) to simulate ENOSPC, std::error_code(EIO,
/// std::system_category()) for an I/O error.
using fault_hook = std::function<std::error_code(const sim_event&)>;

/// Called after each operation with its result (e.g. to snapshot() after the k-th sync).
using after_hook = std::function<void(const sim_event&, std::error_code)>;

/// A fault hook that fails the n-th (from 0) operation of kind `op` with `ec`, and no other.
fault_hook fail_nth(sim_op op, std::uint64_t n, std::error_code ec);

/// A fault hook that fails every operation of kind `op` from the n-th (from 0) on with `ec`.
fault_hook fail_from(sim_op op, std::uint64_t n, std::error_code ec);

/// The EIO error, as the kernel reports a failed write-back.
std::error_code eio() noexcept;

/// One entry of the list of unsynced writes.
struct unsynced_write {
    enum class kind : std::uint8_t {
        write,     ///< bytes [offset, offset+length) written
        truncate,  ///< size set to `offset` (cut or extended with zeros); length 0
        allocate,  ///< size raised to at least offset+length (fallocate)
    };
    kind what = kind::write;
    std::filesystem::path path;  ///< the name the file was opened by
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
};

/// One entry of the list of volatile directory operations.
struct volatile_dir_op {
    enum class kind : std::uint8_t { create, rename, remove, mkdir };
    kind what = kind::create;
    std::filesystem::path dir;     ///< the directory whose sync makes it durable
    std::filesystem::path path;    ///< the file created or removed, the rename's source, or the new directory
    std::filesystem::path target;  ///< rename: the destination (in the same directory)
};

/// Keep only some sectors of one unsynced write (a torn write). Sectors are aligned on file
/// offsets: a write of [100, 1100) with 512-byte sectors touches the sectors [100, 512),
/// [512, 1024) and [1024, 1100). The torn write is applied in place of the whole one, whatever
/// the keep flags say; the file grows only as far as its last kept sector.
struct sector_tear {
    std::size_t write = 0;          ///< index into unsynced_writes(); must be a write
    std::size_t sector_size = 512;  ///< a power of two: 512 or 4096 in practice
    std::size_t prefix = 0;         ///< keep the first `prefix` sectors (when `sectors` is empty)
    std::vector<bool> sectors;      ///< if not empty: keep sector i when sectors[i] (missing: dropped)
};

/// Fill one sector of one unsynced write with pseudo-random bytes (derived from `seed`), where
/// that write's bytes would be, and within the file's size at that point: a sector caught by
/// the power cut in the middle of being written. Bytes of the sector outside the write (earlier
/// data sharing the sector) are left alone.
struct sector_garbage {
    std::size_t write = 0;  ///< index into unsynced_writes(); must be a write
    std::size_t sector_size = 512;
    std::size_t sector = 0;  ///< which of the write's sectors, from 0
    std::uint64_t seed = 0;
};

/// What survives a power cut.
struct power_cut_plan {
    /// keep_writes[i]: unsynced write i survives. Writes past the end of the vector survive
    /// when keep_other_writes is set.
    std::vector<bool> keep_writes;
    bool keep_other_writes = false;
    /// keep_dir_ops[i]: volatile directory operation i survives (else is rolled back).
    std::vector<bool> keep_dir_ops;
    bool keep_other_dir_ops = false;
    std::optional<sector_tear> tear;
    std::optional<sector_garbage> garbage;

    /// Only what was synced survives (the default plan).
    static power_cut_plan drop_all() { return {}; }
    /// Everything survives, as if the cache had been flushed just in time.
    static power_cut_plan keep_all();
    /// Bit i of `writes` keeps unsynced write i; bit i of `dir_ops` keeps directory op i.
    static power_cut_plan from_bits(std::uint64_t writes, std::uint64_t dir_ops);
    /// The first `writes` unsynced writes survive, in order (a disk that writes back in order);
    /// every directory operation survives when `keep_dir_ops` is set.
    static power_cut_plan keep_prefix(std::size_t writes, bool keep_dir_ops = true);

    bool keeps_write(std::size_t i) const noexcept;
    bool keeps_dir_op(std::size_t i) const noexcept;
};

class sim_disk final : public file_system {
public:
    struct state;  // the shared implementation, defined in sim_disk.cpp

    /// An empty disk with unlimited capacity. Create it with std::make_shared: files, locks and
    /// mappings share its state and may outlive the sim_disk object.
    sim_disk();
    ~sim_disk() override;
    sim_disk(const sim_disk&) = delete;
    sim_disk& operator=(const sim_disk&) = delete;

    // file_system
    std::error_code open(const std::filesystem::path& p, open_mode mode, std::unique_ptr<file>& out) override;
    std::error_code list(const std::filesystem::path& dir, std::vector<std::string>& names) override;
    std::error_code create_directories(const std::filesystem::path& dir) override;
    std::error_code is_directory(const std::filesystem::path& dir, bool& out) override;
    std::error_code rename(const std::filesystem::path& from, const std::filesystem::path& to) override;
    std::error_code remove(const std::filesystem::path& p) override;
    std::error_code sync_directory(const std::filesystem::path& dir) override;
    std::error_code lock(const std::filesystem::path& dir, std::unique_ptr<directory_lock>& out) override;

    /// Faults and observation. Pass an empty function to remove a hook.
    void set_fault_hook(fault_hook hook);
    void set_after_hook(after_hook hook);

    /// Limit on the sum of the current sizes of all files; std::nullopt: unlimited. A write,
    /// truncation or allocation that would go beyond it fails with errc::no_space and, by
    /// default, changes nothing; with `partial_writes` set a write first stores the prefix that
    /// fits (as a real pwrite loop would before it sees ENOSPC).
    void set_capacity(std::optional<std::uint64_t> bytes, bool partial_writes = false);
    std::uint64_t used_bytes() const;

    /// Whether reads still see the bytes lost by a failed sync (true, the default: Linux keeps
    /// the pages, marked clean) or see the durable content again (false: the pages were evicted).
    void set_failed_sync_keeps_cache(bool keep);

    /// The unsynced writes and volatile directory operations, in order; indices match
    /// power_cut_plan's vectors.
    std::vector<unsynced_write> unsynced_writes() const;
    std::size_t unsynced_write_count() const;
    std::vector<volatile_dir_op> volatile_dir_ops() const;
    std::size_t volatile_dir_op_count() const;
    /// How many operations this disk has performed (the next sim_event::seq).
    std::uint64_t operation_count() const;

    /// A deep copy of the whole state, durable and volatile, as if the process had been killed
    /// now (the page cache survives a process crash): power cuts derived from it later see the
    /// state of this moment. Open files, locks, mappings and hooks are not copied.
    std::shared_ptr<sim_disk> snapshot() const;

    /// The disk a reboot after a power cut now would find, as `plan` chooses. Throws
    /// std::invalid_argument if the plan's tear or garbage does not name an unsynced write.
    std::shared_ptr<sim_disk> power_cut(const power_cut_plan& plan = power_cut_plan::drop_all()) const;

    /// A random plan drawn from `seed` (the same seed and state give the same plan): keeps a
    /// random in-order prefix of the writes or a random subset, each directory operation with
    /// probability 1/2, and sometimes tears a write or fills a sector with garbage.
    power_cut_plan random_power_cut(std::uint64_t seed) const;

    /// How many `sector_size` sectors unsynced write `index` touches (0 for non-writes).
    std::size_t sector_count(std::size_t index, std::size_t sector_size) const;

private:
    explicit sim_disk(std::shared_ptr<state> s);
    std::shared_ptr<state> state_;
};

/// Options of for_each_power_cut.
struct power_cut_enumeration {
    /// Every subset of writes x directory operations is tried when there are at most this
    /// many of them together (2^n plans); otherwise `samples` random plans.
    std::size_t max_exhaustive = 12;
    std::size_t samples = 256;
    std::uint64_t seed = 1;
    /// Also tear each unsynced write at every 512-byte sector prefix (all earlier writes and all
    /// directory operations kept, later writes dropped: the torn tails of an in-order disk),
    /// trying at most this many prefixes per write; 0 disables.
    std::size_t max_tears_per_write = 16;
};

/// Calls `fn` with every plan the options describe, for the current state of `disk`. Returns
/// how many plans were tried.
std::size_t for_each_power_cut(const sim_disk& disk, const std::function<void(const power_cut_plan&)>& fn,
                               const power_cut_enumeration& options = {});

}  // namespace noriwal::test
