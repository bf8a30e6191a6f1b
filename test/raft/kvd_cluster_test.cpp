// A real cluster: three noriwal-kvd processes on loopback (ports picked free at start), writers
// with several requests outstanding, the leader SIGKILLed again and again and restarted, once all
// three at the same time, and a run where a node that was down must catch up by snapshot install.
// Checks as Jepsen's set test: once the nodes converge, every node's state_hash equals the hash of
// exactly the OK'd writes plus those of unknown outcome that a read through the leader finds (so
// every OK'd key is present with its value everywhere, and no key that was never sent exists); a
// new leader is elected within a bound after each kill. Fewer kills under sanitizers (see
// doc/replication.md, "Tests"); the amount follows test_scale().
#include "kv_fsm.hpp"
#include "raft/kvd_client.hpp"
#include "raft/message_codec.hpp"
#include "support/log_check.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <random>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

using namespace noriwal::test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

bool sanitized() { return test_scale() < 1.0; }

struct node {
    unsigned id = 0;
    unsigned short raft_port = 0;
    unsigned short client_port = 0;
    std::unique_ptr<kvd_process> process;
};

struct history {
    std::mutex m;
    std::map<std::string, std::string> attempted;
    std::set<std::string> acked;
    std::set<std::string> unknown;
    std::vector<std::string> unexpected;  // replies that are none of OK, REDIRECT, ERR
    std::atomic<std::size_t> acks{0};
    std::atomic<std::size_t> redirects{0};
};

class cluster {
public:
    cluster(unsigned snapshot_threshold, unsigned snapshot_trailing) {
        std::string list;
        for (unsigned i = 0; i < 3; ++i) {
            node n;
            n.id = i + 1;
            n.raft_port = free_port();
            n.client_port = free_port();
            list += (i ? "," : "") + std::to_string(n.id) + "=127.0.0.1:" + std::to_string(n.raft_port);
            nodes_.push_back(std::move(n));
        }
        for (auto& n : nodes_) {
            auto dir = dir_.path() / ("node-" + std::to_string(n.id));
            std::filesystem::create_directories(dir);
            std::vector<std::string> args = {"--id",
                                             std::to_string(n.id),
                                             "--dir",
                                             (dir / "data").string(),
                                             "--cluster",
                                             list,
                                             "--client",
                                             "127.0.0.1:" + std::to_string(n.client_port),
                                             "--election-timeout",
                                             sanitized() ? "600" : "300",
                                             "--heartbeat",
                                             sanitized() ? "100" : "50",
                                             "--snapshot-threshold",
                                             std::to_string(snapshot_threshold),
                                             "--snapshot-trailing",
                                             std::to_string(snapshot_trailing),
                                             "--fsync",
                                             "always",
                                             "--segment-size",
                                             "1"};
            n.process = std::make_unique<kvd_process>(NORIWAL_KVD, args, dir / "kvd.log");
            n.process->start();
        }
    }
    ~cluster() {
        for (auto& n : nodes_) n.process->kill();
    }

    std::vector<node>& nodes() { return nodes_; }

    std::optional<std::map<std::string, std::string>> status(std::size_t i) {
        if (!nodes_[i].process->running()) return std::nullopt;
        auto r = kvd_request(nodes_[i].client_port, "STATUS", 2s);
        if (!r || r->empty() || (*r)[0] != '{') return std::nullopt;
        return parse_status(*r);
    }

    // The index of a node that is leader by its own STATUS, waiting at most `bound`.
    std::optional<std::size_t> wait_leader(std::chrono::milliseconds bound, std::size_t excluded = 99) {
        auto deadline = clock_type::now() + bound;
        while (clock_type::now() < deadline) {
            check_alive();
            for (std::size_t i = 0; i < nodes_.size(); ++i) {
                if (i == excluded) continue;
                auto s = status(i);
                if (s && (*s)["role"] == "leader") return i;
            }
            std::this_thread::sleep_for(20ms);
        }
        return std::nullopt;
    }

    // A node that exited by itself is a failure (e.g. a fail-stop or a crash): say why.
    void check_alive() {
        for (auto& n : nodes_) {
            int st = 0;
            if (n.process->exited(st)) {
                BOOST_FAIL("noriwal-kvd " << n.id << " exited by itself (status " << st << "):\n"
                                          << n.process->log_tail());
            }
        }
    }

