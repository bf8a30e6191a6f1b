// wal-inspect dump: the records in LSN order; wal-inspect get: the records of one key.
#include "command.hpp"
#include "record_format.hpp"
#include "session.hpp"
#include "text.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <ostream>

namespace noriwal::inspect {

namespace {

bool same_key(bytes_view a, const std::vector<std::byte>& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// Prints one record; a value that does not decompress is damage (its CRCs hold, so the writer
// stored bytes that its own codec cannot read back) and is reported instead.
void emit(output& out, log_session& session, context& ctx, const walked_record& r, const print_options& opts,
          std::vector<std::byte>& buf, bool& bad_value, std::uint64_t& beyond) {
    bytes_view value;
    if (!record_value(r, buf, value)) {
        session.done();
        ctx.err << "wal-inspect: damage: segment " << detail::segment_file_name(r.pos.segment_id)
                << " offset " << r.pos.offset << ": the value of LSN " << r.pos.lsn
                << " does not decompress (" << compression_name(r.view.compression())
                << "); record not shown\n";
        bad_value = true;
        return;
    }
    shown_record s = shown(r, value);
    s.beyond_end = session.beyond_recoverable_end(r.pos.lsn);
    beyond += s.beyond_end ? 1 : 0;
    print_record(out.buf(), s, opts);
    out.maybe_flush();
}

// Says, after the records, that some of them are not log content.
void report_beyond(log_session& session, context& ctx, std::uint64_t beyond) {
    if (beyond == 0) return;
    session.done();
    ctx.err
        << "wal-inspect: " << beyond << " record" << (beyond == 1 ? "" : "s")
        << " shown lie beyond the recoverable end of the log (LSN " << *session.recoverable_end()
        << "), after damage that recovery takes for a torn tail: marked BEYOND-END (JSON: "
           "beyond_recoverable_end), they are not log content, and the next read-write open in the default "
           "recovery mode cuts them (wal-inspect verify says more)\n";
}

// ------------------------------------------------------------------------ dump

void dump_options(po::options_description& opts) {
    opts.add_options()("from-lsn", po::value<lsn_t>(), "start at this LSN")(
        "to-lsn", po::value<lsn_t>(), "stop after this LSN")("limit", po::value<std::uint64_t>(),
                                                             "print at most this many records");
    add_key_options(opts, "only the records of this key");
    add_print_options(opts);
}

int dump_run(const po::variables_map& vm, context& ctx) {
    const print_options opts = print_options_from(vm);
    const lsn_t from = vm.count("from-lsn") ? vm["from-lsn"].as<lsn_t>() : 0;
    const lsn_t to = vm.count("to-lsn") ? vm["to-lsn"].as<lsn_t>() : std::numeric_limits<lsn_t>::max();
    const std::uint64_t limit =
        vm.count("limit") ? vm["limit"].as<std::uint64_t>() : std::numeric_limits<std::uint64_t>::max();
    if (from > to)
        throw failure("--from-lsn " + std::to_string(from) + " is after --to-lsn " + std::to_string(to));
    const std::optional<std::vector<std::byte>> key = key_from(vm);

    log_session session(ctx, dir_argument(vm), "dump");
    session.find_recoverable_end();
    session.walk().start_at(from);
    output out(ctx.out);
    std::vector<std::byte> buf;
    bool bad_value = false;
    std::uint64_t beyond = 0;
    std::uint64_t shown = 0;
    walked_record r;
    while (shown < limit && session.next(r)) {
        if (r.pos.lsn > to) break;
        if (key && !same_key(r.view.key, *key)) continue;
        emit(out, session, ctx, r, opts, buf, bad_value, beyond);
        ++shown;
    }
    session.done();
    out.flush();
    report_beyond(session, ctx, beyond);
    return bad_value ? exit_damage : session.status();
}

// ------------------------------------------------------------------------ get

void get_options(po::options_description& opts) {
    add_key_options(opts, "the key (required, or --key-base64)");
    opts.add_options()("latest", "only the latest record of the key (a put or its tombstone)");
    add_print_options(opts);
}

int get_run(const po::variables_map& vm, context& ctx) {
    const print_options opts = print_options_from(vm);
    const std::optional<std::vector<std::byte>> key = key_from(vm);
    if (!key) throw failure("give the key: --key K (or --key-base64 B)");
    const bool latest = vm.count("latest") != 0;

    log_session session(ctx, dir_argument(vm), "get");
    session.find_recoverable_end();
    output out(ctx.out);
    std::vector<std::byte> buf;
    bool bad_value = false;
    std::uint64_t beyond = 0;
    std::uint64_t found = 0;
    std::optional<walked_record> last;  // holds its segment's mapping: its views stay valid
    walked_record r;
    while (session.next(r)) {
        if (!same_key(r.view.key, *key)) continue;
        ++found;
        if (latest) {
            last = r;
        } else {
            emit(out, session, ctx, r, opts, buf, bad_value, beyond);
        }
    }
    session.done();
    if (last) emit(out, session, ctx, *last, opts, buf, bad_value, beyond);
    out.flush();
    report_beyond(session, ctx, beyond);
    if (found == 0) ctx.err << "wal-inspect get: no record with key " << quoted_bytes(*key, 64) << '\n';
    return bad_value ? exit_damage : session.status();
}

}  // namespace

const command dump_command = {
    "dump",
    "the records in LSN order (text, JSON lines or hex)",
    "DIR [--from-lsn N] [--to-lsn N] [--limit N] [--key K] [--format text|json|hex]",
    "Prints the records of the log in DIR in LSN order, every record's CRCs checked.\n\n"
    "--format json prints one object per line: lsn, segment, offset, key, value, tombstone,\n"
    "ttl_ms, expiry_unix_ms, compression, batch. A key or value whose bytes are not valid UTF-8\n"
    "is given as key_base64 / value_base64 instead, so that any bytes survive; this is the input\n"
    "format of `wal-inspect import`. ttl_ms is the time the record had left to live when dump ran\n"
    "(negative once expired), expiry_unix_ms the absolute expiry stored in the record (ms since\n"
    "the Unix epoch); both are null for a record without TTL.\n\n"
    "Damaged regions are stepped over and reported on stderr (exit status 1). Records that lie\n"
    "beyond the recoverable end (valid records after damage that the default recovery takes for a\n"
    "torn tail, so that the next read-write open cuts them) are marked: BEYOND-END in text,\n"
    "\"beyond_recoverable_end\": true in JSON, and counted on stderr.",
    dump_options,
    dump_run,
};

const command get_command = {
    "get",
    "every record of one key (or the latest)",
    "DIR --key K [--latest] [--format text|json|hex]",
    "Prints every record of the log in DIR whose key is K, in LSN order: puts and tombstones. With\n"
    "--latest, only the last one (what a reader replaying the log would end with). The whole log is\n"
    "read: the log has no index on disk.",
    get_options,
    get_run,
};

}  // namespace noriwal::inspect
