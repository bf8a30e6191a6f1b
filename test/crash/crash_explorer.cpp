#include "crash/crash_explorer.hpp"

#include <noriwal/error.hpp>

#include <boost/test/unit_test.hpp>

#include "support/temp_dir.hpp"

#include <algorithm>
#include <sstream>

namespace noriwal::test {
namespace {

std::uint64_t mix(std::uint64_t x) noexcept {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

detail::encode_options encode_options_of(const wal_config& cfg) {
    detail::encode_options o;
    o.default_compression = cfg.default_compression;
    o.compression_min_size = cfg.compression_min_size;
    o.zstd_level = cfg.zstd_level;
    o.max_record_size = cfg.max_record_size;
    return o;
}

std::string bits(const std::vector<bool>& v, std::size_t n, bool others) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += (i < v.size() ? v[i] : others) ? '1' : '0';
    return s.empty() ? "-" : s;
}

// The files of a log directory in one line: name, size, and for segments the header's base LSN
// and the LSNs of the records a format-only reader finds in it.
std::string dump_directory(sim_disk& disk) {
    std::ostringstream s;
    std::vector<std::string> names;
    if (disk.list(crash_dir, names)) return "(cannot list)";
    std::sort(names.begin(), names.end());
    s << "files:";
    for (const auto& n : names) {
        std::vector<std::byte> bytes;
        try {
            bytes = read_file(disk, crash_dir / n);
        } catch (const std::exception&) {
        }
        s << " " << n << "[" << bytes.size();
        std::uint64_t id = 0;
        detail::segment_header h;
        if (detail::parse_segment_file_name(n, id) &&
            detail::decode_segment_header(bytes, h) == detail::segment_header_status::ok) {
            s << " base " << h.base_lsn << " lsn";
            std::uint64_t off = detail::segment_header_size;
            detail::record_view rv;
            while (off < bytes.size() &&
                   detail::decode_record(std::span<const std::byte>(bytes).subspan(off), id, UINT32_MAX,
                                         rv) == detail::decode_status::ok) {
                // Batch records are marked: <first, =middle, >last.
                s << " "
                  << (rv.type == detail::record_type::first    ? "<"
                      : rv.type == detail::record_type::middle ? "="
                      : rv.type == detail::record_type::last   ? ">"
                                                               : "")
                  << rv.lsn;
                off += rv.size;
            }
        }
        s << "]";
    }
    return s.str();
}

// Failure messages stop after this many per explorer: the first ones say it all.
constexpr std::size_t max_reported_failures = 5;

}  // namespace

bool is_mutating(sim_op op) noexcept {
    switch (op) {
        case sim_op::create:
        case sim_op::create_directories:  // a directory entry, volatile until its parent is synced
        case sim_op::write:
        case sim_op::sync:
        case sim_op::truncate:
        case sim_op::allocate:
        case sim_op::rename:
        case sim_op::remove:
        case sim_op::dir_sync:
            return true;
        default:
            return false;
    }
}

std::string describe(const power_cut_plan& p) {
    std::ostringstream s;
    s << "writes kept " << bits(p.keep_writes, p.keep_writes.size(), p.keep_other_writes)
      << (p.keep_other_writes ? "+rest" : "") << ", dir ops kept "
      << bits(p.keep_dir_ops, p.keep_dir_ops.size(), p.keep_other_dir_ops)
      << (p.keep_other_dir_ops ? "+rest" : "");
    if (p.tear) {
        s << ", write #" << p.tear->write << " torn at " << p.tear->sector_size << " B sectors (";
        if (p.tear->sectors.empty()) {
            s << "first " << p.tear->prefix << " kept)";
        } else {
            s << bits(p.tear->sectors, p.tear->sectors.size(), false) << ")";
        }
    }
    if (p.garbage)
        s << ", garbage in sector " << p.garbage->sector << " (" << p.garbage->sector_size << " B) of write #"
          << p.garbage->write;
    return s.str();
}

std::error_code append_contents(detail::segment_log& log, const std::vector<record_content>& contents,
                                bool atomic, std::vector<position>* positions) {
    std::vector<append_group_request> group{{contents, atomic}};
    std::vector<std::error_code> results;
    std::vector<position> pos(contents.size());
    const auto opts = encode_options_of(log.config());
    std::vector<detail::encoded_record> encoded(contents.size());
    std::vector<detail::encoded_record*> ptrs;
    for (std::size_t i = 0; i < contents.size(); ++i) {
        if (auto ec = detail::encode_record(contents[i].as_record(), opts, encoded[i])) return ec;
        ptrs.push_back(&encoded[i]);
    }
    detail::append_request req{ptrs, atomic, pos.data()};
    std::error_code result;
    const std::error_code ec = log.append(std::span(&req, 1), std::span(&result, 1));
    if (positions != nullptr) *positions = pos;
    return result ? result : ec;
}

std::error_code append_group(detail::segment_log& log, const std::vector<append_group_request>& group,
                             std::vector<std::error_code>& results) {
    const auto opts = encode_options_of(log.config());
    std::vector<std::vector<detail::encoded_record>> encoded(group.size());
    std::vector<std::vector<detail::encoded_record*>> ptrs(group.size());
    std::vector<detail::append_request> reqs(group.size());
    for (std::size_t i = 0; i < group.size(); ++i) {
        encoded[i].resize(group[i].contents.size());
        for (std::size_t j = 0; j < group[i].contents.size(); ++j) {
            if (auto ec = detail::encode_record(group[i].contents[j].as_record(), opts, encoded[i][j]))
                return ec;
            ptrs[i].push_back(&encoded[i][j]);
        }
        reqs[i] = {ptrs[i], group[i].atomic, nullptr};
    }
    results.assign(group.size(), {});
    return log.append(reqs, results);
}

crash_explorer::crash_explorer(wal_config base, exploration_options opts)
    : base_(std::move(base)), opts_(opts), plan_seed_(opts.seed) {
    base_.dir = crash_dir;
    base_.read_only = false;
}

std::vector<power_cut_plan> crash_explorer::plans_for(const sim_disk& disk) {
    std::vector<power_cut_plan> plans;
    power_cut_enumeration en;
    en.max_exhaustive = opts_.max_exhaustive;
    en.samples = opts_.samples;
    en.seed = plan_seed_ = mix(plan_seed_);
    en.max_tears_per_write = opts_.max_tears_per_write;
    for_each_power_cut(
        disk, [&](const power_cut_plan& p) { plans.push_back(p); }, en);

    // The torn tail of an in-order disk at 4 KiB sectors, and a sector of garbage where the
    // power cut caught a write: first and last sector of each write, later writes dropped.
    const std::size_t n = disk.unsynced_write_count();
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t big = disk.sector_count(i, 4096);
        for (std::size_t prefix = 0; prefix + 1 < big && prefix < opts_.max_tears_per_write; ++prefix) {
            auto p = power_cut_plan::keep_prefix(i, true);
            p.tear = sector_tear{i, 4096, prefix, {}};
            plans.push_back(std::move(p));
        }
        const std::size_t small = disk.sector_count(i, 512);
        if (!opts_.garbage || small == 0) continue;
        for (const std::size_t sector : {std::size_t{0}, small - 1}) {
            auto p = power_cut_plan::keep_prefix(i + 1, true);
            p.garbage = sector_garbage{i, 512, sector, mix(plan_seed_ + i * 7 + sector)};
            plans.push_back(std::move(p));
            if (small == 1) break;
        }
    }
    return plans;
}