    std::size_t index_of_client_port(unsigned short port) const {
        for (std::size_t i = 0; i < nodes_.size(); ++i)
            if (nodes_[i].client_port == port) return i;
        return 0;
    }

    // A sanitizer's report in a server's log (a killed server never exits with its error status).
    void check_logs_clean() {
        for (auto& n : nodes_) {
            auto log = n.process->log_tail(std::size_t{64} << 20);
            for (const char* report :
                 {"ERROR: AddressSanitizer", "WARNING: ThreadSanitizer", "runtime error:"}) {
                auto at = log.find(report);
                BOOST_TEST(at == std::string::npos,
                           "node " << n.id << ": " << log.substr(at == std::string::npos ? 0 : at, 3000));
            }
        }
    }

    std::string logs() {
        std::string out;
        for (auto& n : nodes_) out += "--- node " + std::to_string(n.id) + ":\n" + n.process->log_tail(2000);
        return out;
    }

private:
    temp_dir dir_{"noriwal-kvd-cluster"};
    std::vector<node> nodes_;
};

// One writer: unique keys, one request outstanding on its connection (the writers together keep
// several in flight), following REDIRECTs; a key whose reply never came is of unknown outcome.
void writer(cluster& c, unsigned w, std::atomic<bool>& stop, history& h) {
    kvd_client client;
    std::size_t target = w % c.nodes().size();
    for (std::size_t n = 0; !stop; ++n) {
        std::string key = "w" + std::to_string(w) + "-" + std::to_string(n);
        std::string value = "v" + std::to_string(n) + "." + std::to_string(w);
        {
            std::lock_guard lock(h.m);
            h.attempted.emplace(key, value);
        }
        bool ok = false;
        while (!ok && !stop) {
            if (!client.connected() && !client.connect(c.nodes()[target].client_port, 1s)) {
                target = (target + 1) % c.nodes().size();
                std::this_thread::sleep_for(20ms);
                continue;
            }
            auto r = client.request("SET " + key + " " + value, 5s);
            if (!r) {
                target = (target + 1) % c.nodes().size();
                continue;
            }
            if (r->rfind("OK ", 0) == 0) {
                ok = true;
            } else if (r->rfind("REDIRECT 127.0.0.1:", 0) == 0) {
                ++h.redirects;
                target = c.index_of_client_port(static_cast<unsigned short>(std::stoi(r->substr(19))));
                client.close();
            } else {
                // ERR: no leader yet, or leadership lost with the write in flight: retry elsewhere.
                // Anything else is a protocol error, checked by the main thread (Boost.Test's
                // assertions are not thread-safe).
                if (r->rfind("ERR ", 0) != 0) {
                    std::lock_guard lock(h.m);
                    h.unexpected.push_back(*r);
                }
                target = (target + 1) % c.nodes().size();
                client.close();
                std::this_thread::sleep_for(20ms);
            }
        }
        std::lock_guard lock(h.m);
        if (ok) {
            h.acked.insert(key);
            ++h.acks;
        } else {
            h.unknown.insert(key);
        }
    }
}

class workload {
public:
    workload(cluster& c, unsigned writers) : c_(c) {
        for (unsigned w = 0; w < writers; ++w) threads_.emplace_back([this, w] { writer(c_, w, stop_, h_); });
    }
    ~workload() { finish(); }
    void finish() {
        stop_ = true;
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }
    history& h() { return h_; }
    // Waits until `more` further writes were acknowledged.
    void progress(std::size_t more, std::chrono::milliseconds bound) {
        auto target = h_.acks.load() + more;
        auto deadline = clock_type::now() + bound;
        while (h_.acks.load() < target && clock_type::now() < deadline) {
            c_.check_alive();
            std::this_thread::sleep_for(10ms);
        }
        BOOST_REQUIRE_MESSAGE(h_.acks.load() >= target, "no progress: " << h_.acks.load() << " acks, wanted "
                                                                        << target << "\n"
                                                                        << c_.logs());
    }

private:
    cluster& c_;
    std::atomic<bool> stop_{false};
    history h_;
    std::vector<std::thread> threads_;
};

