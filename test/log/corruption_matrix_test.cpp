// The corruption matrix: a small log of four segments (about ten records each, all but the last
// three fdatasync'd one by one) is damaged in every way recovery must tell apart, and opened
// under each of the four recovery modes. The expected outcome of every case is derived from the
// scenario (which records the damage touched, the durable watermark each record was framed
// with, what the bytes at the damage read as), following the rules of doc/durability.md; it is
// never a recorded output.
//
// Every case also checks that a read-only open reports the same and changes no byte, and that a
// read-write open's repair is durable: reopening finds a clean log.
#include "log_support.hpp"

#include <noriwal/detail/crc32c.hpp>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <random>
#include <sstream>

using namespace noriwal;
using namespace noriwal::test;

namespace {

constexpr lsn_t record_count = 38;
constexpr lsn_t synced_through = 35;  // records 36..38 were framed after the last sync

using files = std::map<std::uint64_t, std::vector<std::byte>>;

struct base_log {
    std::shared_ptr<sim_disk> disk;
    std::vector<written> recs;
    files original;
    preallocation prealloc = preallocation::none;

    const written& rec(lsn_t lsn) const { return recs.at(lsn - 1); }
    std::vector<std::uint64_t> ids() const {
        std::vector<std::uint64_t> v;
        for (const auto& [id, _] : original) v.push_back(id);
        return v;
    }
    lsn_t base_of(std::uint64_t id) const {
        for (const written& w : recs)
            if (w.pos.segment_id == id) return w.lsn;
        return 0;
    }
};

base_log build(preallocation prealloc) {
    base_log b;
    b.prealloc = prealloc;
    b.disk = std::make_shared<sim_disk>();
    auto o = open_ok(small_config(b.disk, recovery_mode::tolerate_corrupted_tail, prealloc));
    log_writer w(*o.log);
    for (lsn_t i = 1; i <= record_count; ++i) {
        w.put("key" + std::to_string(i), value_for(i, 300));
        if (i <= synced_through) w.sync();
    }
    o.log.reset();  // no close: the last records stay framed with the older watermark
    b.recs = w.records;
    for (const auto& s : b.recs) b.original.try_emplace(s.pos.segment_id);
    for (auto& [id, bytes] : b.original) bytes = read_file(*b.disk, segment_path(id));
    BOOST_TEST_REQUIRE(b.original.size() == 4u);
    return b;
}

const base_log& base(preallocation p) {
    static const base_log none = build(preallocation::none);
    static const base_log zero = build(preallocation::zero_fill);
    return p == preallocation::none ? none : zero;
}

std::uint64_t data_end(const std::vector<std::byte>& bytes) {
    std::uint64_t e = bytes.size();
    while (e > 0 && bytes[e - 1] == std::byte{0}) --e;
    return e;
}

files segment_files(sim_disk& disk) {
    files out;
    std::vector<std::string> names;
    BOOST_TEST_REQUIRE(!disk.list(log_dir, names));
    for (const auto& n : names) {
        std::uint64_t id = 0;
        if (nd::parse_segment_file_name(n, id)) out[id] = read_file(disk, log_dir / n);
    }
    return out;
}

struct expected_damage {
    std::uint64_t segment_id = 0;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    damage_kind kind{};
    bool mid_log = false;
};

struct expectation {
    std::error_code error;
    expected_damage named;  // the damage the error message names
    std::vector<lsn_t> valid;
    std::vector<expected_damage> damages;
    std::uint64_t bytes_truncated = 0;
    std::vector<nd::lsn_range> skipped;
    lsn_t next_lsn = 1;
    std::string scenario;
};

// Was record w left as written?
bool unchanged(const base_log& b, const written& w, const files& now) {
    const auto it = now.find(w.pos.segment_id);
    if (it == now.end() || it->second.size() < w.pos.offset + w.size) return false;
    const auto& was = b.original.at(w.pos.segment_id);
    const auto& is = now.at(w.pos.segment_id);
    return std::memcmp(was.data() + w.pos.offset, is.data() + w.pos.offset, w.size) == 0;
}

// Is the damage at LSN n in the durable middle of the log: does a valid record after it carry a
// durable watermark >= n?
bool mid_log(const base_log& b, const files& now, lsn_t n, lsn_t after) {
    for (const written& w : b.recs)
        if (w.lsn > after && unchanged(b, w, now) && w.hint >= n) return true;
    return false;
}

// What the modes make of a first damage `d` at LSN n, whose run of lost records is [n, last_lost]
// (every record after it intact), cutting at `cut_offset` of segment `cut_id` (0: before all).
expectation decide(const base_log& b, const files& now, recovery_mode mode, expected_damage d, lsn_t n,
                   lsn_t last_lost, std::uint64_t cut_id, std::uint64_t cut_offset,
                   bool kept_in_skip = true) {
    expectation e;
    e.named = d;
    if (mode == recovery_mode::absolute_consistency ||
        (mode == recovery_mode::tolerate_corrupted_tail && d.mid_log)) {
        e.error = errc::corrupted;
        return e;
    }
    if (mode != recovery_mode::skip_corrupted) {
        e.damages = {d};
        for (lsn_t l = 1; l < n; ++l)
            if (unchanged(b, b.rec(l), now)) e.valid.push_back(l);
        for (const auto& [id, bytes] : now) {
            if (cut_id != 0 && id < cut_id) continue;
            const std::uint64_t end = data_end(bytes);
            if (id == cut_id)
                e.bytes_truncated += end > cut_offset ? end - cut_offset : 0;
            else
                e.bytes_truncated += end;
        }
        e.next_lsn = n;
        return e;
    }
    e.damages = {d};
    for (lsn_t l = 1; l <= record_count; ++l)
        if ((l < n || l > last_lost) && unchanged(b, b.rec(l), now)) e.valid.push_back(l);
    if (last_lost < record_count) {
        const written& next = b.rec(last_lost + 1);
        e.damages.push_back({next.pos.segment_id, next.pos.offset, 0, damage_kind::lsn_gap, d.mid_log});
        e.skipped = {{n, last_lost}};
        e.next_lsn = record_count + 1;
    } else {
        // The damage is the tail of the log: cut like the other modes.
        const auto& bytes = now.at(d.segment_id);
        const std::uint64_t end = data_end(bytes);
        e.bytes_truncated = kept_in_skip ? (end > cut_offset ? end - cut_offset : 0) : end;
        e.next_lsn = n;
    }
    return e;
}

expectation clean(lsn_t upto) {
    expectation e;
    for (lsn_t l = 1; l <= upto; ++l) e.valid.push_back(l);
    e.next_lsn = upto + 1;
    return e;
}

// Damage inside records (bit flips, zeroed sectors, cut files), segment headers intact and
// every segment present.
expectation expect_record_damage(const base_log& b, const files& now, recovery_mode mode) {
    lsn_t first = 0;
    for (const written& w : b.recs)
        if (!unchanged(b, w, now)) {
            first = w.lsn;
            break;
        }
    if (first == 0) return clean(record_count);
    lsn_t last_lost = first;
    while (last_lost < record_count && !unchanged(b, b.rec(last_lost + 1), now)) ++last_lost;
    for (lsn_t l = last_lost + 1; l <= record_count; ++l)
        BOOST_TEST_REQUIRE(unchanged(b, b.rec(l), now), "scenario damages two runs of records");

    const written& r = b.rec(first);
    const std::uint64_t seg = r.pos.segment_id;
    const std::uint64_t o = r.pos.offset;
    const auto& bytes = now.at(seg);
    const bool last_segment = seg == b.original.rbegin()->first;
    const std::uint64_t end = data_end(bytes);

    // What the bytes at the first damaged record read as.
    enum { eof, zero, torn, bad } what;
    if (o >= bytes.size()) {
        what = eof;
    } else if (std::all_of(
                   bytes.begin() + static_cast<std::ptrdiff_t>(o),
                   bytes.begin() + static_cast<std::ptrdiff_t>(std::min<std::uint64_t>(o + 32, bytes.size())),
                   [](std::byte x) { return x == std::byte{0}; })) {
        what = zero;
    } else if (bytes.size() - o < r.size) {
        what = torn;
    } else {
        what = bad;
    }
    const bool next_in_segment = last_lost < record_count && b.rec(last_lost + 1).pos.segment_id == seg;
    const bool mid = mid_log(b, now, first, last_lost);

    expected_damage d;
    d.segment_id = seg;
    d.offset = o;
    d.mid_log = mid;
    if (next_in_segment) {
        d.kind = what == zero  ? damage_kind::garbage_after_end
                 : what == bad ? damage_kind::bad_checksum
                               : damage_kind::torn_record;
        d.length = b.rec(last_lost + 1).pos.offset - o;
    } else if (!last_segment) {
        d.kind = what == bad ? damage_kind::bad_checksum : damage_kind::torn_record;
        d.length = end > o ? end - o : 0;
    } else {
        if (what == eof) return clean(first - 1);
        if (what == zero) {
            std::uint64_t f = o;
            while (f < bytes.size() && bytes[f] == std::byte{0}) ++f;
            if (f == bytes.size()) return clean(first - 1);
            d.kind = damage_kind::garbage_after_end;
            d.offset = f;
            d.length = end - f;
        } else {
            d.kind = what == bad ? damage_kind::bad_checksum : damage_kind::torn_record;
            d.length = end > o ? end - o : 0;
        }
    }
    return decide(b, now, mode, d, first, last_lost, seg, o);
}

// The header of segment `seg` is damaged (its records may be intact), or the file is shorter
// than a header.
expectation expect_header_damage(const base_log& b, const files& now, recovery_mode mode, std::uint64_t seg) {
    const auto& bytes = now.at(seg);
    const bool first_segment = seg == b.original.begin()->first;
    lsn_t n = b.base_of(seg);
    lsn_t last_lost = n - 1;  // records of the segment that are gone
    while (last_lost < record_count && !unchanged(b, b.rec(last_lost + 1), now)) ++last_lost;
    if (first_segment) {
        // Without the first header nothing tells where the log started: the LSN expected at the
        // damage is the first one found after it, and what came before is unknowable (no gap).
        n = last_lost + 1;
        last_lost = n - 1;
    }
    const bool last_segment = seg == b.original.rbegin()->first;
    const bool all_zero = data_end(bytes) == 0;
    if (all_zero && last_segment) return clean(n - 1);  // an empty file: activated, never written

    expected_damage d;
    d.segment_id = seg;
    d.offset = 0;
    d.length = std::min<std::uint64_t>(64, bytes.size());
    d.kind = damage_kind::bad_segment_header;
    d.mid_log = mid_log(b, now, n, n - 1);
    const std::uint64_t prev = seg == b.original.begin()->first ? 0 : seg - 1;
    const std::uint64_t cut_offset =
        prev == 0 ? 0 : b.rec(n - 1).pos.offset + b.rec(n - 1).size;  // the previous segment's end
    if (mode == recovery_mode::skip_corrupted && last_lost < n) {
        // Salvage keeps the segment's intact records behind its bad header.
        expectation e;
        e.damages = {d};
        for (lsn_t l = 1; l <= record_count; ++l)
            if (unchanged(b, b.rec(l), now)) e.valid.push_back(l);
        e.next_lsn = record_count + 1;
        return e;
    }
    expectation e = decide(b, now, mode, d, n, last_lost, prev, cut_offset, /*kept_in_skip=*/false);
    return e;
}

std::string describe(const recovery_info& info) {
    std::ostringstream s;
    s << "valid " << info.valid_records << " last " << info.last_lsn << " truncated " << info.bytes_truncated
      << " damages:";
    for (const damage& d : info.damages)
        s << " [" << to_string(d.kind) << " seg " << d.segment_id << " off " << d.offset << " len "
          << d.length << (d.mid_log ? " mid" : "") << "]";
    return s.str();
}

// What an open (or the scanner alone) decided.
struct verdict {
    std::error_code ec;
    std::string why;
    recovery_info info;
    lsn_t next_lsn = 0;
    std::vector<nd::lsn_range> skipped;
};

verdict of(const opened& o) {
    verdict v{o.ec, o.why, o.info, 0, {}};
    if (o.log) {
        v.next_lsn = o.log->next_position().lsn;
        v.skipped = o.log->skipped();
    }
    return v;
}

// The sans-I/O scanner alone over the files' bytes.
verdict scan(const files& now, recovery_mode mode) {
    nd::recovery_scanner scanner(mode);
    verdict v;
    for (const auto& [id, bytes] : now)
        if ((v.ec = scanner.add_segment(id, bytes, v.why))) return v;
    nd::recovery_plan plan = scanner.finish();
    v.ec = plan.error;
    v.why = plan.why;
    v.info = plan.info;
    v.next_lsn = plan.next_lsn;
    v.skipped = plan.skipped;
    return v;
}

// Empty when the verdict is the expected one, else what differs. (One assertion per case keeps
// the thousands of cases fast.)
std::string mismatch(const expectation& e, const verdict& v, const base_log& b, std::size_t segment_files) {
    std::ostringstream m;
    auto expect = [&m](bool ok, const char* what) {
        if (!ok) m << what << "; ";
    };
    if (e.error) {
        expect(v.ec == e.error, "error code");
        expect(v.why.find(nd::segment_file_name(e.named.segment_id)) != std::string::npos,
               "why names the file");
        expect(v.why.find("offset " + std::to_string(e.named.offset)) != std::string::npos,
               "why names the offset");
        expect(v.why.find(to_string(e.named.kind)) != std::string::npos, "why names the damage");
        if (!m.str().empty()) m << "why: " << v.why;
        return m.str();
    }
    if (v.ec) return "open failed: " + v.ec.message() + ": " + v.why;
    const recovery_info& info = v.info;
    expect(info.valid_records == e.valid.size(), "valid_records");
    expect(info.first_lsn == (e.valid.empty() ? 0 : e.valid.front()), "first_lsn");
    expect(info.last_lsn == (e.valid.empty() ? 0 : e.valid.back()), "last_lsn");
    if (!e.valid.empty() && e.valid.back() <= record_count) {
        const written& last = b.rec(e.valid.back());
        expect(info.last_valid.segment_id == last.pos.segment_id &&
                   info.last_valid.offset == last.pos.offset && info.last_valid.lsn == last.lsn,
               "last_valid");
    }
    expect(info.corruption_detected == !e.damages.empty(), "corruption_detected");
    expect(info.segments_scanned == segment_files, "segments_scanned");
    expect(info.bytes_truncated == e.bytes_truncated, "bytes_truncated");
    if (info.damages.size() != e.damages.size()) {
        m << "damages: " << info.damages.size() << " instead of " << e.damages.size() << "; ";
    } else {
        for (std::size_t i = 0; i < e.damages.size(); ++i) {
            const damage& g = info.damages[i];
            const expected_damage& x = e.damages[i];
            if (g.segment_id != x.segment_id || g.offset != x.offset || g.length != x.length ||
                g.kind != x.kind || g.mid_log != x.mid_log)
                m << "damage " << i << " expected [" << to_string(x.kind) << " seg " << x.segment_id
                  << " off " << x.offset << " len " << x.length << (x.mid_log ? " mid" : "") << "]; ";
        }
    }
    expect(v.next_lsn == e.next_lsn, "next lsn");
    expect(v.skipped == e.skipped, "skipped ranges");
    return m.str();
}

template <class Context>
void check_verdict(const expectation& e, const verdict& v, const base_log& b, std::size_t segment_files,
                   const Context& ctx) {
    const std::string m = mismatch(e, v, b, segment_files);
    if (m.empty())
        BOOST_TEST(true);
    else
        BOOST_TEST(m.empty(), ctx << ": " << m << " | got " << describe(v.info));
}

void check_info(const expectation& e, const opened& o, const base_log& b, std::size_t segment_files,
                const std::string& ctx) {
    check_verdict(e, of(o), b, segment_files, ctx);
}

// Opens the damaged disk read-only (same verdict, no byte changed), then read-write (the
// repair), then again (the repair was durable: the log reads clean, or the same when salvaged).
void check(const base_log& b, sim_disk& damaged, recovery_mode mode, const expectation& e,
           const std::string& scenario) {
    const std::string ctx = scenario + " / " + std::string(to_string(mode));
    const std::size_t n_files = segment_files(damaged).size();
    {
        auto disk = damaged.snapshot();
        const auto before = dir_contents(*disk);
        auto cfg = small_config(disk, mode, b.prealloc);
        cfg.read_only = true;
        const opened ro = open_log(cfg);
        check_info(e, ro, b, n_files, ctx + " (read-only)");
        BOOST_TEST((dir_contents(*disk) == before), ctx << ": a read-only open changed the directory");
    }
    auto disk = damaged.snapshot();
    const auto cfg = small_config(disk, mode, b.prealloc);
    {
        auto before = dir_contents(*disk);
        before.erase("LOCK");
        const opened rw = open_log(cfg);
        check_info(e, rw, b, n_files, ctx);
        if (e.error || rw.ec) {
            // A refused open repairs nothing.
            auto now = dir_contents(*disk);
            now.erase("LOCK");
            BOOST_TEST((now == before), ctx << ": a refused open changed the directory");
            return;
        }
        const auto got = read_all(*disk, *rw.log);
        bool same = got.size() == e.valid.size();
        for (std::size_t i = 0; same && i < got.size(); ++i)
            same = got[i].lsn == e.valid[i] && got[i].value == b.rec(e.valid[i]).value;
        BOOST_TEST(same, ctx << ": the records read back are not the valid ones");
    }
    // A power cut right after the open: what the repair wrote is durable.
    auto after = disk->power_cut();
    const opened again = open_log(small_config(after, mode, b.prealloc));
    BOOST_TEST_REQUIRE(!again.ec, ctx << ": reopen after repair: " << again.why);
    BOOST_TEST(again.info.valid_records == e.valid.size(), ctx);
    BOOST_TEST(again.log->next_position().lsn == e.next_lsn, ctx);
    if (mode != recovery_mode::skip_corrupted) {
        BOOST_TEST(!again.info.corruption_detected, ctx << ": " << describe(again.info));
    }
}

void run_record_damage(const base_log& b, sim_disk& damaged, const std::string& scenario) {
    const files now = segment_files(damaged);
    for (recovery_mode mode : all_modes)
        check(b, damaged, mode, expect_record_damage(b, now, mode), scenario);
}

bool after_contains_spare(sim_disk& disk) { return dir_contents(disk).count("spare-3.tmp") == 1; }

}  // namespace

