// The raft log store (lib/raft/log_store.hpp), modelled on canonical raft's own test_uv_load,
// test_uv_bootstrap, test_uv_set_term, test_uv_append, test_uv_truncate and
// test_uv_snapshot_put suites: what load returns after each kind of operation and after a
// restart, ordering, refusals, damaged files and fail-stop.
#include "log_store_support.hpp"
#include "support/temp_dir.hpp"

#include <noriwal/error.hpp>
#include <noriwal/wal.hpp>

#include <boost/asio/post.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <system_error>
#include <vector>

using namespace noriwal;
using namespace noriwal::raft;
using namespace noriwal::raft::test;
using noriwal::test::sim_event;
using noriwal::test::sim_op;

namespace {

std::vector<std::string> snapshot_files(sim_disk& disk) {
    std::vector<std::string> names, out;
    BOOST_TEST_REQUIRE(!disk.list("/srv", names));
    for (const auto& n : names)
        if (n.starts_with("snapshot-")) out.push_back(n);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(raft_log_store)

// ------------------------------------------------------------------ load and bootstrap

BOOST_FIXTURE_TEST_CASE(a_new_store_loads_empty, store_fixture) {
    auto s = open();
    const loaded l = load(*s);
    BOOST_TEST_REQUIRE(l.rv == 0, l.errmsg);
    BOOST_TEST(l.term == 0u);
    BOOST_TEST(l.vote == 0u);
    BOOST_TEST(!l.snapshot);
    BOOST_TEST(l.start == 1u);
    BOOST_TEST(l.entries.empty());
    BOOST_TEST(!s->failure());
}

BOOST_FIXTURE_TEST_CASE(bootstrap_writes_term_one_and_the_configuration_entry, store_fixture) {
    {
        auto s = open();
        raft_configuration conf = configuration(3);
        std::string err;
        BOOST_TEST(s->bootstrap(conf, err) == 0, err);
        // A second bootstrap, at once and after a restart, is refused.
        BOOST_TEST(s->bootstrap(conf, err) == RAFT_CANTBOOTSTRAP);
        close(s);
        s = open();
        BOOST_TEST(s->bootstrap(conf, err) == RAFT_CANTBOOTSTRAP);
        BOOST_TEST(!err.empty());
        const loaded l = load(*s);
        BOOST_TEST_REQUIRE(l.rv == 0, l.errmsg);
        BOOST_TEST(l.term == 1u);
        BOOST_TEST(l.vote == 0u);
        BOOST_TEST(l.start == 1u);
        BOOST_TEST_REQUIRE(l.entries.size() == 1u);
        BOOST_TEST(l.entries[0].term == 1u);
        BOOST_TEST(l.entries[0].type == RAFT_CHANGE);
        // The entry holds the engine's own encoding of the configuration.
        raft_buffer buf{};
        BOOST_TEST_REQUIRE(raft_configuration_encode(&conf, &buf) == 0);
        BOOST_TEST(l.entries[0].data == std::string(static_cast<const char*>(buf.base), buf.len));
        raft_free(buf.base);
        raft_configuration_close(&conf);
    }
}

BOOST_AUTO_TEST_CASE(bootstrap_is_refused_on_any_existing_state) {
    raft_configuration conf = configuration(1);
    std::string err;
    {
        store_fixture f;  // a term
        auto s = f.open();
        BOOST_TEST(s->set_term(2, err) == 0);
        BOOST_TEST(s->bootstrap(conf, err) == RAFT_CANTBOOTSTRAP);
    }
    {
        store_fixture f;  // a vote
        auto s = f.open();
        BOOST_TEST(s->set_vote(3, err) == 0);
        BOOST_TEST(s->bootstrap(conf, err) == RAFT_CANTBOOTSTRAP);
    }
    {
        store_fixture f;  // entries (of term 0, as no term was set)
        auto s = f.open();
        BOOST_TEST(f.append_range(*s, 0, 1, 2) == 0);
        BOOST_TEST(s->bootstrap(conf, err) == RAFT_CANTBOOTSTRAP);
    }
    {
        store_fixture f;  // a snapshot, after a restart
        auto s = f.open();
        BOOST_TEST(f.snapshot_put(*s, 0, 1, 5, "state") == 0);
        f.close(s);
        s = f.open();
        BOOST_TEST(s->bootstrap(conf, err) == RAFT_CANTBOOTSTRAP);
    }
    raft_configuration_close(&conf);
}

BOOST_FIXTURE_TEST_CASE(recover_appends_a_configuration_entry, store_fixture) {
    auto s = open();
    raft_configuration conf = configuration(3);
    std::string err;
    BOOST_TEST_REQUIRE(s->bootstrap(conf, err) == 0);
    BOOST_TEST_REQUIRE(s->set_term(4, err) == 0);
    BOOST_TEST_REQUIRE(append_range(*s, 4, 2, 3) == 0);
    raft_configuration one = configuration(1);
    BOOST_TEST_REQUIRE(s->recover(one, err) == 0, err);
    close(s);
    s = open();
    const loaded l = load(*s);
    BOOST_TEST_REQUIRE(l.entries.size() == 5u);
    BOOST_TEST(l.entries[4].type == RAFT_CHANGE);
    BOOST_TEST(l.entries[4].term == 4u);
    raft_configuration_close(&conf);
    raft_configuration_close(&one);
}

// ------------------------------------------------------------------ term and vote

BOOST_FIXTURE_TEST_CASE(term_and_vote_persist_and_a_new_term_resets_the_vote, store_fixture) {
    std::string err;
    {
        auto s = open();
        BOOST_TEST(s->set_term(1, err) == 0);
        BOOST_TEST(s->set_vote(2, err) == 0);
        BOOST_TEST(s->set_term(3, err) == 0);
        BOOST_TEST(s->set_vote(1, err) == 0);
        close(s);
    }
    {
        auto s = open();
        const loaded l = load(*s);
        BOOST_TEST(l.term == 3u);
        BOOST_TEST(l.vote == 1u);
        // Many writes alternate between the two slots; the last one wins after a restart.
        for (raft_term t = 4; t < 40; ++t) BOOST_TEST_REQUIRE(s->set_term(t, err) == 0);
        close(s);
    }
    auto s = open();
    const loaded l = load(*s);
    BOOST_TEST(l.term == 39u);
    BOOST_TEST(l.vote == 0u);
}

// set_term and set_vote are durable when they return: a power cut right after keeps them.
BOOST_FIXTURE_TEST_CASE(set_term_and_set_vote_are_durable_on_return, store_fixture) {
    std::string err;
    auto s = open();
    BOOST_TEST_REQUIRE(s->set_term(7, err) == 0);
    {
        store_fixture after;
        after.disk = disk->power_cut();
        auto r = after.open();
        BOOST_TEST(load(*r).term == 7u);
    }
    BOOST_TEST_REQUIRE(s->set_vote(3, err) == 0);
    store_fixture after;
    after.disk = disk->power_cut();
    auto r = after.open();
    const loaded l = load(*r);
    BOOST_TEST(l.term == 7u);
    BOOST_TEST(l.vote == 3u);
}

BOOST_FIXTURE_TEST_CASE(one_damaged_metadata_slot_falls_back_to_the_other, store_fixture) {
    std::string err;
    {
        auto s = open();
        BOOST_TEST(s->set_term(5, err) == 0);  // slot 0
        BOOST_TEST(s->set_term(6, err) == 0);  // slot 1
        close(s);
    }
    damage_byte(*disk, "/srv/metadata", 512 + 24);  // the term of slot 1
    auto s = open();
    const loaded l = load(*s);
    BOOST_TEST_REQUIRE(l.rv == 0);
    BOOST_TEST(l.term == 5u);
}

BOOST_FIXTURE_TEST_CASE(damaged_metadata_is_a_clear_error_at_open, store_fixture) {
    std::string err;
    {
        auto s = open();
        BOOST_TEST(s->set_term(5, err) == 0);
        BOOST_TEST(s->set_term(6, err) == 0);
        close(s);
    }
    damage_byte(*disk, "/srv/metadata", 24);
    damage_byte(*disk, "/srv/metadata", 512 + 24);
    try {
        auto s = open();
        BOOST_FAIL("open accepted damaged metadata");
    } catch (const std::system_error& e) {
        const std::string what = e.what();
        BOOST_TEST(what.find("/srv/metadata") != std::string::npos, what);
        BOOST_TEST(what.find("neither of its two copies") != std::string::npos, what);
        BOOST_TEST(what.find("restore") != std::string::npos, what);
    }
}

// ------------------------------------------------------------------ append and truncate

BOOST_FIXTURE_TEST_CASE(appended_entries_load_exactly_after_a_restart, store_fixture) {
    const std::string conf = "conf", a = "a", big(3000, 'x'), empty, z = "z";
    std::vector<raft_entry> es = {make_entry(1, conf, RAFT_CHANGE), make_entry(1, a),
                                  make_entry(2, empty, RAFT_BARRIER), make_entry(2, big), make_entry(7, z)};
    {
        auto s = open();
        std::string err;
        BOOST_TEST_REQUIRE(s->set_term(7, err) == 0);
        BOOST_TEST_REQUIRE(append(*s, es) == 0);
        // More, across several segments.
        for (raft_index i = 6; i < 60; i += 6) BOOST_TEST_REQUIRE(append_range(*s, 7, i, 6) == 0);
        close(s);
    }
    auto s = open();
    const loaded l = load(*s);
    BOOST_TEST_REQUIRE(l.rv == 0, l.errmsg);
    BOOST_TEST(l.start == 1u);
    BOOST_TEST_REQUIRE(l.entries.size() == 59u);
    for (std::size_t i = 0; i < es.size(); ++i) {
        BOOST_TEST(l.entries[i].term == es[i].term);
        BOOST_TEST(l.entries[i].type == es[i].type);
        BOOST_TEST(l.entries[i].data == std::string(static_cast<const char*>(es[i].buf.base), es[i].buf.len));
    }
    BOOST_TEST(l.entries[58].data == "e59");
    // Appends continue at the next index after a restart.
    BOOST_TEST_REQUIRE(append_range(*s, 7, 60, 1) == 0);
    BOOST_TEST(load(*s).entries.back().data == "e60");
}

// The engine stores a term before it appends entries of that term: a log whose entries are
// newer than the stored term means the metadata file is stale, and load says so.
BOOST_FIXTURE_TEST_CASE(entries_above_the_stored_term_are_refused, store_fixture) {
    auto s = open();
    std::string err;
    BOOST_TEST_REQUIRE(s->set_term(2, err) == 0);
    BOOST_TEST_REQUIRE(append_range(*s, 5, 1, 2) == 0);
    const loaded l = load(*s);
    BOOST_TEST(l.rv == RAFT_CORRUPT);
    BOOST_TEST(l.errmsg.find("above the stored term") != std::string::npos, l.errmsg);
}

// The callback is posted, never run inside append; the entries are copied before it returns.
BOOST_FIXTURE_TEST_CASE(append_completes_later_and_copies_the_entries, store_fixture) {
    auto s = open();
    std::string err;
    BOOST_TEST_REQUIRE(s->set_term(1, err) == 0);
    std::string data = "first";
    raft_entry e = make_entry(1, data);
    bool called = false;
    int status = -1;
    BOOST_TEST_REQUIRE(s->append(&e, 1, [&](int st) {
        called = true;
        status = st;
    }) == 0);
    BOOST_TEST(!called);
    data.assign("XXXXX");  // the caller's buffer may change once append returned
    BOOST_TEST_REQUIRE(run_until([&] { return called; }));
    BOOST_TEST(status == 0);
    BOOST_TEST(load(*s).entries.at(0).data == "first");
}

// test_uv_truncate: a truncate issued while appends are in flight is ordered after them (they
// succeed) and before the appends issued after it.
BOOST_FIXTURE_TEST_CASE(truncate_with_appends_in_flight, store_fixture) {
    auto s = open();
    std::string err;
    BOOST_TEST_REQUIRE(s->set_term(3, err) == 0);
    std::vector<std::string> a = {"a1", "a2", "a3", "a4", "a5"}, b = {"b3", "b4"};
    std::vector<raft_entry> ea, eb;
    for (auto& d : a) ea.push_back(make_entry(1, d));
    for (auto& d : b) eb.push_back(make_entry(2, d));
    std::vector<int> done;
    BOOST_TEST_REQUIRE(s->append(ea.data(), 5, [&](int st) { done.push_back(st); }) == 0);
    BOOST_TEST_REQUIRE(s->truncate(3) == 0);
    BOOST_TEST_REQUIRE(s->append(eb.data(), 2, [&](int st) { done.push_back(st); }) == 0);
    BOOST_TEST_REQUIRE(run_until([&] { return done.size() == 2; }));
    BOOST_TEST(done[0] == 0);
    BOOST_TEST(done[1] == 0);
    auto check = [](const loaded& l) {
        BOOST_TEST_REQUIRE(l.entries.size() == 4u);
        BOOST_TEST(l.entries[0].data == "a1");
        BOOST_TEST(l.entries[1].data == "a2");
        BOOST_TEST(l.entries[2].data == "b3");
        BOOST_TEST(l.entries[2].term == 2u);
        BOOST_TEST(l.entries[3].data == "b4");
    };
    check(load(*s));
    close(s);
    s = open();
    check(load(*s));
    // Truncating everything leaves an empty log that continues at 1.
    BOOST_TEST_REQUIRE(s->truncate(1) == 0);
    BOOST_TEST_REQUIRE(append_range(*s, 3, 1, 1, "c") == 0);
    const loaded l = load(*s);
    BOOST_TEST_REQUIRE(l.entries.size() == 1u);
    BOOST_TEST(l.entries[0].data == "c1");
}

// ------------------------------------------------------------------ snapshots

// test_uv_snapshot_put, trailing mode: the snapshot is stored, older entries go (whole
// segments), and load returns the snapshot and the entries from some index at or before
// snapshot.index - trailing + 1.
BOOST_FIXTURE_TEST_CASE(snapshot_put_with_trailing_entries, store_fixture) {
    segment_size = 4096;
    auto s = open();
    std::string err;
    BOOST_TEST_REQUIRE(s->set_term(2, err) == 0);
    for (raft_index i = 1; i <= 200; i += 10) BOOST_TEST_REQUIRE(append_range(*s, 2, i, 10) == 0);
    BOOST_TEST_REQUIRE(snapshot_put(*s, 20, 2, 150, "state@150") == 0);
    auto check = [](const loaded& l, raft_index last) {
        BOOST_TEST_REQUIRE(l.rv == 0, l.errmsg);
        BOOST_TEST_REQUIRE(l.snapshot.has_value());
        BOOST_TEST(l.snapshot->index == 150u);
        BOOST_TEST(l.snapshot->term == 2u);
        BOOST_TEST(l.snapshot->data == "state@150");
        BOOST_TEST(l.snapshot->configuration_index == 1u);
        BOOST_TEST(l.snapshot->servers.size() == 3u);
        BOOST_TEST(l.snapshot->servers[1].second == "127.0.0.1:9002");
        BOOST_TEST(l.start > 1u);     // older entries were deleted
        BOOST_TEST(l.start <= 131u);  // the trailing ones were kept
        BOOST_TEST(l.last_index() == last);
        BOOST_TEST(l.at(131)->data == "e131");
        BOOST_TEST(l.at(200)->data == "e200");
    };
    check(load(*s), 200);
    BOOST_TEST_REQUIRE(append_range(*s, 2, 201, 5) == 0);  // appends go on
    close(s);
    s = open();
    const loaded l = load(*s);
    check(l, 205);
    BOOST_TEST(l.at(205)->data == "e205");
    BOOST_TEST(snapshot_files(*disk) ==
               std::vector<std::string>{"snapshot-0000000000000002-0000000000000096"});
}

// test_uv_snapshot_put, install mode (trailing 0): the snapshot replaces the whole log; the next
// entry is snapshot.index + 1, also for appends issued before snapshot_put completed.
BOOST_FIXTURE_TEST_CASE(snapshot_put_install_replaces_the_log, store_fixture) {
    for (raft_index snap_index : {raft_index{500}, raft_index{10}, raft_index{3}}) {
        store_fixture f;
        auto s = f.open();
        std::string err;
        BOOST_TEST_REQUIRE(s->set_term(3, err) == 0);
        BOOST_TEST_REQUIRE(f.append_range(*s, 1, 1, 20, "old") == 0);
        snapshot_arg snap(3, snap_index, "installed", 2);
        std::vector<int> done;
        BOOST_TEST_REQUIRE(s->snapshot_put(0, snap.snap, [&](int st) { done.push_back(st); }) == 0);
        // Issued before the install completed: ordered after it.
        const std::string next = "new" + std::to_string(snap_index + 1);
        raft_entry e = make_entry(3, next);
        BOOST_TEST_REQUIRE(s->append(&e, 1, [&](int st) { done.push_back(st); }) == 0);
        BOOST_TEST_REQUIRE(f.run_until([&] { return done.size() == 2; }));
        BOOST_TEST(done == std::vector<int>({0, 0}));
        for (int restart = 0; restart < 2; ++restart) {
            const loaded l = load(*s);
            BOOST_TEST_REQUIRE(l.rv == 0, l.errmsg);
            BOOST_TEST_REQUIRE(l.snapshot.has_value());
            BOOST_TEST(l.snapshot->index == snap_index);
            BOOST_TEST(l.snapshot->configuration_index == 2u);
            BOOST_TEST(l.start == snap_index + 1);
            BOOST_TEST_REQUIRE(l.entries.size() == 1u);
            BOOST_TEST(l.entries[0].data == next);
            f.close(s);
            s = f.open();
        }
    }
}

// A newer snapshot replaces the older file only once it is durable; snapshot_get returns the
// newest, in memory the engine owns.
BOOST_FIXTURE_TEST_CASE(snapshot_get_returns_the_newest_and_old_files_go, store_fixture) {
    auto s = open();
    std::string err;
    BOOST_TEST_REQUIRE(s->set_term(1, err) == 0);
    BOOST_TEST_REQUIRE(append_range(*s, 1, 1, 30) == 0);
    BOOST_TEST_REQUIRE(snapshot_put(*s, 5, 1, 10, "ten") == 0);
    BOOST_TEST_REQUIRE(snapshot_put(*s, 5, 1, 25, "twenty-five") == 0);
    BOOST_TEST(snapshot_files(*disk).size() == 1u);
    std::optional<snapshot_copy> got;
    int status = -1;
    BOOST_TEST_REQUIRE(s->snapshot_get([&](int st, raft_snapshot* snap) {
        status = st;
        if (snap) got = take_snapshot(snap);
    }) == 0);
    BOOST_TEST(status == -1);  // posted, not run inline
    BOOST_TEST_REQUIRE(run_until([&] { return status != -1; }));
    BOOST_TEST(status == 0);
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(got->index == 25u);
    BOOST_TEST(got->data == "twenty-five");
}

BOOST_FIXTURE_TEST_CASE(a_damaged_snapshot_is_a_clear_error, store_fixture) {
    {
        auto s = open();
        std::string err;
        BOOST_TEST_REQUIRE(s->set_term(1, err) == 0);
        BOOST_TEST_REQUIRE(append_range(*s, 1, 1, 10) == 0);
        BOOST_TEST_REQUIRE(snapshot_put(*s, 2, 1, 8, std::string(1000, 's')) == 0);
        close(s);
    }
    const auto files = snapshot_files(*disk);
    BOOST_TEST_REQUIRE(files.size() == 1u);
    damage_byte(*disk, "/srv/" + files[0], 500);
    auto s = open();
    const loaded l = load(*s);
    BOOST_TEST(l.rv == RAFT_CORRUPT);
    BOOST_TEST(l.errmsg.find(files[0]) != std::string::npos, l.errmsg);
    BOOST_TEST(l.errmsg.find("checksum") != std::string::npos, l.errmsg);
    // A header that lies about the sizes is refused before anything is allocated for them.
    damage_byte(*disk, "/srv/" + files[0], 500);  // undo
    damage_byte(*disk, "/srv/" + files[0], 47);   // top byte of the configuration size
    const loaded l2 = load(*s);
    BOOST_TEST(l2.rv == RAFT_CORRUPT);
    BOOST_TEST(l2.errmsg.find("damaged") != std::string::npos, l2.errmsg);
}

// A snapshot install cut short by a crash (the snapshot durable, the old log still there):
// load keeps the entries that join the snapshot, else restarts the log after it.
BOOST_FIXTURE_TEST_CASE(load_joins_the_log_to_the_snapshot, store_fixture) {
    {
        auto s = open();
        std::string err;
        BOOST_TEST_REQUIRE(s->set_term(4, err) == 0);
        BOOST_TEST_REQUIRE(append_range(*s, 1, 1, 20) == 0);
        close(s);
    }
    // A snapshot at 30 (beyond the log) written as snapshot_put would, by a store that crashed
    // before it reset the log: made with another store on a copy of the disk, then its file copied.
    {
        store_fixture other;
        auto s = other.open();
        BOOST_TEST_REQUIRE(other.snapshot_put(*s, 0, 4, 30, "thirty") == 0);
        other.close(s);
        const auto files = snapshot_files(*other.disk);
        std::vector<std::byte> bytes(1 << 16);
        std::unique_ptr<file> in, out;
        BOOST_TEST_REQUIRE(!other.disk->open("/srv/" + files[0], open_mode::read_only, in));
        std::size_t got = 0;
        BOOST_TEST_REQUIRE(!in->read_at(0, bytes, got));
        BOOST_TEST_REQUIRE(!disk->open("/srv/" + files[0], open_mode::create_exclusive, out));
        BOOST_TEST_REQUIRE(!out->write_at(0, std::span<const std::byte>(bytes.data(), got)));
    }
    auto s = open();
    const loaded l = load(*s);
    BOOST_TEST_REQUIRE(l.rv == 0, l.errmsg);
    BOOST_TEST(l.snapshot->index == 30u);
    BOOST_TEST(l.start == 31u);
    BOOST_TEST(l.entries.empty());
    BOOST_TEST_REQUIRE(append_range(*s, 4, 31, 1) == 0);
    BOOST_TEST(load(*s).at(31)->data == "e31");
}

// A log that does not start at 1 needs the snapshot before it: without it (a lost file) load
// refuses to invent the missing entries.
BOOST_FIXTURE_TEST_CASE(a_lost_snapshot_is_a_clear_error, store_fixture) {
    {
        auto s = open();
        std::string err;
        BOOST_TEST_REQUIRE(s->set_term(1, err) == 0);
        BOOST_TEST_REQUIRE(snapshot_put(*s, 0, 1, 10, "ten") == 0);
        BOOST_TEST_REQUIRE(append_range(*s, 1, 11, 2) == 0);
        close(s);
    }
    const auto files = snapshot_files(*disk);
    BOOST_TEST_REQUIRE(files.size() == 1u);
    BOOST_TEST_REQUIRE(!disk->remove("/srv/" + files[0]));
    auto s = open();
    const loaded l = load(*s);
    BOOST_TEST(l.rv == RAFT_CORRUPT);
    BOOST_TEST(l.errmsg.find("starts at index 11") != std::string::npos, l.errmsg);
}

// Records that are not raft entries of this store (another program wrote into log/).
BOOST_FIXTURE_TEST_CASE(a_foreign_record_in_the_log_is_a_clear_error, store_fixture) {
    {
        wal_config cfg;
        cfg.dir = "/srv/log";
        cfg.fs = disk;
        cfg.max_segment_size = segment_size;
        cfg.max_record_size = 1024;
        auto w = wal::open(cfg).log;
        w.append(record::put("a key", "a value"));
    }
    auto s = open();
    const loaded l = load(*s);
    BOOST_TEST(l.rv == RAFT_CORRUPT);
    BOOST_TEST(l.errmsg.find("entry 1") != std::string::npos, l.errmsg);
    BOOST_TEST(l.errmsg.find("not a raft entry") != std::string::npos, l.errmsg);
}

// ------------------------------------------------------------------ fail-stop

BOOST_FIXTURE_TEST_CASE(a_failed_fdatasync_stops_the_store, store_fixture) {
    auto s = open();
    std::string err;
    BOOST_TEST_REQUIRE(s->set_term(1, err) == 0);
    BOOST_TEST_REQUIRE(append_range(*s, 1, 1, 3) == 0);
    disk->set_fault_hook([](const sim_event& ev) -> std::error_code {
        if (ev.op == sim_op::sync && ev.path.string().find("/srv/log/") == 0) return noriwal::test::eio();
        return {};
    });
    BOOST_TEST(append_range(*s, 1, 4, 2) == RAFT_IOERR);
    BOOST_TEST(static_cast<bool>(s->failure()));
    disk->set_fault_hook({});
    // Everything after is refused, with the reason.
    BOOST_TEST(s->set_term(9, err) == RAFT_IOERR);
    BOOST_TEST(err.find("stopped after a storage error") != std::string::npos, err);
    raft_entry e = make_entry(1, "x");
    BOOST_TEST(s->append(&e, 1, [](int) {}) != 0);
    BOOST_TEST(s->truncate(2) != 0);
    BOOST_TEST(load(*s).rv != 0);
    // A restart recovers what was durable.
    close(s);
    s = open();
    const loaded l = load(*s);
    BOOST_TEST_REQUIRE(l.rv == 0);
    BOOST_TEST(l.entries.size() >= 3u);
}

BOOST_FIXTURE_TEST_CASE(a_failed_metadata_write_stops_the_store, store_fixture) {
    auto s = open();
    std::string err;
    BOOST_TEST_REQUIRE(s->set_term(1, err) == 0);
    disk->set_fault_hook([](const sim_event& ev) -> std::error_code {
        if (ev.op == sim_op::write && ev.path == "/srv/metadata")
            return make_error_code(noriwal::errc::no_space);
        return {};
    });
    BOOST_TEST(s->set_vote(2, err) == RAFT_NOSPACE);
    BOOST_TEST(err.find("/srv/metadata") != std::string::npos, err);
    disk->set_fault_hook({});
    BOOST_TEST(s->set_vote(2, err) == RAFT_NOSPACE);  // still stopped
    BOOST_TEST((s->failure() == noriwal::errc::no_space));
}

BOOST_FIXTURE_TEST_CASE(a_failed_snapshot_write_stops_the_store, store_fixture) {
    auto s = open();
    std::string err;
    BOOST_TEST_REQUIRE(s->set_term(1, err) == 0);
    BOOST_TEST_REQUIRE(append_range(*s, 1, 1, 10) == 0);
    disk->set_fault_hook([](const sim_event& ev) -> std::error_code {
        if (ev.op == sim_op::sync && ev.path.filename().string().starts_with("snapshot-"))
            return noriwal::test::eio();
        return {};
    });
    BOOST_TEST(snapshot_put(*s, 2, 1, 8, "s") == RAFT_IOERR);
    BOOST_TEST(static_cast<bool>(s->failure()));
    disk->set_fault_hook({});
    close(s);
    s = open();
    const loaded l = load(*s);
    BOOST_TEST(!l.snapshot);  // the temporary file never became the snapshot
    BOOST_TEST(l.entries.size() == 10u);
    BOOST_TEST(snapshot_files(*disk).empty());
}

BOOST_FIXTURE_TEST_CASE(close_waits_for_appends_in_flight, store_fixture) {
    auto s = open();
    std::string err;
    BOOST_TEST_REQUIRE(s->set_term(1, err) == 0);
    std::vector<std::string> data;
    for (int i = 0; i < 20; ++i) data.push_back("c" + std::to_string(i + 1));
    std::vector<raft_entry> es;
    for (auto& d : data) es.push_back(make_entry(1, d));
    int status = -1;
    bool closed = false;
    BOOST_TEST_REQUIRE(s->append(es.data(), 20, [&](int st) { status = st; }) == 0);
    s->close([&] { closed = true; });
    BOOST_TEST_REQUIRE(run_until([&] { return closed; }));
    BOOST_TEST(status == 0);
    BOOST_TEST(s->set_term(2, err) != 0);  // closed
    s.reset();
    s = open();
    BOOST_TEST(load(*s).entries.size() == 20u);
}

BOOST_AUTO_TEST_CASE(a_second_store_on_the_same_directory_is_refused) {
    store_fixture f;
    auto s = f.open();
    try {
        auto t = f.open();
        BOOST_FAIL("a second store opened the same directory");
    } catch (const std::system_error& e) {
        BOOST_TEST(std::string(e.what()).find("another server uses this directory") != std::string::npos,
                   e.what());
    }
}

BOOST_AUTO_TEST_SUITE_END()