std::chrono::milliseconds election_bound() { return sanitized() ? 20s : 8s; }

// Kills the leader, measures the election of the next one, restarts the old one.
std::chrono::milliseconds kill_leader(cluster& c) {
    auto l = c.wait_leader(election_bound());
    BOOST_REQUIRE_MESSAGE(l, "no leader\n" << c.logs());
    auto t0 = clock_type::now();
    c.nodes()[*l].process->kill();
    auto next = c.wait_leader(election_bound(), *l);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0);
    BOOST_REQUIRE_MESSAGE(next, "no new leader within " << election_bound().count()
                                                        << " ms after killing node " << c.nodes()[*l].id
                                                        << "\n"
                                                        << c.logs());
    c.nodes()[*l].process->start();
    return took;
}

// Waits until every node applied the same state, then checks it against the history.
void converge_and_check(cluster& c, history& h) {
    auto deadline = clock_type::now() + (sanitized() ? 90s : 45s);
    std::vector<std::map<std::string, std::string>> st;
    for (;;) {
        c.check_alive();
        st.clear();
        for (std::size_t i = 0; i < c.nodes().size(); ++i)
            if (auto s = c.status(i)) st.push_back(*s);
        bool same = st.size() == c.nodes().size();
        for (auto& s : st) {
            same = same && s["state_hash"] == st[0]["state_hash"] &&
                   s["applied_index"] == st[0]["applied_index"] && s["applied_index"] == s["commit_index"];
        }
        if (same) break;
        BOOST_REQUIRE_MESSAGE(clock_type::now() < deadline, "nodes did not converge\n" << c.logs());
        std::this_thread::sleep_for(50ms);
    }
    BOOST_TEST(h.unexpected.empty(), h.unexpected.size()
                                         << " unexpected replies, first: "
                                         << (h.unexpected.empty() ? "" : h.unexpected.front()));
    auto leader = c.wait_leader(election_bound());
    BOOST_REQUIRE(leader);
    auto port = c.nodes()[*leader].client_port;
    kvd_client reader;
    auto get = [&](const std::string& key) {
        for (int attempt = 0; attempt < 50; ++attempt) {
            if (!reader.connected()) reader.connect(port, 2s);
            auto r = reader.request("GET " + key, 5s);
            if (r && (r->rfind("VALUE ", 0) == 0 || *r == "NOTFOUND")) return *r;
            std::this_thread::sleep_for(50ms);
        }
        BOOST_FAIL("GET " << key << " got no answer");
        return std::string();
    };
    // The expected state: every OK'd write, and those of unknown outcome that were applied.
    noriwal::kvd::kv_fsm expected;
    void* result = nullptr;
    auto apply = [&](const std::string& k, const std::string& v) {
        raft_buffer b = noriwal::kvd::encode_set(k, v);
        expected.fsm()->apply(expected.fsm(), &b, &result);
        raft_free(b.base);
    };
    std::size_t found_unknown = 0, sampled = 0;
    for (const auto& key : h.unknown) {
        auto r = get(key);
        if (r == "NOTFOUND") continue;
        BOOST_TEST(r == "VALUE " + h.attempted.at(key), "key " << key << " of unknown outcome has " << r);
        apply(key, h.attempted.at(key));
        ++found_unknown;
    }
    std::size_t i = 0, missing = 0;
    std::string first_missing;
    for (const auto& key : h.acked) {
        apply(key, h.attempted.at(key));
        if (i++ % 25 == 0) {
            ++sampled;
            auto r = get(key);
            if (r != "VALUE " + h.attempted.at(key) && missing++ == 0) first_missing = key + " (" + r + ")";
        }
    }
    BOOST_TEST(missing == 0u, missing << " of " << sampled
                                      << " OK'd keys read back are missing or wrong, first "
                                      << first_missing);
    char hash[32];
    std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(expected.state_hash()));
    for (auto& s : st) {
        BOOST_TEST(s["keys"] == std::to_string(expected.size()),
                   "node " << s["id"] << " holds " << s["keys"] << " keys, expected " << expected.size());
        BOOST_TEST(s["state_hash"] == hash, "node " << s["id"] << " state_hash " << s["state_hash"]
                                                    << " differs from that of the OK'd writes " << hash);
    }
    c.check_logs_clean();
    std::cout << "kvd cluster: " << h.acked.size() << " writes OK'd, " << h.unknown.size()
              << " of unknown outcome (" << found_unknown << " applied), " << h.redirects << " redirects, "
              << sampled << " OK'd keys read back; applied index " << st[0]["applied_index"] << std::endl;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(raft_kvd_cluster)

