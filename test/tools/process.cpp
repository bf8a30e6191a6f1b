#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

extern char** environ;

namespace noriwal::test {

namespace {

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::system_category(), what); }

struct spawned {
    int pid = -1, in = -1, out = -1, err = -1;
};

spawned spawn(const std::string& program, const std::vector<std::string>& args) {
    // A child's stdin closed under it must give EPIPE to our writes, not kill the test.
    ::signal(SIGPIPE, SIG_IGN);
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
        fail("pipe2");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, program.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
        errno = rc;
        fail("posix_spawn");
    }
    for (int fd : {in[1], out[0], err[0]}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    return {pid, in[1], out[0], err[0]};
}

// Reads what is available from fd into buf; false at end of file.
bool read_some(int fd, std::string& buf) {
    char chunk[65536];
    for (;;) {
        const ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n > 0) {
            buf.append(chunk, static_cast<std::size_t>(n));
            continue;
        }
        if (n == 0) return false;
        if (errno == EINTR) continue;
        return true;  // EAGAIN: nothing more for now
    }
}

int ms_until(std::chrono::steady_clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(std::min<long long>(left.count(), 1000));
}

void fill_status(process_result& r, int status) {
    if (WIFEXITED(status)) {
        r.status = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        r.status = -1;
        r.signal = WTERMSIG(status);
    }
}

}  // namespace

process_result run_process(const std::string& program, const std::vector<std::string>& args,
                           const std::string& input, std::chrono::milliseconds timeout) {
    child_process c(program, args);
    if (!input.empty()) c.write(input);
    c.close_input();
    return c.wait(timeout);
}

child_process::child_process(const std::string& program, const std::vector<std::string>& args) {
    const spawned s = spawn(program, args);
    pid_ = s.pid;
    in_ = s.in;
    out_ = s.out;
    err_ = s.err;
}

child_process::~child_process() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int st = 0;
        ::waitpid(pid_, &st, 0);
    }
    for (int fd : {in_, out_, err_})
        if (fd >= 0) ::close(fd);
}

void child_process::write(const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(in_, data.data() + done, data.size() - done);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            // The child is busy: keep its output flowing (it may be blocked writing it).
            drain_err();
            if (!out_closed_) out_closed_ = !read_some(out_, out_buf_);
            pollfd p{in_, POLLOUT, 0};
            ::poll(&p, 1, 100);
            continue;
        }
        fail("write to child");
    }
}

void child_process::close_input() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
}

void child_process::drain_err() {
    if (err_ >= 0 && !read_some(err_, err_buf_)) {
        ::close(err_);
        err_ = -1;
    }
}

bool child_process::read_line(std::string& line, std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        const auto nl = out_buf_.find('\n');
        if (nl != std::string::npos) {
            line = out_buf_.substr(0, nl);
            out_buf_.erase(0, nl + 1);
            return true;
        }
        if (out_closed_ || std::chrono::steady_clock::now() >= deadline) return false;
        pollfd p[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
        ::poll(p, err_ >= 0 ? 2 : 1, ms_until(deadline));
        drain_err();
        out_closed_ = !read_some(out_, out_buf_);
    }
}

process_result child_process::wait(std::chrono::milliseconds timeout) {
    process_result r;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
        drain_err();
        if (!out_closed_) out_closed_ = !read_some(out_, out_buf_);
        const pid_t w = ::waitpid(pid_, &status, WNOHANG);
        if (w == pid_) break;
        if (std::chrono::steady_clock::now() >= deadline) {
            r.timed_out = true;
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            break;
        }
        pollfd p[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
        ::poll(p, err_ >= 0 ? 2 : 1, std::min(ms_until(deadline), 20));
    }
    pid_ = -1;
    // What the child wrote before it ended is still in the pipes: read to their end (bounded,
    // in case a process the child started holds them open).
    const auto drained = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while ((!out_closed_ || err_ >= 0) && std::chrono::steady_clock::now() < drained) {
        drain_err();
        if (!out_closed_) out_closed_ = !read_some(out_, out_buf_);
        pollfd p[2] = {{out_closed_ ? -1 : out_, POLLIN, 0}, {err_, POLLIN, 0}};
        ::poll(p, 2, 20);
    }
    fill_status(r, status);
    r.out = std::move(out_buf_);
    r.err = std::move(err_buf_);
    return r;
}

process_result child_process::stop(int sig, std::chrono::milliseconds timeout) {
    if (pid_ > 0) ::kill(pid_, sig);
    return wait(timeout);
}

}  // namespace noriwal::test
