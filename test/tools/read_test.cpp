// The read subcommands as processes on logs written by the test through the public wal: list,
// dump, get, stats and tail, their JSON compared to what was written; tail -f following a
// writer in another process; and the read-only guarantee (no byte, name or time changed).
#include "tool_support.hpp"

#include "support/eventually.hpp"

#include <noriwal/reader.hpp>

#include <boost/test/unit_test.hpp>

#include <csignal>
#include <set>

using namespace noriwal;
using namespace noriwal::test;
namespace json = noriwal::inspect::json;

namespace {

// A log with every kind of record: puts, tombstones, TTLs, LZ4 and Zstd values, an atomic
// batch, binary keys and values. Returns what was written, positions filled in.
std::vector<written_record> varied_log(const std::filesystem::path& dir) {
    std::vector<written_record> recs = sample_records(240);
    written_record bin;
    bin.key = std::string("bin\0\xff\"key", 9);
    static constexpr char value[] = "\x00\x01\x02\xfe\xff quote\" backslash\\ \xc3\x28";
    bin.value = std::string(value, sizeof value - 1);
    recs.push_back(bin);
    for (int i = 0; i < 3; ++i) {
        written_record b;
        b.key = "batch" + std::to_string(i);
        b.value = "part " + std::to_string(i);
        b.batch = i == 0   ? detail::record_type::first
                  : i == 2 ? detail::record_type::last
                           : detail::record_type::middle;
        recs.push_back(b);
    }
    written_record z;
    z.key = "zstd";
    z.value = std::string(500, 'z');
    z.compress = compression::zstd;
    recs.push_back(z);
    write_log(test_config(dir), recs, 16);
    return recs;
}

// What the writer decided and the test cannot know in advance, as the library's own directory
// reader returns it: expiry times (from the writer's clock) and how each value was stored (a
// value that does not shrink is stored raw).
struct stored_facts {
    std::map<lsn_t, std::uint64_t> expiry;
    std::map<lsn_t, std::string> compression;
};

stored_facts facts_of(const std::filesystem::path& dir) {
    stored_facts f;
    reader r = reader::open_directory(dir);
    while (auto e = r.try_next()) {
        if (e->expiry())
            f.expiry[e->lsn()] = static_cast<std::uint64_t>(e->expiry()->time_since_epoch().count());
        const compression c = e->stored_compression();
        f.compression[e->lsn()] = c == compression::lz4 ? "lz4" : c == compression::zstd ? "zstd" : "none";
    }
    return f;
}

void check_record(const json::value& line, const written_record& w, const stored_facts& facts) {
    BOOST_TEST(uint_member(line, "lsn") == w.pos.lsn);
    BOOST_TEST(uint_member(line, "segment") == w.pos.segment_id);
    BOOST_TEST(uint_member(line, "offset") == w.pos.offset);
    BOOST_TEST(bytes_member(line, "key") == w.key);
    BOOST_TEST(bytes_member(line, "value") == w.value);
    BOOST_TEST(member(line, "tombstone").boolean == w.tombstone);
    BOOST_TEST(member(line, "compression").text == facts.compression.at(w.pos.lsn));
    if (w.compress == compression::none || w.tombstone)
        BOOST_TEST(member(line, "compression").text == "none");
    const std::string batch = w.batch == detail::record_type::full    ? "single"
                              : w.batch == detail::record_type::first ? "first"
                              : w.batch == detail::record_type::last  ? "last"
                                                                      : "middle";
    BOOST_TEST(member(line, "batch").text == batch);
    if (w.ttl) {
        const std::uint64_t expiry_ms = facts.expiry.at(w.pos.lsn) / 1'000'000;
        BOOST_TEST(uint_member(line, "expiry_unix_ms") == expiry_ms);
        const auto ttl = member(line, "ttl_ms").as_int64();
        BOOST_TEST_REQUIRE(ttl.has_value());
        BOOST_TEST(*ttl > 0);  // one hour from when the test wrote it
        BOOST_TEST(*ttl <= 3'600'000);
    } else {
        BOOST_TEST(member(line, "ttl_ms").is_null());
        BOOST_TEST(member(line, "expiry_unix_ms").is_null());
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(read_commands)

BOOST_AUTO_TEST_CASE(list_json_matches_the_segments_written) {
    temp_dir dir("inspect-list");
    const std::vector<written_record> recs = varied_log(dir.path());
    const process_result r = run_inspect({"list", dir.path().string(), "--json"});
    BOOST_TEST_REQUIRE(r.status == 0, r.err);
    const json::value doc = json_doc(r.out);
    const auto files = segment_files(dir.path());
    const auto& segs = member(doc, "segments").items;
    BOOST_TEST_REQUIRE(segs.size() == files.size());
    BOOST_TEST(uint_member(doc, "records") == recs.size());
    BOOST_TEST(uint_member(doc, "first_lsn") == 1u);
    BOOST_TEST(uint_member(doc, "last_lsn") == recs.back().pos.lsn);
    for (std::size_t i = 0; i < segs.size(); ++i) {
        const json::value& s = segs[i];
        BOOST_TEST(member(s, "file").text == files[i].filename().string());
        std::uint64_t count = 0, end = 64;
        lsn_t first = 0, last = 0;
        for (const written_record& w : recs) {
            if (w.pos.segment_id != uint_member(s, "id")) continue;
            ++count;
            if (first == 0) first = w.pos.lsn;
            last = w.pos.lsn;
            end = w.pos.offset;  // the last record's offset; its end is past it
        }
        BOOST_TEST(uint_member(s, "records") == count);
        BOOST_TEST(uint_member(s, "base_lsn") == first);
        BOOST_TEST(uint_member(s, "last_lsn") == last);
        BOOST_TEST(uint_member(s, "bytes") > end);
        BOOST_TEST(uint_member(s, "file_bytes") == std::filesystem::file_size(files[i]));
        BOOST_TEST(member(s, "state").text == (i + 1 == segs.size() ? "active" : "sealed"));
        BOOST_TEST(uint_member(s, "damages") == 0u);
    }
    const process_result text = run_inspect({"list", dir.path().string()});
    BOOST_TEST(text.status == 0);
    BOOST_TEST(lines_of(text.out).size() == files.size() + 2);  // header, one per segment, summary
    BOOST_TEST(text.out.find(files.front().filename().string()) != std::string::npos);
}

// Issue 15: the prepared spare a wal keeps across close (spare-<n>.ready) is shown by list and
// verify as disk the log takes, never as part of the log.
BOOST_AUTO_TEST_CASE(list_and_verify_show_the_kept_spare) {
    temp_dir dir("inspect-spare");
    {
        wal_config cfg;  // the defaults: zero_fill, a 1 MiB first segment, a 2 MiB spare
        cfg.dir = dir.path();
        auto w = wal::open(cfg).log;
        w.append(record::put("k", "v"));
        BOOST_TEST_REQUIRE(eventually([&] { return std::filesystem::exists(dir.path() / "spare-2.ready"); }));
        w.close();
    }
    const process_result r = run_inspect({"list", dir.path().string(), "--json"});
    BOOST_TEST_REQUIRE(r.status == 0, r.err);
    const json::value doc = json_doc(r.out);
    BOOST_TEST(uint_member(doc, "records") == 1u);
    BOOST_TEST(uint_member(doc, "file_bytes") == 1u << 20);
    BOOST_TEST(uint_member(doc, "spare_bytes") == 2u << 20);
    const auto& spares = member(doc, "spares").items;
    BOOST_TEST_REQUIRE(spares.size() == 1u);
    BOOST_TEST(member(spares[0], "file").text == "spare-2.ready");
    BOOST_TEST(member(spares[0], "blank").boolean);
    const process_result text = run_inspect({"list", dir.path().string()});
    BOOST_TEST(text.out.find("1 prepared spare (2.00 MiB, not part of the log)") != std::string::npos,
               text.out);
    const process_result v = run_inspect({"verify", dir.path().string()});
    BOOST_TEST(v.status == 0, v.err);
    BOOST_TEST(v.out.find("spare-2.ready: a prepared spare segment file") != std::string::npos, v.out);
    BOOST_TEST(v.out.find("CLEAN") != std::string::npos, v.out);
}

BOOST_AUTO_TEST_CASE(dump_json_is_every_record_as_written) {
    temp_dir dir("inspect-dump");
    const std::vector<written_record> recs = varied_log(dir.path());
    const stored_facts facts = facts_of(dir.path());
    const process_result r = run_inspect({"dump", dir.path().string(), "--format", "json"});
    BOOST_TEST_REQUIRE(r.status == 0, r.err);
    BOOST_TEST(r.err.empty());
    const std::vector<json::value> lines = json_lines(r.out);
    BOOST_TEST_REQUIRE(lines.size() == recs.size());
    for (std::size_t i = 0; i < recs.size(); ++i) check_record(lines[i], recs[i], facts);
    std::size_t compressed = 0;
    for (const auto& [lsn, c] : facts.compression) compressed += c != "none";
    BOOST_TEST(compressed > 20u);  // the log does hold compressed values
    // The binary record went to base64; a text one did not.
    BOOST_TEST(lines[240].find("key_base64") != nullptr);
    BOOST_TEST(lines[240].find("value_base64") != nullptr);
    BOOST_TEST(lines[0].find("key") != nullptr);
}

BOOST_AUTO_TEST_CASE(dump_filters_by_lsn_limit_and_key) {
    temp_dir dir("inspect-filter");
    const std::vector<written_record> recs = varied_log(dir.path());
    const std::string d = dir.path().string();
    auto lsns = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {"dump", d, "--format", "json"});
        const process_result r = run_inspect(args);
        BOOST_TEST_REQUIRE(r.status == 0, r.err);
        std::vector<lsn_t> out;
        for (const json::value& v : json_lines(r.out)) out.push_back(uint_member(v, "lsn"));
        return out;
    };
    BOOST_TEST(
        (lsns({"--from-lsn", "100", "--to-lsn", "104"}) == std::vector<lsn_t>{100, 101, 102, 103, 104}));
    BOOST_TEST((lsns({"--from-lsn", "200", "--limit", "3"}) == std::vector<lsn_t>{200, 201, 202}));
    BOOST_TEST(lsns({"--from-lsn", "100000"}).empty());
    std::vector<lsn_t> k3;
    for (const written_record& w : recs)
        if (w.key == "k3") k3.push_back(w.pos.lsn);
    BOOST_TEST(lsns({"--key", "k3"}) == k3);
    BOOST_TEST(lsns({"--key-base64", json::base64_encode(as_bytes(recs[240].key))}) ==
               std::vector<lsn_t>{241});
    // Text and hex: one line per record for text, the key visible in the hex dump's text column.
    const process_result text = run_inspect({"dump", d, "--to-lsn", "10"});
    BOOST_TEST(lines_of(text.out).size() == 10u);
    BOOST_TEST(text.out.find("key=\"k1\"") != std::string::npos);
    const process_result hex = run_inspect({"dump", d, "--from-lsn", "245", "--format", "hex"});
    BOOST_TEST(hex.status == 0);
    BOOST_TEST(hex.out.find("|zstd") != std::string::npos, hex.out);
}

BOOST_AUTO_TEST_CASE(get_returns_every_record_of_a_key_or_the_latest) {
    temp_dir dir("inspect-get");
    const std::vector<written_record> recs = varied_log(dir.path());
    const std::string d = dir.path().string();
    std::vector<const written_record*> k6;
    for (const written_record& w : recs)
        if (w.key == "k6") k6.push_back(&w);
    BOOST_TEST_REQUIRE(k6.size() > 2u);
    const process_result all = run_inspect({"get", d, "--key", "k6", "--format", "json"});
    BOOST_TEST_REQUIRE(all.status == 0, all.err);
    const auto lines = json_lines(all.out);
    BOOST_TEST_REQUIRE(lines.size() == k6.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
        BOOST_TEST(uint_member(lines[i], "lsn") == k6[i]->pos.lsn);
        BOOST_TEST(bytes_member(lines[i], "value") == k6[i]->value);
        BOOST_TEST(member(lines[i], "tombstone").boolean == k6[i]->tombstone);
    }
    const process_result latest = run_inspect({"get", d, "--key", "k6", "--latest", "--format", "json"});
    const auto one = json_lines(latest.out);
    BOOST_TEST_REQUIRE(one.size() == 1u);
    BOOST_TEST(uint_member(one[0], "lsn") == k6.back()->pos.lsn);
    const process_result none = run_inspect({"get", d, "--key", "nope"});
    BOOST_TEST(none.status == 0);
    BOOST_TEST(none.out.empty());
    BOOST_TEST(none.err.find("no record with key \"nope\"") != std::string::npos, none.err);
}

BOOST_AUTO_TEST_CASE(stats_json_counts_what_was_written) {
    temp_dir dir("inspect-stats");
    const std::vector<written_record> recs = varied_log(dir.path());
    const process_result r = run_inspect({"stats", dir.path().string(), "--json"});
    BOOST_TEST_REQUIRE(r.status == 0, r.err);
    const json::value doc = json_doc(r.out);
    const stored_facts facts = facts_of(dir.path());
    std::uint64_t tomb = 0, ttl = 0, lz4 = 0, zstd = 0, key_bytes = 0, value_bytes = 0;
    std::set<std::string> keys;
    for (const written_record& w : recs) {
        tomb += w.tombstone;
        ttl += w.ttl.has_value();
        lz4 += facts.compression.at(w.pos.lsn) == "lz4";
        zstd += facts.compression.at(w.pos.lsn) == "zstd";
        key_bytes += w.key.size();
        value_bytes += w.value.size();
        keys.insert(w.key);
    }
    BOOST_TEST(uint_member(doc, "records") == recs.size());
    BOOST_TEST(uint_member(doc, "puts") == recs.size() - tomb);
    BOOST_TEST(uint_member(doc, "tombstones") == tomb);
    BOOST_TEST(uint_member(doc, "ttl_records") == ttl);
    BOOST_TEST(uint_member(doc, "expired_records") == 0u);
    BOOST_TEST(uint_member(doc, "batch_records") == 3u);
    BOOST_TEST(uint_member(doc, "batches") == 1u);
    BOOST_TEST(uint_member(doc, "first_lsn") == 1u);
    BOOST_TEST(uint_member(doc, "last_lsn") == recs.size());
    BOOST_TEST(uint_member(doc, "distinct_keys") == keys.size());
    BOOST_TEST(member(doc, "distinct_keys_exact").boolean);
    BOOST_TEST(uint_member(doc, "key_bytes") == key_bytes);
    BOOST_TEST(uint_member(doc, "value_bytes_raw") == value_bytes);
    BOOST_TEST(uint_member(doc, "value_bytes_stored") < value_bytes);  // LZ4 and Zstd shrank some
    BOOST_TEST(uint_member(doc, "segments") == segment_files(dir.path()).size());
    const json::value& comp = member(doc, "compression");
    BOOST_TEST(uint_member(member(comp, "lz4"), "records") == lz4);
    BOOST_TEST(uint_member(member(comp, "zstd"), "records") == zstd);
    BOOST_TEST(uint_member(member(comp, "none"), "records") == recs.size() - lz4 - zstd);
    const process_result text = run_inspect({"stats", dir.path().string()});
    BOOST_TEST(text.status == 0);
    BOOST_TEST(text.out.find("distinct keys") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(tail_prints_the_last_records) {
    temp_dir dir("inspect-tail");
    const std::vector<written_record> recs = varied_log(dir.path());
    for (const std::size_t n : {std::size_t{1}, std::size_t{3}, std::size_t{60}, recs.size() + 10}) {
        const process_result r =
            run_inspect({"tail", dir.path().string(), "-n", std::to_string(n), "--format", "json"});
        BOOST_TEST_REQUIRE(r.status == 0, r.err);
        const auto lines = json_lines(r.out);
        const std::size_t want = std::min(n, recs.size());
        BOOST_TEST_REQUIRE(lines.size() == want);
        for (std::size_t i = 0; i < want; ++i)
            BOOST_TEST(uint_member(lines[i], "lsn") == recs[recs.size() - want + i].pos.lsn);
    }
}

BOOST_AUTO_TEST_CASE(tail_follow_prints_records_appended_by_another_process) {
    temp_dir dir("inspect-follow");
    std::vector<written_record> recs = sample_records(20);
    write_log(test_config(dir.path()), recs);
    const std::string d = dir.path().string();
    child_process follower(wal_inspect_path,
                           {"tail", d, "-f", "-n", "2", "--format", "json", "--poll-ms", "10"});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::string line;
    // First the last two records that were there.
    for (const lsn_t want : {lsn_t{19}, lsn_t{20}}) {
        BOOST_TEST_REQUIRE(follower.read_line(line, deadline), "tail printed nothing");
        BOOST_TEST(uint_member(json_doc(line), "lsn") == want);
    }
    // Then a writer in another process (wal-inspect import) appends enough records, in small
    // segments, to rotate a few times while tail follows.
    std::string input;
    for (int i = 0; i < 200; ++i)
        input += "{\"key\":\"new" + std::to_string(i) + "\",\"value\":\"" + std::string(100, 'v') + "\"}\n";
    const process_result writer = run_inspect({"import", d, "--segment-size", "8192"}, input);
    BOOST_TEST_REQUIRE(writer.status == 0, writer.err);
    for (int i = 0; i < 200; ++i) {
        BOOST_TEST_REQUIRE(follower.read_line(line, deadline),
                           "tail -f stopped after " << i << " new records");
        const json::value v = json_doc(line);
        BOOST_TEST(uint_member(v, "lsn") == 21u + static_cast<unsigned>(i));
        BOOST_TEST(bytes_member(v, "key") == "new" + std::to_string(i));
    }
    const process_result end = follower.stop(SIGTERM);
    BOOST_TEST(end.status == 0, end.err);
    BOOST_TEST(segment_files(dir.path()).size() > 2u);  // it did follow across rotations
}

BOOST_AUTO_TEST_CASE(read_commands_change_nothing_even_on_a_damaged_log) {
    temp_dir dir("inspect-readonly");
    std::vector<written_record> recs = varied_log(dir.path());
    const std::string d = dir.path().string();
    // The wal made a LOCK file; without it, a reader that took the lock would have to create it.
    std::filesystem::remove(dir / "LOCK");
    const std::vector<std::vector<std::string>> commands = {
        {"list", d},
        {"list", d, "--json"},
        {"dump", d},
        {"dump", d, "--format", "json"},
        {"dump", d, "--format", "hex"},
        {"get", d, "--key", "k1"},
        {"get", d, "--key", "k1", "--latest"},
        {"tail", d, "-n", "5"},
        {"stats", d},
        {"stats", d, "--json"},
        {"verify", d},
        {"verify", d, "--json"},
        {"repair", d, "--mode", "point_in_time", "--dry-run"}};
    for (const bool damaged : {false, true}) {
        if (damaged) flip_bit(segment_files(dir.path()).front(), recs[3].pos.offset + 40);  // a record body
        const dir_snapshot before = snapshot(dir.path());
        for (const auto& args : commands) {
            const process_result r = run_inspect(args);
            BOOST_TEST(r.status != 2, args.front() << ": " << r.err);
            BOOST_TEST((snapshot(dir.path()) == before), args.front() << " changed the directory");
        }
        BOOST_TEST(!std::filesystem::exists(dir / "LOCK"));
    }
}

BOOST_AUTO_TEST_CASE(read_commands_work_while_another_process_writes) {
    temp_dir dir("inspect-live");
    const std::string d = dir.path().string();
    // The writer: wal-inspect import, fed line by line by the test; it holds the log's lock.
    child_process writer(wal_inspect_path, {"import", d, "--segment-size", "8192", "--fsync", "os"});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::string ack;
    lsn_t acked = 0;
    for (int round = 0; round < 5; ++round) {
        for (int i = 0; i < 40; ++i)
            writer.write("{\"key\":\"live" + std::to_string(round) + "\",\"value\":\"" +
                         std::string(200, 'x') + "\"}\n");
        for (int i = 0; i < 40; ++i) {
            BOOST_TEST_REQUIRE(writer.read_line(ack, deadline));
            acked = uint_member(json_doc(ack), "lsn");
        }
        // Everything acknowledged so far is in the OS: readers see at least that much.
        const process_result dump = run_inspect({"dump", d, "--format", "json"});
        BOOST_TEST_REQUIRE(dump.status == 0, dump.err);
        const auto lines = json_lines(dump.out);
        BOOST_TEST_REQUIRE(lines.size() >= acked);
        for (std::size_t i = 0; i < lines.size(); ++i) BOOST_TEST(uint_member(lines[i], "lsn") == i + 1);
        const process_result list = run_inspect({"list", d, "--json"});
        BOOST_TEST(list.status == 0, list.err);
        BOOST_TEST(uint_member(json_doc(list.out), "records") >= acked);
        const process_result stats = run_inspect({"stats", d, "--json"});
        BOOST_TEST(stats.status == 0, stats.err);
        // The writer owns the log: repair refuses to run under it.
        const process_result repair = run_inspect({"repair", d, "--mode", "point_in_time"});
        BOOST_TEST(repair.status == 2);
        BOOST_TEST(one_line_naming(repair.err, "open in another process"), repair.err);
    }
    writer.close_input();
    const process_result end = writer.wait();
    BOOST_TEST(end.status == 0, end.err);
    BOOST_TEST(acked == 200u);
}

BOOST_AUTO_TEST_SUITE_END()