BOOST_AUTO_TEST_SUITE(corruption_matrix)

BOOST_AUTO_TEST_CASE(the_undamaged_log_opens_clean_in_every_mode) {
    for (preallocation p : {preallocation::none, preallocation::zero_fill}) {
        const base_log& b = base(p);
        BOOST_TEST(b.rec(record_count).pos.segment_id == 4u);
        run_record_damage(b, *b.disk, "undamaged");
    }
}

BOOST_AUTO_TEST_CASE(a_bit_flipped_in_each_record) {
    for (preallocation p : {preallocation::none, preallocation::zero_fill}) {
        const base_log& b = base(p);
        for (const written& w : b.recs) {
            auto disk = b.disk->snapshot();
            // A different byte each time, header and body alike (every byte of a record is checked).
            const std::uint64_t at = w.pos.offset + (w.lsn * 53) % w.size;
            flip_bit(*disk, segment_path(w.pos.segment_id), at, static_cast<unsigned>(w.lsn % 8));
            run_record_damage(b, *disk,
                              "flip in record " + std::to_string(w.lsn) + " at " + std::to_string(at));
        }
    }
}

BOOST_AUTO_TEST_CASE(a_512_byte_sector_zeroed) {
    for (preallocation p : {preallocation::none, preallocation::zero_fill}) {
        const base_log& b = base(p);
        for (const auto& [id, bytes] : b.original) {
            for (std::uint64_t sector : {512u, 1536u, 2560u, 3584u}) {
                if (sector + 512 > bytes.size() && p == preallocation::none) continue;
                auto disk = b.disk->snapshot();
                zero_range(*disk, segment_path(id), sector, 512);
                run_record_damage(
                    b, *disk, "zero sector " + std::to_string(sector) + " of segment " + std::to_string(id));
            }
        }
    }
}

