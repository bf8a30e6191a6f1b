// kvd-bench: replicated SET throughput and latency of noriwal-kvd, and the time to elect a new
// leader after a SIGKILL. It starts the servers itself (loopback, free ports, fsync always): three
// nodes, then one node with the same settings, and for each number of concurrent clients (one
// connection each, one request outstanding per connection) runs SETs of unique keys for a fixed
// time and prints SETs per second, p50 and p99 latency. Then it kills the three-node cluster's
// leader several times and prints how long until another node reports itself leader.
// Prints figures; never passes or fails on a timing.
#include "kvd_client.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace noriwal::test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct settings {
    std::string kvd = NORIWAL_KVD;
    std::filesystem::path dir;
    std::vector<unsigned> clients{1, 8, 64};
    double seconds = 5;
    unsigned kills = 5;
    std::string election_timeout = "1000";
    std::string heartbeat = "100";
    std::size_t value_size = 100;
};

class cluster {
public:
    cluster(const settings& s, unsigned n, const std::string& name) {
        std::string list;
        for (unsigned i = 0; i < n; ++i) {
            raft_.push_back(free_port());
            client_.push_back(free_port());
            list += (i ? "," : "") + std::to_string(i + 1) + "=127.0.0.1:" + std::to_string(raft_[i]);
        }
        for (unsigned i = 0; i < n; ++i) {
            auto dir = s.dir / name / ("node-" + std::to_string(i + 1));
            std::filesystem::remove_all(dir);
            std::filesystem::create_directories(dir);
            procs_.push_back(std::make_unique<kvd_process>(
                s.kvd,
                std::vector<std::string>{"--id", std::to_string(i + 1), "--dir", (dir / "data").string(),
                                         "--cluster", list, "--client",
                                         "127.0.0.1:" + std::to_string(client_[i]), "--election-timeout",
                                         s.election_timeout, "--heartbeat", s.heartbeat, "--fsync", "always"},
                dir / "kvd.log"));
            procs_.back()->start();
        }
    }
    // The index of a node that says it is leader (not `excluded`), polling every 2 ms.
    int leader(std::chrono::milliseconds bound, int excluded = -1) {
        auto deadline = clock_type::now() + bound;
        while (clock_type::now() < deadline) {
            for (int i = 0; i < static_cast<int>(procs_.size()); ++i) {
                if (i == excluded || !procs_[i]->running()) continue;
                auto r = kvd_request(client_[i], "STATUS", 1s);
                if (r && parse_status(*r)["role"] == "leader") return i;
            }
            std::this_thread::sleep_for(2ms);
        }
        return -1;
    }
    unsigned short client_port(int i) const { return client_[static_cast<std::size_t>(i)]; }
    kvd_process& process(int i) { return *procs_[static_cast<std::size_t>(i)]; }

private:
    std::vector<unsigned short> raft_, client_;
    std::vector<std::unique_ptr<kvd_process>> procs_;
};

struct result {
    double per_second = 0;
    double p50_us = 0, p99_us = 0;
    std::size_t errors = 0;
};

result run_sets(cluster& c, int leader, unsigned clients, const settings& s, const std::string& tag) {
    std::atomic<bool> go{false}, stop{false};
    std::vector<std::vector<double>> lat(clients);
    std::vector<std::size_t> errors(clients, 0);
    std::vector<std::thread> threads;
    std::string value(s.value_size, 'v');
    for (unsigned t = 0; t < clients; ++t) {
        threads.emplace_back([&, t] {
            kvd_client cl;
            if (!cl.connect(c.client_port(leader), 2s)) {
                ++errors[t];
                return;
            }
            while (!go) std::this_thread::yield();
            for (std::size_t n = 0; !stop; ++n) {
                auto t0 = clock_type::now();
                auto r = cl.request(
                    "SET " + tag + "-" + std::to_string(t) + "-" + std::to_string(n) + " " + value, 10s);
                auto us = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
                if (!r || r->rfind("OK ", 0) != 0) {
                    ++errors[t];
                    if (!cl.connected()) return;
                    continue;
                }
                lat[t].push_back(us);
            }
        });
    }
    auto t0 = clock_type::now();
    go = true;
    std::this_thread::sleep_for(std::chrono::duration<double>(s.seconds));
    stop = true;
    for (auto& th : threads) th.join();
    double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::vector<double> all;
    result r;
    for (unsigned t = 0; t < clients; ++t) {
        all.insert(all.end(), lat[t].begin(), lat[t].end());
        r.errors += errors[t];
    }
    std::sort(all.begin(), all.end());
    r.per_second = static_cast<double>(all.size()) / secs;
    if (!all.empty()) {
        r.p50_us = all[all.size() / 2];
        r.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
    }
    return r;
}

