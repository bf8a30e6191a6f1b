// Test and benchmark support for noriwal-kvd: starting and SIGKILLing server processes (output
// to a log file in their directory), free loopback ports, and a blocking line client with
// deadlines.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace noriwal::test {

/// A loopback port that was free a moment ago (bound to port 0, then released).
unsigned short free_port();

/// One noriwal-kvd process, restartable on the same directory and ports.
class kvd_process {
public:
    kvd_process(std::string program, std::vector<std::string> args, std::filesystem::path log);
    ~kvd_process();
    kvd_process(const kvd_process&) = delete;
    kvd_process& operator=(const kvd_process&) = delete;

    void start();
    /// SIGKILL and reap; no-op if not running.
    void kill();
    /// SIGTERM, wait (at most `timeout`, then SIGKILL); the exit status, or -1 if killed.
    int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(20));
    bool running() const noexcept { return pid_ > 0; }
    /// True if the process ended by itself (reaped here); its status in `status`.
    bool exited(int& status);
    /// The last `bytes` of its log.
    std::string log_tail(std::size_t bytes = 4000) const;

private:
    std::string program_;
    std::vector<std::string> args_;
    std::filesystem::path log_;
    int pid_ = -1;
};

/// A connection to a client port, one request line, one reply line; every wait bounded.
class kvd_client {
public:
    kvd_client() = default;
    ~kvd_client();
    kvd_client(const kvd_client&) = delete;
    kvd_client& operator=(const kvd_client&) = delete;

    bool connect(unsigned short port, std::chrono::milliseconds timeout);
    void close();
    bool connected() const noexcept { return fd_ >= 0; }
    /// Sends raw bytes (a request line must end with '\n').
    bool send(const std::string& bytes, std::chrono::milliseconds timeout);
    /// The next reply line (without '\n'), or nullopt on timeout or a closed connection (the
    /// connection is closed then).
    std::optional<std::string> read_line(std::chrono::milliseconds timeout);
    /// send + read_line.
    std::optional<std::string> request(const std::string& line, std::chrono::milliseconds timeout);

private:
    int fd_ = -1;
    std::string buf_;
};

/// One request on a fresh connection.
std::optional<std::string> kvd_request(unsigned short port, const std::string& line,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// The fields of a STATUS reply (a flat JSON object): numbers and strings as text.
std::map<std::string, std::string> parse_status(const std::string& json);

}  // namespace noriwal::test