std::string scenario_of(std::uint64_t seg, std::uint64_t x, recovery_mode mode) {
    return "segment " + std::to_string(seg) + " cut at " + std::to_string(x) + " (" +
           std::string(to_string(mode)) + ")";
}

// At every byte the sans-I/O scanner's verdict is checked; the engine's (read-only open, repair,
// reopen after a power cut) at every 32nd byte, in the header and near the end.
void cut_at_every_byte(std::uint64_t seg, bool include_end) {
    const base_log& b = base(preallocation::none);
    const std::uint64_t size = b.original.at(seg).size();
    for (std::uint64_t x = 0; x < size + (include_end ? 1 : 0); ++x) {
        files now = b.original;
        now.at(seg).resize(x);
        const bool engine_too = x % 32 == 0 || x < nd::segment_header_size || x + 40 > size;
        std::shared_ptr<sim_disk> disk;
        if (engine_too) {
            disk = b.disk->snapshot();
            truncate_file(*disk, segment_path(seg), x);
        }
        for (recovery_mode mode : all_modes) {
            const expectation e = x < nd::segment_header_size ? expect_header_damage(b, now, mode, seg)
                                                              : expect_record_damage(b, now, mode);
            check_verdict(e, scan(now, mode), b, now.size(), scenario_of(seg, x, mode));
            if (engine_too) check(b, *disk, mode, e, scenario_of(seg, x, mode));
        }
    }
}

