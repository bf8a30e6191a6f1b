// wal-inspect repair: applies a recovery mode's decision to the files for good, keeping a copy
// of every file it changes.
//
// The decision is the library's: the recovery scanner says what a read-write open in that mode
// keeps, cuts and removes, and the engine's own open (segment_log) then does it. What repair
// adds: it holds the directory lock while it decides and copies, so that no writer changes the
// log in between; it copies every file the open is going to change into
// DIR/repair-backup-<UTC time>/ (fdatasync'd) first; under skip_corrupted it also rewrites
// the damaged header of a segment it keeps (recovery keeps such a segment as it is, and every
// reader would then refuse it); and it reports what changed and what the log holds afterwards.
#include "command.hpp"
#include "log_dir.hpp"
#include "text.hpp"

#include "internal/log.hpp"

#include <noriwal/error.hpp>

#include <array>
#include <map>
#include <ostream>
#include <set>

namespace noriwal::inspect {

namespace {

constexpr std::array<recovery_mode, 1> default_mode = {recovery_mode::tolerate_corrupted_tail};

std::string segment_name(std::uint64_t id) { return detail::segment_file_name(id); }

// What a plan changes on disk, by segment id.
struct plan_changes {
    std::set<std::uint64_t> removed;
    std::map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>> zeroed;  // id -> [from, to)
    std::set<std::uint64_t> header_rewritten;  // by the engine (an all-zero last segment)
    bool empty() const noexcept { return removed.empty() && zeroed.empty() && header_rewritten.empty(); }
};

plan_changes changes_of(const detail::recovery_plan& p) {
    plan_changes c;
    c.removed.insert(p.removed.begin(), p.removed.end());
    if (p.zero_to > p.zero_from && !p.kept.empty()) c.zeroed[p.kept.back().id] = {p.zero_from, p.zero_to};
    if (p.reset_last && !p.kept.empty()) c.header_rewritten.insert(p.kept.back().id);
    return c;
}

bool has_damage(const detail::recovery_plan& p) {
    for (const damage& d : p.info.damages)
        if (d.kind != damage_kind::stale_record) return true;
    return false;
}

std::string lsn_range_text(const recovery_info& info) {
    if (info.valid_records == 0) return "no record";
    return grouped(info.valid_records) + " records, LSN " + std::to_string(info.first_lsn) + ".." +
           std::to_string(info.last_lsn);
}

std::string compact_utc_now() {
    std::string t = utc_time(now_unix_ns());  // 2026-11-22T01:43:00.123Z
    std::string out;
    for (const char c : t.substr(0, 19))
        if (c != '-' && c != ':') out.push_back(c);
    return out + "Z";
}

class backup {
public:
    backup(file_system& fs, std::filesystem::path dir) : fs_(&fs), dir_(std::move(dir)) {}

    const std::filesystem::path& path() const noexcept { return path_; }

    /// Copies segment `id` into the backup directory (made on first use), fdatasync'd.
    void keep(std::uint64_t id) {
        if (!copied_.insert(id).second) return;
        if (path_.empty()) create();
        const auto from = dir_ / segment_name(id);
        const auto to = path_ / segment_name(id);
        std::error_code ec;
        std::filesystem::copy_file(from, to, ec);
        std::unique_ptr<file> f;
        if (!ec) ec = fs_->open(to, open_mode::read_only, f);
        if (!ec) ec = f->sync();
        if (!ec) ec = fs_->sync_directory(path_);
        if (ec) throw failure("cannot copy " + from.string() + " to " + to.string() + ": " + ec.message());
    }

private:
    void create() {
        const std::string base = "repair-backup-" + compact_utc_now();
        for (int n = 1;; ++n) {
            path_ = dir_ / (n == 1 ? base : base + "-" + std::to_string(n));
            std::error_code ec;
            if (std::filesystem::create_directory(path_, ec)) break;
            if (ec || n > 100)
                throw failure("cannot create the backup directory " + path_.string() + ": " +
                              (ec ? ec.message() : "it exists"));
        }
        if (auto ec = fs_->sync_directory(dir_))
            throw failure("cannot sync " + dir_.string() + ": " + ec.message());
    }

