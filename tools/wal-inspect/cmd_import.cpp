// wal-inspect import: appends records read as JSON lines from standard input, through the
// public asynchronous wal, and acknowledges each one once its append completed.
//
// Appends are pipelined (up to max_in_flight records outstanding) so that group commit works
// for the import as for any writer; acknowledgements are printed in input order. A bad line
// stops the import: nothing from it on is appended, everything before it is acknowledged (and
// was appended), and the error names the line.
#include "command.hpp"
#include "json.hpp"
#include "record_format.hpp"
#include "text.hpp"

#include <noriwal/wal.hpp>

#include <condition_variable>
#include <deque>
#include <istream>
#include <mutex>
#include <ostream>
#include <thread>

namespace noriwal::inspect {

namespace {

constexpr std::size_t max_in_flight = 4096;

// One append (a record, or an atomic batch) in input order.
struct pending {
    std::uint64_t first_line = 0;
    std::vector<position> positions;
    std::error_code ec;
    bool done = false;
};

// Prints the acknowledgement of each append once it completed, in input order, on a thread of
// its own: neither the wal's thread (a slow reader of our output must not stall the log) nor
// the thread reading the input (which may wait for more of it while appends complete).
class acknowledgements {
public:
    explicit acknowledgements(std::ostream& out) : out_(out), printer_([this] { print_loop(); }) {}
    ~acknowledgements() { finish(); }
    acknowledgements(const acknowledgements&) = delete;
    acknowledgements& operator=(const acknowledgements&) = delete;

    /// Waits until fewer than `limit` records are outstanding (or an append failed).
    void wait_below(std::size_t limit) {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return outstanding_ < limit || failed_; });
    }
    pending& start(std::uint64_t line, std::size_t records) {
        std::lock_guard lock(mutex_);
        queue_.push_back({line, {}, {}, false});
        outstanding_ += records;
        return queue_.back();  // stays valid: the deque only grows at the back, shrinks at the front
    }
    void complete(pending& p, std::error_code ec, std::vector<position> positions, std::size_t records) {
        std::lock_guard lock(mutex_);
        p.ec = ec;
        p.positions = std::move(positions);
        p.done = true;
        outstanding_ -= records;
        cv_.notify_all();
    }
    bool failed() {
        std::lock_guard lock(mutex_);
        return failed_;
    }
    /// Waits until every append completed (their handlers reference this object) and every
    /// acknowledgement up to the first failure is printed.
    void finish() {
        if (!printer_.joinable()) return;
        {
            std::unique_lock lock(mutex_);
            cv_.wait(lock, [&] { return outstanding_ == 0 && (queue_.empty() || failed_); });
            stop_ = true;
            cv_.notify_all();
        }
        printer_.join();
    }
    const pending& failure_entry() const { return failed_entry_; }
    std::uint64_t acknowledged() const { return acknowledged_; }
    lsn_t first_lsn() const { return first_lsn_; }
    lsn_t last_lsn() const { return last_lsn_; }

private:
    void print_loop() {
        std::unique_lock lock(mutex_);
        for (;;) {
            cv_.wait(lock, [&] { return stop_ || (!failed_ && !queue_.empty() && queue_.front().done); });
            std::string text;
            while (!failed_ && !queue_.empty() && queue_.front().done) {
                pending& p = queue_.front();
                if (p.ec) {
                    failed_ = true;  // nothing after it is acknowledged
                    failed_entry_ = p;
                    break;
                }
                for (const position& pos : p.positions) {
                    json::object_writer w(text);
                    w.number("lsn", std::uint64_t{pos.lsn})
                        .number("segment", pos.segment_id)
                        .number("offset", pos.offset);
                    w.end();
                    text += '\n';
                    ++acknowledged_;
                    if (first_lsn_ == 0) first_lsn_ = pos.lsn;
                    last_lsn_ = pos.lsn;
                }
                queue_.pop_front();
            }
            cv_.notify_all();
            if (!text.empty()) {
                lock.unlock();
                out_.write(text.data(), static_cast<std::streamsize>(text.size()));
                out_.flush();
                lock.lock();
            }
            if (stop_) return;
        }
    }

    std::ostream& out_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<pending> queue_;
    std::size_t outstanding_ = 0;
    bool failed_ = false;
    bool stop_ = false;
    pending failed_entry_;
    std::uint64_t acknowledged_ = 0;
    lsn_t first_lsn_ = 0;
    lsn_t last_lsn_ = 0;
    std::thread printer_;  // last: it starts once everything above is built
};