BOOST_AUTO_TEST_CASE(the_last_segment_cut_at_every_byte) { cut_at_every_byte(4, true); }

BOOST_AUTO_TEST_CASE(a_sealed_segment_cut_at_every_byte) {
    for (std::uint64_t seg : {1u, 2u, 3u}) cut_at_every_byte(seg, false);
}

BOOST_AUTO_TEST_CASE(garbage_after_the_zero_end_of_the_last_segment) {
    for (preallocation p : {preallocation::none, preallocation::zero_fill}) {
        const base_log& b = base(p);
        const written& last = b.rec(record_count);
        const std::uint64_t end = last.pos.offset + last.size;
        auto disk = b.disk->snapshot();
        std::vector<std::byte> junk(40);
        std::mt19937 gen(7);
        for (auto& x : junk) x = static_cast<std::byte>(gen() | 1u);  // no zero byte
        write_bytes_at(*disk, segment_path(4), end + 64, junk);
        const files now = segment_files(*disk);
        for (recovery_mode mode : all_modes) {
            // Every mode that opens cuts the garbage (salvage too: no record is in it).
            const expected_damage d{4, end + 64, 40, damage_kind::garbage_after_end, false};
            check(b, *disk, mode, decide(b, now, mode, d, record_count + 1, record_count, 4, end),
                  "garbage after the end");
        }
    }
}

