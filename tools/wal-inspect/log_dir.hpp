// Opening a log directory for reading, without writing anything: no lock is taken, no file is
// created, opened for writing, renamed or removed. Another process may own the log and append to
// it meanwhile: files that vanish between the listing and their opening were deleted by it.
#pragma once

#include <noriwal/config.hpp>
#include <noriwal/detail/format.hpp>
#include <noriwal/file_system.hpp>

#include "internal/log.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace noriwal::inspect {

/// One segment file and its header.
struct segment_file {
    std::uint64_t id = 0;
    std::filesystem::path path;
    std::uint64_t size = 0;           ///< file size when it was opened
    detail::segment_header header{};  ///< meaningful unless `fresh`
    /// An all-zero file: a segment activated but never written (the writer crashed before its
    /// header reached the disk). Only the last segment may be one; it holds no record.
    bool fresh = false;
};

/// The segment ids present in `dir`, ascending. Throws failure (one line naming the path) if the
/// directory is missing or not a directory, if it holds no segment file, or if a file is named
/// like a segment (*.wal) without the <20 digits>.wal form. Other files (LOCK, the writer's
/// spare-*.tmp, the user's own) are ignored.
std::vector<std::uint64_t> list_segment_ids(file_system& fs, const std::filesystem::path& dir);

/// The segment files of the log in `dir` with their headers. Throws failure, naming the file,
/// for everything list_segment_ids refuses and for a file that is not a noriwal segment (no
/// magic), a damaged segment header (CRC mismatch, cut short, or naming another segment), an
/// all-zero file before the last, or an unsupported format version.
std::vector<segment_file> read_segments(file_system& fs, const std::filesystem::path& dir);

/// A prepared spare file (`spare-<n>.ready`) the writer keeps for its next segment: zeros, not
/// part of the log. `blank`: its first 64 bytes are zeros, so a read-write open keeps it (when
/// its size suits the configuration); otherwise (a segment header an interrupted activation
/// wrote) that open removes it.
struct spare_file {
    std::filesystem::path path;
    std::uint64_t size = 0;
    bool blank = false;
};

/// The prepared spares in `dir`, by name. Read-only; files that vanish meanwhile are left out.
std::vector<spare_file> list_spares(file_system& fs, const std::filesystem::path& dir);

/// The spares as a JSON array of {"file", "file_bytes", "blank"} (list and verify --json).
std::string spares_json(const std::vector<spare_file>& spares);

/// Maps the whole of a segment file read-only. Returns ENOENT when the file is gone.
std::error_code map_segment(file_system& fs, const std::filesystem::path& path,
                            std::shared_ptr<const mapped_region>& out);

class progress;

/// Runs the library's recovery scanner for each of `modes` over the segments `ids` of `dir`:
/// what opening the log in that mode would keep, cut and report, decided without writing
/// anything. One mapping at a time, each segment fed to every scanner (and to `each`, if
/// given) before the next. Throws failure for a file that is not a segment or has an
/// unsupported version. Files deleted meanwhile (by the log's owner) are passed over.
std::vector<detail::recovery_plan> scan_log(
    file_system& fs, const std::filesystem::path& dir, const std::vector<std::uint64_t>& ids,
    std::span<const recovery_mode> modes, progress& prog,
    const std::function<void(std::uint64_t id, std::span<const std::byte> bytes)>& each = {});

}  // namespace noriwal::inspect
