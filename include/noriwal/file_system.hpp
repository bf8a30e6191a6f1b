// The one interface through which noriwal touches files. The default implementation is POSIX;
// tests substitute a simulated disk that injects faults and power cuts. Every function
// returns a std::error_code (system errors in std::system_category) and never throws.
//
// Thread safety: implementations must allow calls from two threads at once: the writer
// (writes, renames, removes) and a background thread that fdatasyncs files, syncs the
// directory and prepares the next segment (create, write zeros, sync). A file may be written
// on one thread while sync() runs on another.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace noriwal {

/// A read-only mapping of the first size() bytes of a file. It stays valid while this object
/// lives, even after the file was unlinked or truncated below it (reading truncated pages of a
/// real mmap would raise SIGBUS, so truncation of mapped files is avoided; see doc/format.md).
/// Writes made to the file after the mapping was created are visible through it.
class mapped_region {
public:
    virtual ~mapped_region() = default;
    virtual const std::byte* data() const noexcept = 0;
    virtual std::size_t size() const noexcept = 0;
    std::span<const std::byte> bytes() const noexcept { return {data(), size()}; }
};

/// An open file of a file_system. Used by one thread at a time, except that sync() may run
/// on another thread while the file is written.
class file {
public:
    virtual ~file() = default;
    /// Writes all of `data` at `offset` (retrying short writes). ENOSPC and EIO come back as errors.
    virtual std::error_code write_at(std::uint64_t offset, std::span<const std::byte> data) = 0;
    /// Writes the buffers one after another starting at `offset`, with as few system calls as
    /// possible (pwritev).
    virtual std::error_code write_at(std::uint64_t offset,
                                     std::span<const std::span<const std::byte>> buffers) = 0;
    /// Reads up to out.size() bytes at `offset`; `got` says how many were read (short at EOF).
    virtual std::error_code read_at(std::uint64_t offset, std::span<std::byte> out, std::size_t& got) = 0;
    /// fdatasync.
    virtual std::error_code sync() = 0;
    /// The file's size in bytes.
    virtual std::error_code size(std::uint64_t& out) = 0;
    /// Sets the file's size (shrinking or extending with zeros).
    virtual std::error_code truncate(std::uint64_t size) = 0;
    /// Reserves [offset, offset+len) (fallocate, keeping the size change).
    virtual std::error_code allocate(std::uint64_t offset, std::uint64_t len) = 0;
    /// Maps the first `len` bytes read-only.
    virtual std::error_code map(std::uint64_t len, std::shared_ptr<const mapped_region>& out) = 0;
};

/// How file_system::open opens a file.
enum class open_mode : std::uint8_t {
    read_only,         ///< the file must exist; writes fail
    read_write,        ///< the file must exist
    create_exclusive,  ///< the file must not exist; created empty
};

/// Holds an exclusive advisory lock on a directory until destroyed.
class directory_lock {
public:
    virtual ~directory_lock() = default;
};

/// The file operations noriwal uses (see the top of this header for the threading contract).
/// Set wal_config::fs or reader_options::fs to substitute one; null means posix_file_system().
class file_system {
public:
    virtual ~file_system() = default;
    /// Opens `p` as `mode` says; `out` receives the file.
    virtual std::error_code open(const std::filesystem::path& p, open_mode mode,
                                 std::unique_ptr<file>& out) = 0;
    /// Names (not paths) of the regular files in `dir`, in no particular order.
    virtual std::error_code list(const std::filesystem::path& dir, std::vector<std::string>& names) = 0;
    /// Creates the directory (and its parents) if missing; error if the path is not a directory.
    virtual std::error_code create_directories(const std::filesystem::path& dir) = 0;
    /// Whether `dir` exists and is a directory.
    virtual std::error_code is_directory(const std::filesystem::path& dir, bool& out) = 0;
    /// Renames `from` to `to`, replacing `to` if it exists (durable after sync_directory).
    virtual std::error_code rename(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
    /// Removes the file `p` (durable after sync_directory).
    virtual std::error_code remove(const std::filesystem::path& p) = 0;
    /// fsync of the directory itself, making created, renamed and removed entries durable.
    virtual std::error_code sync_directory(const std::filesystem::path& dir) = 0;
    /// Takes the exclusive lock of `dir` (a lock file inside it). errc::locked if held elsewhere.
    virtual std::error_code lock(const std::filesystem::path& dir, std::unique_ptr<directory_lock>& out) = 0;
};

/// The real file system (POSIX: pwritev, fdatasync, mmap, flock). Shared, stateless.
std::shared_ptr<file_system> posix_file_system();

}  // namespace noriwal
