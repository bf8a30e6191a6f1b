// How wal-inspect prints things for people: sizes, durations, times, bytes, tables, and an
// output buffer (records are formatted into a string and written in large pieces).
#pragma once

#include <noriwal/bytes.hpp>
#include <noriwal/record.hpp>

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace noriwal::inspect {

/// Nanoseconds since the Unix epoch, now (the system clock, as the writer's expiry times).
std::uint64_t now_unix_ns();

/// "812 B", "1.2 KiB", "3.40 GiB".
std::string human_bytes(std::uint64_t n);
/// "350 ms", "12 s", "3 min 12 s", "2 h 05 min", "4 d 03 h".
std::string human_duration(std::chrono::nanoseconds d);
/// "2026-11-22T01:43:00.123Z" (UTC, milliseconds).
std::string utc_time(std::uint64_t unix_ns);
/// "1234567" with thin grouping for big counts: "1 234 567".
std::string grouped(std::uint64_t n);

/// Bytes for a terminal: printable ASCII as is, `\"`, `\\`, `\n`, `\t`, `\r`, and `\xNN` for
/// everything else, in double quotes. Longer than `max` bytes: the first `max`, then
/// `…(+N B)`. max 0: no limit.
std::string quoted_bytes(bytes_view b, std::size_t max);
/// The two-character escape of `c` shared by quoted_bytes and JSON strings (\" \\ \n \r \t),
/// or empty when `c` has none.
std::string_view backslash_escape(unsigned char c) noexcept;

std::string_view compression_name(compression c) noexcept;

/// A table of text: columns padded to their widest cell, numbers right-aligned.
class table {
public:
    /// Headers; a header starting with '>' is right-aligned (the '>' is not printed).
    explicit table(std::vector<std::string> headers);
    void add(std::vector<std::string> row);
    void print(std::string& out) const;

private:
    std::vector<std::string> headers_;
    std::vector<bool> right_;
    std::vector<std::vector<std::string>> rows_;
};

/// Collects output in a string and writes it to the stream in pieces of about 64 KiB.
class output {
public:
    explicit output(std::ostream& os) : os_(&os) { buf_.reserve(1 << 17); }
    ~output() { flush(); }
    output(const output&) = delete;
    output& operator=(const output&) = delete;

    std::string& buf() noexcept { return buf_; }
    /// Writes if enough has gathered.
    void maybe_flush() {
        if (buf_.size() >= (1 << 16)) flush();
    }
    /// Writes everything now (and flushes the stream: a follower's reader waits for it).
    void flush();

private:
    std::ostream* os_;
    std::string buf_;
};

/// A progress line on stderr while a long operation runs, when stderr is a terminal. Updates
/// at most ten times a second; the line is erased when done.
class progress {
public:
    progress(std::ostream& err, bool enabled, std::string what);
    ~progress() { clear(); }
    progress(const progress&) = delete;
    progress& operator=(const progress&) = delete;

    /// `done` of `total` bytes; `detail` is appended ("segment 3/12").
    void update(std::uint64_t done, std::uint64_t total, std::string_view detail = {});
    void clear();

private:
    std::ostream* err_;
    bool enabled_;
    bool shown_ = false;
    std::string what_;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_{};
};

}  // namespace noriwal::inspect
