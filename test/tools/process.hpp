// Running wal-inspect (and the demo) as child processes from tests: arguments, standard input,
// captured output, exit status. Every wait is bounded: a child that outlives its deadline is
// killed and the test fails with what it printed so far.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace noriwal::test {

struct process_result {
    int status = -1;         ///< exit status, or -1 if the child was killed by a signal
    int signal = 0;          ///< the signal that ended the child, if any
    bool timed_out = false;  ///< the deadline passed and the child was killed
    std::string out;
    std::string err;
};

/// Runs `program` with `args`, feeding `input` to its standard input, and waits for it (at most
/// `timeout`).
process_result run_process(const std::string& program, const std::vector<std::string>& args,
                           const std::string& input = {},
                           std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// A child process that runs alongside the test: write to its stdin, read its stdout line by
/// line, end it with a signal.
class child_process {
public:
    child_process(const std::string& program, const std::vector<std::string>& args);
    ~child_process();
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    /// Writes to the child's standard input (all of it, or throws).
    void write(const std::string& data);
    /// Closes the child's standard input.
    void close_input();
    /// The next complete line of its standard output (without the newline), waiting at most
    /// until `deadline`; false if none came by then or the output ended.
    bool read_line(std::string& line, std::chrono::steady_clock::time_point deadline);
    /// Sends `sig` and waits for the child (at most `timeout`, then SIGKILL).
    process_result stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(30));
    /// Waits for the child to end on its own (at most `timeout`, then SIGKILL).
    process_result wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));

private:
    void drain_err();
    int pid_ = -1;
    int in_ = -1;
    int out_ = -1;
    int err_ = -1;
    std::string out_buf_;
    std::string err_buf_;
    bool out_closed_ = false;
};

}  // namespace noriwal::test
