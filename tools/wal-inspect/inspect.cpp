// The entry of wal-inspect: finds the subcommand, parses its options, runs it, and turns every
// failure into one line on stderr and exit status 2.
#include "inspect.hpp"

#include "command.hpp"

#include <noriwal/version.hpp>

#include <array>
#include <iostream>
#include <new>
#include <system_error>

namespace noriwal::inspect {

namespace {

const std::array<const command*, 8> commands = {&list_command,   &dump_command,   &get_command,
                                                &tail_command,   &verify_command, &stats_command,
                                                &import_command, &repair_command};

const command* find_command(std::string_view name) {
    for (const command* c : commands)
        if (c->name == name) return c;
    return nullptr;
}

void tool_help(std::ostream& out) {
    out << "wal-inspect " NORIWAL_VERSION_STRING
           " - look into a noriwal write-ahead log\n\n"
           "Usage: wal-inspect COMMAND DIR [options]\n"
           "       wal-inspect COMMAND --help\n\n"
           "Commands:\n";
    for (const command* c : commands) {
        std::string name(c->name);
        name.resize(8, ' ');
        out << "  " << name << c->summary << '\n';
    }
    out << "\nEvery command but import and repair only reads: it takes no lock and changes no file, so it\n"
           "is safe while another process writes the log.\n\n"
           "Exit status: 0 done; 1 damage found (verify: the log is damaged); 2 bad usage, a path that\n"
           "is not a log, a damaged segment header, or an I/O error (one line on stderr says which).\n"
           "See doc/operations.md.\n";
}

po::options_description options_of(const command& c) {
    po::options_description opts("Options");
    opts.add_options()("help,h", "show this help");
    c.add_options(opts);
    return opts;
}

void command_help(const command& c, std::ostream& out) {
    out << "Usage: wal-inspect " << c.name << ' ' << c.synopsis << "\n\n"
        << c.description << "\n\n"
        << options_of(c);
}

int run_command(const command& c, std::span<const std::string> args, context& ctx) {
    const std::string who = "wal-inspect " + std::string(c.name);
    po::options_description opts = options_of(c);
    po::options_description all;
    all.add(opts).add_options()("dir", po::value<std::string>());
    po::positional_options_description positional;
    positional.add("dir", 1);
    po::variables_map vm;
    try {
        const std::vector<std::string> argv(args.begin(), args.end());
        po::store(po::command_line_parser(argv).options(all).positional(positional).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        ctx.err << who << ": " << e.what() << "; see " << who << " --help\n";
        return exit_error;
    }
    if (vm.count("help")) {
        command_help(c, ctx.out);
        return exit_ok;
    }
    if (!vm.count("dir")) {
        ctx.err << who << ": give the log directory: " << who << ' ' << c.synopsis << '\n';
        return exit_error;
    }
    try {
        return c.run(vm, ctx);
    } catch (const failure& f) {
        ctx.err << who << ": " << f.what() << '\n';
    } catch (const po::error& e) {
        ctx.err << who << ": " << e.what() << "; see " << who << " --help\n";
    } catch (const std::system_error& e) {
        ctx.err << who << ": " << e.what() << '\n';
    } catch (const std::bad_alloc&) {
        ctx.err << who << ": out of memory\n";
    } catch (const std::exception& e) {
        ctx.err << who << ": " << e.what() << '\n';
    }
    ctx.out.flush();
    return exit_error;
}

}  // namespace

int run(std::span<const std::string> args, std::istream& in, std::ostream& out, std::ostream& err,
        bool err_is_terminal) {
    context ctx{in, out, err, err_is_terminal};
    if (args.empty()) {
        tool_help(err);
        return exit_error;
    }
    const std::string& first = args[0];
    if (first == "--help" || first == "-h" || first == "help") {
        if (args.size() > 1) {
            if (const command* c = find_command(args[1])) {
                command_help(*c, out);
                return exit_ok;
            }
            err << "wal-inspect: unknown command '" << args[1] << "'; see wal-inspect --help\n";
            return exit_error;
        }
        tool_help(out);
        return exit_ok;
    }
    if (first == "--version") {
        out << "wal-inspect " NORIWAL_VERSION_STRING " (format " << NORIWAL_FORMAT_VERSION_MAJOR << '.'
            << NORIWAL_FORMAT_VERSION_MINOR << ")\n";
        return exit_ok;
    }
    const command* c = find_command(first);
    if (c == nullptr) {
        err << "wal-inspect: unknown command '" << first << "'; see wal-inspect --help\n";
        return exit_error;
    }
    return run_command(*c, args.subspan(1), ctx);
}

}  // namespace noriwal::inspect