// At least 10 leader kills (4 under sanitizers), then all three at once.
BOOST_AUTO_TEST_CASE(leader_kills_and_full_outage, *boost::unit_test::timeout(400)) {
    cluster c(/*snapshot_threshold=*/256, /*trailing=*/64);
    workload load(c, 6);
    BOOST_REQUIRE_MESSAGE(c.wait_leader(election_bound() * 2), "no first leader\n" << c.logs());
    load.progress(20, 30s);
    const unsigned kills = sanitized() ? 4 : 10;
    std::chrono::milliseconds worst{0}, total{0};
    for (unsigned k = 0; k < kills; ++k) {
        auto took = kill_leader(c);
        worst = std::max(worst, took);
        total += took;
        load.progress(50, 30s);
    }
    // Everybody at once: every node restarts from its own disk.
    for (auto& n : c.nodes()) n.process->kill();
    for (auto& n : c.nodes()) n.process->start();
    BOOST_REQUIRE_MESSAGE(c.wait_leader(election_bound() * 2), "no leader after the full outage\n"
                                                                   << c.logs());
    load.progress(20, 30s);
    load.finish();
    std::cout << "kvd cluster: " << kills << " leader kills, new leader after " << total.count() / kills
              << " ms on average, " << worst.count() << " ms at worst" << std::endl;
    converge_and_check(c, load.h());
}

// A follower down while the others move on past several snapshots: it can only catch up by an
// installed snapshot (it has none of its own: it went down before the first one).
BOOST_AUTO_TEST_CASE(catch_up_by_snapshot, *boost::unit_test::timeout(400)) {
    cluster c(/*snapshot_threshold=*/64, /*trailing=*/16);
    workload load(c, 4);
    auto l = c.wait_leader(election_bound() * 2);
    BOOST_REQUIRE_MESSAGE(l, "no first leader\n" << c.logs());
    std::size_t down = (*l + 1) % 3;
    c.nodes()[down].process->kill();
    load.progress(sanitized() ? 200 : 400, 60s);
    auto leader = c.wait_leader(election_bound());
    BOOST_REQUIRE(leader);
    auto ls = c.status(*leader);
    BOOST_REQUIRE(ls);
    BOOST_TEST_REQUIRE(std::stoull((*ls)["snapshot_index"]) > 64u);
    c.nodes()[down].process->start();
    // It catches up (by snapshot: nothing else holds the entries it misses).
    auto deadline = clock_type::now() + 30s;
    std::optional<std::map<std::string, std::string>> ds;
    while (clock_type::now() < deadline) {
        ds = c.status(down);
        if (ds && std::stoull((*ds)["applied_index"]) >= std::stoull((*ls)["snapshot_index"])) break;
        std::this_thread::sleep_for(50ms);
    }
    BOOST_REQUIRE(ds);
    BOOST_TEST(std::stoull((*ds)["applied_index"]) >= std::stoull((*ls)["snapshot_index"]));
    BOOST_TEST((*ds)["snapshots_restored"] != "0", "the restarted node did not install a snapshot");
    // Two leader kills while snapshots keep coming.
    for (int k = 0; k < 2; ++k) {
        kill_leader(c);
        load.progress(50, 30s);
    }
    load.finish();
    converge_and_check(c, load.h());
}

