// noriwal-demo: the library in five steps, with a short explanation before each.
//
//   1. write records through the asynchronous API, pipelined, and report the throughput;
//   2. crash a writer: a child process (this program again, with --crash-child) appends as
//      fast as it can and is killed with SIGKILL in the middle of it;
//   3. reopen the log: recovery, and a check that every record the child saw acknowledged is
//      there;
//   4. look at the log with wal-inspect (list, stats, tail), linked in as a library;
//   5. remove the log, unless --keep.
//
// Usage: noriwal-demo [--records N] [--keep] [--dir DIR]   (--help says more)
#include <noriwal/wal.hpp>

#include "inspect.hpp"

#include <boost/program_options.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t max_in_flight = 8192;

// ------------------------------------------------------------------------ what is written

// Record i: a put of "user:<i % 50000>" most of the time, a delete now and then, a TTL on some,
// and a longer, compressible value (stored with LZ4) on others: enough variety for `stats`.
struct record_maker {
    char key[32];
    std::string value;

    noriwal::record make(std::uint64_t i) {
        std::snprintf(key, sizeof key, "user:%06llu", static_cast<unsigned long long>(i % 50000));
        if (i % 10 == 9) return noriwal::record::put_tombstone(std::string_view(key));
        value = "{\"id\":" + std::to_string(i) + ",\"name\":\"user " + std::to_string(i % 50000) +
                "\",\"balance\":" + std::to_string((i * 7919) % 100000) + "}";
        if (i % 5 == 0) {
            for (int k = 0; k < 6; ++k) value += " padding that compresses well;";
        }
        noriwal::record r = noriwal::record::put(std::string_view(key), std::string_view(value));
        if (i % 5 == 0) r.with_compression(noriwal::compression::lz4);
        if (i % 7 == 0) r.with_ttl(std::chrono::hours(1));
        return r;
    }
};

noriwal::wal_config config_for(const std::filesystem::path& dir) {
    noriwal::wal_config cfg;
    cfg.dir = dir;
    cfg.fsync = noriwal::fsync_policy::batch(std::chrono::milliseconds(5));
    cfg.max_segment_size = 32ull << 20;
    cfg.max_record_size = 1u << 20;
    cfg.compression_min_size = 64;
    return cfg;
}

// Appends records [from, from + count), or from `from` on while keep_going() says so, with at
// most max_in_flight outstanding, calling on_ack with the LSN of each completed append.
template <class OnAck, class KeepGoing>
std::uint64_t append_pipelined(noriwal::wal& log, std::uint64_t from, std::uint64_t count, OnAck on_ack,
                               KeepGoing keep_going) {
    std::mutex m;
    std::condition_variable cv;
    std::size_t in_flight = 0;
    std::uint64_t failed = 0;
    record_maker maker;
    for (std::uint64_t i = from; (count == 0 || i < from + count) && keep_going(i); ++i) {
        {
            std::unique_lock lock(m);
            cv.wait(lock, [&] { return in_flight < max_in_flight; });
            ++in_flight;
        }
        log.async_append(maker.make(i), [&](boost::system::error_code ec, noriwal::position p) {
            if (!ec) on_ack(p.lsn);
            std::lock_guard lock(m);
            failed += ec ? 1 : 0;
            --in_flight;
            cv.notify_all();
        });
    }
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return in_flight == 0; });
    return failed;
}

// ------------------------------------------------------------------------ the crashing child

