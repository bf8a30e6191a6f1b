// wal-inspect verify: checks every record of every segment, reports each damage, and says what
// opening the log would do under each recovery mode. Runs the library's own recovery scanner
// (lib/log/recovery_scanner.hpp) over read-only mappings: the verdict is the one an open gives.
#include "command.hpp"
#include "json.hpp"
#include "log_dir.hpp"
#include "session.hpp"
#include "text.hpp"

#include "internal/log.hpp"

#include <noriwal/error.hpp>

#include <array>
#include <limits>
#include <ostream>

namespace noriwal::inspect {

namespace {

constexpr std::array<recovery_mode, 4> modes = {recovery_mode::tolerate_corrupted_tail,
                                                recovery_mode::absolute_consistency,
                                                recovery_mode::point_in_time, recovery_mode::skip_corrupted};

// A record whose CRCs hold but whose value does not decompress.
struct bad_value {
    std::uint64_t segment_id = 0;
    std::uint64_t offset = 0;
    lsn_t lsn = 0;
    compression codec = compression::none;
};

// Every record of the segment whose CRCs hold, in file order: its value must decompress. (The
// recovery scanner checks CRCs, LSNs and batches, not compressed payloads.)
void check_values(std::span<const std::byte> bytes, std::uint64_t id, std::vector<bad_value>& out,
                  std::uint64_t& checked, std::vector<std::byte>& buf) {
    detail::record_walker w(bytes, id);
    detail::record_view rv;
    while (w.next_salvaged(rv)) {
        if (rv.compression() != compression::none) {
            ++checked;
            if (detail::decompress_value(rv, buf)) out.push_back({id, w.offset(), rv.lsn, rv.compression()});
        }
        w.advance(rv);
    }
}

struct found_damage {
    damage d;
    lsn_t first_lost = 0;  // LSNs that no record holds because of it (0: none known)
    lsn_t last_lost = 0;
    bool followed = false;  // valid records follow it in the log
};

std::string kind_text(damage_kind k) { return std::string(to_string(k)); }

std::string what_open_does(const detail::recovery_plan& p) {
    if (p.error) return "refuses to open: " + p.why;
    std::string s = "opens with " + grouped(p.info.valid_records) + " records";
    if (p.info.valid_records != 0)
        s += " (LSN " + std::to_string(p.info.first_lsn) + ".." + std::to_string(p.info.last_lsn) + ")";
    if (!p.removed.empty()) {
        s += "; removes segment";
        s += p.removed.size() == 1 ? " " : "s ";
        for (std::size_t i = p.removed.size(); i-- > 0;)
            s += std::to_string(p.removed[i]) + (i != 0 ? ", " : "");
    }
    if (p.zero_to > p.zero_from)
        s += "; cuts " + std::to_string(p.zero_to - p.zero_from) + " bytes from offset " +
             std::to_string(p.zero_from) + " of segment " + std::to_string(p.kept.back().id);
    if (!p.skipped.empty()) {
        s += "; steps over LSNs ";
        for (std::size_t i = 0; i < p.skipped.size(); ++i)
            s += (i != 0 ? ", " : "") + std::to_string(p.skipped[i].first) + ".." +
                 std::to_string(p.skipped[i].last);
    }
    if (p.removed.empty() && p.zero_to <= p.zero_from && p.skipped.empty()) s += ", changing nothing";
    return s;
}

void add_options(po::options_description& opts) {
    opts.add_options()("json", "one JSON object instead of the report");
}

int run(const po::variables_map& vm, context& ctx) {
    const auto started = std::chrono::steady_clock::now();
    const std::filesystem::path dir = dir_argument(vm);
    const auto fs = posix_file_system();
    const std::vector<std::uint64_t> ids = list_segment_ids(*fs, dir);
    const std::vector<spare_file> spares = list_spares(*fs, dir);

    std::vector<bad_value> bad_values;
    std::uint64_t compressed = 0, bytes = 0, segments = 0;
    std::vector<std::byte> buf;
    progress prog(ctx.err, ctx.progress, "verify");
    const std::vector<detail::recovery_plan> plans =
        scan_log(*fs, dir, ids, modes, prog, [&](std::uint64_t id, std::span<const std::byte> b) {
            check_values(b, id, bad_values, compressed, buf);
            bytes += b.size();
            ++segments;
        });
    const detail::recovery_plan& salvage =
        plans[3];  // skip_corrupted goes on past every damage: it sees them all
    const auto elapsed = std::chrono::steady_clock::now() - started;

    // The damages, each with the LSNs it lost. skip_corrupted recovery notes an lsn_gap where
    // the records resume after damage, with the range of LSNs missing (recovery_plan::skipped,
    // one range per lsn_gap, in order); a gap right after the damage that caused it is shown as
    // part of that damage.
    std::vector<found_damage> damages;
    std::vector<const damage*> notes;
    std::size_t gap = 0;
    for (const damage& d : salvage.info.damages) {
        if (d.kind == damage_kind::stale_record) {
            notes.push_back(&d);
            continue;
        }
        const position& last = salvage.info.last_valid;
        found_damage f{
            d, 0, 0,
            salvage.info.valid_records != 0 && (d.segment_id < last.segment_id ||
                                                (d.segment_id == last.segment_id && d.offset < last.offset))};
        if (d.kind == damage_kind::lsn_gap && gap < salvage.skipped.size()) {
            f.first_lost = salvage.skipped[gap].first;
            f.last_lost = salvage.skipped[gap].last;
            ++gap;
            if (!damages.empty()) {
                found_damage& prev = damages.back();
                const bool same_place =
                    prev.d.segment_id == d.segment_id && prev.d.offset + prev.d.length == d.offset;
                const bool next_segment =
                    prev.d.segment_id + 1 == d.segment_id && d.offset == detail::segment_header_size;
                if ((same_place || next_segment) && prev.first_lost == 0) {
                    prev.first_lost = f.first_lost;
                    prev.last_lost = f.last_lost;
                    prev.d.mid_log = prev.d.mid_log || d.mid_log;
                    prev.followed = prev.followed || f.followed;
                    continue;
                }
            }
        }
        damages.push_back(f);
    }
    std::uint64_t mid_log = 0;
    for (const found_damage& f : damages) mid_log += f.d.mid_log;
    const bool clean = damages.empty() && bad_values.empty();

    output out(ctx.out);
    std::string& o = out.buf();
    if (vm.count("json")) {
        json::object_writer w(o);
        w.string("dir", dir.string())
            .boolean("clean", clean)
            .number("segments", segments)
            .number("records", salvage.info.valid_records)
            .boolean("clean_close", salvage.info.clean_close);
        if (salvage.info.valid_records != 0) {
            w.number("first_lsn", std::uint64_t{salvage.info.first_lsn})
                .number("last_lsn", std::uint64_t{salvage.info.last_lsn});
        } else {
            w.null("first_lsn").null("last_lsn");
        }
        w.number("bytes", bytes).number("compressed_values_checked", compressed);
        // Valid records that the default recovery mode would cut (it takes the damage before them
        // for a torn tail): what the application's next open would lose without a word.
        const detail::recovery_plan& by_default = plans[0];
        w.number("records_cut_by_default_open",
                 by_default.error || by_default.info.valid_records >= salvage.info.valid_records
                     ? std::uint64_t{0}
                     : salvage.info.valid_records - by_default.info.valid_records);
        std::string list = "[";
        for (const found_damage& f : damages) {
            const damage* d = &f.d;
            if (list.size() > 1) list += ',';
            json::object_writer dw(list);
            dw.number("segment", d->segment_id)
                .string("file", detail::segment_file_name(d->segment_id))
                .number("offset", d->offset)
                .number("length", d->length)
                .string("kind", kind_text(d->kind))
                .boolean("mid_log", d->mid_log)
                .boolean("torn_tail", !d->mid_log && !f.followed)
                .boolean("followed_by_records", f.followed);
            if (f.first_lost != 0) {
                dw.number("first_lost_lsn", std::uint64_t{f.first_lost})
                    .number("last_lost_lsn", std::uint64_t{f.last_lost});
            } else {
                dw.null("first_lost_lsn").null("last_lost_lsn");
            }
            dw.end();
        }
        for (const bad_value& b : bad_values) {
            if (list.size() > 1) list += ',';
            json::object_writer dw(list);
            dw.number("segment", b.segment_id)
                .string("file", detail::segment_file_name(b.segment_id))
                .number("offset", b.offset)
                .number("length", std::uint64_t{0})
                .string("kind", "bad_compressed_value")
                .number("lsn", std::uint64_t{b.lsn})
                .boolean("mid_log", true)
                .boolean("torn_tail", false)
                .boolean("followed_by_records", true)
                .number("first_lost_lsn", std::uint64_t{b.lsn})
                .number("last_lost_lsn", std::uint64_t{b.lsn});
            dw.end();
        }
        list += ']';
        w.raw("damages", list);
        std::string note_list = "[";
        for (const damage* d : notes) {
            if (note_list.size() > 1) note_list += ',';
            json::object_writer nw(note_list);
            nw.number("segment", d->segment_id)
                .number("offset", d->offset)
                .number("length", d->length)
                .string("kind", kind_text(d->kind));
            nw.end();
        }
        note_list += ']';
        w.raw("notes", note_list);
        std::string by_mode = "{";
        for (std::size_t i = 0; i < modes.size(); ++i) {
            const detail::recovery_plan& p = plans[i];
            if (i != 0) by_mode += ',';
            json::append_string(by_mode, to_string(modes[i]));
            by_mode += ':';
            json::object_writer mw(by_mode);
            mw.boolean("opens", !p.error);
            if (p.error) {
                mw.string("error", p.why);
            } else {
                mw.number("records", p.info.valid_records)
                    .number("last_lsn", std::uint64_t{p.info.last_lsn})
                    .number("bytes_cut", p.info.bytes_truncated)
                    .number("segments_removed", std::uint64_t{p.removed.size()});
            }
            mw.end();
        }
        by_mode += '}';
        w.raw("recovery", by_mode);
        w.raw("spares", spares_json(spares));
        w.end();
        o += '\n';
        return clean ? exit_ok : exit_damage;
    }

    o += "verify " + dir.string() + ": " + std::to_string(segments) +
         (segments == 1 ? " segment, " : " segments, ") + grouped(salvage.info.valid_records) +
         " valid records";
    if (salvage.info.valid_records != 0)
        o += " (LSN " + std::to_string(salvage.info.first_lsn) + ".." +
             std::to_string(salvage.info.last_lsn) + ")";
    o += ", " + human_bytes(bytes) + " checked in " +
         human_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed)) + "\n";
    for (const found_damage& f : damages) {
        const damage* d = &f.d;
        o += "DAMAGE  segment " + detail::segment_file_name(d->segment_id) + " offset " +
             std::to_string(d->offset) + ": " + kind_text(d->kind);
        if (d->length != 0) o += ", " + std::to_string(d->length) + " bytes";
        if (f.first_lost != 0)
            o += f.first_lost == f.last_lost ? ", LSN " + std::to_string(f.first_lost) + " lost"
                                             : ", LSNs " + std::to_string(f.first_lost) + ".." +
                                                   std::to_string(f.last_lost) + " lost";
        o += d->mid_log && d->kind == damage_kind::truncated_file
                 ? "; mid-log: the preallocated file was cut short, and the records it held past its end are "
                   "lost\n"
             : d->mid_log && salvage.info.clean_close ? "; mid-log: it lies before where the log ended when "
                                                        "it was closed cleanly, so it hit records "
                                                        "that were durable\n"
             : d->mid_log ? "; mid-log: records that were already durable follow it\n"
             : f.followed
                 ? "; unproven: valid records follow it, but none was written knowing it durable, so "
                   "the default recovery takes it for a torn tail and cuts the log here\n"
                 : "; torn tail: nothing valid follows it (what a crash leaves of unsynced writes)\n";
    }
    for (const bad_value& b : bad_values) {
        o += "DAMAGE  segment " + detail::segment_file_name(b.segment_id) + " offset " +
             std::to_string(b.offset) + ": the value of LSN " + std::to_string(b.lsn) +
             " does not decompress (" + std::string(compression_name(b.codec)) + "), though its CRCs hold\n";
    }
    for (const damage* d : notes) {
        o += "note    segment " + detail::segment_file_name(d->segment_id) + " offset " +
             std::to_string(d->offset) +
             ": stale bytes of a recycled segment after the end of the log (harmless)\n";
    }
    for (const spare_file& f : spares)
        o += "note    " + f.path.filename().string() + ": " +
             (f.blank ? "a prepared spare segment file (" + human_bytes(f.size) +
                            ", not part of the log): the next open keeps it for the next segment\n"
                      : std::string(
                            "a spare file with a segment header (an activation a crash interrupted, not part "
                            "of the log): the next read-write open removes it\n"));
    if (salvage.info.clean_close)
        o += "The log was closed cleanly (it holds a close marker): damage before where it ended then is "
             "damage to durable records, never a torn tail.\n";
    o += "Opening this log would, by recovery mode:\n";
    for (std::size_t i = 0; i < modes.size(); ++i) {
        std::string name(to_string(modes[i]));
        if (i == 0) name += " (default)";
        name.resize(34, ' ');
        o += "  " + name + what_open_does(plans[i]) + "\n";
    }
    if (clean) {
        o += "CLEAN: every record is intact.\n";
        return exit_ok;
    }
    o += "DAMAGED: " + std::to_string(damages.size() + bad_values.size()) + " damaged region" +
         (damages.size() + bad_values.size() == 1 ? "" : "s") + ", " + std::to_string(mid_log) +
         " in the middle of the log.\n";
    // The application's next open would do this without a word: say it loudly.
    const detail::recovery_plan& by_default = plans[0];
    if (!by_default.error && by_default.info.valid_records < salvage.info.valid_records) {
        o += "WARNING: opening this log in the default recovery mode (tolerate_corrupted_tail) cuts " +
             grouped(salvage.info.valid_records - by_default.info.valid_records) +
             " valid records that follow the damage. To keep them, have the application open the log with "
             "recovery_mode::skip_corrupted (it steps over the damage; the lost LSNs stay missing), and copy "
             "the "
             "directory before anything opens it in the default mode.\n";
    }
    if (!damages.empty())
        o += "To repair (a copy of every changed file is kept): wal-inspect repair " + dir.string() +
             " --mode point_in_time (or --mode skip_corrupted); add --dry-run to see the changes first.\n";
    return exit_damage;
}

}  // namespace

const command verify_command = {
    "verify",
    "checks every record; reports each damage (torn tail or mid-log)",
    "DIR [--json]",
    "Checks every record of every segment of the log in DIR: CRCs, lengths, LSN order, atomic\n"
    "batches, segment headers, and that compressed values decompress. Reports each damage with its\n"
    "segment, offset and kind, and whether it is a torn tail (no durable record follows it: what a\n"
    "crash leaves, cut silently by the default recovery) or damage in the middle of the log\n"
    "(records that were already durable follow it: the default recovery refuses to open). Then\n"
    "says what opening the log would do under each of the four recovery modes.\n\n"
    "Exit status: 0 clean, 1 damage found, 2 usage or I/O error (or not a log).",
    add_options,
    run,
};

}  // namespace noriwal::inspect
