// Real processes killed with SIGKILL. A child process opens the log in a real directory (which
// recovers whatever the previous child left), appends under fsync_policy::always and reports
// every acknowledged LSN to the parent through a pipe; the parent kills it at a random moment
// (sometimes while it is still recovering at open). Every other round the parent opens the log
// itself and checks: a contiguous prefix, every record byte for byte, every LSN ever
// acknowledged present. The child GCs old segments now and then (announcing it first).
#include <noriwal/error.hpp>

#include "crash/crash_explorer.hpp"
#include "support/printing.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>

using namespace noriwal;
using namespace noriwal::test;

namespace {

namespace nd = noriwal::detail;

// Child to parent: 9 bytes (atomic in a pipe): a kind and an LSN.
enum class message : char {
    opened = 'O',  // recovery done; lsn: the next LSN
    acked = 'A',   // lsn appended and fdatasync'd
    gc = 'D',      // about to delete segments before lsn
};

wal_config kill_config(const std::filesystem::path& dir) {
    wal_config cfg;
    cfg.dir = dir;
    cfg.max_segment_size = 64u << 10;
    cfg.max_record_size = 8000;
    cfg.fsync = fsync_policy::always();
    return cfg;
}

record_content content_of(lsn_t lsn) { return make_content("kill", lsn, 2500); }

bool send(int fd, message m, lsn_t lsn) {
    char buf[9];
    buf[0] = static_cast<char>(m);
    std::memcpy(buf + 1, &lsn, 8);
    return ::write(fd, buf, sizeof buf) == static_cast<ssize_t>(sizeof buf);
}

// The child: never returns. Exit codes: 3 open failed, 4 append/sync failed, 5 pipe closed.
[[noreturn]] void child(const std::filesystem::path& dir, int fd) {
    int code = 0;
    try {
        std::unique_ptr<nd::segment_log> log;
        recovery_info info;
        std::string why;
        if (nd::segment_log::open(kill_config(dir), log, info, why)) ::_exit(3);
        if (!send(fd, message::opened, log->next_position().lsn)) ::_exit(5);
        for (int i = 0; i < 100000; ++i) {
            const lsn_t lsn = log->next_position().lsn;
            if (append_contents(*log, {content_of(lsn)}, false) || log->sync()) ::_exit(4);
            if (!send(fd, message::acked, lsn)) ::_exit(5);
            if (lsn % 97 == 0 && lsn > 200) {
                const lsn_t before = lsn - 150;
                if (!send(fd, message::gc, before)) ::_exit(5);
                std::uint64_t deleted = 0;
                if (log->delete_segments_before(position{0, 0, before}, deleted)) ::_exit(4);
            }
        }
    } catch (...) {
        code = 6;
    }
    ::_exit(code);
}

struct kill_state {
    lsn_t acked = 0;  // highest LSN acknowledged by any child
    lsn_t floor = 1;  // records below may have been deleted
    std::size_t kills = 0;
    std::size_t kills_during_open = 0;
    std::size_t checks = 0;
};

// Reads what is in the pipe (waiting at most `wait` for the first message); returns false at
// end of file.
bool drain(int fd, kill_state& s, bool& opened, std::size_t& acks, int wait_ms) {
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        const int n = ::poll(&p, 1, wait_ms);
        if (n <= 0) return true;
        char buf[9 * 64];
        const ssize_t got = ::read(fd, buf, sizeof buf);
        if (got <= 0) return false;
        BOOST_REQUIRE(got % 9 == 0);  // 9-byte writes are atomic and reads take whole ones
        for (ssize_t i = 0; i < got; i += 9) {
            lsn_t lsn = 0;
            std::memcpy(&lsn, buf + i + 1, 8);
            switch (static_cast<message>(buf[i])) {
                case message::opened:
                    opened = true;
                    break;
                case message::acked:
                    s.acked = std::max(s.acked, lsn);
                    ++acks;
                    break;
                case message::gc:
                    s.floor = std::max(s.floor, lsn);
                    break;
            }
        }
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
    log_expectation e;
    const lsn_t last = got.empty() ? 0 : got.back().lsn;
    for (lsn_t l = got.empty() ? 1 : got.front().lsn; l <= std::max(last, s.acked); ++l)
        e.allow(l, content_of(l), l, l);
    e.required_from = s.floor;
    e.required_to = s.acked;
    const auto bad = check_log(got, e);
    BOOST_TEST_REQUIRE(bad.empty(), "after kill " << s.kills << ": " << bad);
    ++s.checks;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(process_kill)

BOOST_AUTO_TEST_CASE(sigkill_at_random_moments_loses_nothing_acknowledged) {
    temp_dir tmp("noriwal-kill");
    const auto dir = tmp / "log";
    const std::size_t rounds = scaled(300, 20);
    const auto budget = std::chrono::seconds(45);  // a bound on the run, not an assertion
    const auto start = std::chrono::steady_clock::now();
    std::mt19937_64 rng(20261122);
    kill_state s;
    for (std::size_t round = 0; round < rounds && std::chrono::steady_clock::now() - start < budget;
         ++round) {
        int fds[2];
        BOOST_TEST_REQUIRE(::pipe(fds) == 0);
        const pid_t pid = ::fork();
        BOOST_TEST_REQUIRE(pid >= 0);
        if (pid == 0) {
            ::close(fds[0]);
            child(dir, fds[1]);
        }
        ::close(fds[1]);
        bool opened = false;
        std::size_t acks = 0;
        bool alive = true;
        if (rng() % 4 == 0) {
            // Kill while the child may still be recovering.
            ::usleep(static_cast<useconds_t>(rng() % 3000));
            alive = drain(fds[0], s, opened, acks, 0);
            if (!opened) ++s.kills_during_open;
        } else {
            // Kill after a random number of acknowledged appends.
            const std::size_t target = 1 + rng() % 60;
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
            while (alive && acks < target && std::chrono::steady_clock::now() < deadline)
                alive = drain(fds[0], s, opened, acks, 100);
        }
        ::kill(pid, SIGKILL);
        int status = 0;
        BOOST_TEST_REQUIRE(::waitpid(pid, &status, 0) == pid);
        // What the child wrote into the pipe before it died was acknowledged.
        drain(fds[0], s, opened, acks, 0);
        ::close(fds[0]);
        BOOST_TEST_REQUIRE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL),
                           "round " << round << ": the child exited by itself with status " << status
                                    << " (3: open failed, 4: append or sync failed)");
        ++s.kills;
        // Every other round the next child recovers the killed one's log itself.
        if (round % 2 == 1) check(dir, s);
    }
    check(dir, s);
    BOOST_TEST(s.acked > 100u);
    BOOST_TEST_MESSAGE("kill test: " << s.kills << " SIGKILLs (" << s.kills_during_open
                                     << " during recovery at open), " << s.checks << " checks, " << s.acked
                                     << " LSNs acknowledged, floor " << s.floor);
}

BOOST_AUTO_TEST_SUITE_END()