fsync_policy policy_from(const po::variables_map& vm) {
    const std::string p = vm["fsync"].as<std::string>();
    if (p == "always") return fsync_policy::always();
    if (p == "os") return fsync_policy::os();
    if (p == "batch") return fsync_policy::batch(std::chrono::milliseconds(vm["batch-ms"].as<unsigned>()));
    throw failure("--fsync " + p + ": unknown policy (always, batch or os)");
}

// The record's TTL, counted from now, for the stored expiry to be the one given. An absolute
// expiry aims at the middle of its millisecond, so that the microseconds between this clock
// reading and the append's own do not move it to the next.
std::optional<std::chrono::nanoseconds> ttl_of(const import_record& r, std::uint64_t line) {
    if (r.expiry_unix_ms) {
        constexpr std::int64_t max_ms = INT64_MAX / 1'000'000 - 1;
        if (*r.expiry_unix_ms > max_ms)
            throw failure("line " + std::to_string(line) + ": expiry_unix_ms is beyond the year 2262");
        const std::int64_t expiry_ns = *r.expiry_unix_ms * 1'000'000 + 500'000;
        return std::chrono::nanoseconds(expiry_ns - static_cast<std::int64_t>(now_unix_ns()));
    }
    if (r.ttl_ms) {
        if (*r.ttl_ms > INT64_MAX / 1'000'000 || *r.ttl_ms < INT64_MIN / 1'000'000)
            throw failure("line " + std::to_string(line) + ": ttl_ms out of range");
        return std::chrono::milliseconds(*r.ttl_ms);
    }
    return std::nullopt;
}

record view_of(const import_record& r, std::uint64_t line) {
    record rec = r.tombstone ? record::put_tombstone(bytes_view(r.key))
                             : record::put(bytes_view(r.key), bytes_view(r.value));
    rec.ttl = ttl_of(r, line);
    rec.compress = r.compress;
    return rec;
}

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r") == std::string::npos; }

void add_options(po::options_description& opts) {
    opts.add_options()("fsync", po::value<std::string>()->default_value("batch"),
                       "when appends are made durable: always (each acknowledged record is fdatasync'd), "
                       "batch (within --batch-ms), os (at the end)")(
        "batch-ms", po::value<unsigned>()->default_value(5), "the window of --fsync batch, in milliseconds")(
        "segment-size", po::value<std::uint64_t>()->default_value(128ull << 20),
        "size of a segment file (for a new log, or the next segments)")(
        "compression", po::value<std::string>()->default_value("none"),
        "compression of values of records that do not say (none, lz4, zstd)");
}

