// Real processes killed with SIGKILL. A child process opens the wal in a real directory (which
// recovers whatever the previous child left) and appends from two threads under
// fsync_policy::always, several appends in flight each (group commit), reporting every
// acknowledged append (its stream, number and LSN) to the parent through a pipe. The parent
// kills it at a random moment, sometimes while it is still recovering at open. Every other
// round the parent opens the log itself and checks it against what the children were told: a
// contiguous log, every record byte for byte, every acknowledged record at its LSN. The
// children GC old segments now and then, announcing it first.
#include <noriwal/error.hpp>
#include <noriwal/wal.hpp>

#include "crash/crash_explorer.hpp"
#include "crash/wal_model.hpp"
#include "support/printing.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <random>
#include <thread>

using namespace noriwal;
using namespace noriwal::test;
using boost::system::error_code;

namespace {

namespace nd = noriwal::detail;

constexpr std::size_t max_value = 2500;

// Child to parent: one write of `message_size` bytes (atomic in a pipe).
enum class message : char {
    opened = 'O',  // recovery done
    acked = 'A',   // record `n` of the thread's stream acknowledged at `lsn` (durable: always)
    gc = 'D',      // about to delete segments before `lsn`
};
constexpr std::size_t message_size = 14;  // kind, thread, n (u32), lsn (u64)

std::string stream_of(std::size_t round, unsigned thread) {
    return "r" + std::to_string(round) + "t" + std::to_string(thread);
}

wal_config kill_config(const std::filesystem::path& dir) {
    wal_config cfg;
    cfg.dir = dir;
    cfg.max_segment_size = 64u << 10;
    cfg.max_record_size = 8000;
    cfg.fsync = fsync_policy::always();
    return cfg;
}

bool send(int fd, message m, unsigned thread, std::uint32_t n, lsn_t lsn) {
    char buf[message_size];
    buf[0] = static_cast<char>(m);
    buf[1] = static_cast<char>(thread);
    std::memcpy(buf + 2, &n, 4);
    std::memcpy(buf + 6, &lsn, 8);
    return ::write(fd, buf, sizeof buf) == static_cast<ssize_t>(sizeof buf);
}

// The child: never returns. Exit codes: 3 open failed, 4 an append failed, 5 pipe closed.
[[noreturn]] void child(const std::filesystem::path& dir, std::size_t round, int fd) {
    std::error_code ec;
    auto opened = noriwal::wal::open(kill_config(dir), ec);
    if (ec) ::_exit(3);
    noriwal::wal w = std::move(opened.log);
    if (!send(fd, message::opened, 0, 0, 0)) ::_exit(5);
    auto appender = [&](unsigned thread) {
        const std::string stream = stream_of(round, thread);
        std::uint32_t n = 0;
        for (int burst = 0; burst < 100000; ++burst) {
            std::vector<std::future<void>> inflight;
            for (int i = 0; i < 4; ++i) {
                auto c = std::make_shared<record_content>(make_content(stream, n, max_value));
                auto pr = std::make_shared<std::promise<void>>();
                inflight.push_back(pr->get_future());
                w.async_append(c->as_record(), [c, pr, fd, thread, n](error_code e, position p) {
                    if (e) ::_exit(4);
                    if (!send(fd, message::acked, thread, n, p.lsn)) ::_exit(5);
                    pr->set_value();
                });
                ++n;
            }
            for (auto& f : inflight) f.get();
            if (thread == 0 && burst % 25 == 24 && w.written_lsn() > 300) {
                const lsn_t before = w.written_lsn() - 200;
                if (!send(fd, message::gc, 0, 0, before)) ::_exit(5);
                w.delete_segments_before(position{0, 0, before});
            }
        }
    };
    std::thread other(appender, 1u);
    appender(0);
    other.join();
    ::_exit(0);
}

struct kill_state {
    wal_model model;
    std::size_t kills = 0;
    std::size_t kills_during_open = 0;
    std::size_t checks = 0;
    std::size_t acks = 0;
};

// Reads what is in the pipe (waiting at most `wait_ms` for the first bytes); false at end of file.
bool drain(int fd, std::size_t round, kill_state& s, std::string& carry, bool& opened, std::size_t& acks,
           int wait_ms) {
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, wait_ms) <= 0) return true;
        char buf[message_size * 64];
        const ssize_t got = ::read(fd, buf, sizeof buf);
        if (got <= 0) return false;
        carry.append(buf, static_cast<std::size_t>(got));
        std::size_t at = 0;
        for (; at + message_size <= carry.size(); at += message_size) {
            const char* m = carry.data() + at;
            std::uint32_t n = 0;
            lsn_t lsn = 0;
            std::memcpy(&n, m + 2, 4);
            std::memcpy(&lsn, m + 6, 8);
            switch (static_cast<message>(m[0])) {
                case message::opened:
                    opened = true;
                    break;
                case message::acked:
                    s.model.acked(make_content(stream_of(round, static_cast<unsigned>(m[1])), n, max_value),
                                  lsn, true);
                    ++acks;
                    ++s.acks;
                    break;
                case message::gc:
                    s.model.gc(lsn);
                    break;
            }
        }
        carry.erase(0, at);
        wait_ms = 0;
    }
}

