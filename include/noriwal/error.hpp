// Error codes of noriwal: one enum, one category named "noriwal".
#pragma once

#include <string>
#include <system_error>

namespace noriwal {

/// Errors reported by noriwal. System errors (EIO, EACCES...) are passed through in
/// std::system_category; ENOSPC is reported as errc::no_space.
enum class errc {
    invalid_config = 1,   ///< a wal_config field is out of range; the message names it
    locked,               ///< another process (or wal object) owns the directory
    closed,               ///< the wal was closed; no operation is accepted any more
    poisoned,             ///< an earlier write or fsync failed; reopen the wal to recover
    io_failed,            ///< a write or fsync failed (the first failure; the log is now poisoned)
    no_space,             ///< the file system is full; every acknowledged record is intact
    record_too_large,     ///< the record (or batch) exceeds max_record_size or a segment
    corrupted,            ///< damage that the recovery mode does not allow to be repaired
    unsupported_version,  ///< a segment was written by an unknown major format version
    not_found,            ///< no such segment, position or key
    not_a_log,            ///< a file in the directory is not a noriwal segment
    read_only,            ///< a write was asked of a wal opened read-only
    invalid_argument,     ///< an argument (position, LSN, batch) is not valid here
    truncated,            ///< the position a reader stood on was removed by truncate_after
    end_of_log,           ///< a reader reached the end of the log (only where no wait is asked)
};

/// The category named "noriwal".
const std::error_category& error_category() noexcept;

/// An error code of the noriwal category (found by argument-dependent lookup, so that
/// `std::error_code ec = errc::closed;` and `ec == errc::closed` work).
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace noriwal

/// Makes noriwal::errc convertible to std::error_code.
template <>
struct std::is_error_code_enum<noriwal::errc> : std::true_type {};
