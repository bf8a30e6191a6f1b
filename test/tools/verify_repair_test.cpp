// verify and repair as processes: clean logs, torn tails, damage in the middle of the log, what
// each recovery mode would do, and repairs that keep copies of what they change.
#include "tool_support.hpp"

#include <noriwal/detail/format.hpp>

#include <boost/test/unit_test.hpp>

using namespace noriwal;
using namespace noriwal::test;
namespace json = noriwal::inspect::json;

namespace {

// 300 records over several segments, fdatasync'd every 10 appends: records written after a
// sync carry its watermark, so damage before them is provably in the durable middle of the log.
std::vector<written_record> synced_log(const std::filesystem::path& dir) {
    std::vector<written_record> recs = sample_records(300);
    write_log(test_config(dir), recs, 10);
    BOOST_TEST_REQUIRE(segment_files(dir).size() >= 3u);
    return recs;
}

std::filesystem::path file_of(const std::filesystem::path& dir, const written_record& w) {
    return dir / detail::segment_file_name(w.pos.segment_id);
}

json::value verify_json(const std::filesystem::path& dir, int want_status) {
    const process_result r = run_inspect({"verify", dir.string(), "--json"});
    BOOST_TEST_REQUIRE(r.status == want_status, r.out << r.err);
    return json_doc(r.out);
}

std::vector<lsn_t> dumped_lsns(const std::filesystem::path& dir) {
    const process_result r = run_inspect({"dump", dir.string(), "--format", "json"});
    BOOST_TEST_REQUIRE(r.status != 2, r.err);
    std::vector<lsn_t> out;
    for (const json::value& v : json_lines(r.out)) out.push_back(uint_member(v, "lsn"));
    return out;
}

std::vector<lsn_t> range(lsn_t first, lsn_t last) {
    std::vector<lsn_t> v;
    for (lsn_t l = first; l <= last; ++l) v.push_back(l);
    return v;
}

std::filesystem::path backup_dir(const std::filesystem::path& dir) {
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.is_directory() && e.path().filename().string().starts_with("repair-backup-")) return e.path();
    return {};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(verify_and_repair)

BOOST_AUTO_TEST_CASE(a_clean_log_verifies_clean) {
    temp_dir dir("inspect-clean");
    const auto recs = synced_log(dir.path());
    const json::value doc = verify_json(dir.path(), 0);
    BOOST_TEST(member(doc, "clean").boolean);
    BOOST_TEST(uint_member(doc, "records") == recs.size());
    BOOST_TEST(uint_member(doc, "last_lsn") == recs.size());
    BOOST_TEST(member(doc, "damages").items.empty());
    BOOST_TEST(uint_member(doc, "compressed_values_checked") > 0u);
    for (const auto& [mode, outcome] : member(doc, "recovery").members) {
        BOOST_TEST(member(outcome, "opens").boolean, mode);
        BOOST_TEST(uint_member(outcome, "records") == recs.size(), mode);
    }
    const process_result text = run_inspect({"verify", dir.path().string()});
    BOOST_TEST(text.status == 0);
    BOOST_TEST(text.out.find("CLEAN") != std::string::npos);
    // Nothing to repair: no backup, no change.
    const dir_snapshot before = snapshot(dir.path());
    const process_result repair = run_inspect({"repair", dir.path().string(), "--mode", "point_in_time"});
    BOOST_TEST(repair.status == 0, repair.err);
    BOOST_TEST(repair.out.find("Nothing to repair") != std::string::npos, repair.out);
    BOOST_TEST(backup_dir(dir.path()).empty());
    BOOST_TEST(snapshot(dir.path()).files == before.files);
}

BOOST_AUTO_TEST_CASE(a_torn_tail_is_reported_as_such) {
    temp_dir dir("inspect-torn");
    const auto recs = synced_log(dir.path());
    const written_record& last = recs.back();
    // The last record's body never reached the disk.
    zero_range(file_of(dir.path(), last), last.pos.offset + 32, 48);
    const json::value doc = verify_json(dir.path(), 1);
    BOOST_TEST(!member(doc, "clean").boolean);
    const auto& damages = member(doc, "damages").items;
    BOOST_TEST_REQUIRE(damages.size() == 1u);
    BOOST_TEST(uint_member(damages[0], "segment") == last.pos.segment_id);
    BOOST_TEST(uint_member(damages[0], "offset") == last.pos.offset);
    BOOST_TEST(member(damages[0], "torn_tail").boolean);
    BOOST_TEST(!member(damages[0], "mid_log").boolean);
    // The default recovery cuts it and opens.
    const json::value& def = member(member(doc, "recovery"), "tolerate_corrupted_tail");
    BOOST_TEST(member(def, "opens").boolean);
    BOOST_TEST(uint_member(def, "last_lsn") == last.pos.lsn - 1);
    BOOST_TEST(!member(member(member(doc, "recovery"), "absolute_consistency"), "opens").boolean);
    // A reader sees every record but the torn one, and says so without calling it damage.
    const process_result dump = run_inspect({"dump", dir.path().string(), "--format", "json"});
    BOOST_TEST(dump.status == 0);
    BOOST_TEST(json_lines(dump.out).size() == recs.size() - 1);
    BOOST_TEST(dump.err.find("at the end of the log") != std::string::npos, dump.err);
}

BOOST_AUTO_TEST_CASE(a_batch_cut_short_at_the_end_is_never_shown) {
    temp_dir dir("inspect-batch");
    std::vector<written_record> recs = sample_records(50);
    for (int i = 0; i < 4; ++i) {
        written_record b;
        b.key = "batch" + std::to_string(i);
        b.value = "part " + std::to_string(i);
        b.batch = i == 0   ? detail::record_type::first
                  : i == 3 ? detail::record_type::last
                           : detail::record_type::middle;
        recs.push_back(b);
    }
    write_log(test_config(dir.path()), recs, 10);
    const written_record& last = recs.back();
    BOOST_TEST_REQUIRE(last.pos.segment_id == recs[50].pos.segment_id);  // one batch, one segment
    // The crash came before the batch's last record reached the disk.
    zero_range(file_of(dir.path(), last), last.pos.offset, 64);
    // Readers show none of the batch, and say so without calling it damage (a torn tail).
    const process_result dump = run_inspect({"dump", dir.path().string(), "--format", "json"});
    BOOST_TEST(dump.status == 0, dump.err);
    BOOST_TEST(dumped_lsns(dir.path()) == range(1, 50));
    BOOST_TEST(dump.err.find("incomplete batch") != std::string::npos, dump.err);
    BOOST_TEST(dump.err.find("LSNs 51..53 not read") != std::string::npos, dump.err);
    // verify reports it; every mode but absolute_consistency opens with the 50 records before it.
    const json::value doc = verify_json(dir.path(), 1);
    const auto& damages = member(doc, "damages").items;
    BOOST_TEST_REQUIRE(damages.size() == 1u);
    BOOST_TEST(member(damages[0], "kind").text == "incomplete_batch");
    BOOST_TEST(member(damages[0], "torn_tail").boolean);
    BOOST_TEST(uint_member(member(member(doc, "recovery"), "tolerate_corrupted_tail"), "last_lsn") == 50u);
}

BOOST_AUTO_TEST_CASE(mid_log_damage_is_reported_and_point_in_time_repair_cuts_it) {
    temp_dir dir("inspect-midlog");
    const auto recs = synced_log(dir.path());
    const written_record& hit = recs[41];  // LSN 42, in a sealed segment; durable records follow
    BOOST_TEST_REQUIRE(hit.pos.segment_id < recs.back().pos.segment_id);
    const auto file = file_of(dir.path(), hit);
    flip_bit(file, hit.pos.offset + 36);  // inside its body
    const json::value doc = verify_json(dir.path(), 1);
    const auto& damages = member(doc, "damages").items;
    BOOST_TEST_REQUIRE(damages.size() == 1u);
    BOOST_TEST(uint_member(damages[0], "segment") == hit.pos.segment_id);
    BOOST_TEST(uint_member(damages[0], "offset") == hit.pos.offset);
    BOOST_TEST(member(damages[0], "kind").text == "bad_checksum");
    BOOST_TEST(member(damages[0], "mid_log").boolean);
    const json::value& modes = member(doc, "recovery");
    BOOST_TEST(!member(member(modes, "tolerate_corrupted_tail"), "opens").boolean);
    BOOST_TEST(uint_member(member(modes, "point_in_time"), "last_lsn") == 41u);
    BOOST_TEST(uint_member(member(modes, "skip_corrupted"), "records") == recs.size() - 1);
    const process_result text = run_inspect({"verify", dir.path().string()});
    BOOST_TEST(text.out.find("mid-log") != std::string::npos, text.out);
    BOOST_TEST(text.out.find("wal-inspect repair") != std::string::npos);

    // Readers step over it, say where, and exit 1.
    const process_result dump = run_inspect({"dump", dir.path().string(), "--format", "json"});
    BOOST_TEST(dump.status == 1);
    BOOST_TEST(dump.err.find("LSN 42 not read") != std::string::npos, dump.err);
    std::vector<lsn_t> want = range(1, 41);
    for (lsn_t l = 43; l <= recs.size(); ++l) want.push_back(l);
    BOOST_TEST(dumped_lsns(dir.path()) == want);

    // A dry run says what would change and changes nothing.
    const dir_snapshot before = snapshot(dir.path());
    const process_result dry =
        run_inspect({"repair", dir.path().string(), "--mode", "point_in_time", "--dry-run"});
    BOOST_TEST(dry.status == 0, dry.err);
    BOOST_TEST(dry.out.find("would cut") != std::string::npos, dry.out);
    BOOST_TEST((snapshot(dir.path()) == before));

    const process_result repair = run_inspect({"repair", dir.path().string(), "--mode", "point_in_time"});
    BOOST_TEST_REQUIRE(repair.status == 0, repair.err);
    BOOST_TEST(repair.out.find("opens cleanly") != std::string::npos, repair.out);
    // Every file it changed or removed is in the backup, as it was.
    const std::filesystem::path backup = backup_dir(dir.path());
    BOOST_TEST_REQUIRE(!backup.empty(), repair.out);
    std::size_t copies = 0;
    const dir_snapshot after = snapshot(dir.path());
    for (const auto& [name, content] : before.files) {
        if (name.find('/') != std::string::npos || !name.ends_with(".wal")) continue;
        const bool changed = after.files.count(name) == 0 || after.files.at(name) != content;
        if (!changed) continue;
        ++copies;
        BOOST_TEST_REQUIRE(std::filesystem::exists(backup / name), name << " changed without a copy");
        const auto copy = read_file(backup / name);
        BOOST_TEST((std::string(reinterpret_cast<const char*>(copy.data()), copy.size()) == content), name);
    }
    BOOST_TEST(copies >= 2u);  // the damaged segment and the ones after it
    BOOST_TEST(repair.out.find(backup.filename().string()) != std::string::npos);
    // The log now ends before the damage and is clean.
    BOOST_TEST(dumped_lsns(dir.path()) == range(1, 41));
    BOOST_TEST(member(verify_json(dir.path(), 0), "clean").boolean);
    // The backup copies are not segments of the log (they sit in a subdirectory).
    BOOST_TEST(run_inspect({"list", dir.path().string()}).status == 0);
}

BOOST_AUTO_TEST_CASE(damage_that_no_later_record_proves_durable_is_flagged) {
    temp_dir dir("inspect-unproven");
    std::vector<written_record> recs = sample_records(300);
    write_log(test_config(dir.path()), recs);  // no sync until the close: every hint is 0
    const written_record& hit = recs[41];
    flip_bit(file_of(dir.path(), hit), hit.pos.offset + 36);
    const json::value doc = verify_json(dir.path(), 1);
    const auto& damages = member(doc, "damages").items;
    BOOST_TEST_REQUIRE(damages.size() == 1u);
    BOOST_TEST(!member(damages[0], "mid_log").boolean);
    BOOST_TEST(!member(damages[0], "torn_tail").boolean);
    BOOST_TEST(member(damages[0], "followed_by_records").boolean);
    BOOST_TEST(uint_member(damages[0], "first_lost_lsn") == 42u);
    // The default open would keep LSN 1..41 only: verify says how many valid records it cuts.
    BOOST_TEST(uint_member(doc, "records_cut_by_default_open") == recs.size() - 42);
    const process_result text = run_inspect({"verify", dir.path().string()});
    BOOST_TEST(text.out.find("WARNING") != std::string::npos, text.out);
    BOOST_TEST(text.out.find("unproven") != std::string::npos, text.out);
}

BOOST_AUTO_TEST_CASE(skip_corrupted_repair_keeps_every_valid_record) {
    temp_dir dir("inspect-skip");
    const auto recs = synced_log(dir.path());
    const written_record& hit = recs[41];
    flip_bit(file_of(dir.path(), hit), hit.pos.offset + 36);
    const written_record& last = recs.back();
    zero_range(file_of(dir.path(), last), last.pos.offset + 32, 48);  // and a torn tail
    const process_result repair = run_inspect({"repair", dir.path().string(), "--mode", "skip_corrupted"});
    BOOST_TEST_REQUIRE(repair.status == 0, repair.err);
    BOOST_TEST(repair.out.find("recovery_mode::skip_corrupted") != std::string::npos, repair.out);
    BOOST_TEST(!backup_dir(dir.path()).empty());
    // The torn tail is gone; the mid-log damage stays, stepped over.
    const json::value doc = verify_json(dir.path(), 1);
    for (const auto& d : member(doc, "damages").items) BOOST_TEST(member(d, "mid_log").boolean);
    BOOST_TEST(uint_member(member(member(doc, "recovery"), "skip_corrupted"), "records") == recs.size() - 2);
    std::vector<lsn_t> want = range(1, 41);
    for (lsn_t l = 43; l < recs.size(); ++l) want.push_back(l);
    BOOST_TEST(dumped_lsns(dir.path()) == want);
}

BOOST_AUTO_TEST_CASE(a_damaged_header_gets_a_new_one_under_skip_corrupted) {
    temp_dir dir("inspect-rehead");
    const auto recs = synced_log(dir.path());
    const auto second = segment_files(dir.path())[1];
    flip_bit(second, 30);
    BOOST_TEST(run_inspect({"list", dir.path().string()}).status == 2);  // readers refuse it
    const process_result repair = run_inspect({"repair", dir.path().string(), "--mode", "skip_corrupted"});
    BOOST_TEST_REQUIRE(repair.status == 0, repair.err);
    BOOST_TEST(repair.out.find("rewrote the damaged header") != std::string::npos, repair.out);
    BOOST_TEST(member(verify_json(dir.path(), 0), "clean").boolean);
    BOOST_TEST(dumped_lsns(dir.path()) == range(1, recs.size()));
}

BOOST_AUTO_TEST_CASE(repair_refuses_a_log_that_is_open) {
    temp_dir dir("inspect-locked");
    synced_log(dir.path());
    wal::opened o = wal::open(test_config(dir.path()));
    const process_result r = run_inspect({"repair", dir.path().string(), "--mode", "point_in_time"});
    BOOST_TEST(r.status == 2);
    BOOST_TEST(one_line_naming(r.err, "open in another process"), r.err);
    o.log.close();
}

BOOST_AUTO_TEST_SUITE_END()

// ------------------------------------------------------------------ issue 17

BOOST_AUTO_TEST_SUITE(durability_edges)

// Item 6: after a crash, valid records may follow a hole (unsynced writes persisted out of
// order); the default open cuts them. dump shows them, but never as log content.
BOOST_AUTO_TEST_CASE(dump_marks_records_beyond_the_recoverable_end) {
    temp_dir dir("inspect-beyond");
    std::vector<written_record> recs = sample_records(300);
    write_log(test_config(dir.path()), recs, 0);  // nothing synced before close: no record testifies
    const written_record& hole = recs[149];       // LSN 150 never reached the disk
    zero_range(file_of(dir.path(), hole), hole.pos.offset, 32);
    const lsn_t end = hole.pos.lsn - 1;

    const process_result dump = run_inspect({"dump", dir.path().string(), "--format", "json"});
    BOOST_TEST(dump.status != 2, dump.err);
    std::size_t beyond = 0, before = 0;
    for (const json::value& v : json_lines(dump.out)) {
        const json::value* flag = v.find("beyond_recoverable_end");
        const bool marked = flag != nullptr && flag->boolean;
        BOOST_TEST(marked == (uint_member(v, "lsn") > end), "LSN " << uint_member(v, "lsn"));
        (marked ? beyond : before) += 1;
    }
    BOOST_TEST(before == end);
    BOOST_TEST(beyond > 0u);
    BOOST_TEST(dump.err.find("beyond the recoverable end of the log (LSN " + std::to_string(end) + ")") !=
                   std::string::npos,
               dump.err);
    const process_result text = run_inspect({"dump", dir.path().string()});
    BOOST_TEST(text.out.find("lsn=" + std::to_string(end) + " ") != std::string::npos);
    const auto after_hole = text.out.find("lsn=" + std::to_string(hole.pos.lsn + 1) + " ");
    BOOST_TEST_REQUIRE(after_hole != std::string::npos, text.out.substr(0, 400));
    const auto line_end = text.out.find('\n', after_hole);
    BOOST_TEST(text.out.substr(after_hole, line_end - after_hole).find("BEYOND-END") != std::string::npos);
    // verify agrees: the default open keeps LSNs up to `end`.
    const json::value doc = verify_json(dir.path(), 1);
    BOOST_TEST(uint_member(member(member(doc, "recovery"), "tolerate_corrupted_tail"), "last_lsn") == end);
}

// Item 2: after a clean close, damage to the last record, or a preallocated file cut short, is
// damage in the durable log: verify says so and the default open would refuse.
BOOST_AUTO_TEST_CASE(verify_reports_damage_after_a_clean_close_as_mid_log) {
    for (const bool cut : {false, true}) {
        temp_dir dir("inspect-closed");
        std::vector<written_record> recs = sample_records(300);
        write_log(test_config(dir.path()), recs, 10, /*clean_close=*/true);
        const written_record& last = recs.back();
        if (cut) {
            truncate_file(file_of(dir.path(), last), last.pos.offset + 8);
        } else {
            zero_range(file_of(dir.path(), last), last.pos.offset + 32, 16);
        }
        const json::value doc = verify_json(dir.path(), 1);
        BOOST_TEST(member(doc, "clean_close").boolean);
        const auto& damages = member(doc, "damages").items;
        BOOST_TEST_REQUIRE(!damages.empty());
        BOOST_TEST(member(damages[0], "mid_log").boolean);
        BOOST_TEST(member(damages[0], "kind").text == (cut ? "truncated_file" : "bad_checksum"));
        BOOST_TEST(!member(member(member(doc, "recovery"), "tolerate_corrupted_tail"), "opens").boolean);
        const json::value& pit = member(member(doc, "recovery"), "point_in_time");
        BOOST_TEST(member(pit, "opens").boolean);
        BOOST_TEST(uint_member(pit, "last_lsn") == last.pos.lsn - 1);
        const process_result text = run_inspect({"verify", dir.path().string()});
        BOOST_TEST(text.out.find("closed cleanly") != std::string::npos, text.out);
    }
}

BOOST_AUTO_TEST_SUITE_END()
