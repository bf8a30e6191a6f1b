// Power cuts under the raft log store on the simulated disk. A workload of every kind of
// operation (bootstrap, set_term, set_vote, appends, truncate with appends in flight, both
// snapshot_put modes) runs once; the disk is captured after each of its mutating operations
// (with what the store had acknowledged by then), and at a sample of those points power cuts
// (nothing unsynced kept, everything kept, random subsets with torn writes) are recovered.
// After each, load must return a state the engine accepts (checked field by field, and by
// raft_start itself on the same state) and must keep everything that was acknowledged as durable.
#include "log_store_support.hpp"

#include <boost/test/unit_test.hpp>

#include <map>
#include <mutex>
#include <string>
#include <vector>

using namespace noriwal;
using namespace noriwal::raft;
using namespace noriwal::raft::test;
using noriwal::test::power_cut_plan;
using noriwal::test::sim_event;
using noriwal::test::sim_op;

namespace {

// What the store had acknowledged (durable) at some point.
struct acknowledged {
    raft_term term = 0;
    raft_id vote = 0;  // for `term`
    raft_index snapshot = 0;
    bool bootstrapped = false;  // then a snapshot or the configuration entry at index 1 exists
    std::map<raft_index, std::string> entries;  // index -> data, still required
};

struct captured {
    std::shared_ptr<sim_disk> disk;
    acknowledged ack;
    std::uint64_t seq;
};

// The engine itself: a raft_io whose load is the store's and that does nothing else (start
// succeeds, nothing is sent), enough for raft_start to restore what load returned; it asserts
// (aborting the test) or fails on a state it does not accept.
namespace engine {
int init(raft_io*, raft_id, const char*) { return 0; }
void close(raft_io* io, raft_io_close_cb cb) {
    if (cb) cb(io);
}
int load(raft_io* io, raft_term* term, raft_id* vote, raft_snapshot** snapshot, raft_index* start,
         raft_entry* entries[], size_t* n) {
    std::string err;
    return static_cast<log_store*>(io->impl)->load(term, vote, snapshot, start, entries, n, err);
}
int start(raft_io*, unsigned, raft_io_tick_cb, raft_io_recv_cb) { return 0; }
int refuse_conf(raft_io*, const raft_configuration*) { return RAFT_IOERR; }
int refuse_term(raft_io*, raft_term) { return RAFT_IOERR; }
int refuse_vote(raft_io*, raft_id) { return RAFT_IOERR; }
int refuse_send(raft_io*, raft_io_send*, const raft_message*, raft_io_send_cb) { return RAFT_IOERR; }
int refuse_append(raft_io*, raft_io_append*, const raft_entry[], unsigned, raft_io_append_cb) {
    return RAFT_IOERR;
}
int refuse_truncate(raft_io*, raft_index) { return RAFT_IOERR; }
int refuse_put(raft_io*, unsigned, raft_io_snapshot_put*, const raft_snapshot*, raft_io_snapshot_put_cb) {
    return RAFT_IOERR;
}
int refuse_get(raft_io*, raft_io_snapshot_get*, raft_io_snapshot_get_cb) { return RAFT_IOERR; }
raft_time time(raft_io*) { return 0; }
int random(raft_io*, int min, int) { return min; }
int apply(raft_fsm*, const raft_buffer*, void**) { return 0; }
int restore(raft_fsm*, raft_buffer* buf) {
    raft_free(buf->base);  // the state machine owns the snapshot's data
    return 0;
}

// raft_start on what the store in `disk` loads: 0 when the engine accepted it.
int start_on(const std::shared_ptr<sim_disk>& disk) {
    store_fixture f;
    f.disk = disk;
    auto s = f.open();
    raft_io io{};
    io.version = 1;
    io.impl = s.get();
    io.init = init;
    io.close = close;
    io.load = load;
    io.start = start;
    io.bootstrap = refuse_conf;
    io.recover = refuse_conf;
    io.set_term = refuse_term;
    io.set_vote = refuse_vote;
    io.send = refuse_send;
    io.append = refuse_append;
    io.truncate = refuse_truncate;
    io.snapshot_put = refuse_put;
    io.snapshot_get = refuse_get;
    io.time = time;
    io.random = random;
    raft_fsm fsm{};
    fsm.version = 1;
    fsm.apply = apply;
    fsm.restore = restore;
    struct raft r {};
    BOOST_TEST_REQUIRE(raft_init(&r, &io, &fsm, 1, "127.0.0.1:9001") == 0);
    const int rv = raft_start(&r);
    raft_close(&r, nullptr);
    return rv;
}
}  // namespace engine

bool mutates(sim_op op) {
    return op == sim_op::create || op == sim_op::write || op == sim_op::sync || op == sim_op::truncate ||
           op == sim_op::rename || op == sim_op::remove || op == sim_op::dir_sync;
}

// Checks the state recovered from `disk` against what was acknowledged.
void check_recovered(const std::shared_ptr<sim_disk>& disk, const acknowledged& ack, const std::string& ctx) {
    store_fixture f;
    f.disk = disk;
    std::unique_ptr<log_store> s;
    try {
        s = f.open();
    } catch (const std::system_error& e) {
        BOOST_TEST_REQUIRE(false, ctx << ": open failed: " << e.what());
    }
    const loaded l = load(*s);
    BOOST_TEST_REQUIRE(l.rv == 0, ctx << ": load failed: " << l.errmsg);
    // What the engine requires (raft_start, logStart).
    BOOST_TEST_REQUIRE(l.start >= 1u, ctx);
    if (l.snapshot) {
        BOOST_TEST(l.start <= l.snapshot->index + 1, ctx << ": entries start after the snapshot");
        if (const entry_copy* e = l.at(l.snapshot->index))
            BOOST_TEST(e->term == l.snapshot->term,
                       ctx << ": the entry at the snapshot's index has another term");
    } else if (!l.entries.empty()) {
        BOOST_TEST(l.start == 1u, ctx << ": no snapshot, yet the log starts at " << l.start);
        BOOST_TEST(l.entries.front().type == RAFT_CHANGE,
                   ctx << ": the first entry is not the configuration");
    }
    raft_term previous = 0;
    for (const entry_copy& e : l.entries) {
        BOOST_TEST(e.term <= l.term, ctx << ": an entry's term is above the stored term");
        BOOST_TEST(e.term >= previous, ctx << ": entry terms go down");
        previous = e.term;
    }
    // Nothing acknowledged is missing.
    if (ack.bootstrapped && !l.snapshot)
        BOOST_TEST(!l.entries.empty(), ctx << ": the bootstrap entry was lost");
    BOOST_TEST(l.term >= ack.term, ctx << ": term " << l.term << " below the acknowledged " << ack.term);
    if (l.term == ack.term && ack.vote != 0) BOOST_TEST(l.vote == ack.vote, ctx << ": the vote was lost");
    if (ack.snapshot != 0) {
        BOOST_TEST_REQUIRE(l.snapshot.has_value(), ctx << ": the snapshot was lost");
        BOOST_TEST(l.snapshot->index >= ack.snapshot, ctx);
    }
    for (const auto& [index, data] : ack.entries) {
        if (l.snapshot && index <= l.snapshot->index) continue;  // covered by the snapshot
        const entry_copy* e = l.at(index);
        BOOST_TEST_REQUIRE(e != nullptr, ctx << ": acknowledged entry " << index << " is missing");
        BOOST_TEST(e->data == data,
                   ctx << ": entry " << index << " holds '" << e->data << "', not '" << data << "'");
    }
    // And the store goes on from there.
    BOOST_TEST(f.append_range(*s, l.term, l.last_index() + 1, 1, "after") == 0, ctx);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(raft_log_store_crash)

BOOST_AUTO_TEST_CASE(every_power_cut_recovers_a_state_the_engine_accepts_with_nothing_acknowledged_lost) {
    store_fixture f;
    std::mutex mutex;
    acknowledged ack;  // guarded by mutex (the hook runs on the wal's threads too)
    std::vector<captured> states;
    f.disk->set_after_hook([&](const sim_event& ev, std::error_code ec) {
        if (ec || !mutates(ev.op)) return;
        // The disk's state and what was acknowledged, taken together: a call that returns on
        // the test thread between the two would pair a state from before its sync with an
        // acknowledgement from after it.
        std::lock_guard lk(mutex);
        states.push_back({f.disk->snapshot(), ack, ev.seq});
    });
    auto update = [&](auto fn) {
        std::lock_guard lk(mutex);
        fn(ack);
    };
    auto s = f.open();
    std::string err;
    // Appends `n` entries from `first` ("<prefix><index>") and records them once acknowledged.
    std::vector<std::vector<std::string>> keep;  // the data of entries in flight
    // (record: false for entries a truncate issued after them removes.)
    auto append = [&](raft_term term, raft_index first, unsigned n, const std::string& prefix, int* status,
                      bool record = true) {
        keep.emplace_back();
        auto& data = keep.back();
        for (unsigned i = 0; i < n; ++i) data.push_back(prefix + std::to_string(first + i));
        std::vector<raft_entry> es;
        for (const auto& d : data) es.push_back(make_entry(term, d));
        *status = -1;
        BOOST_TEST_REQUIRE(s->append(es.data(), n, [&, first, data, status, record](int st) {
            *status = st;
            if (st == 0 && record)
                update([&](acknowledged& a) {
                    for (unsigned i = 0; i < data.size(); ++i) a.entries[first + i] = data[i];
                });
        }) == 0);
    };
    auto wait = [&](const int& status) {
        BOOST_TEST_REQUIRE(f.run_until([&] { return status != -1; }));
        BOOST_TEST_REQUIRE(status == 0);
    };
    auto set_term = [&](raft_term t) {
        BOOST_TEST_REQUIRE(s->set_term(t, err) == 0);
        update([&](acknowledged& a) {
            a.term = t;
            a.vote = 0;
        });
    };
    auto set_vote = [&](raft_id v) {
        BOOST_TEST_REQUIRE(s->set_vote(v, err) == 0);
        update([&](acknowledged& a) { a.vote = v; });
    };
    auto snapshot = [&](unsigned trailing, raft_term term, raft_index index) {
        if (trailing == 0)  // install: the entries after it go (they may vanish from now on)
            update([&](acknowledged& a) { a.entries.erase(a.entries.upper_bound(index), a.entries.end()); });
        const int st = f.snapshot_put(*s, trailing, term, index, "state@" + std::to_string(index));
        BOOST_TEST_REQUIRE(st == 0);
        update([&](acknowledged& a) {
            a.snapshot = index;
            a.entries.erase(a.entries.begin(), a.entries.upper_bound(index));
        });
    };

    raft_configuration conf = configuration(3);
    BOOST_TEST_REQUIRE(s->bootstrap(conf, err) == 0);
    raft_configuration_close(&conf);
    update([&](acknowledged& a) {
        a.term = 1;
        a.bootstrapped = true;
    });
    set_term(2);
    set_vote(2);
    int st1 = 0, st2 = 0, st3 = 0;
    for (raft_index i = 2; i < 32; i += 6) {
        append(2, i, 6, "a", &st1);
        wait(st1);
    }
    // A truncate between appends in flight: the first batch completes, the second follows it.
    append(2, 32, 4, "b", &st1, false);
    update([&](acknowledged& a) { a.entries.erase(a.entries.lower_bound(25), a.entries.end()); });
    BOOST_TEST_REQUIRE(s->truncate(25) == 0);
    append(2, 25, 6, "t", &st2);
    wait(st1);
    wait(st2);
    snapshot(5, 2, 28);
    set_term(3);
    set_vote(1);
    append(3, 31, 5, "c", &st1);
    append(3, 36, 5, "c", &st2);
    wait(st1);
    wait(st2);
    // An install from a leader far ahead, and the appends that follow it at once.
    update([&](acknowledged& a) { a.entries.erase(a.entries.upper_bound(60), a.entries.end()); });
    {
        snapshot_arg snap(3, 60, "state@60");
        int put = -1;
        BOOST_TEST_REQUIRE(s->snapshot_put(0, snap.snap, [&](int st) {
            put = st;
            if (st == 0)
                update([&](acknowledged& a) {
                    a.snapshot = 60;
                    a.entries.erase(a.entries.begin(), a.entries.upper_bound(60));
                });
        }) == 0);
        append(3, 61, 5, "i", &st3);
        wait(put);
        wait(st3);
    }
    set_term(4);
    append(4, 66, 5, "d", &st1);
    wait(st1);
    f.close(s);
    f.disk->set_after_hook({});

    // Recover a sample of the captured points (bounded, for the sanitizer runs), with several power cuts
    // each.
    std::vector<captured> sample;
    {
        std::lock_guard lk(mutex);
        BOOST_TEST_REQUIRE(states.size() > 50u);
        const std::size_t step = std::max<std::size_t>(1, states.size() / 400);
        for (std::size_t i = 0; i < states.size(); i += step) sample.push_back(states[i]);
        if ((states.size() - 1) % step != 0) sample.push_back(states.back());
    }
    std::size_t tried = 0;
    for (const captured& c : sample) {
        const std::string at = "after operation " + std::to_string(c.seq);
        check_recovered(c.disk->power_cut(power_cut_plan::drop_all()), c.ack, at + ", nothing unsynced kept");
        check_recovered(c.disk->power_cut(power_cut_plan::keep_all()), c.ack, at + ", everything kept");
        // And the engine starts from it.
        BOOST_TEST(engine::start_on(c.disk->power_cut(power_cut_plan::drop_all())) == 0, at);
        BOOST_TEST(engine::start_on(c.disk->power_cut(power_cut_plan::keep_all())) == 0, at);
        for (std::uint64_t seed = 1; seed <= 6; ++seed) {
            const power_cut_plan plan = c.disk->random_power_cut(c.seq * 7 + seed);
            check_recovered(c.disk->power_cut(plan), c.ack, at + ", random cut " + std::to_string(seed));
        }
        tried += 8;
    }
    BOOST_TEST_MESSAGE("recovered " << tried << " power cuts at " << sample.size() << " of " << states.size()
                                    << " points");
}

BOOST_AUTO_TEST_SUITE_END()
