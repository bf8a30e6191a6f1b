// wal-inspect list: the segments of a log, one line each.
#include "command.hpp"
#include "json.hpp"
#include "session.hpp"
#include "text.hpp"

#include <map>
#include <ostream>

namespace noriwal::inspect {

namespace {

struct segment_summary {
    std::uint64_t records = 0;
    lsn_t first = 0;
    lsn_t last = 0;
    std::uint64_t end = detail::segment_header_size;  // offset after its last record
    std::uint64_t damages = 0;
};

void add_options(po::options_description& opts) {
    opts.add_options()("json", "one JSON object instead of the table");
}

int run(const po::variables_map& vm, context& ctx) {
    log_session session(ctx, dir_argument(vm), "list");
    std::map<std::uint64_t, segment_summary> by_id;
    walked_record r;
    while (session.next(r)) {
        segment_summary& s = by_id[r.pos.segment_id];
        ++s.records;
        if (s.first == 0) s.first = r.pos.lsn;
        s.last = r.pos.lsn;
        s.end = r.pos.offset + r.view.size;
    }
    session.done();
    for (const walk_damage& d : session.damages()) ++by_id[d.segment_id].damages;

    const std::uint64_t now = now_unix_ns();
    const auto& segs = session.walk().segments();
    std::uint64_t records = 0, written = 0, on_disk = 0;
    lsn_t first = 0, last = 0;
    for (const segment_file& f : segs) {
        const segment_summary& s = by_id[f.id];
        records += s.records;
        written += s.end;
        on_disk += f.size;
        if (first == 0) first = s.first;
        if (s.last != 0) last = s.last;
    }

    // Prepared spares: not part of the log, but disk it takes (doc/api.md, "Disk space").
    const std::vector<spare_file> spares = list_spares(*session.fs(), session.dir());
    std::uint64_t spare_bytes = 0;
    for (const spare_file& f : spares) spare_bytes += f.size;

    output out(ctx.out);
    if (vm.count("json")) {
        std::string items = "[";
        for (std::size_t i = 0; i < segs.size(); ++i) {
            const segment_file& f = segs[i];
            const segment_summary& s = by_id[f.id];
            if (i != 0) items += ',';
            json::object_writer w(items);
            w.number("id", f.id).string("file", f.path.filename().string());
            if (f.fresh) {
                w.null("base_lsn").null("created_unix_ms").null("age_ms").null("node_id");
            } else {
                w.number("base_lsn", std::uint64_t{f.header.base_lsn})
                    .number("created_unix_ms", f.header.created_ns / 1'000'000)
                    .number("age_ms", static_cast<std::int64_t>(now - f.header.created_ns) / 1'000'000)
                    .number("node_id", f.header.node_id);
            }
            if (s.records != 0) {
                w.number("first_lsn", std::uint64_t{s.first}).number("last_lsn", std::uint64_t{s.last});
            } else {
                w.null("first_lsn").null("last_lsn");
            }
            w.number("records", s.records)
                .number("bytes", s.end)
                .number("file_bytes", f.size)
                .string("state", i + 1 == segs.size() ? "active" : "sealed")
                .number("damages", s.damages);
            w.end();
        }
        items += ']';
        json::object_writer w(out.buf());
        w.string("dir", session.dir().string())
            .number("segment_count", std::uint64_t{segs.size()})
            .number("records", records);
        if (records != 0) {
            w.number("first_lsn", std::uint64_t{first}).number("last_lsn", std::uint64_t{last});
        } else {
            w.null("first_lsn").null("last_lsn");
        }
        w.number("bytes", written).number("file_bytes", on_disk).raw("segments", items);
        w.number("spare_bytes", spare_bytes).raw("spares", spares_json(spares));
        w.end();
        out.buf() += '\n';
        return session.status();
    }

    table t({"segment", ">base lsn", ">last lsn", ">records", ">bytes", ">file", "state", ">age"});
    for (std::size_t i = 0; i < segs.size(); ++i) {
        const segment_file& f = segs[i];
        const segment_summary& s = by_id[f.id];
        std::string state = i + 1 == segs.size() ? "active" : "sealed";
        if (f.fresh) state += ", no header yet";
        if (s.damages != 0) state += ", damaged";
        const std::string age = f.fresh ? "-"
                                        : human_duration(std::chrono::nanoseconds(
                                              static_cast<std::int64_t>(now - f.header.created_ns)));
        t.add({f.path.filename().string(), f.fresh ? "-" : std::to_string(f.header.base_lsn),
               s.records != 0 ? std::to_string(s.last) : "-", std::to_string(s.records), human_bytes(s.end),
               human_bytes(f.size), state, age});
    }
    t.print(out.buf());
    out.buf() += std::to_string(segs.size()) + (segs.size() == 1 ? " segment, " : " segments, ") +
                 grouped(records) + " records";
    if (records != 0) out.buf() += " (LSN " + std::to_string(first) + ".." + std::to_string(last) + ")";
    out.buf() += ", " + human_bytes(written) + " written, " + human_bytes(on_disk) + " of files";
    if (!spares.empty())
        out.buf() += "; " + std::to_string(spares.size()) +
                     (spares.size() == 1 ? " prepared spare (" : " prepared spares (") +
                     human_bytes(spare_bytes) + ", not part of the log)";
    out.buf() += "\n";
    return session.status();
}

}  // namespace

const command list_command = {
    "list",
    "the segments: id, LSN range, records, bytes, sealed or active, age",
    "DIR [--json]",
    "Lists the segment files of the log in DIR, oldest first, with the LSN of their first record\n"
    "(base lsn) and of their last, how many records they hold, the bytes written (up to the end of\n"
    "their last record) and the size of the file (a prepared segment is longer than what is written),\n"
    "whether they are sealed or the active one (the last; appends go there), and their age (from the\n"
    "creation time in their header). Every record is read and checked on the way; damage is reported\n"
    "on stderr. Prepared spare files (spare-<n>.ready: zeros the writer keeps for its next segment,\n"
    "not part of the log) are counted on the last line (and listed under \"spares\" with --json).",
    add_options,
    run,
};

}  // namespace noriwal::inspect