void usage() {
    std::cerr << "usage: kvd-bench [--dir DIR] [--clients 1,8,64] [--seconds S] [--kills N]\n"
                 "                 [--election-timeout MS] [--heartbeat MS] [--value-size B] [--kvd PATH]\n"
                 "  DIR (default: a directory under the current one) should be on the disk to measure.\n";
}

}  // namespace

int main(int argc, char** argv) {
    settings s;
    s.dir = std::filesystem::current_path() / "kvd-bench.data";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        std::string v = argv[++i];
        if (a == "--dir") {
            s.dir = v;
        } else if (a == "--clients") {
            s.clients.clear();
            std::size_t pos = 0;
            while (pos <= v.size()) {
                auto comma = v.find(',', pos);
                s.clients.push_back(static_cast<unsigned>(std::stoul(v.substr(pos, comma - pos))));
                if (comma == std::string::npos) break;
                pos = comma + 1;
            }
        } else if (a == "--seconds") {
            s.seconds = std::stod(v);
        } else if (a == "--kills") {
            s.kills = static_cast<unsigned>(std::stoul(v));
        } else if (a == "--election-timeout") {
            s.election_timeout = v;
        } else if (a == "--heartbeat") {
            s.heartbeat = v;
        } else if (a == "--value-size") {
            s.value_size = std::stoul(v);
        } else if (a == "--kvd") {
            s.kvd = v;
        } else {
            usage();
            return 2;
        }
    }
    std::printf(
        "kvd-bench: noriwal-kvd, fsync always, %zu-byte values, %.1f s per figure, election timeout %s ms, "
        "heartbeat %s ms, data in %s\n",
        s.value_size, s.seconds, s.election_timeout.c_str(), s.heartbeat.c_str(), s.dir.c_str());
    std::printf("%-8s %8s %12s %10s %10s %7s\n", "nodes", "clients", "SET/s", "p50 us", "p99 us", "errors");
    for (unsigned nodes : {3u, 1u}) {
        cluster c(s, nodes, "n" + std::to_string(nodes));
        int l = c.leader(30s);
        if (l < 0) {
            std::cerr << "kvd-bench: no leader among " << nodes << " node(s)\n";
            return 1;
        }
        // Let the leader announce its client address and settle.
        std::this_thread::sleep_for(500ms);
        for (unsigned clients : s.clients) {
            auto r = run_sets(c, l, clients, s, "n" + std::to_string(nodes) + "c" + std::to_string(clients));
            std::printf("%-8u %8u %12.0f %10.0f %10.0f %7zu\n", nodes, clients, r.per_second, r.p50_us,
                        r.p99_us, r.errors);
            std::fflush(stdout);
        }
        if (nodes != 3) continue;
        std::vector<double> ms;
        for (unsigned k = 0; k < s.kills; ++k) {
            l = c.leader(30s);
            if (l < 0) break;
            auto t0 = clock_type::now();
            c.process(l).kill();
            int next = c.leader(60s, l);
            if (next < 0) break;
            ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
            c.process(l).start();
            std::this_thread::sleep_for(2 * std::chrono::milliseconds(std::stoul(s.election_timeout)));
        }
        std::sort(ms.begin(), ms.end());
        if (!ms.empty()) {
            std::printf(
                "new leader after SIGKILL of the leader (%zu kills): min %.0f ms, median %.0f ms, max %.0f "
                "ms\n",
                ms.size(), ms.front(), ms[ms.size() / 2], ms.back());
        }
    }
    std::filesystem::remove_all(s.dir);
    return 0;
}