// Garbage on both ports of a node of a running cluster: bad request lines (the client gets ERR
// and may go on), an endless line (ERR, connection closed), raw junk, a wrong handshake and bad
// frames after a good handshake on the raft port (the connection is dropped). The node keeps
// serving clients and stays in the cluster.
BOOST_AUTO_TEST_CASE(bad_input_keeps_serving, *boost::unit_test::timeout(300)) {
    cluster c(/*snapshot_threshold=*/1024, /*trailing=*/128);
    auto l = c.wait_leader(election_bound() * 2);
    BOOST_REQUIRE_MESSAGE(l, "no first leader\n" << c.logs());
    auto set_ok = [&](const std::string& key) {
        for (int attempt = 0; attempt < 100; ++attempt) {
            auto leader = c.wait_leader(election_bound());
            BOOST_REQUIRE(leader);
            auto r = kvd_request(c.nodes()[*leader].client_port, "SET " + key + " x", 5s);
            if (r && r->rfind("OK ", 0) == 0) return;
            std::this_thread::sleep_for(50ms);
        }
        BOOST_FAIL("SET " << key << " never succeeded\n" << c.logs());
    };
    set_ok("before");
    for (std::size_t target = 0; target < c.nodes().size(); ++target) {
        auto& n = c.nodes()[target];
        // Client port: every bad line gets ERR on the same connection, which stays usable.
        kvd_client client;
        BOOST_REQUIRE(client.connect(n.client_port, 2s));
        const std::vector<std::string> bad_lines = {
            "",        "HELLO",      "SET",     "SET k",       "SET k v extra", "SET  k v",  "GET",
            "GET a b", "STATUS now", "set k v", "SET k\x01 v", "GET a\x7f",     "SET k v\tw"};
        for (const auto& bad : bad_lines) {
            auto r = client.request(bad, 5s);
            BOOST_REQUIRE_MESSAGE(r, "no reply to a bad line on node " << n.id);
            BOOST_TEST(r->rfind("ERR ", 0) == 0, "reply '" << *r << "' to '" << bad << "'");
        }
        auto st = client.request("STATUS", 5s);
        BOOST_TEST_REQUIRE(bool(st));
        BOOST_TEST(st->front() == '{');
        // A line that never ends: refused once it passes the limit, and the connection closed.
        kvd_client endless;
        BOOST_REQUIRE(endless.connect(n.client_port, 2s));
        endless.send(std::string(100 * 1024, 'a'), 5s);
        auto r = endless.read_line(10s);
        BOOST_TEST_REQUIRE(bool(r));
        BOOST_TEST(r->rfind("ERR ", 0) == 0);
        // Raft port: junk without a handshake; a wrong handshake; frames of bad length, bad type
        // and cut short after a good handshake.
        std::mt19937 rng(static_cast<unsigned>(target));
        std::string junk(4096, '\0');
        for (auto& ch : junk) ch = static_cast<char>(rng());
        std::vector<std::string> attacks = {junk, std::string("NWRF\x07\x00") + junk};
        std::vector<std::byte> hs;
        noriwal::raft::encode_handshake(99, "127.0.0.1:1", hs);
        std::string good(reinterpret_cast<const char*>(hs.data()), hs.size());
        attacks.push_back(good + std::string("\xff\xff\xff\xff\x01\x00", 6));          // length 4 GiB
        attacks.push_back(good + std::string("\x02\x00\x00\x00\x63\x00", 6));          // type 99
        attacks.push_back(good + std::string("\x0a\x00\x00\x00\x01\x00\x01\x02", 8));  // cut short
        attacks.push_back(good + std::string("\x01\x00\x00\x00\x01", 5));  // shorter than its type
        for (const auto& attack : attacks) {
            kvd_client raw;
            BOOST_REQUIRE(raw.connect(n.raft_port, 2s));
            raw.send(attack, 5s);
            // The node drops the connection (or waits for more): either way it must go on serving.
            raw.read_line(200ms);
        }
        c.check_alive();
        BOOST_TEST(bool(c.status(target)), "node " << n.id << " stopped answering STATUS");
        set_ok("after" + std::to_string(target));
    }
    // Every node still follows the cluster: the same state everywhere.
    auto deadline = clock_type::now() + 30s;
    for (;;) {
        std::set<std::string> hashes;
        for (std::size_t i = 0; i < c.nodes().size(); ++i)
            if (auto s = c.status(i)) hashes.insert((*s)["state_hash"] + "/" + (*s)["keys"]);
        if (hashes.size() == 1 && hashes.begin()->ends_with("/4")) break;
        BOOST_REQUIRE_MESSAGE(clock_type::now() < deadline, "nodes did not converge after bad input\n"
                                                                << c.logs());
        std::this_thread::sleep_for(50ms);
    }
    c.check_logs_clean();
}

BOOST_AUTO_TEST_SUITE_END()
