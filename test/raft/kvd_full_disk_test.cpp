// noriwal-kvd on a disk that fills up (a small tmpfs, so root is needed: without it the case
// says why and passes): the node stops by itself with exit status 3 and says why (fail-stop, see
// doc/replication.md), and after the disk is enlarged it restarts with every write it had
// acknowledged.
#include "raft/kvd_client.hpp"
#include "support/mounts.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <thread>
#include <vector>

using namespace noriwal::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(raft_kvd_full_disk)

BOOST_AUTO_TEST_CASE(full_disk_stops_the_node_and_acknowledged_writes_survive,
                     *boost::unit_test::timeout(300)) {
    temp_dir tmp("noriwal-kvd-full");
    auto mount_point = tmp.path() / "disk";
    std::filesystem::create_directories(mount_point);
    auto mount = test_mount::tmpfs(mount_point, 24u << 20);
    if (!mount.mounted()) {
        BOOST_REQUIRE_MESSAGE(mount.may_skip(), mount.error());
        BOOST_TEST_MESSAGE("skipped: " << mount.error());
        return;
    }
    const auto raft_port = free_port(), client_port = free_port();
    std::vector<std::string> args = {"--id",
                                     "1",
                                     "--dir",
                                     (mount_point / "data").string(),
                                     "--cluster",
                                     "1=127.0.0.1:" + std::to_string(raft_port),
                                     "--client",
                                     "127.0.0.1:" + std::to_string(client_port),
                                     "--segment-size",
                                     "4",
                                     "--election-timeout",
                                     "300",
                                     "--heartbeat",
                                     "50"};
    kvd_process kvd(NORIWAL_KVD, args, tmp.path() / "kvd.log");
    kvd.start();
    kvd_client client;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!client.connect(client_port, 1s)) {
        BOOST_REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "noriwal-kvd never listened\n"
                                                                               << kvd.log_tail());
        std::this_thread::sleep_for(20ms);
    }
    const std::string value(60000, 'v');
    std::vector<std::string> acked;
    int status = 0;
    for (int n = 0; n < 2000; ++n) {
        auto r = client.request("SET k" + std::to_string(n) + " " + value, 10s);
        if (r && r->rfind("OK ", 0) == 0) {
            acked.push_back("k" + std::to_string(n));
            continue;
        }
        if (r && r->rfind("ERR no leader", 0) == 0) {  // the first election may still be running
            --n;
            std::this_thread::sleep_for(20ms);
            continue;
        }
        break;  // connection gone: the node stopped
    }
    for (int i = 0; i < 1000 && !kvd.exited(status); ++i) std::this_thread::sleep_for(10ms);
    BOOST_REQUIRE_MESSAGE(!kvd.running(), "noriwal-kvd still runs on a full disk\n" << kvd.log_tail());
    BOOST_TEST(status == 3, "exit status " << status << "\n" << kvd.log_tail());
    BOOST_TEST(kvd.log_tail().find("fatal storage error") != std::string::npos, kvd.log_tail());
    BOOST_TEST_REQUIRE(acked.size() > 10u);
    // Room again: the node restarts and has every write it acknowledged.
    BOOST_REQUIRE(mount.resize(512u << 20));
    kvd.start();
    deadline = std::chrono::steady_clock::now() + 60s;
    std::size_t found = 0;
    for (const auto& key : acked) {
        for (;;) {
            auto r = kvd_request(client_port, "GET " + key, 5s);
            if (r && r->rfind("VALUE ", 0) == 0) {
                found += (r->size() == 6 + value.size());
                break;
            }
            BOOST_REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                                  "GET " << key << " after restart: " << (r ? *r : "no reply") << "\n"
                                         << kvd.log_tail());
            std::this_thread::sleep_for(20ms);
        }
    }
    BOOST_TEST(found == acked.size());
    BOOST_TEST_MESSAGE(
        acked.size() << " writes acknowledged before the disk filled, all found after the restart");
    kvd.terminate();
}

BOOST_AUTO_TEST_SUITE_END()
