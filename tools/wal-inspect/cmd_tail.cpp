// wal-inspect tail: the last records of a log, and with -f the records appended after them by
// another process, as they come.
#include "command.hpp"
#include "record_format.hpp"
#include "session.hpp"
#include "text.hpp"

#include <atomic>
#include <csignal>
#include <deque>
#include <ostream>
#include <thread>

namespace noriwal::inspect {

namespace {

std::atomic<bool> stop_following{false};

extern "C" void on_stop_signal(int) { stop_following.store(true); }

// SIGINT and SIGTERM end a follow cleanly (exit status 0) instead of killing the process in the
// middle of a line. The previous handlers come back when following ends.
class stop_signals {
public:
    stop_signals() {
        stop_following.store(false);
        struct sigaction sa {};
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int_);
        sigaction(SIGTERM, &sa, &old_term_);
    }
    ~stop_signals() {
        sigaction(SIGINT, &old_int_, nullptr);
        sigaction(SIGTERM, &old_term_, nullptr);
    }
    stop_signals(const stop_signals&) = delete;
    stop_signals& operator=(const stop_signals&) = delete;

private:
    struct sigaction old_int_ {};
    struct sigaction old_term_ {};
};

void add_options(po::options_description& opts) {
    opts.add_options()("lines,n", po::value<std::uint64_t>()->default_value(10),
                       "how many of the last records")(
        "follow,f", "then wait for records appended by the log's writer and print them as they come")(
        "poll-ms", po::value<unsigned>()->default_value(50), "with -f: how often to look for new records");
    add_print_options(opts);
}

int run(const po::variables_map& vm, context& ctx) {
    const print_options opts = print_options_from(vm);
    const std::uint64_t n = vm["lines"].as<std::uint64_t>();
    const bool follow = vm.count("follow") != 0;
    const auto poll = std::chrono::milliseconds(std::max(1u, vm["poll-ms"].as<unsigned>()));

    log_session session(ctx, dir_argument(vm), "tail");
    record_walk& walk = session.walk();
    // Start in the latest segment from which, by the base LSNs of the headers, at least n
    // records remain: the walk reads only the end of a long log.
    const auto& segs = walk.segments();
    const segment_file* newest = nullptr;  // the last segment with a header
    for (const segment_file& s : segs)
        if (!s.fresh) newest = &s;
    if (newest != nullptr) {
        lsn_t start = segs.front().header.base_lsn;  // not fresh: newest exists and only the last may be
        for (const segment_file& s : segs) {
            if (s.fresh || newest->header.base_lsn - s.header.base_lsn < n) break;
            start = s.header.base_lsn;
        }
        walk.start_at(start);
    }

    std::deque<walked_record> last;  // each holds its segment's mapping
    walked_record r;
    walk.follow(follow);
    while (n != 0 && session.next(r)) {
        last.push_back(r);
        if (last.size() > n) last.pop_front();
    }
    session.done();
    output out(ctx.out);
    std::vector<std::byte> buf;
    bool bad_value = false;
    auto print = [&](const walked_record& rec) {
        bytes_view value;
        if (!record_value(rec, buf, value)) {
            ctx.err << "wal-inspect: damage: segment " << detail::segment_file_name(rec.pos.segment_id)
                    << " offset " << rec.pos.offset << ": the value of LSN " << rec.pos.lsn
                    << " does not decompress\n";
            bad_value = true;
            return;
        }
        print_record(out.buf(), rec, value, opts);
    };
    for (const walked_record& rec : last) print(rec);
    last.clear();
    out.flush();
    if (!follow) return bad_value ? exit_damage : session.status();

    stop_signals signals;
    while (!stop_following.load()) {
        bool any = false;
        while (!stop_following.load() && session.next(r)) {
            print(r);
            any = true;
            out.maybe_flush();
        }
        if (any) out.flush();
        if (!ctx.out) return exit_error;  // the reader of our output went away
        std::this_thread::sleep_for(poll);
        walk.refresh();
    }
    out.flush();
    return exit_ok;
}

}  // namespace

const command tail_command = {
    "tail",
    "the last records; with -f, follows a log that another process writes",
    "DIR [-n N] [-f] [--format text|json|hex]",
    "Prints the last N records of the log in DIR (10 unless -n says otherwise). With -f it then\n"
    "waits for new records and prints them as the log's writer appends them, until interrupted\n"
    "(SIGINT or SIGTERM: exit status 0). Following reads the segment files only: it takes no lock\n"
    "and does not slow the writer; it looks for new records every --poll-ms milliseconds and moves\n"
    "on to new segments as the writer rotates. Records of an atomic batch appear once the whole\n"
    "batch is written.",
    add_options,
    run,
};

}  // namespace noriwal::inspect