BOOST_AUTO_TEST_CASE(a_durable_record_after_the_zero_end_is_mid_log_damage) {
    // Records lost in the middle of the last segment (read as zeros), followed by a record whose
    // writer knew they were durable.
    const base_log& b = base(preallocation::zero_fill);
    const written& last = b.rec(record_count);
    const std::uint64_t end = last.pos.offset + last.size;
    for (lsn_t hint : {record_count, record_count + 2}) {
        auto disk = b.disk->snapshot();
        nd::encoded_record e = encode(record::put("late", "record"));
        nd::stamp_record(e.header(), 4, record_count + 5, nd::record_type::full, hint);
        const std::uint64_t at = end + 128;
        write_bytes_at(*disk, segment_path(4), at, e.bytes);
        const files now = segment_files(*disk);
        const bool mid = hint >= record_count + 1;
        for (recovery_mode mode : all_modes) {
            expected_damage d{4, end, at - end, damage_kind::garbage_after_end, mid};
            expectation x;
            if (mode == recovery_mode::absolute_consistency ||
                (mode == recovery_mode::tolerate_corrupted_tail && mid)) {
                x.error = errc::corrupted;
                x.named = d;
            } else if (mode == recovery_mode::skip_corrupted) {
                // Salvage keeps the record after the gap.
                x = clean(record_count);
                x.valid.push_back(record_count + 5);
                x.damages = {d, {4, at, 0, damage_kind::lsn_gap, mid}};
                x.skipped = {{record_count + 1, record_count + 4}};
                x.next_lsn = record_count + 6;
            } else {
                x = clean(record_count);
                x.damages = {d};
                x.bytes_truncated = data_end(now.at(4)) - end;
            }
            if (mode == recovery_mode::skip_corrupted) {
                // read_all also decodes the kept record: check it separately.
                auto d2 = disk->snapshot();
                const opened o = open_ok(small_config(d2, mode, preallocation::zero_fill));
                check_info(x, o, b, 4, "late record / skip");
                const auto got = read_all(*d2, *o.log);
                BOOST_TEST_REQUIRE(got.size() == record_count + 1);
                BOOST_TEST(got.back().lsn == record_count + 5);
                BOOST_TEST(got.back().key == "late");
                continue;
            }
            check(b, *disk, mode, x, "late record with hint " + std::to_string(hint));
        }
    }
}

