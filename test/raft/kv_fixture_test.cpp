// noriwal-kvd's key-value state machine (tools/noriwal-kvd/kv_fsm.hpp) replicated by the engine's
// own in-memory cluster (raft/fixture.h): writes reach every server, a lost leader is replaced
// and no committed write is lost, a server that was down catches up by snapshot install, and
// the state machine's snapshot round-trips.
#include "kv_fsm.hpp"

extern "C" {
#include <raft.h>
#include <raft/fixture.h>
}

#include <boost/test/unit_test.hpp>

#include <array>
#include <memory>
#include <string>

using noriwal::kvd::encode_set;
using noriwal::kvd::kv_fsm;

namespace {

constexpr unsigned servers = 3;
constexpr unsigned max_msecs = 60'000;  // simulated time: the fixture's clock, not the wall's

struct cluster {
    raft_fixture f{};
    std::array<kv_fsm, servers> fsms;

    explicit cluster(unsigned snapshot_threshold = 0, unsigned trailing = 0) {
        BOOST_REQUIRE_EQUAL(raft_fixture_initialize(&f), 0);
        for (auto& fsm : fsms) BOOST_REQUIRE_EQUAL(raft_fixture_grow(&f, fsm.fsm()), 0);
        raft_configuration conf;
        BOOST_REQUIRE_EQUAL(raft_fixture_configuration(&f, servers, &conf), 0);
        BOOST_REQUIRE_EQUAL(raft_fixture_bootstrap(&f, &conf), 0);
        raft_configuration_close(&conf);
        if (snapshot_threshold != 0) {
            for (unsigned i = 0; i < servers; ++i) {
                raft_set_snapshot_threshold(raft_fixture_get(&f, i), snapshot_threshold);
                raft_set_snapshot_trailing(raft_fixture_get(&f, i), trailing);
            }
        }
        BOOST_REQUIRE_EQUAL(raft_fixture_start(&f), 0);
    }
    ~cluster() { raft_fixture_close(&f); }

    unsigned leader() {
        BOOST_REQUIRE(raft_fixture_step_until_has_leader(&f, max_msecs));
        return raft_fixture_leader_index(&f);
    }

    // Proposes SET key value on the leader and steps until every live server applied it.
    raft_index set(const std::string& key, const std::string& value) {
        unsigned l = leader();
        struct raft_apply req {};
        raft_buffer buf = encode_set(key, value);
        int status = -1;
        req.data = &status;
        BOOST_REQUIRE_EQUAL(
            raft_apply(raft_fixture_get(&f, l), &req, &buf, 1,
                       [](struct raft_apply* r, int st, void*) { *static_cast<int*>(r->data) = st; }),
            0);
        BOOST_REQUIRE(raft_fixture_step_until_applied(&f, l, req.index, max_msecs));
        // The callback runs once the leader applied it.
        BOOST_REQUIRE(raft_fixture_step_until(
            &f, [](raft_fixture*, void* arg) { return *static_cast<int*>(arg) != -1; }, &status, max_msecs));
        BOOST_TEST(status == 0);
        return req.index;
    }

