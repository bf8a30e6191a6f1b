// noriwal::raft::io (include/noriwal/raft/io.hpp), the raft_io of canonical raft 0.15 on the
// simulated disk: callbacks are posted, never invoked inside the call; what load returns after a
// restart or a power cut holds everything the engine was told was durable; ticks come and stop
// at close; a storage error makes the io fail-stop (on_fatal, no more ticks, the failing
// callback held back until close); and the engine itself runs on it (a one-server cluster that
// applies, restarts and replays).
#include <noriwal/raft/io.hpp>

#include "kv_fsm.hpp"
#include "support/sim_disk.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace noriwal;
using namespace noriwal::test;
namespace asio = boost::asio;

namespace {

const std::filesystem::path dir = "/raft";

raft::io_options options_on(sim_disk& disk, std::vector<std::string>* fatal = nullptr) {
    raft::io_options o;
    o.dir = dir;
    o.fs = &disk;
    o.max_segment_size = 1 << 20;
    o.listen_address = "127.0.0.1:0";
    if (fatal) o.on_fatal = [fatal](const std::string& why) { fatal->push_back(why); };
    return o;
}

// Runs the context until `done` holds (each step runs ready handlers, at most a few ms apart).
template <class Pred>
bool run_until(asio::io_context& ioc, Pred done, int max_steps = 20000) {
    for (int i = 0; i < max_steps && !done(); ++i) {
        ioc.restart();
        ioc.run_one_for(std::chrono::milliseconds(5));
    }
    return done();
}

struct loaded {
    raft_term term = 0;
    raft_id vote = 0;
    raft_snapshot* snapshot = nullptr;
    raft_index start = 0;
    raft_entry* entries = nullptr;
    size_t n = 0;
    ~loaded() {
        if (snapshot) {
            raft_configuration_close(&snapshot->configuration);
            for (unsigned i = 0; i < snapshot->n_bufs; ++i) raft_free(snapshot->bufs[i].base);
            raft_free(snapshot->bufs);
            raft_free(snapshot);
        }
        if (entries) {
            // One batch holds every entry's data (log_store.hpp).
            if (n > 0 && entries[0].batch) raft_free(entries[0].batch);
            raft_free(entries);
        }
    }
};

// An io opened (init) on the disk, closed (and its close callback awaited) at the end.
struct opened {
    asio::io_context& ioc;
    raft::io io;
    bool closed = false;
    opened(asio::io_context& c, raft::io_options o) : ioc(c), io(c.get_executor(), std::move(o)) {
        BOOST_REQUIRE_EQUAL(io.get()->init(io.get(), 1, "127.0.0.1:0"), 0);
    }
    void load(loaded& l) {
        BOOST_REQUIRE_EQUAL(
            io.get()->load(io.get(), &l.term, &l.vote, &l.snapshot, &l.start, &l.entries, &l.n), 0);
    }
    void close() {
        if (closed) return;
        io.get()->data = this;
        io.get()->close(io.get(), [](raft_io* r) { static_cast<opened*>(r->data)->closed = true; });
        BOOST_REQUIRE(run_until(ioc, [this] { return closed; }));
    }
    ~opened() { close(); }
};

raft_configuration one_voter() {
    raft_configuration conf;
    raft_configuration_init(&conf);
    raft_configuration_add(&conf, 1, "127.0.0.1:0", RAFT_VOTER);
    return conf;
}

int ticks = 0;

// Starts the io with a 1 ms tick that counts in `ticks`.
void start_counting_ticks(opened& o) {
    ticks = 0;
    BOOST_REQUIRE_EQUAL(o.io.get()->start(
                            o.io.get(), 1, [](raft_io*) { ++ticks; }, [](raft_io*, raft_message*) {}),
                        0);
}

struct append_req {
    raft_io_append req{};
    int status = -1;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(raft_io_glue)

BOOST_AUTO_TEST_CASE(appends_are_posted_and_survive_restart_and_power_cut) {
    auto disk = std::make_shared<sim_disk>();
    asio::io_context ioc;
    std::string payload[3] = {"one", "two", "three"};
    {
        opened o(ioc, options_on(*disk));
        loaded empty;
        o.load(empty);
        BOOST_TEST(empty.term == 0u);
        BOOST_TEST(empty.n == 0u);
        auto conf = one_voter();
        BOOST_TEST(o.io.get()->bootstrap(o.io.get(), &conf) == 0);
        // Bootstrap is refused once there is state.
        BOOST_TEST(o.io.get()->bootstrap(o.io.get(), &conf) == RAFT_CANTBOOTSTRAP);
        raft_configuration_close(&conf);
        BOOST_TEST(o.io.get()->set_term(o.io.get(), 3) == 0);
        BOOST_TEST(o.io.get()->set_vote(o.io.get(), 1) == 0);
        raft_entry entries[3];
        for (int i = 0; i < 3; ++i) {
            entries[i].term = 3;
            entries[i].type = i == 1 ? RAFT_BARRIER : RAFT_COMMAND;
            entries[i].buf.base = payload[i].data();
            entries[i].buf.len = payload[i].size();
            entries[i].batch = nullptr;
        }
        append_req a;
        a.req.data = &a;
        BOOST_REQUIRE_EQUAL(o.io.get()->append(o.io.get(), &a.req, entries, 3,
                                               [](raft_io_append* r, int st) {
                                                   static_cast<append_req*>(r->data)->status = st;
                                               }),
                            0);
        BOOST_TEST(a.status == -1);  // never inside the call
        BOOST_REQUIRE(run_until(ioc, [&] { return a.status != -1; }));
        BOOST_TEST(a.status == 0);
        BOOST_TEST(!o.io.failed());
    }
    // Restart on the same disk, then a power cut that keeps only what was synced: both hold the
    // bootstrap entry, the term, the vote and the three durable entries, exactly.
    auto cut = disk->power_cut();
    for (auto* d : {disk.get(), cut.get()}) {
        asio::io_context ioc2;
        opened o(ioc2, options_on(*d));
        loaded l;
        o.load(l);
        BOOST_TEST(l.term == 3u);
        BOOST_TEST(l.vote == 1u);
        BOOST_TEST(l.start == 1u);
        BOOST_REQUIRE(l.n == 4u);
        BOOST_TEST(l.entries[0].type == RAFT_CHANGE);
        BOOST_TEST(l.entries[0].term == 1u);
        for (int i = 0; i < 3; ++i) {
            const auto& e = l.entries[i + 1];
            BOOST_TEST(e.term == 3u);
            BOOST_TEST(e.type == (i == 1 ? RAFT_BARRIER : RAFT_COMMAND));
            BOOST_TEST(std::string(static_cast<const char*>(e.buf.base), e.buf.len) == payload[i]);
        }
    }
}

BOOST_AUTO_TEST_CASE(ticks_come_until_close) {
    auto disk = std::make_shared<sim_disk>();
    asio::io_context ioc;
    opened o(ioc, options_on(*disk));
    loaded l;
    o.load(l);
    start_counting_ticks(o);
    BOOST_TEST(ticks == 0);  // not inside start
    BOOST_REQUIRE(run_until(ioc, [] { return ticks >= 3; }));
    BOOST_TEST(o.io.stats().ticks >= 3u);
    o.close();
    int at_close = ticks;
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(20));
    BOOST_TEST(ticks == at_close);
}

BOOST_AUTO_TEST_CASE(failed_sync_stops_the_io) {
    auto disk = std::make_shared<sim_disk>();
    asio::io_context ioc;
    std::vector<std::string> fatal;
    opened o(ioc, options_on(*disk, &fatal));
    loaded l;
    o.load(l);
    start_counting_ticks(o);
    auto conf = one_voter();
    BOOST_REQUIRE_EQUAL(o.io.get()->bootstrap(o.io.get(), &conf), 0);
    raft_configuration_close(&conf);
    // From now on every fdatasync fails, as a dying disk's would.
    disk->set_fault_hook(fail_from(sim_op::sync, 0, eio()));
    std::string data = "x";
    raft_entry e{2, RAFT_COMMAND, {data.data(), data.size()}, nullptr};
    append_req a;
    a.req.data = &a;
    int rv = o.io.get()->append(o.io.get(), &a.req, &e, 1, [](raft_io_append* r, int st) {
        static_cast<append_req*>(r->data)->status = st;
    });
    if (rv == 0) BOOST_REQUIRE(run_until(ioc, [&] { return !fatal.empty(); }));
    BOOST_REQUIRE_EQUAL(fatal.size(), 1u);
    BOOST_TEST_MESSAGE("on_fatal: " << fatal[0]);
    BOOST_TEST(!fatal[0].empty());
    BOOST_TEST(o.io.failed());
    // The engine is not told: the failing append's callback waits for close, ticks stop, and
    // every later storage call fails.
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(20));
    int after = ticks;
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(20));
    BOOST_TEST(ticks == after);
    BOOST_TEST(a.status == -1);
    BOOST_TEST(o.io.get()->set_term(o.io.get(), 5) != 0);
    o.close();
    if (rv == 0) BOOST_TEST(a.status == RAFT_CANCELED);
    BOOST_TEST(fatal.size() == 1u);
}