BOOST_AUTO_TEST_CASE(a_missing_segment_in_the_middle) {
    const base_log& b = base(preallocation::none);
    for (std::uint64_t gone : {2u, 3u}) {
        auto disk = b.disk->snapshot();
        BOOST_TEST_REQUIRE(!disk->remove(segment_path(gone)));
        const files now = segment_files(*disk);
        const lsn_t n = b.base_of(gone);
        const lsn_t last_lost = b.base_of(gone + 1) - 1;
        const written& before = b.rec(n - 1);
        for (recovery_mode mode : all_modes) {
            expected_damage d{gone, 0, 0, damage_kind::missing_segment, mid_log(b, now, n, last_lost)};
            const expectation e =
                decide(b, now, mode, d, n, last_lost, gone - 1, before.pos.offset + before.size);
            check(b, *disk, mode, e, "segment " + std::to_string(gone) + " missing");
        }
    }
}

BOOST_AUTO_TEST_CASE(each_field_of_a_segment_header_damaged) {
    const base_log& b = base(preallocation::none);
    const std::pair<const char*, std::uint64_t> fields[] = {
        {"magic", 0},     {"major", 8},    {"minor", 10},   {"header_size", 12}, {"segment_id", 16},
        {"base_lsn", 24}, {"created", 32}, {"node_id", 40}, {"reserved", 50},    {"crc", 60}};
    for (std::uint64_t seg : {1u, 2u, 4u}) {
        for (const auto& [field, at] : fields) {
            auto disk = b.disk->snapshot();
            flip_bit(*disk, segment_path(seg), at, 2);
            const files now = segment_files(*disk);
            for (recovery_mode mode : all_modes)
                check(b, *disk, mode, expect_header_damage(b, now, mode, seg),
                      std::string("header field ") + field + " of segment " + std::to_string(seg));
        }
    }
}

BOOST_AUTO_TEST_CASE(a_header_that_names_another_segment) {
    const base_log& b = base(preallocation::none);
    auto disk = b.disk->snapshot();
    nd::segment_header h;
    BOOST_TEST_REQUIRE((nd::decode_segment_header(b.original.at(3), h) == nd::segment_header_status::ok));
    h.segment_id = 30;  // a valid header, but not this segment's
    std::array<std::byte, 64> bytes;
    nd::encode_segment_header(h, bytes);
    write_bytes_at(*disk, segment_path(3), 0, bytes);
    const files now = segment_files(*disk);
    for (recovery_mode mode : all_modes)
        check(b, *disk, mode, expect_header_damage(b, now, mode, 3), "header naming segment 30");
}

