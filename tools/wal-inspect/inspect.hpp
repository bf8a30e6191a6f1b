// wal-inspect as a library: the command-line tool's main() and the demonstration both call run().
#pragma once

#include <iosfwd>
#include <span>
#include <string>

namespace noriwal::inspect {

/// Exit statuses of wal-inspect (doc/operations.md).
enum exit_status : int {
    exit_ok = 0,      ///< done; the log holds no damage in what was read
    exit_damage = 1,  ///< done, but damage was found (verify: the log is damaged)
    exit_error = 2,   ///< bad usage, unreadable or foreign files, damaged segment header, I/O error
};

/// Runs wal-inspect with `args` (the arguments after the program name). Standard input is read
/// by `import` only; progress goes to `err` when `err_is_terminal`.
int run(std::span<const std::string> args, std::istream& in, std::ostream& out, std::ostream& err,
        bool err_is_terminal = false);

}  // namespace noriwal::inspect