std::unique_ptr<detail::segment_log> crash_explorer::open_on(const std::shared_ptr<sim_disk>& disk,
                                                             std::string& why, recovery_info* found) {
    wal_config cfg = base_;
    cfg.fs = disk;
    std::unique_ptr<detail::segment_log> log;
    recovery_info local;
    recovery_info& info = found != nullptr ? *found : local;
    std::string open_why;
    if (auto ec = detail::segment_log::open(cfg, log, info, open_why)) {
        why = "open failed: " + ec.message() + " (" + open_why + ")";
        return nullptr;
    }
    return log;
}

std::string crash_explorer::check_state(const sim_disk& disk, const power_cut_plan& plan,
                                        const log_check& check) {
    // 1. Recover, read the files independently, check what was appended.
    const auto d1 = disk.power_cut(plan);
    std::string why;
    auto log = open_on(d1, why);
    if (!log) return "recovery: " + why;
    std::vector<read_record> r1;
    if (auto err = read_log(*d1, crash_dir, r1); !err.empty()) return "after recovery the files read: " + err;
    if (auto err = check(r1); !err.empty()) return "after recovery: " + err;
    const lsn_t next = r1.empty() ? log->next_position().lsn : r1.back().lsn + 1;
    if (log->next_position().lsn != next || log->written_lsn() != next - 1 || log->durable_lsn() != next - 1)
        return "after recovery of " + describe(r1) + " the engine says next LSN " +
               std::to_string(log->next_position().lsn) + ", written " + std::to_string(log->written_lsn()) +
               ", durable " + std::to_string(log->durable_lsn());
    if (!opts_.deep) return {};

    // 2. The process dies right after recovery, then the power: recovery's repairs were
    //    durable, so the same log comes back.
    log.reset();
    const auto d2 = d1->power_cut(power_cut_plan::drop_all());
    log = open_on(d2, why);
    if (!log) return "second recovery: " + why;
    std::vector<read_record> r2;
    if (auto err = read_log(*d2, crash_dir, r2); !err.empty()) return "after the second recovery: " + err;
    if (!same_records(r1, r2))
        return "recovering twice differs: first " + describe(r1) + ", then " + describe(r2);
    if (log->next_position().lsn != next)
        return "the second recovery says next LSN " + std::to_string(log->next_position().lsn) +
               ", the first " + std::to_string(next);

    // 3. Appending after recovery works and survives another power cut.
    const std::vector<record_content> single{make_content("after", 0, 600)};
    const std::vector<record_content> batch{make_content("after", 1, 600), make_content("after", 2, 600)};
    std::vector<position> pos;
    if (auto ec = append_contents(*log, single, false, &pos)) return "append after recovery: " + ec.message();
    if (pos[0].lsn != next)
        return "the first append after recovery got LSN " + std::to_string(pos[0].lsn) + ", expected " +
               std::to_string(next);
    if (auto ec = append_contents(*log, batch, true, &pos)) return "batch after recovery: " + ec.message();
    if (auto ec = log->sync()) return "sync after recovery: " + ec.message();
    log.reset();
    const auto d3 = d2->power_cut(power_cut_plan::drop_all());
    log = open_on(d3, why);
    if (!log) return "recovery after appending: " + why;
    std::vector<read_record> r3;
    if (auto err = read_log(*d3, crash_dir, r3); !err.empty())
        return "after appending and recovering: " + err;
    const std::vector<read_record> kept(
        r3.begin(), r3.begin() + static_cast<std::ptrdiff_t>(std::min(r3.size(), r2.size())));
    if (r3.size() != r2.size() + 3 || !same_records(kept, r2))
        return "after appending 3 records to " + describe(r2) + " and recovering: " + describe(r3);
    const detail::record_type types[] = {detail::record_type::full, detail::record_type::first,
                                         detail::record_type::last};
    const record_content* contents[] = {&single[0], &batch[0], &batch[1]};
    for (std::size_t i = 0; i < 3; ++i) {
        const auto& r = r3[r2.size() + i];
        if (r.lsn != next + i || r.type != types[i] || !same_content(r, *contents[i]))
            return "record " + std::to_string(i) + " appended after recovery came back wrong (LSN " +
                   std::to_string(r.lsn) + ")";
    }

    // 4. A clean close of the recovered log leaves its close marker, and the reopen after a
    //    power cut finds it, finds no damage before where it says the log ended, and keeps
    //    every record.
    if (auto ec = log->close()) return "clean close after recovery: " + ec.message();
    log.reset();
    const auto d4 = d3->power_cut(power_cut_plan::drop_all());
    recovery_info info4;
    log = open_on(d4, why, &info4);
    if (!log) return "reopen after a clean close: " + why;
    if (!info4.clean_close) return "a clean close after recovery left no close marker that the reopen found";
    if (info4.corruption_detected &&
        base_.recovery != recovery_mode::skip_corrupted)  // salvage keeps its damage
        return "the reopen after a clean close found damage: " +
               std::string(to_string(info4.damages.front().kind));
    std::vector<read_record> r4;
    if (auto err = read_log(*d4, crash_dir, r4); !err.empty())
        return "after a clean close and reopen: " + err;
    if (!same_records(r3, r4))
        return "a clean close and reopen changed the log: " + describe(r3) + ", then " + describe(r4);
    return {};
}