BOOST_AUTO_TEST_CASE(an_unknown_major_version_is_refused_in_every_mode) {
    const base_log& b = base(preallocation::none);
    auto disk = b.disk->snapshot();
    // A header as a future writer would make it: major 2, a valid CRC.
    std::vector<std::byte> h(b.original.at(2).begin(), b.original.at(2).begin() + 64);
    h[8] = std::byte{2};
    const std::uint32_t crc = nd::mask_crc(nd::crc32c(std::span<const std::byte>(h.data(), 60)));
    for (int i = 0; i < 4; ++i) h[60 + i] = static_cast<std::byte>(crc >> (8 * i));
    write_bytes_at(*disk, segment_path(2), 0, h);
    write_file(*disk, log_dir / "spare-3.tmp", std::vector<std::byte>(4096));  // left by an earlier run
    for (recovery_mode mode : all_modes) {
        for (bool ro : {true, false}) {
            auto d = disk->snapshot();
            const auto before = dir_contents(*d);
            auto cfg = small_config(d, mode);
            cfg.read_only = ro;
            const opened o = open_log(cfg);
            BOOST_TEST(o.ec == errc::unsupported_version, to_string(mode));
            BOOST_TEST(o.why.find(nd::segment_file_name(2)) != std::string::npos, o.why);
            // Nothing was changed: no damage repaired, no leftover removed.
            BOOST_TEST(after_contains_spare(*d));
            auto after = dir_contents(*d);
            after.erase("LOCK");
            auto was = before;
            was.erase("LOCK");
            BOOST_TEST((after == was));
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

// ------------------------------------------------------------------ after a clean close
// doc/durability.md, "A clean close leaves evidence": damage to records a clean close covered,
// or a preallocated file cut short, is damage in the durable log, never a torn tail. After a
// crash (no close) a torn tail is still tolerated.

BOOST_AUTO_TEST_SUITE(clean_close)

namespace {

constexpr lsn_t closed_records = 24;

struct closed_log {
    std::shared_ptr<sim_disk> disk;
    std::vector<written> recs;
};

// `closed_records` records, each synced (acknowledged durable under always), then a clean close
// or a crash.
closed_log build_closed(preallocation prealloc, bool clean) {
    closed_log c;
    c.disk = std::make_shared<sim_disk>();
    auto o = open_ok(small_config(c.disk, recovery_mode::tolerate_corrupted_tail, prealloc));
    log_writer w(*o.log);
    for (lsn_t i = 1; i <= closed_records; ++i) {
        w.put("key" + std::to_string(i), value_for(i));
        w.sync();
    }
    if (clean) {
        BOOST_TEST_REQUIRE(!o.log->close());
    }
    o.log.reset();
    c.recs = w.records;
    BOOST_TEST_REQUIRE(c.recs.back().pos.segment_id > 1u);
    return c;
}

struct outcome {
    opened o;
    bool changed = false;  // a read-only open changed a file
};

// Opens a copy of the damaged disk read-only (checking it changes nothing), then read-write.
outcome open_both(const std::shared_ptr<sim_disk>& disk, recovery_mode mode, preallocation prealloc) {
    outcome r;
    {
        auto d = disk->snapshot();
        const auto before = dir_contents(*d);
        auto cfg = small_config(d, mode, prealloc);
        cfg.read_only = true;
        const opened ro = open_log(cfg);
        r.changed = dir_contents(*d) != before;
    }
    r.o = open_log(small_config(disk->snapshot(), mode, prealloc));
    return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_byte_flipped_in_the_last_record_after_a_clean_close_is_mid_log) {
    for (bool clean : {true, false}) {
        const closed_log c = build_closed(preallocation::none, clean);
        const written& last = c.recs.back();
        auto disk = c.disk->snapshot();
        flip_bit(*disk, segment_path(last.pos.segment_id), last.pos.offset + 40, 3);
        for (recovery_mode mode : all_modes) {
            const std::string ctx =
                std::string(clean ? "clean close" : "crash") + ", " + std::string(to_string(mode));
            const outcome r = open_both(disk, mode, preallocation::none);
            BOOST_TEST(!r.changed, ctx);
            const opened& o = r.o;
            const bool refused = mode == recovery_mode::absolute_consistency ||
                                 (clean && mode == recovery_mode::tolerate_corrupted_tail);
            if (refused) {
                BOOST_TEST(o.ec == errc::corrupted, ctx);
                BOOST_TEST(o.why.find(nd::segment_file_name(last.pos.segment_id)) != std::string::npos,
                           o.why);
                BOOST_TEST(o.why.find("offset " + std::to_string(last.pos.offset)) != std::string::npos,
                           o.why);
                if (clean && mode == recovery_mode::tolerate_corrupted_tail)
                    BOOST_TEST(o.why.find("closed cleanly") != std::string::npos, o.why);
                continue;
            }
            BOOST_TEST_REQUIRE(!o.ec, ctx << ": " << o.why);
            BOOST_TEST(o.info.valid_records == closed_records - 1, ctx);
            BOOST_TEST(o.info.clean_close == clean, ctx);
            BOOST_TEST_REQUIRE(!o.info.damages.empty(), ctx);
            BOOST_TEST(o.info.damages.front().mid_log == clean, ctx);
            BOOST_TEST(o.info.damages.front().offset == last.pos.offset, ctx);
            // Exact after a clean close; after a crash nothing testifies to the destroyed record.
            BOOST_TEST(o.info.records_truncated == (clean ? 1u : 0u), ctx);
            BOOST_TEST((o.info.bytes_truncated > 0 && o.info.bytes_truncated <= last.size), ctx);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_preallocated_segment_cut_short_is_damage_with_or_without_a_clean_close) {
    for (bool clean : {true, false}) {
        const closed_log c = build_closed(preallocation::zero_fill, clean);
        const std::uint64_t seg = c.recs.back().pos.segment_id;
        // Cut inside the first record of the last segment.
        std::size_t first_in_seg = c.recs.size() - 1;
        while (first_in_seg > 0 && c.recs[first_in_seg - 1].pos.segment_id == seg) --first_in_seg;
        const written& cut_in = c.recs[first_in_seg];
        const lsn_t lost = closed_records - cut_in.lsn + 1;
        const std::uint64_t cut = cut_in.pos.offset + 10;
        auto disk = c.disk->snapshot();
        truncate_file(*disk, segment_path(seg), cut);
        for (recovery_mode mode : all_modes) {
            const std::string ctx =
                std::string(clean ? "clean close" : "crash") + ", " + std::string(to_string(mode));
            const outcome r = open_both(disk, mode, preallocation::zero_fill);
            BOOST_TEST(!r.changed, ctx);
            const opened& o = r.o;
            if (mode == recovery_mode::absolute_consistency ||
                mode == recovery_mode::tolerate_corrupted_tail) {
                BOOST_TEST(o.ec == errc::corrupted, ctx);
                BOOST_TEST(o.why.find("truncated_file") != std::string::npos, o.why);
                BOOST_TEST(o.why.find("4096 bytes it was preallocated to") != std::string::npos, o.why);
                continue;
            }
            BOOST_TEST_REQUIRE(!o.ec, ctx << ": " << o.why);
            BOOST_TEST(o.info.valid_records == closed_records - lost, ctx);
            BOOST_TEST_REQUIRE(!o.info.damages.empty(), ctx);
            const damage& d = o.info.damages.front();
            BOOST_TEST((d.kind == damage_kind::truncated_file), ctx);
            BOOST_TEST(d.mid_log, ctx);
            BOOST_TEST(d.offset == cut_in.pos.offset, ctx);
            const std::uint64_t end_at_close = c.recs.back().pos.offset + c.recs.back().size;
            if (clean) {
                // Exactly what was lost: the records, and their bytes (the part of the cut record
                // still in the file is removed, the rest was cut by something else).
                BOOST_TEST(o.info.records_truncated == lost, ctx);
                BOOST_TEST(d.length == end_at_close - cut_in.pos.offset, ctx);
                // Up to the last non-zero byte of what the file still holds, plus what was cut.
                BOOST_TEST(o.info.bytes_truncated <= end_at_close - cut_in.pos.offset,
                           ctx << ": " << describe(o.info));
                BOOST_TEST(o.info.bytes_truncated >= end_at_close - cut, ctx << ": " << describe(o.info));
                BOOST_TEST(o.info.damages.size() == 1u, ctx << ": " << describe(o.info));
            } else {
                BOOST_TEST(d.length == 4096 - cut, ctx);  // what is missing from the file
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(records_missing_at_the_end_after_a_clean_close_are_damage) {
    // Not preallocated: the file's size proves nothing, the close marker does.
    for (bool clean : {true, false}) {
        const closed_log c = build_closed(preallocation::none, clean);
        const written& first_lost = c.recs[c.recs.size() - 2];
        auto disk = c.disk->snapshot();
        truncate_file(*disk, segment_path(first_lost.pos.segment_id),
                      first_lost.pos.offset);  // at a record boundary
        const opened o = open_log(small_config(disk->snapshot(), recovery_mode::tolerate_corrupted_tail));
        if (!clean) {
            // After a crash the end of a growing file is where the writes stopped: a clean end.
            BOOST_TEST_REQUIRE(!o.ec, o.why);
            BOOST_TEST(o.info.valid_records == closed_records - 2);
            continue;
        }
        BOOST_TEST(o.ec == errc::corrupted);
        BOOST_TEST(o.why.find("records " + std::to_string(closed_records - 1) + " to " +
                              std::to_string(closed_records)) != std::string::npos,
                   o.why);
        const opened p = open_log(small_config(disk->snapshot(), recovery_mode::point_in_time));
        BOOST_TEST_REQUIRE(!p.ec, p.why);
        BOOST_TEST(p.info.valid_records == closed_records - 2);
        BOOST_TEST(p.info.records_truncated == 2u);
    }
}

// The close marker names the last LSN; a log whose records were all deleted (its active
// segment empty, starting after them) still accounts for it.
BOOST_AUTO_TEST_CASE(a_log_emptied_by_deleting_its_segments_closes_and_reopens_clean) {
    auto disk = std::make_shared<sim_disk>();
    {
        auto o = open_ok(small_config(disk));
        log_writer w(*o.log);
        for (lsn_t i = 1; i <= closed_records; ++i) w.put("key" + std::to_string(i), value_for(i));
        w.sync();
        BOOST_TEST_REQUIRE(!o.log->rotate());
        std::uint64_t deleted = 0;
        BOOST_TEST_REQUIRE(!o.log->delete_segments_before({0, 0, closed_records + 1}, deleted));
        BOOST_TEST_REQUIRE(deleted > 0u);
        BOOST_TEST_REQUIRE(!o.log->close());
    }
    for (recovery_mode mode : all_modes) {
        const opened o = open_log(small_config(disk->snapshot(), mode));
        BOOST_TEST_REQUIRE(!o.ec, to_string(mode) << ": " << o.why);
        BOOST_TEST(o.info.clean_close);
        BOOST_TEST(!o.info.corruption_detected, to_string(mode));
        BOOST_TEST(o.info.records_truncated == 0u, to_string(mode));
        BOOST_TEST(o.log->next_position().lsn == closed_records + 1, to_string(mode));
    }
}

BOOST_AUTO_TEST_CASE(a_reopened_log_that_crashes_is_judged_by_its_hints_again) {
    const closed_log c = build_closed(preallocation::none, true);
    auto disk = c.disk->snapshot();
    {
        auto o = open_ok(small_config(disk));
        BOOST_TEST(o.info.clean_close);
        log_writer w(*o.log, closed_records);
        w.put("k", "unsynced");  // never synced; the process dies
    }
    BOOST_TEST(dir_contents(*disk).count(std::string(nd::close_marker_name)) == 0u);  // open removed it
    // The last record torn: a torn tail again, cut without complaint.
    auto segs = segment_files(*disk);
    const auto last_seg = segs.rbegin()->first;
    const std::uint64_t end = c.recs.back().pos.segment_id == last_seg
                                  ? c.recs.back().pos.offset + c.recs.back().size
                                  : nd::segment_header_size;
    flip_bit(*disk, segment_path(last_seg), end + 40, 1);
    const opened o = open_log(small_config(disk, recovery_mode::tolerate_corrupted_tail));
    BOOST_TEST_REQUIRE(!o.ec, o.why);
    BOOST_TEST(o.info.valid_records == closed_records);
    BOOST_TEST(!o.info.clean_close);
}

BOOST_AUTO_TEST_SUITE_END()