// Appends until killed. Reports, on `report_fd`, the highest LSN acknowledged so far (8 bytes,
// written at most every millisecond): the parent knows that much was acknowledged before it
// sent SIGKILL.
int crash_child(const std::filesystem::path& dir, int report_fd) {
    std::error_code ec;
    std::string why;
    noriwal::wal::opened o = noriwal::wal::open(config_for(dir), ec, &why);
    if (ec) {
        std::cerr << "child: cannot open the log: " << why << '\n';
        return 1;
    }
    std::atomic<std::uint64_t> acked{0};
    std::atomic<bool> stop{false};
    std::thread reporter([&] {
        std::uint64_t sent = 0;
        while (!stop.load()) {
            const std::uint64_t a = acked.load();
            if (a != sent && ::write(report_fd, &a, sizeof a) == static_cast<ssize_t>(sizeof a)) sent = a;
            std::this_thread::sleep_for(1ms);
        }
    });
    // One unbroken stream of appends, so that the kill finds some in flight. Bounded, in case
    // the parent never kills us: about ten seconds at most.
    const auto deadline = clock_type::now() + 10s;
    append_pipelined(
        o.log, 10'000'000, 0,
        [&](std::uint64_t lsn) {
            std::uint64_t cur = acked.load();
            while (lsn > cur && !acked.compare_exchange_weak(cur, lsn)) {
            }
        },
        [&](std::uint64_t i) { return (i & 0xFFF) != 0 || clock_type::now() < deadline; });
    stop.store(true);
    reporter.join();
    return 0;
}

// ------------------------------------------------------------------------ the demonstration

struct options {
    std::uint64_t records = 1'000'000;
    bool keep = false;
    std::filesystem::path dir;
};

void say(const std::string& text) { std::cout << text << std::flush; }

void step(int n, const std::string& title) { say("\n== " + std::to_string(n) + ". " + title + "\n"); }

std::string with_spaces(std::uint64_t n) {
    std::string d = std::to_string(n), out;
    for (std::size_t i = 0; i < d.size(); ++i) {
        if (i != 0 && (d.size() - i) % 3 == 0) out.push_back(' ');
        out.push_back(d[i]);
    }
    return out;
}

std::string plural(std::uint64_t n, const std::string& what) {
    return with_spaces(n) + " " + what + (n == 1 ? "" : "s");
}

std::string latency(double seconds) {
    char buf[32];
    if (seconds < 1e-3) {
        std::snprintf(buf, sizeof buf, "%.0f us", seconds * 1e6);
    } else if (seconds < 1) {
        std::snprintf(buf, sizeof buf, "%.1f ms", seconds * 1e3);
    } else {
        std::snprintf(buf, sizeof buf, "%.2f s", seconds);
    }
    return buf;
}

int inspect(const std::vector<std::string>& args) {
    say("\n$ wal-inspect");
    for (const std::string& a : args) say(" " + a);
    say("\n");
    std::cout.flush();
    return noriwal::inspect::run(args, std::cin, std::cout, std::cerr);
}

