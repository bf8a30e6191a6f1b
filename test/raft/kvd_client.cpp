#include "kvd_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace noriwal::test {

namespace {

sockaddr_in loopback(unsigned short port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int ms_left(std::chrono::steady_clock::time_point deadline) {
    auto d =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return d.count() < 0 ? 0 : static_cast<int>(d.count());
}

}  // namespace

unsigned short free_port() {
    // The kernel may hand a released port out again; a port given twice to one cluster would make
    // its second server fail to bind, so each port is handed out once per process.
    static std::mutex m;
    static std::set<unsigned short> given;
    for (;;) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) throw std::runtime_error("socket");
        sockaddr_in a = loopback(0);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            ::close(fd);
            throw std::runtime_error("bind");
        }
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        ::close(fd);
        std::lock_guard lock(m);
        if (given.insert(ntohs(a.sin_port)).second) return ntohs(a.sin_port);
    }
}

kvd_process::kvd_process(std::string program, std::vector<std::string> args, std::filesystem::path log)
    : program_(std::move(program)), args_(std::move(args)), log_(std::move(log)) {}

kvd_process::~kvd_process() { kill(); }

void kvd_process::start() {
    if (pid_ > 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    std::vector<char*> argv;
    argv.push_back(program_.data());
    for (auto& a : args_) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, program_.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("posix_spawn " + program_ + ": " + std::strerror(rc));
    pid_ = pid;
}

void kvd_process::kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
}

int kvd_process::terminate(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill();
    return -1;
}

bool kvd_process::exited(int& status) {
    if (pid_ <= 0) return false;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) != pid_) return false;
    pid_ = -1;
    status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    return true;
}

std::string kvd_process::log_tail(std::size_t bytes) const {
    std::ifstream in(log_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    auto s = ss.str();
    return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

kvd_client::~kvd_client() { close(); }

void kvd_client::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
}

bool kvd_client::connect(unsigned short port, std::chrono::milliseconds timeout) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a = loopback(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return true;
    if (errno != EINPROGRESS) {
        close();
        return false;
    }
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
        close();
        return false;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
        close();
        return false;
    }
    return true;
}

bool kvd_client::send(const std::string& bytes, std::chrono::milliseconds timeout) {
    if (fd_ < 0) return false;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            pollfd p{fd_, POLLOUT, 0};
            if (::poll(&p, 1, ms_left(deadline)) <= 0 && std::chrono::steady_clock::now() >= deadline) {
                close();
                return false;
            }
            continue;
        }
        close();
        return false;
    }
    return true;
}

std::optional<std::string> kvd_client::read_line(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto nl = buf_.find('\n');
        if (nl != std::string::npos) {
            std::string line = buf_.substr(0, nl);
            buf_.erase(0, nl + 1);
            return line;
        }
        if (fd_ < 0) return std::nullopt;
        pollfd p{fd_, POLLIN, 0};
        int r = ::poll(&p, 1, ms_left(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            close();
            return std::nullopt;
        }
        char tmp[4096];
        ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n > 0) {
            buf_.append(tmp, static_cast<std::size_t>(n));
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            continue;
        } else {
            close();
            return std::nullopt;
        }
    }
}

std::optional<std::string> kvd_client::request(const std::string& line, std::chrono::milliseconds timeout) {
    if (!send(line + "\n", timeout)) return std::nullopt;
    return read_line(timeout);
}

std::optional<std::string> kvd_request(unsigned short port, const std::string& line,
                                       std::chrono::milliseconds timeout) {
    kvd_client c;
    if (!c.connect(port, timeout)) return std::nullopt;
    return c.request(line, timeout);
}

std::map<std::string, std::string> parse_status(const std::string& json) {
    // Flat object of "name":number or "name":"string"; enough for STATUS.
    std::map<std::string, std::string> out;
    std::size_t i = 0;
    while ((i = json.find('"', i)) != std::string::npos) {
        auto end = json.find('"', i + 1);
        if (end == std::string::npos) break;
        std::string name = json.substr(i + 1, end - i - 1);
        auto colon = json.find(':', end);
        if (colon == std::string::npos) break;
        std::size_t v = colon + 1;
        std::string value;
        if (v < json.size() && json[v] == '"') {
            auto ve = json.find('"', v + 1);
            value = json.substr(v + 1, ve - v - 1);
            i = ve + 1;
        } else {
            auto ve = json.find_first_of(",}", v);
            value = json.substr(v, ve - v);
            i = ve;
        }
        out[name] = value;
    }
    return out;
}

}  // namespace noriwal::test
