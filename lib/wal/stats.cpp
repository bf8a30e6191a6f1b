// wal_stats in the Prometheus text exposition format (version 0.0.4).
#include <noriwal/stats.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace noriwal {

double histogram::quantile(double q) const noexcept {
    if (count == 0 || bounds.empty()) return 0;
    q = std::clamp(q, 0.0, 1.0);
    // The rank of the observation sought, rounded up (at least the first one).
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count)));
    if (rank == 0) rank = 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bounds.size() && i < counts.size(); ++i) {
        seen += counts[i];
        if (seen >= rank) return bounds[i];
    }
    return bounds.back();
}

namespace {

void append_number(std::string& out, double v) {
    if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
        return;
    }
    if (std::isnan(v)) {
        out += "NaN";
        return;
    }
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_number(std::string& out, std::uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

// Metric names allow [a-zA-Z_:][a-zA-Z0-9_:]*; anything else in the prefix becomes '_' so the
// output stays parseable whatever the caller passes.
std::string metric_prefix(std::string_view prefix) {
    std::string p(prefix.empty() ? std::string_view("noriwal") : prefix);
    for (std::size_t i = 0; i < p.size(); ++i) {
        char c = p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok) p[i] = '_';
    }
    return p;
}

class exposition {
public:
    explicit exposition(std::string_view prefix) : prefix_(metric_prefix(prefix)) {}

    template <class V>
    void scalar(std::string_view name, std::string_view type, std::string_view help, V value) {
        header(name, type, help);
        out_ += prefix_;
        out_ += '_';
        out_ += name;
        out_ += ' ';
        append_number(out_, value);
        out_ += '\n';
    }

    void hist(std::string_view name, std::string_view help, const histogram& h) {
        header(name, "histogram", help);
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i <= h.bounds.size(); ++i) {
            cumulative += i < h.counts.size() ? h.counts[i] : 0;
            sample_start(name, "_bucket");
            out_ += "{le=\"";
            append_number(out_, i < h.bounds.size() ? h.bounds[i] : HUGE_VAL);
            out_ += "\"} ";
            append_number(out_, cumulative);
            out_ += '\n';
        }
        sample_start(name, "_sum");
        out_ += ' ';
        append_number(out_, h.sum);
        out_ += '\n';
        sample_start(name, "_count");
        out_ += ' ';
        append_number(out_, cumulative);
        out_ += '\n';
    }

    std::string take() { return std::move(out_); }

private:
    void header(std::string_view name, std::string_view type, std::string_view help) {
        out_ += "# HELP ";
        out_ += prefix_;
        out_ += '_';
        out_ += name;
        out_ += ' ';
        out_ += help;  // constant texts below: no backslash or newline to escape
        out_ += "\n# TYPE ";
        out_ += prefix_;
        out_ += '_';
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }
    void sample_start(std::string_view name, std::string_view suffix) {
        out_ += prefix_;
        out_ += '_';
        out_ += name;
        out_ += suffix;
    }

    std::string prefix_;
    std::string out_;
};

}  // namespace

std::string to_prometheus(const wal_stats& s, std::string_view prefix) {
    exposition e(prefix);
    e.scalar("appends_total", "counter", "Appends completed successfully (an atomic batch counts once).",
             s.appends);
    e.scalar("records_total", "counter", "Records written to segments.", s.records);
    e.scalar("written_bytes_total", "counter", "Bytes written to segments, framing included.", s.bytes);
    e.scalar("writes_total", "counter", "Group writes (one system call per segment touched).", s.writes);
    e.scalar("fsyncs_total", "counter", "fdatasync rounds completed (group commits).", s.fsyncs);
    e.scalar("failed_appends_total", "counter", "Appends completed with an error, cancelled ones included.",
             s.failed_appends);
    e.scalar("segments_rolled_total", "counter", "Segments sealed.", s.segments_rolled);
    e.scalar("segments_deleted_total", "counter", "Segments deleted or recycled.", s.segments_deleted);
    e.scalar("written_lsn", "gauge", "Last LSN handed to the operating system.", s.written_lsn);
    e.scalar("durable_lsn", "gauge", "Last LSN known to be on stable storage.", s.durable_lsn);
    e.scalar("poisoned", "gauge", "1 after a failed write or fsync: reopen the wal to recover.",
             std::uint64_t{s.poisoned ? 1u : 0u});
    e.hist("fsync_duration_seconds", "Duration of each fdatasync round.", s.fsync_seconds);
    e.hist("append_duration_seconds", "Time from the start of an append to its completion.",
           s.append_seconds);
    e.hist("fsync_group_size", "Records made durable by one fdatasync round.", s.fsync_group_size);
    e.hist("write_group_size", "Records written by one group write.", s.write_group_size);
    return e.take();
}

}  // namespace noriwal
