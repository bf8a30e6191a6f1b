// wal-inspect tail: the last records of a log, and with -f the records appended after them by
// another process, as they come.
#include "command.hpp"
#include "record_format.hpp"
#include "session.hpp"
#include "text.hpp"

#include <noriwal/error.hpp>
#include <noriwal/reader.hpp>

#include <atomic>
#include <csignal>
#include <cstdint>
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

// The stored bytes of an entry (for --format hex): its segment mapped (again when the reader
// moves on, or when the file grew), the record's length from its header.
class frames {
public:
    explicit frames(std::filesystem::path dir) : dir_(std::move(dir)), fs_(posix_file_system()) {}
    std::span<const std::byte> of(const position& p) {
        // The current mapping first; mapped again once if it is another segment's, or if the
        // record lies past its end (a file that grows).
        for (int attempt = 0; attempt < 2; ++attempt) {
            if (attempt == 1 || !map_ || id_ != p.segment_id) {
                id_ = p.segment_id;
                if (map_segment(*fs_, dir_ / detail::segment_file_name(id_), map_)) return {};
            }
            if (map_->size() < p.offset + detail::record_header_size) continue;
            const auto rest = map_->bytes().subspan(p.offset);
            detail::record_view rv;
            if (detail::decode_record_header(rest, id_, UINT32_MAX, rv) == detail::decode_status::ok &&
                rv.size <= rest.size())
                return rest.first(rv.size);
        }
        return {};
    }

private:
    std::filesystem::path dir_;
    std::shared_ptr<file_system> fs_;
    std::uint64_t id_ = 0;
    std::shared_ptr<const mapped_region> map_;
};

// Follows the log from `resume` with the library's directory reader (reader.hpp), which copes
// with what the log's writer does meanwhile: rotation, deletion of old segments, truncation.
int follow_log(context& ctx, const std::filesystem::path& dir, lsn_t resume, const print_options& opts,
               std::chrono::milliseconds poll, output& out) {
    reader_options ro;
    ro.poll_interval = poll;
    std::error_code ec;
    reader rd = reader::open_directory(dir, ro, ec);
    if (ec) throw failure(dir.string() + ": cannot follow the log: " + ec.message());
    if (resume != 0) {
        ec = rd.seek(resume);
        // The walk may have stood past records the reader does not see yet (or deleted ones):
        // start where the reader can.
        if (ec == errc::invalid_argument) ec = rd.seek_end();
        if (ec == errc::not_found) ec = {};
    }
    if (ec) throw failure(dir.string() + ": cannot follow the log: " + ec.message());

    frames stored(dir);
    stop_signals signals;
    while (!stop_following.load()) {
        bool any = false;
        while (!stop_following.load()) {
            std::optional<entry> e = rd.try_next(ec);
            if (!e) break;
            shown_record s;
            s.pos = e->pos();
            s.key = e->key();
            s.value = e->value();
            s.tombstone = e->tombstone();
            s.expiry_ns =
                e->expiry() ? static_cast<std::uint64_t>(e->expiry()->time_since_epoch().count()) : 0;
            s.stored = e->stored_compression();
            s.batch = static_cast<detail::record_type>(e->batch());
            if (opts.format == record_format::hex || s.stored != compression::none) {
                s.frame = stored.of(s.pos);
                detail::record_view rv;
                if (!s.frame.empty() && detail::decode_record(s.frame, s.pos.segment_id, UINT32_MAX, rv) ==
                                            detail::decode_status::ok)
                    s.stored_value_size = rv.stored_value.size();
            }
            print_record(out.buf(), s, opts);
            out.maybe_flush();
            any = true;
        }
        if (any) out.flush();
        if (!ctx.out) return exit_error;  // whoever read our output went away
        if (ec == errc::truncated) {
            ctx.err
                << "wal-inspect tail: the log was truncated below the records shown; following its new end\n";
            ec = rd.seek_end();
        } else if (ec == errc::not_found) {
            ctx.err
                << "wal-inspect tail: records were deleted before they could be read; going on after them\n";
            ec = rd.seek_start();
        }
        if (ec && ec != errc::end_of_log)
            throw failure(dir.string() + ": following stopped: " + ec.message());
        std::this_thread::sleep_for(poll);
    }
    out.flush();
    return exit_ok;
}

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
    while (n != 0 && session.next(r)) {
        last.push_back(r);
        if (last.size() > n) last.pop_front();
    }
    session.done();
    // Where following starts: after the last record the walk read.
    const lsn_t resume = session.walk().expected_lsn();

    output out(ctx.out);
    std::vector<std::byte> buf;
    bool bad_value = false;
    for (const walked_record& rec : last) {
        bytes_view value;
        if (!record_value(rec, buf, value)) {
            ctx.err << "wal-inspect: damage: segment " << detail::segment_file_name(rec.pos.segment_id)
                    << " offset " << rec.pos.offset << ": the value of LSN " << rec.pos.lsn
                    << " does not decompress\n";
            bad_value = true;
            continue;
        }
        print_record(out.buf(), shown(rec, value), opts);
    }
    last.clear();
    out.flush();
    if (!follow) return bad_value ? exit_damage : session.status();
    return follow_log(ctx, session.dir(), resume, opts, poll, out);
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