    file_system* fs_;
    std::filesystem::path dir_;
    std::filesystem::path path_;
    std::set<std::uint64_t> copied_;
};

// Writes a fresh header for a kept segment whose header is damaged: its id (from the file name)
// and the base LSN recovery assigned it.
void rewrite_header(file_system& fs, const std::filesystem::path& dir, const detail::scanned_segment& s) {
    detail::segment_header h;
    h.segment_id = s.id;
    h.base_lsn = s.base_lsn != 0 ? s.base_lsn : s.first_lsn;
    h.created_ns = now_unix_ns();
    std::array<std::byte, detail::segment_header_size> bytes{};
    detail::encode_segment_header(h, bytes);
    const auto path = dir / segment_name(s.id);
    std::unique_ptr<file> f;
    std::error_code ec = fs.open(path, open_mode::read_write, f);
    if (!ec) ec = f->write_at(0, bytes);
    if (!ec) ec = f->sync();
    if (ec) throw failure("cannot rewrite the header of " + path.string() + ": " + ec.message());
}

void add_options(po::options_description& opts) {
    opts.add_options()("mode", po::value<std::string>(),
                       "point_in_time (cut the log at the first damage) or skip_corrupted (keep every valid "
                       "record, leave gaps)")("dry-run", "say what would change, change nothing");
}

int run(const po::variables_map& vm, context& ctx) {
    if (!vm.count("mode")) throw failure("give --mode point_in_time or --mode skip_corrupted");
    const std::string mode_text = vm["mode"].as<std::string>();
    recovery_mode mode{};
    if (mode_text == "point_in_time") {
        mode = recovery_mode::point_in_time;
    } else if (mode_text == "skip_corrupted") {
        mode = recovery_mode::skip_corrupted;
    } else {
        throw failure(
            "--mode " + mode_text +
            ": use point_in_time or skip_corrupted (every open already applies tolerate_corrupted_tail, and "
            "absolute_consistency repairs nothing)");
    }
    const bool dry_run = vm.count("dry-run") != 0;
    const std::filesystem::path dir(vm["dir"].as<std::string>());
    const auto fs = posix_file_system();
    std::vector<std::uint64_t> ids = list_segment_ids(*fs, dir);

    // The lock keeps writers out while the decision is made and the copies are taken. A dry run
    // only reads (and takes no lock).
    std::unique_ptr<directory_lock> lock;
    if (!dry_run) {
        if (auto ec = fs->lock(dir, lock)) {
            throw failure(ec == errc::locked
                              ? dir.string() +
                                    ": the log is open in another process (or wal object); close it "
                                    "first, repair never runs under a writer"
                              : dir.string() + ": cannot lock the directory: " + ec.message());
        }
    }
    progress prog(ctx.err, ctx.progress, "repair: scanning");
    const std::array<recovery_mode, 1> chosen = {mode};
    detail::recovery_plan before =
        scan_log(*fs, dir, ids, std::array{recovery_mode::skip_corrupted}, prog)[0];
    detail::recovery_plan plan = scan_log(*fs, dir, ids, chosen, prog)[0];
    if (plan.error) throw failure(plan.why);

    std::vector<const detail::scanned_segment*> bad_headers;
    if (mode == recovery_mode::skip_corrupted) {
        for (const detail::scanned_segment& s : plan.kept)
            if (!s.header_ok && !s.all_zero) bad_headers.push_back(&s);
    }
    plan_changes changes = changes_of(plan);
    std::string out;
    out += "repair " + dir.string() + " (mode " + mode_text + ")" +
           (dry_run ? ", dry run: nothing is changed" : "") + "\n";
    out += "before: " + lsn_range_text(before.info) + " readable\n";
    if (changes.empty() && bad_headers.empty()) {
        if (!has_damage(plan)) {
            out += "Nothing to repair: the log holds no damage.\n";
        } else {
            out +=
                "Nothing to change on disk: skip_corrupted recovery steps over the damage in place at every "
                "open.\n"
                "Open this log with recovery_mode::skip_corrupted: in the default mode an open refuses "
                "damage\n"
                "in the middle of the log, or cuts the log at it when no later record proves it durable.\n"
                "Or repair it with --mode point_in_time to cut it at the first damage for good.\n";
        }
        ctx.out << out;
        return exit_ok;
    }

    const std::string verb = dry_run ? "would " : "";
    auto describe_changes = [&](const plan_changes& c) {
        for (auto it = c.removed.rbegin(); it != c.removed.rend(); ++it)
            out += "  " + verb + "remove " + segment_name(*it) + "\n";
        for (const auto& [id, range] : c.zeroed)
            out += "  " + verb + "cut " + segment_name(id) + " at offset " + std::to_string(range.first) +
                   " (" + std::to_string(range.second - range.first) + " bytes zeroed)\n";
        for (const std::uint64_t id : c.header_rewritten)
            out += "  " + verb + "write the header of " + segment_name(id) + " again (an all-zero file)\n";
    };
    if (dry_run) {
        for (const auto* s : bad_headers)
            out += "  would rewrite the damaged header of " + segment_name(s->id) + " (base LSN " +
                   std::to_string(s->base_lsn) + ")\n";
        describe_changes(changes);
        out += "after: " + lsn_range_text(plan.info) + "\n";
        ctx.out << out;
        return exit_ok;
    }

    // Copies first, of everything this decision changes; then the changes.
    backup copies(*fs, dir);
    auto keep_all = [&](const plan_changes& c) {
        for (const auto* s : bad_headers) copies.keep(s->id);
        for (const std::uint64_t id : c.removed) copies.keep(id);
        for (const auto& [id, range] : c.zeroed) copies.keep(id);
        for (const std::uint64_t id : c.header_rewritten) copies.keep(id);
    };
    try {
        keep_all(changes);
    } catch (const failure& f) {
        throw failure(std::string(f.what()) + "; nothing was changed");
    }
    std::string rewritten;
    for (const auto* s : bad_headers) {
        rewrite_header(*fs, dir, *s);
        rewritten += "  rewrote the damaged header of " + segment_name(s->id) + " (base LSN " +
                     std::to_string(s->base_lsn) + ")\n";
    }
    if (!bad_headers.empty()) {
        // The new headers change what the open will decide: decide again, still under the lock.
        bad_headers.clear();  // they pointed into the plan replaced here
        plan = scan_log(*fs, dir, ids, chosen, prog)[0];
        if (plan.error) throw failure(plan.why);
        changes = changes_of(plan);
        try {
            keep_all(changes);
        } catch (const failure& f) {
            throw failure(std::string(f.what()) +
                          "; only damaged segment headers were rewritten (the originals are in " +
                          copies.path().string() + ")");
        }
    }

    // The engine's open applies the plan (it takes the lock again: ours goes first).
    lock.reset();
    wal_config cfg;
    cfg.dir = dir;
    cfg.recovery = mode;
    cfg.prealloc = preallocation::none;  // a new active segment, if one is needed, stays small
    std::unique_ptr<detail::segment_log> log;
    recovery_info info;
    std::string why;
    if (auto ec = detail::segment_log::open(cfg, log, info, why))
        throw failure("the repair failed: " + (why.empty() ? ec.message() : why) +
                      (copies.path().empty() ? std::string()
                                             : "; the original files are in " + copies.path().string()));
    if (auto ec = log->close()) throw failure("the repair failed while syncing: " + ec.message());
    log.reset();

    out += "changed (copies of the files as they were are in " + copies.path().string() + "):\n" + rewritten;
    describe_changes(changes);

    // What the log is now, read back.
    ids = list_segment_ids(*fs, dir);
    const detail::recovery_plan after = scan_log(*fs, dir, ids, default_mode, prog)[0];
    const detail::recovery_plan after_salvage =
        scan_log(*fs, dir, ids, std::array{recovery_mode::skip_corrupted}, prog)[0];
    out += "after: " + lsn_range_text(after_salvage.info) + "\n";
    if (before.info.valid_records > after_salvage.info.valid_records)
        out += grouped(before.info.valid_records - after_salvage.info.valid_records) +
               " readable records were cut; they remain in the copies.\n";
    if (!after.error && !has_damage(after)) {
        out += "The log opens cleanly in the default recovery mode.\n";
    } else {
        out += "The damage in the middle of the log stays where it is (LSNs";
        for (const detail::lsn_range& r : after_salvage.skipped)
            out += " " + std::to_string(r.first) + ".." + std::to_string(r.last);
        out += " are missing): open this log with recovery_mode::skip_corrupted.\n";
    }
    ctx.out << out;
    return exit_ok;
}

}  // namespace

const command repair_command = {
    "repair",
    "cuts or steps over damage for good (keeps a copy of every changed file)",
    "DIR --mode point_in_time|skip_corrupted [--dry-run]",
    "Applies a recovery mode's decision to the files of the log in DIR, as a read-write open in that\n"
    "mode would, and reports what changed:\n"
    "  point_in_time   the log ends at the first damage: later segments are removed and the damaged\n"
    "                  segment is cut (zeroed) from the damage on. The log then opens cleanly.\n"
    "  skip_corrupted  every valid record is kept; a torn tail is cut, and a kept segment with a\n"
    "                  damaged header gets a new one. Damage in the middle stays in place and its\n"
    "                  LSNs are missing: open the log with recovery_mode::skip_corrupted.\n"
    "Before changing a file, repair copies it into DIR/repair-backup-<UTC time>/ (fdatasync'd); it\n"
    "holds the log's lock meanwhile, so it refuses to run while a process has the log open. Run\n"
    "`wal-inspect verify DIR` first; --dry-run shows the changes without making them.",
    add_options,
    run,
};

}  // namespace noriwal::inspect