void crash_explorer::explore(const sim_disk& disk, const log_expectation& e, const std::string& where) {
    explore(
        disk, [&e](const std::vector<read_record>& r) { return check_log(r, e); }, where,
        "required LSNs " + std::to_string(e.required_from) + ".." + std::to_string(e.required_to) +
            ", floor " + std::to_string(e.floor) + ", highest possible " + std::to_string(e.last_allowed()));
}

void crash_explorer::explore(const sim_disk& disk, const log_check& check, const std::string& where,
                             const std::string& required) {
    ++points_;
    for (const auto& plan : plans_for(disk)) {
        ++states_;
        std::string why;
        try {
            why = check_state(disk, plan, check);
        } catch (const std::exception& ex) {
            why = std::string("exception: ") + ex.what();
        }
        if (why.empty()) continue;
        ++failures_;
        if (failures_ <= max_reported_failures) {
            why += "; after the cut " + dump_directory(*disk.power_cut(plan)) + "; before the cut " +
                   dump_directory(*disk.power_cut(power_cut_plan::keep_all())) + "; unsynced:";
            for (const auto& u : disk.unsynced_writes())
                why += " " + u.path.filename().string() + "@" + std::to_string(u.offset) + "+" +
                       std::to_string(u.length);
            why += "; volatile directory operations:";
            for (const auto& d : disk.volatile_dir_ops())
                why += " " + std::to_string(static_cast<int>(d.what)) + ":" + d.path.filename().string() +
                       "->" + d.target.filename().string();
            BOOST_ERROR("crash at " << where << "; power cut: " << describe(plan) << "; " << required << ": "
                                    << why);
        } else if (failures_ == max_reported_failures + 1) {
            BOOST_ERROR("more crash states fail; only the first " << max_reported_failures << " are shown");
        }
    }
}

}  // namespace noriwal::test