int demo(const options& opt, const char* self) {
    std::filesystem::path dir = opt.dir;
    const bool own_dir = dir.empty();
    if (own_dir) {
        std::string tmpl = (std::filesystem::temp_directory_path() / "noriwal-demo-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) {
            std::perror("noriwal-demo: mkdtemp");
            return 1;
        }
        dir = tmpl;
    }
    const noriwal::wal_config cfg = config_for(dir);

    say("noriwal demonstration: a write-ahead log in " + dir.string() + "\n");
    say("A write-ahead log is where a database puts every change first, in order, so that it can\n"
        "replay them after a crash. noriwal keeps it as segment files of checksummed records, each\n"
        "numbered by a log sequence number (LSN).\n");

    // ---------------------------------------------------------------- 1
    step(1, "Write " + with_spaces(opt.records) + " records through the asynchronous API");
    say("wal::open(config) opens the log; async_append(record, handler) queues a record and calls\n"
        "the handler once it is written. With fsync_policy::batch(5 ms) an append completes when its\n"
        "record is in the operating system (a crash of this process loses nothing acknowledged) and a\n"
        "timer fdatasyncs every record within 5 ms (power loss loses at most the last 5 ms). Appends\n"
        "queued while the writer is busy go to disk together, in one system call: group commit.\n");
    {
        noriwal::wal::opened o = noriwal::wal::open(cfg);
        const auto start = clock_type::now();
        const std::uint64_t failed = append_pipelined(
            o.log, 0, opt.records, [](std::uint64_t) {}, [](std::uint64_t) { return true; });
        const double secs = std::chrono::duration<double>(clock_type::now() - start).count();
        const noriwal::wal_stats st = o.log.stats();
        o.log.close();
        if (failed != 0) {
            std::cerr << "noriwal-demo: " << failed << " appends failed\n";
            return 1;
        }
        char line[512];
        std::snprintf(line, sizeof line,
                      "-> %s records (%.1f MiB with framing) in %.2f s: %s records/s, %.0f MiB/s\n"
                      "   append latency (initiation to completion): p50 <= %s, p99 <= %s\n"
                      "   %s write system calls (about %.0f records each), %s fdatasyncs\n",
                      with_spaces(st.records).c_str(), static_cast<double>(st.bytes) / 1048576.0, secs,
                      with_spaces(static_cast<std::uint64_t>(static_cast<double>(st.records) / secs)).c_str(),
                      static_cast<double>(st.bytes) / 1048576.0 / secs,
                      latency(st.append_seconds.quantile(0.5)).c_str(),
                      latency(st.append_seconds.quantile(0.99)).c_str(), with_spaces(st.writes).c_str(),
                      st.writes != 0 ? static_cast<double>(st.records) / static_cast<double>(st.writes) : 0.0,
                      with_spaces(st.fsyncs).c_str());
        say(line);
    }

    // ---------------------------------------------------------------- 2
    step(2, "Crash a writer in the middle of its appends");
    say("A child process (this program again, with --crash-child) opens the same log and appends\n"
        "as fast as it can, telling us through a pipe the last LSN it saw acknowledged. We kill it\n"
        "with SIGKILL while it writes: no close, no final fdatasync, appends half done.\n");
    int fds[2];
    if (::pipe(fds) != 0) {
        std::perror("noriwal-demo: pipe");
        return 1;
    }
    const std::string report_fd = std::to_string(fds[1]);  // made before fork: the child only execs
    const pid_t child = ::fork();
    if (child < 0) {
        std::perror("noriwal-demo: fork");
        return 1;
    }
    if (child == 0) {
        // Exec at once: the parent's wal threads are gone, the child starts clean.
        ::close(fds[0]);
        ::execl(self, self, "--crash-child", dir.c_str(), report_fd.c_str(), static_cast<char*>(nullptr));
        std::perror("noriwal-demo: exec");
        ::_exit(127);
    }
    ::close(fds[1]);
    ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
    std::uint64_t acked = 0;
    const auto started = clock_type::now();
    // Let it run until it has appended a good number of records (or half a second passed).
    while (clock_type::now() - started < 3s) {
        std::uint64_t v;
        while (::read(fds[0], &v, sizeof v) == static_cast<ssize_t>(sizeof v)) acked = v;
        if (acked >= opt.records + 50'000 || (acked > opt.records && clock_type::now() - started > 500ms))
            break;
        std::this_thread::sleep_for(2ms);
    }
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    for (std::uint64_t v; ::read(fds[0], &v, sizeof v) == static_cast<ssize_t>(sizeof v);) acked = v;
    ::close(fds[0]);
    if (!WIFSIGNALED(status)) {
        std::cerr << "noriwal-demo: the child ended before it was killed (status " << status << ")\n";
        return 1;
    }
    say("-> killed the child with SIGKILL; it had seen LSN " + with_spaces(acked) + " acknowledged\n");

    // ---------------------------------------------------------------- 3
    step(3, "Reopen the log: recovery");
    say("Opening scans the segments and checks every record's CRC. A record the crash cut short\n"
        "at the end (a torn tail) is cut off; damage in the middle of the durable log would be\n"
        "reported, never silently dropped. Every acknowledged record must be there.\n");
    {
        const auto opening = clock_type::now();
        noriwal::wal::opened o = noriwal::wal::open(cfg);
        const double open_ms = std::chrono::duration<double, std::milli>(clock_type::now() - opening).count();
        const noriwal::recovery_info& ri = o.recovery;
        char took[64];
        std::snprintf(took, sizeof took, "-> opened in %.0f ms\n", open_ms);
        say(took);
        say("-> recovery_info: " + with_spaces(ri.valid_records) + " valid records, LSN " +
            std::to_string(ri.first_lsn) + ".." + std::to_string(ri.last_lsn) + ", " +
            plural(ri.segments_scanned, "segment") + " scanned, " + plural(ri.bytes_truncated, "byte") +
            " cut, " + plural(ri.damages.size(), "damage report") +
            (ri.corruption_detected ? " (corruption detected)" : "") + "\n");
        for (const noriwal::damage& d : ri.damages)
            say("   damage: segment " + std::to_string(d.segment_id) + " offset " + std::to_string(d.offset) +
                ": " + std::string(noriwal::to_string(d.kind)) + (d.mid_log ? " (mid-log)" : " (torn tail)") +
                "\n");
        if (ri.last_lsn < acked) {
            std::cerr << "noriwal-demo: LOST DATA: LSN " << acked << " was acknowledged, recovery ends at "
                      << ri.last_lsn << '\n';
            return 1;
        }
        say("-> every acknowledged record survived the crash (" + with_spaces(acked) +
            " <= " + with_spaces(ri.last_lsn) + "); " + with_spaces(ri.last_lsn - acked) +
            " more were written but not yet acknowledged when the child died\n");
        const noriwal::position p = o.log.append(
            noriwal::record::put("demo", "the log goes on after recovery"), noriwal::durability::always());
        say("-> appended one more record with durability::always(): LSN " + std::to_string(p.lsn) +
            " (segment " + std::to_string(p.segment_id) + ", offset " + std::to_string(p.offset) + ")\n");
        o.log.close();
    }

    // ---------------------------------------------------------------- 4
    step(4, "Look at the log with wal-inspect");
    say("wal-inspect is the operator's tool (doc/operations.md). It only reads, takes no lock, and\n"
        "works while a writer appends. The same code runs here, linked in.\n");
    int rc = inspect({"list", dir.string()});
    if (rc == 0) rc = inspect({"stats", dir.string()});
    if (rc == 0) rc = inspect({"tail", dir.string(), "-n", "5"});
    if (rc != 0) {
        std::cerr << "noriwal-demo: wal-inspect exited with status " << rc << '\n';
        return 1;
    }

    // ---------------------------------------------------------------- 5
    step(5, "Clean up");
    if (opt.keep || !own_dir) {
        say("The log stays in " + dir.string() + ". Try: wal-inspect verify " + dir.string() + "\n");
    } else {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
        say(ec ? "could not remove " + dir.string() + ": " + ec.message() + "\n"
               : "Removed " + dir.string() + " (run with --keep to look at it with wal-inspect).\n");
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // The crashing child of step 2: this program again, started by the demonstration.
    if (argc == 4 && std::string_view(argv[1]) == "--crash-child")
        return crash_child(argv[2], std::atoi(argv[3]));
    namespace po = boost::program_options;
    options opt;
    std::string dir;
    po::options_description desc(
        "noriwal-demo: write, crash, recover, inspect: the library in five steps. Options");
    desc.add_options()("help,h", "print this help")(
        "records,n", po::value(&opt.records)->default_value(opt.records), "records written in step 1")(
        "dir,d", po::value(&dir),
        "log directory (default: a fresh one under the temp directory, removed after)")(
        "keep", po::bool_switch(&opt.keep), "keep the fresh directory");
    try {
        po::variables_map vm;
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
        if (vm.count("help")) {
            std::cout << desc << '\n';
            return 0;
        }
        if (opt.records == 0) throw po::error("--records must be at least 1");
    } catch (const po::error& e) {
        std::cerr << "noriwal-demo: " << e.what() << "; see noriwal-demo --help\n";
        return 2;
    }
    opt.dir = dir;
    try {
        return demo(opt, "/proc/self/exe");
    } catch (const std::exception& e) {
        std::cerr << "noriwal-demo: " << e.what() << '\n';
        return 1;
    }
}