void check(const std::filesystem::path& dir, kill_state& s) {
    std::unique_ptr<nd::segment_log> log;
    recovery_info info;
    std::string why;
    const auto ec = nd::segment_log::open(kill_config(dir), log, info, why);
    BOOST_TEST_REQUIRE(!ec,
                       "after kill " << s.kills << ": open failed: " << ec.message() << " (" << why << ")");
    std::vector<read_record> got;
    const auto err = read_log(*posix_file_system(), dir, got);
    BOOST_TEST_REQUIRE(err.empty(), "after kill " << s.kills << ": " << err);
    const auto bad = s.model.check(got, 0);
    BOOST_TEST_REQUIRE(bad.empty(), "after kill " << s.kills << ": " << bad);
    ++s.checks;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(process_kill)

BOOST_AUTO_TEST_CASE(sigkill_at_random_moments_loses_nothing_acknowledged) {
    temp_dir tmp("noriwal-kill");
    const auto dir = tmp / "log";
    const std::size_t rounds = scaled(300, 20);
    // A bound on the run, not an assertion; a long run (NORIWAL_TEST_SCALE=2 or more: 600+
    // kills, doc/testing.md) gets a budget in proportion.
    const auto budget = std::chrono::duration<double>(45.0 * std::max(1.0, test_scale()));
    const auto start = std::chrono::steady_clock::now();
    std::mt19937_64 rng(20261122);
    kill_state s;
    for (std::size_t round = 0; round < rounds && std::chrono::steady_clock::now() - start < budget;
         ++round) {
        for (unsigned t = 0; t < 2; ++t) s.model.allow_stream(stream_of(round, t), 1u << 30, max_value);
        int fds[2];
        BOOST_TEST_REQUIRE(::pipe(fds) == 0);
        const pid_t pid = ::fork();
        BOOST_TEST_REQUIRE(pid >= 0);
        if (pid == 0) {
            ::close(fds[0]);
            child(dir, round, fds[1]);
        }
        ::close(fds[1]);
        bool opened = false;
        std::size_t acks = 0;
        bool alive = true;
        std::string carry;
        if (rng() % 4 == 0) {
            // Kill while the child may still be recovering.
            ::usleep(static_cast<useconds_t>(rng() % 4000));
            alive = drain(fds[0], round, s, carry, opened, acks, 0);
            if (!opened) ++s.kills_during_open;
        } else {
            // Kill after a random number of acknowledged appends.
            const std::size_t target = 1 + rng() % 80;
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
            while (alive && acks < target && std::chrono::steady_clock::now() < deadline)
                alive = drain(fds[0], round, s, carry, opened, acks, 100);
        }
        ::kill(pid, SIGKILL);
        int status = 0;
        BOOST_TEST_REQUIRE(::waitpid(pid, &status, 0) == pid);
        // What the child wrote into the pipe before it died was acknowledged.
        drain(fds[0], round, s, carry, opened, acks, 0);
        ::close(fds[0]);
        BOOST_TEST_REQUIRE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL),
                           "round " << round << ": the child exited by itself with status " << status
                                    << " (3: open failed, 4: an append failed)");
        ++s.kills;
        // Every other round the next child recovers the killed one's log itself.
        if (round % 2 == 1) check(dir, s);
    }
    check(dir, s);
    BOOST_TEST(s.acks > 100u);
    BOOST_TEST_MESSAGE("kill test: " << s.kills << " SIGKILLs (" << s.kills_during_open
                                     << " before recovery at open had finished), " << s.checks << " checks, "
                                     << s.acks << " appends acknowledged");
}

BOOST_AUTO_TEST_SUITE_END()
