#include "text.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <ostream>

namespace noriwal::inspect {

std::uint64_t now_unix_ns() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

std::string human_bytes(std::uint64_t n) {
    if (n < 1024) return std::to_string(n) + " B";
    static constexpr const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = static_cast<double>(n) / 1024;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

std::string human_duration(std::chrono::nanoseconds d) {
    using namespace std::chrono;
    const bool negative = d.count() < 0;
    const std::uint64_t ns =
        negative ? 0 - static_cast<std::uint64_t>(d.count()) : static_cast<std::uint64_t>(d.count());
    char buf[64];
    const std::uint64_t ms = ns / 1'000'000, s = ns / 1'000'000'000;
    if (s < 1) {
        std::snprintf(buf, sizeof buf, "%llu ms", static_cast<unsigned long long>(ms));
    } else if (s < 60) {
        std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ns) / 1e9);
    } else if (s < 3600) {
        std::snprintf(buf, sizeof buf, "%llu min %02llu s", static_cast<unsigned long long>(s / 60),
                      static_cast<unsigned long long>(s % 60));
    } else if (s < 86400) {
        std::snprintf(buf, sizeof buf, "%llu h %02llu min", static_cast<unsigned long long>(s / 3600),
                      static_cast<unsigned long long>(s / 60 % 60));
    } else {
        std::snprintf(buf, sizeof buf, "%llu d %02llu h", static_cast<unsigned long long>(s / 86400),
                      static_cast<unsigned long long>(s / 3600 % 24));
    }
    return negative ? std::string("-") + buf : std::string(buf);
}

std::string utc_time(std::uint64_t unix_ns) {
    const std::time_t secs = static_cast<std::time_t>(unix_ns / 1'000'000'000);
    std::tm tm{};
    if (gmtime_r(&secs, &tm) == nullptr) return std::to_string(unix_ns) + " ns";
    char buf[48];
    const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%03lluZ",
                  static_cast<unsigned long long>(unix_ns / 1'000'000 % 1000));
    return buf;
}

std::string grouped(std::uint64_t n) {
    std::string digits = std::to_string(n);
    if (digits.size() <= 4) return digits;
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i != 0 && (digits.size() - i) % 3 == 0) out.push_back(' ');
        out.push_back(digits[i]);
    }
    return out;
}

std::string_view backslash_escape(unsigned char c) noexcept {
    switch (c) {
        case '"':
            return "\\\"";
        case '\\':
            return "\\\\";
        case '\n':
            return "\\n";
        case '\r':
            return "\\r";
        case '\t':
            return "\\t";
        default:
            return {};
    }
}

std::string quoted_bytes(bytes_view b, std::size_t max) {
    static constexpr char hex[] = "0123456789abcdef";
    const std::size_t shown = max == 0 ? b.size() : std::min(max, b.size());
    std::string out;
    out.reserve(shown + 16);
    out.push_back('"');
    for (std::size_t i = 0; i < shown; ++i) {
        const auto c = std::to_integer<unsigned char>(b[i]);
        if (const auto esc = backslash_escape(c); !esc.empty()) {
            out += esc;
        } else if (c >= 0x20 && c < 0x7F) {
            out.push_back(static_cast<char>(c));
        } else {
            out += "\\x";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0xF]);
        }
    }
    out.push_back('"');
    if (shown < b.size()) out += "…(+" + std::to_string(b.size() - shown) + " B)";
    return out;
}

std::string_view compression_name(compression c) noexcept {
    switch (c) {
        case compression::none:
            return "none";
        case compression::lz4:
            return "lz4";
        case compression::zstd:
            return "zstd";
    }
    return "unknown";
}

table::table(std::vector<std::string> headers) {
    for (std::string& h : headers) {
        const bool right = !h.empty() && h[0] == '>';
        right_.push_back(right);
        headers_.push_back(right ? h.substr(1) : std::move(h));
    }
}

void table::add(std::vector<std::string> row) {
    row.resize(headers_.size());
    rows_.push_back(std::move(row));
}

namespace {
// Display width: UTF-8 continuation bytes take no column (the ellipsis of quoted_bytes).
std::size_t width(std::string_view s) {
    return static_cast<std::size_t>(
        std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}
}  // namespace

void table::print(std::string& out) const {
    std::vector<std::size_t> w(headers_.size());
    for (std::size_t c = 0; c < headers_.size(); ++c) {
        w[c] = width(headers_[c]);
        for (const auto& r : rows_) w[c] = std::max(w[c], width(r[c]));
    }
    auto line = [&](const std::vector<std::string>& cells) {
        std::string l;
        for (std::size_t c = 0; c < cells.size(); ++c) {
            const std::size_t pad = w[c] - width(cells[c]);
            if (c != 0) l += "  ";
            if (right_[c]) l.append(pad, ' ');
            l += cells[c];
            if (!right_[c] && c + 1 < cells.size()) l.append(pad, ' ');
        }
        while (!l.empty() && l.back() == ' ') l.pop_back();
        out += l;
        out.push_back('\n');
    };
    line(headers_);
    for (const auto& r : rows_) line(r);
}

void output::flush() {
    if (!buf_.empty()) {
        os_->write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
        buf_.clear();
    }
    os_->flush();
}

progress::progress(std::ostream& err, bool enabled, std::string what)
    : err_(&err), enabled_(enabled), what_(std::move(what)), start_(std::chrono::steady_clock::now()) {}

void progress::update(std::uint64_t done, std::uint64_t total, std::string_view detail) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    // Quick operations show nothing; then at most ten updates a second.
    if (now - start_ < std::chrono::milliseconds(300) || now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    char pct[16] = "";
    if (total != 0)
        std::snprintf(pct, sizeof pct, "%3.0f%% ",
                      100.0 * static_cast<double>(std::min(done, total)) / static_cast<double>(total));
    *err_ << "\r\x1b[K" << what_ << ": " << pct << human_bytes(done) << " of " << human_bytes(total);
    if (!detail.empty()) *err_ << ", " << detail;
    err_->flush();
    shown_ = true;
}

void progress::clear() {
    if (!shown_) return;
    *err_ << "\r\x1b[K";
    err_->flush();
    shown_ = false;
}

}  // namespace noriwal::inspect