// The engine on our io: a one-server cluster applies SETs, is closed, restarts on the same disk
// and replays them into a fresh state machine.
BOOST_AUTO_TEST_CASE(engine_applies_and_replays_after_restart) {
    auto disk = std::make_shared<sim_disk>();
    for (int run = 0; run < 2; ++run) {
        asio::io_context ioc;
        raft::io io(ioc.get_executor(), options_on(*disk));
        kvd::kv_fsm fsm;
        struct raft r {};
        BOOST_REQUIRE_EQUAL(raft_init(&r, io.get(), fsm.fsm(), 1, "127.0.0.1:0"), 0);
        auto conf = one_voter();
        int b = raft_bootstrap(&r, &conf);
        raft_configuration_close(&conf);
        BOOST_TEST(b == (run == 0 ? 0 : RAFT_CANTBOOTSTRAP));
        raft_set_election_timeout(&r, 50);
        raft_set_heartbeat_timeout(&r, 10);
        BOOST_REQUIRE_EQUAL(raft_start(&r), 0);
        BOOST_REQUIRE(run_until(ioc, [&] { return raft_state(&r) == RAFT_LEADER; }));
        struct raft_apply req {};
        int status = -1;
        req.data = &status;
        raft_buffer buf = kvd::encode_set("run" + std::to_string(run), "v");
        BOOST_REQUIRE_EQUAL(
            raft_apply(&r, &req, &buf, 1,
                       [](struct raft_apply* q, int st, void*) { *static_cast<int*>(q->data) = st; }),
            0);
        BOOST_REQUIRE(run_until(ioc, [&] { return status != -1; }));
        BOOST_TEST(status == 0);
        BOOST_TEST(fsm.size() == static_cast<std::size_t>(run + 1));
        BOOST_TEST(*fsm.get("run0") == "v");
        bool closed = false;
        r.data = &closed;
        raft_close(&r, [](struct raft* q) { *static_cast<bool*>(q->data) = true; });
        BOOST_REQUIRE(run_until(ioc, [&] { return closed; }));
    }
}

BOOST_AUTO_TEST_SUITE_END()
