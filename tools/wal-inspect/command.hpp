// What every subcommand of wal-inspect is made of: a name, its help text, its options, and a
// function that runs it. The table of subcommands is in inspect.cpp; each lives in its own
// cmd_<name>.cpp.
#pragma once

#include "inspect.hpp"

#include <boost/program_options.hpp>

#include <iosfwd>
#include <stdexcept>
#include <string>
#include <string_view>

namespace noriwal::inspect {

namespace po = boost::program_options;

/// Ends a subcommand with exit status 2 and one line on stderr (the message, after the
/// subcommand's name). Say what happened, naming the file, and what to do.
class failure : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A subcommand's view of the world.
struct context {
    std::istream& in;
    std::ostream& out;
    std::ostream& err;
    bool progress = false;  ///< stderr is a terminal: show progress of long operations there
};

struct command {
    std::string_view name;
    std::string_view summary;      ///< one line, for `wal-inspect --help`
    std::string_view synopsis;     ///< "DIR [options]"
    std::string_view description;  ///< paragraphs for `wal-inspect NAME --help`
    /// Adds the subcommand's options (DIR and --help are added by the caller).
    void (*add_options)(po::options_description& opts);
    /// Runs it; returns an exit_status. Throws failure (exit 2) for errors.
    int (*run)(const po::variables_map& vm, context& ctx);
};

extern const command list_command;
extern const command dump_command;
extern const command get_command;
extern const command tail_command;
extern const command verify_command;
extern const command stats_command;
extern const command import_command;
extern const command repair_command;

}  // namespace noriwal::inspect