    void all_applied(raft_index index) {
        BOOST_REQUIRE(raft_fixture_step_until_applied(&f, servers, index, max_msecs));
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(raft_kv_fixture)

BOOST_AUTO_TEST_CASE(writes_reach_every_server) {
    cluster c;
    raft_index last = 0;
    for (int i = 0; i < 20; ++i) last = c.set("k" + std::to_string(i), "v" + std::to_string(i));
    c.all_applied(last);
    for (auto& fsm : c.fsms) {
        BOOST_TEST(fsm.size() == 20u);
        BOOST_TEST(*fsm.get("k7") == "v7");
        BOOST_TEST(fsm.state_hash() == c.fsms[0].state_hash());
    }
}

BOOST_AUTO_TEST_CASE(leader_loss_keeps_committed_writes) {
    cluster c;
    for (int i = 0; i < 10; ++i) c.set("a" + std::to_string(i), "x");
    unsigned old = c.leader();
    raft_fixture_kill(&c.f, old);
    BOOST_REQUIRE(raft_fixture_step_until_has_no_leader(&c.f, max_msecs));
    unsigned fresh = c.leader();
    BOOST_TEST(fresh != old);
    // The new leader has every write the old one acknowledged, and takes new ones.
    BOOST_TEST(c.fsms[fresh].size() >= 9u);  // the last may still be applying: checked below
    raft_index last = 0;
    for (int i = 0; i < 10; ++i) last = c.set("b" + std::to_string(i), "y");
    raft_fixture_revive(&c.f, old);
    c.all_applied(last);
    for (auto& fsm : c.fsms) {
        BOOST_TEST(fsm.size() == 20u);
        BOOST_TEST(*fsm.get("a9") == "x");
        BOOST_TEST(*fsm.get("b9") == "y");
        BOOST_TEST(fsm.state_hash() == c.fsms[fresh].state_hash());
    }
}

BOOST_AUTO_TEST_CASE(down_server_catches_up_by_snapshot) {
    cluster c(/*snapshot_threshold=*/8, /*trailing=*/2);
    c.set("first", "1");
    unsigned l = c.leader();
    unsigned down = (l + 1) % servers;
    raft_fixture_kill(&c.f, down);
    raft_index last = 0;
    for (int i = 0; i < 60; ++i) last = c.set("s" + std::to_string(i), std::to_string(i));
    // The leader's log no longer holds what the down server misses: only a snapshot can help.
    BOOST_TEST(raft_fixture_get(&c.f, l)->log.snapshot.last_index >
               raft_last_applied(raft_fixture_get(&c.f, down)));
    raft_fixture_revive(&c.f, down);
    c.all_applied(last);
    BOOST_TEST(c.fsms[down].size() == 61u);
    BOOST_TEST(*c.fsms[down].get("s59") == "59");
    BOOST_TEST(c.fsms[down].state_hash() == c.fsms[l].state_hash());
    // It restored a snapshot: it applied fewer commands itself than the cluster committed.
    BOOST_TEST(c.fsms[down].applied_commands() < 61u);
}

BOOST_AUTO_TEST_CASE(snapshot_round_trip_and_malformed_input) {
    kv_fsm a, b;
    void* result = nullptr;
    raft_buffer set1 = encode_set("key", "value");
    raft_buffer set2 = encode_set("other", "v2");
    BOOST_TEST(a.fsm()->apply(a.fsm(), &set1, &result) == 0);
    BOOST_TEST(a.fsm()->apply(a.fsm(), &set2, &result) == 0);
    raft_buffer client = noriwal::kvd::encode_client_address(2, "127.0.0.1:7002");
    BOOST_TEST(a.fsm()->apply(a.fsm(), &client, &result) == 0);
    raft_free(set1.base);
    raft_free(set2.base);
    raft_free(client.base);
    raft_buffer* bufs = nullptr;
    unsigned n = 0;
    BOOST_REQUIRE(a.fsm()->snapshot(a.fsm(), &bufs, &n) == 0);
    BOOST_REQUIRE(n == 1u);
    // Truncated snapshots are refused and leave the state alone.
    raft_buffer cut{bufs[0].base, bufs[0].len - 1};
    BOOST_TEST(b.fsm()->restore(b.fsm(), &cut) == RAFT_MALFORMED);
    BOOST_TEST(b.size() == 0u);
    BOOST_TEST(b.fsm()->restore(b.fsm(), &bufs[0]) == 0);  // takes over bufs[0].base
    raft_free(bufs);
    BOOST_TEST(b.size() == 2u);
    BOOST_TEST(*b.get("other") == "v2");
    BOOST_TEST(*b.client_address(2) == "127.0.0.1:7002");
    BOOST_TEST(b.state_hash() == a.state_hash());
    // A command of an unknown kind or cut short is refused.
    unsigned char bad[] = {9, 0, 0};
    raft_buffer badbuf{bad, sizeof bad};
    BOOST_TEST(b.fsm()->apply(b.fsm(), &badbuf, &result) == RAFT_MALFORMED);
    unsigned char shortset[] = {1, 10, 0, 0, 0, 'a'};
    raft_buffer shortbuf{shortset, sizeof shortset};
    BOOST_TEST(b.fsm()->apply(b.fsm(), &shortbuf, &result) == RAFT_MALFORMED);
    BOOST_TEST(b.state_hash() == a.state_hash());
}

BOOST_AUTO_TEST_CASE(token_rules) {
    BOOST_TEST(noriwal::kvd::valid_token("abc"));
    BOOST_TEST(!noriwal::kvd::valid_token(""));
    BOOST_TEST(!noriwal::kvd::valid_token("a b"));
    BOOST_TEST(!noriwal::kvd::valid_token("a\nb"));
    BOOST_TEST(!noriwal::kvd::valid_token("a\tb"));
}

BOOST_AUTO_TEST_SUITE_END()