int run(const po::variables_map& vm, context& ctx) {
    wal_config cfg;
    cfg.dir = std::filesystem::path(vm["dir"].as<std::string>());
    cfg.fsync = policy_from(vm);
    cfg.max_segment_size = vm["segment-size"].as<std::uint64_t>();
    cfg.max_record_size = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(64u << 20, cfg.max_segment_size > 1024 ? cfg.max_segment_size - 1024 : 1));
    const std::string codec = vm["compression"].as<std::string>();
    if (codec == "lz4") {
        cfg.default_compression = compression::lz4;
    } else if (codec == "zstd") {
        cfg.default_compression = compression::zstd;
    } else if (codec != "none") {
        throw failure("--compression " + codec + ": unknown (none, lz4 or zstd)");
    }
    std::error_code ec;
    std::string why;
    wal::opened opened = wal::open(cfg, ec, &why);
    if (ec) throw failure(why.empty() ? cfg.dir.string() + ": cannot open the log: " + ec.message() : why);
    wal& log = opened.log;

    // Reading standard input would flush a stream tied to it (std::cin is tied to std::cout)
    // from this thread while the printer writes to it.
    struct untie {
        std::istream& in;
        std::ostream* was;
        ~untie() { in.tie(was); }
    } untied{ctx.in, ctx.in.tie(nullptr)};
    acknowledgements acks(ctx.out);
    std::string line;
    std::uint64_t number = 0;
    std::string bad;  // the error that stops the import
    std::vector<import_record> batch;
    std::uint64_t batch_line = 0;

    auto submit_batch = [&] {
        std::vector<record> views;
        for (const import_record& r : batch) views.push_back(view_of(r, batch_line));
        const std::size_t n = views.size();
        acks.wait_below(max_in_flight);
        pending& p = acks.start(batch_line, n);
        log.async_append_batch(views, [&acks, &p, n](boost::system::error_code e, std::vector<position> pos) {
            acks.complete(p, e, std::move(pos), n);
        });
        batch.clear();
    };

    while (bad.empty() && !acks.failed() && std::getline(ctx.in, line)) try {
            ++number;
            if (blank(line)) continue;
            import_record r;
            std::string error;
            if (!parse_import_line(line, r, error)) {
                bad = "line " + std::to_string(number) + ": " + error;
                break;
            }
            const bool in_batch = !batch.empty();
            if (r.batch == detail::record_type::middle || r.batch == detail::record_type::last) {
                if (!in_batch) {
                    bad = "line " + std::to_string(number) + ": \"batch\": \"" +
                          std::string(batch_name(r.batch)) + "\" without a \"first\" before it";
                    break;
                }
                batch.push_back(std::move(r));
                if (batch.back().batch == detail::record_type::last) submit_batch();
                continue;
            }
            if (in_batch) {
                bad = "line " + std::to_string(number) + ": the batch begun on line " +
                      std::to_string(batch_line) + " has no \"last\" record";
                break;
            }
            if (r.batch == detail::record_type::first) {
                batch_line = number;
                batch.push_back(std::move(r));
                continue;
            }
            const record rec = view_of(r, number);
            acks.wait_below(max_in_flight);
            pending& p = acks.start(number, 1);
            log.async_append(rec, [&acks, &p](boost::system::error_code e, position pos) {
                acks.complete(p, e, std::vector<position>{pos}, 1);
            });
        } catch (const failure& f) {
            bad = f.what();  // appends are outstanding: wait for them below, then report
        } catch (const std::exception& e) {
            bad = "line " + std::to_string(number) + ": " + e.what();
        }
    if (bad.empty() && !batch.empty() && !acks.failed())
        bad =
            "end of input: the batch begun on line " + std::to_string(batch_line) + " has no \"last\" record";
    if (bad.empty() && ctx.in.bad()) bad = "cannot read standard input";

    acks.finish();
    std::error_code close_ec;
    try {
        log.close();
    } catch (const std::system_error& e) {
        close_ec = e.code();
    }
    const std::string done = std::to_string(acks.acknowledged()) +
                             (acks.acknowledged() == 1 ? " record appended" : " records appended") +
                             (acks.acknowledged() != 0 ? " (LSN " + std::to_string(acks.first_lsn()) + ".." +
                                                             std::to_string(acks.last_lsn()) + ")"
                                                       : std::string());
    if (acks.failed()) {
        const pending& f = acks.failure_entry();
        throw failure("line " + std::to_string(f.first_line) + ": the append failed: " + f.ec.message() +
                      "; " + done + " before it, none from it on");
    }
    if (!bad.empty()) throw failure(bad + "; " + done + " before it, none from it on");
    if (close_ec)
        throw failure("closing the log failed: " + close_ec.message() + "; " + done +
                      " but the last ones may not be durable");
    ctx.err << "wal-inspect import: " << done << " to " << cfg.dir.string() << '\n';
    return exit_ok;
}

}  // namespace

const command import_command = {
    "import",
    "appends records read as JSON lines from stdin (dump --format json's format)",
    "DIR [--fsync always|batch|os] < records.jsonl",
    "Appends to the log in DIR (created if missing) the records read from standard input, one JSON\n"
    "object per line, in the format of `wal-inspect dump --format json`: key or key_base64 (required),\n"
    "value or value_base64, tombstone, ttl_ms or expiry_unix_ms (an absolute expiry wins over a TTL;\n"
    "it is kept to the millisecond), compression, and batch (\"first\" .. \"last\" lines are appended\n"
    "as one atomic batch). lsn, segment and offset are ignored: the log assigns new ones. Blank\n"
    "lines are skipped; any other member is an error.\n\n"
    "After each record's append completes, prints {\"lsn\": N, \"segment\": S, \"offset\": O} on\n"
    "standard output, in input order. A bad line stops the import with exit status 2 and a message\n"
    "naming the line: every record before it was appended and acknowledged, none from it on.\n"
    "Another process must not hold the log open (the log is locked while one writes).",
    add_options,
    run,
};

}  // namespace noriwal::inspect
