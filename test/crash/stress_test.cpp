// Concurrency stress: many threads appending (singles, atomic batches, durability::always()), with
// GC and truncation running at the same time, rotation every few records and readers tailing
// the log, checked against a model of what every appender was told (crash/wal_model.hpp): on
// the simulated disk with crash points sampled while it runs and a power cut at the end, and
// on real files. Built to run clean under ThreadSanitizer (the CI runs the suite there).
#include <noriwal/error.hpp>
#include <noriwal/reader.hpp>
#include <noriwal/wal.hpp>

#include "crash/wal_workload.hpp"
#include "support/printing.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <thread>

using namespace noriwal;
using namespace noriwal::test;
using boost::system::error_code;

namespace {

wal_config stress_config(fsync_policy policy) {
    wal_config cfg;
    cfg.max_segment_size = 8192;
    cfg.max_record_size = 4000;
    cfg.fsync = policy;
    cfg.recycle_segments = true;
    return cfg;
}

// ------------------------------------------------------------------------ tailing readers

// A reader of the live wal that tails it on its own thread until the wal closes, and checks
// what the reader API promises (doc/readers.md) as each record comes:
//   - within a run (from one seek to the next error), LSNs go up by exactly 1, atomic batches
//     come whole and in order, and each stream's records come in the order it appended;
//   - each record is byte for byte the one its key names (wal_model::check_entry);
//   - a record is at or below the reader's watermark (written_lsn, or durable_lsn for a
//     durable reader) read just after it, unless a truncation (which lowers both) ran meanwhile;
//   - errc::truncated comes only to a reader that returned a record since its last seek, and
//     errc::not_found only when its next LSN is below the GC point; both are sticky until a
//     seek, so the reader seeks to the start and goes on;
//   - it ends with errc::closed, after every record: the last LSN it returned is the last one
//     written (checked by the caller, as are the reads against the model at the end).
// Every record read is kept (observed_read) for wal_model::check_reads.
class tailing_reader {
public:
    enum class mode { async, blocking };

    tailing_reader(boost::asio::io_context& ioc, noriwal::wal log, wal_model& model, std::string name,
                   visibility v, mode how, std::size_t max_reads)
        : ioc_(ioc),
          log_(std::move(log)),
          model_(model),
          name_(std::move(name)),
          visible_(v),
          how_(how),
          max_reads_(max_reads) {
        reader_options o;
        o.visible = v;
        reader_ = log_.make_reader(o);
    }

    // The reader's thread: reads until the wal closes.
    void run() {
        if (how_ == mode::blocking) {
            for (;;) {
                begin_read();
                std::error_code ec;
                auto e = reader_.next(ec);
                if (!end_read(ec, e ? *e : entry{})) break;
            }
            return;
        }
        // async_next's handlers run here, on the reader's own io_context: the read itself
        // (decoding, CRC, decompression) runs on the handler's executor.
        std::function<void()> read_next = [&] {
            begin_read();
            reader_.async_next(boost::asio::bind_executor(ioc_, [&](error_code ec, entry e) {
                if (end_read(ec, e)) read_next();
            }));
        };
        read_next();
        ioc_.run();
    }

    const std::string& name() const { return name_; }
    std::size_t records() const { return records_; }
    std::size_t truncated() const { return truncated_; }
    std::size_t not_found() const { return not_found_; }
    lsn_t last() const { return last_; }
    bool closed() const { return closed_; }
    const std::vector<observed_read>& observed() const { return observed_; }
    // The first violations, empty when there were none.
    std::string errors() const {
        std::string all;
        for (const auto& e : errors_) all += name_ + ": " + e + "\n";
        return all;
    }

private:
    void begin_read() {
        after_ = model_.seq();
        truncations_before_ = model_.truncation_state();
    }

    // Checks one completed read; returns whether to read on.
    bool end_read(std::error_code ec, const entry& e) {
        if (++reads_ > max_reads_) {
            fail("more than " + std::to_string(max_reads_) +
                 " reads without reaching the end of the closed log");
            return false;
        }
        if (ec == errc::closed) {
            closed_ = true;
            return false;
        }
        if (ec == errc::truncated) {
            ++truncated_;
            if (run_records_ == 0 || model_.truncation_state().first == 0)
                fail("errc::truncated, but the reader returned no record since its last seek (" +
                     std::to_string(run_records_) + ") or no truncation was initiated");
            restart();
            return true;
        }
        if (ec == errc::not_found) {
            ++not_found_;
            const lsn_t next = reader_.tell().lsn;
            const lsn_t floor = model_.gc_floor();
            if (next >= floor)
                fail("errc::not_found at LSN " + std::to_string(next) + ", which is not below the GC point " +
                     std::to_string(floor));
            restart();
            return true;
        }
        if (ec) {
            fail("read at LSN " + std::to_string(reader_.tell().lsn) + ": " + ec.message());
            return false;
        }
        check_record(e);
        return errors_.size() < 5;
    }

    void check_record(const entry& e) {
        read_record r;
        r.lsn = e.lsn();
        r.segment_id = e.pos().segment_id;
        r.offset = e.pos().offset;
        r.type = e.batch() == batch_part::single  ? detail::record_type::full
                 : e.batch() == batch_part::first ? detail::record_type::first
                 : e.batch() == batch_part::last  ? detail::record_type::last
                                                  : detail::record_type::middle;
        r.tombstone = e.tombstone();
        r.has_expiry = e.expiry().has_value();
        r.key.assign(e.key().begin(), e.key().end());
        r.value.assign(e.value().begin(), e.value().end());
        const std::string key(as_string(e.key()));

        // The watermark read after the record was: it covered the record, unless a truncation
        // (which lowers it) was initiated or running since the read began.
        const lsn_t mark = visible_ == visibility::durable ? log_.durable_lsn() : log_.written_lsn();
        const auto truncations = model_.truncation_state();
        if (r.lsn > mark && truncations == truncations_before_ && !truncations.second)
            fail("LSN " + std::to_string(r.lsn) + " returned above the " +
                 (visible_ == visibility::durable ? "durable" : "written") + " watermark " +
                 std::to_string(mark));
        if (next_lsn_ != 0 && r.lsn != next_lsn_)
            fail("LSN " + std::to_string(r.lsn) + " after LSN " + std::to_string(next_lsn_ - 1) +
                 " (not contiguous)");
        if (!batch_next_.empty() && key != batch_next_)
            fail("LSN " + std::to_string(r.lsn) + " holds " + key +
                 " inside an atomic batch whose next record is " + batch_next_ + " (part of a batch)");
        if (auto why = model_.check_entry(r); !why.empty()) fail(why);
        std::string stream;
        std::uint64_t n = 0;
        if (parse_content_key(key, stream, n)) {
            if (auto it = stream_n_.find(stream); it != stream_n_.end() && it->second >= n)
                fail("LSN " + std::to_string(r.lsn) + " holds " + key + " after " + stream + "/" +
                     std::to_string(it->second) + " (out of the order the stream appended)");
            stream_n_[stream] = n;
            const bool batch_goes_on = e.batch() == batch_part::first || e.batch() == batch_part::middle;
            batch_next_ = batch_goes_on ? stream + "/" + std::to_string(n + 1) : std::string();
        }
        observed_.push_back({r.lsn, key, after_});
        next_lsn_ = r.lsn + 1;
        last_ = r.lsn;
        ++run_records_;
        ++records_;
    }

    // After errc::truncated or errc::not_found (sticky until a seek): from the first record the
    // log holds now; a new run begins.
    void restart() {
        if (auto ec = reader_.seek_start()) fail("seek_start: " + ec.message());
        next_lsn_ = 0;
        batch_next_.clear();
        stream_n_.clear();
        run_records_ = 0;
    }

    void fail(std::string why) {
        if (errors_.size() < 5) errors_.push_back(std::move(why));
    }

    boost::asio::io_context& ioc_;  // where async_next's handlers run (tailing_readers owns it)
    noriwal::wal log_;
    wal_model& model_;
    std::string name_;
    visibility visible_;
    mode how_;
    std::size_t max_reads_;
    reader reader_;

    std::uint64_t after_ = 0;                          // the model's events before the current read
    std::pair<std::size_t, bool> truncations_before_;  // and its truncations then
    lsn_t next_lsn_ = 0;                               // the next LSN of this run (0: a run begins)
    std::string batch_next_;                           // inside a batch: the key that must come next
    std::map<std::string, std::uint64_t> stream_n_;    // per stream, its last record in this run
    std::size_t run_records_ = 0;

    std::size_t reads_ = 0;
    std::size_t records_ = 0;
    std::size_t truncated_ = 0;
    std::size_t not_found_ = 0;
    lsn_t last_ = 0;
    bool closed_ = false;
    std::vector<observed_read> observed_;
    std::vector<std::string> errors_;
};

// Three readers, each on its own thread: two of the written watermark (one with async_next on
// its own io_context, one with the blocking next) and one of the durable watermark (async_next).
class tailing_readers {
public:
    tailing_readers(const noriwal::wal& log, wal_model& model, std::size_t max_reads) {
        using mode = tailing_reader::mode;
        const auto add = [&](const char* name, visibility v, mode how) {
            contexts_.push_back(std::make_unique<boost::asio::io_context>());
            readers_.push_back(
                std::make_unique<tailing_reader>(*contexts_.back(), log, model, name, v, how, max_reads));
        };
        add("written reader (async_next)", visibility::written, mode::async);
        add("written reader (next)", visibility::written, mode::blocking);
        add("durable reader (async_next)", visibility::durable, mode::async);
        for (auto& r : readers_) threads_.emplace_back([&r] { r->run(); });
    }
    ~tailing_readers() { join(); }

    // Returns when every reader has seen the wal close.
    void join() {
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }

    // After join: every reader checked, against the closed log whose last LSN is `last` and
    // what the model says, with the truncations and deleted segments that ran.
    void check(const wal_model& model, const std::vector<read_record>& final_log, lsn_t last,
               std::size_t truncations, std::size_t deleted_segments) const {
        for (const auto& r : readers_) {
            BOOST_TEST(r->errors() == "");
            BOOST_TEST(r->closed(), r->name() << " did not end with errc::closed");
            BOOST_TEST(r->last() == last, r->name()
                                              << " ended at LSN " << r->last() << ", the log at " << last);
            // Each truncation and deletion costs a reader at most one error (then it seeks).
            BOOST_TEST(r->truncated() <= truncations, r->name());
            BOOST_TEST(r->not_found() <= deleted_segments, r->name());
            BOOST_TEST(model.check_reads(r->observed(), final_log) == "", r->name());
        }
    }

    std::string summary() const {
        std::string s;
        for (const auto& r : readers_)
            s += "; " + r->name() + ": " + std::to_string(r->records()) + " records read and checked, " +
                 std::to_string(r->truncated()) + " truncated, " + std::to_string(r->not_found()) +
                 " not found";
        return s;
    }

private:
    // Destroyed after the readers, whose wal handles are the last ones (the wal's threads are
    // joined with the last): the writer thread posts async_next's wake-ups to these contexts,
    // and Asio signals a context's condition variable after releasing its mutex, so a context
    // must outlive the threads that post to it.
    std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
    std::vector<std::unique_ptr<tailing_reader>> readers_;
    std::vector<std::thread> threads_;
};

// Appenders, a GC thread and a truncation thread on `w` at once. Returns the number of
// truncations and deletions that ran.
std::pair<std::size_t, std::size_t> storm(wal_workload& w, std::size_t appenders, std::size_t per_appender) {
    std::atomic<std::size_t> running{appenders};
    std::atomic<std::size_t> truncations{0};
    std::atomic<std::size_t> deletions{0};
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < appenders; ++i) {
        threads.emplace_back([&, i] {
            const auto ec =
                w.append_stream("s" + std::to_string(i), per_appender, 1 + i % 4, i % 3 == 0 ? 0 : 5,
                                i == 1 ? durability::always() : durability::as_configured());
            // Truncation completes appends above its LSN that wait for durability with errc::truncated.
            BOOST_TEST((!ec || ec == errc::truncated), "appender " << i << ": " << ec.message());
            --running;
        });
    }
    threads.emplace_back([&] {
        while (running > 0) {
            const lsn_t written = w.log().written_lsn();
            if (written > 150) {
                std::uint64_t n = 0;
                const auto ec = w.delete_before(written - 120, &n);
                BOOST_TEST(!ec, "delete_segments_before: " << ec.message());
                deletions += n;
            }
            // A sync that a concurrent truncate_after overtakes completes with errc::truncated.
            const auto ec = w.sync();
            BOOST_TEST((!ec || ec == errc::truncated), "async_sync: " << ec.message());
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
    threads.emplace_back([&] {
        for (int k = 0; running > 0; ++k) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            const lsn_t at = w.model().last_single_acked();
            if (at > 50 && k % 3 == 2) {
                const auto ec = w.truncate_after(at);
                BOOST_TEST(!ec, "truncate_after(" << at << "): " << ec.message());
                ++truncations;
            }
        }
    });
    for (auto& t : threads) t.join();
    return {truncations.load(), deletions.load()};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(stress)

BOOST_AUTO_TEST_CASE(appenders_readers_gc_and_truncation_on_the_simulated_disk) {
    for (const auto policy : {fsync_policy::always(), fsync_policy::os()}) {
        const auto cfg = stress_config(policy);
        exploration_options o;
        o.max_exhaustive = 3;
        o.samples = 2;
        o.max_tears_per_write = 1;
        o.garbage = false;
        o.deep = false;
        crash_explorer ex(cfg, o);
        wal_workload w("stress", cfg, &ex, 0.05 * test_scale(), 7);
        const std::size_t per_appender = scaled(250, 30);
        // A loose bound that only a reader going round in circles reaches.
        tailing_readers readers(w.log(), w.model(), 64 * 8 * (per_appender + 4));
        const auto [truncations, deletions] = storm(w, 8, per_appender);
        const lsn_t last = w.log().written_lsn();
        BOOST_TEST(!w.close());
        readers.join();  // the close ends every reader (errc::closed), after its last record
        std::vector<read_record> final_log;
        const auto closed = w.check_closed(&final_log);
        BOOST_TEST(closed.empty(), closed);
        BOOST_TEST(ex.failures() == 0u);
        readers.check(w.model(), final_log, last, truncations, deletions);
        BOOST_TEST_MESSAGE("stress on the simulated disk ("
                           << (policy == fsync_policy::always() ? "always" : "os")
                           << "): " << w.model().acked_count() << " appends acknowledged, " << truncations
                           << " truncations, " << deletions << " segments deleted, " << ex.points()
                           << " crash points, " << ex.states() << " states checked" << readers.summary());
    }
}

BOOST_AUTO_TEST_CASE(appenders_readers_gc_and_truncation_on_real_files) {
    temp_dir tmp("noriwal-stress");
    wal_config cfg = stress_config(fsync_policy::batch(std::chrono::milliseconds(1)));
    cfg.dir = tmp / "log";
    std::error_code ec;
    std::string why;
    auto opened = noriwal::wal::open(cfg, ec, &why);
    BOOST_TEST_REQUIRE(!ec, why);
    noriwal::wal w = std::move(opened.log);
    wal_model model;
    const std::size_t per_appender = scaled(300, 30);
    tailing_readers readers(w, model, 64 * 6 * (per_appender + 3));
    std::atomic<std::size_t> running{6};
    std::atomic<std::size_t> truncations{0};
    std::atomic<std::size_t> deletions{0};
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < 6; ++i) {
        threads.emplace_back([&, i] {
            const std::string stream = "f" + std::to_string(i);
            for (std::size_t k = 0; k < per_appender; k += 3) {
                std::vector<std::future<error_code>> inflight;
                for (int j = 0; j < 3; ++j) {
                    auto c = std::make_shared<record_content>(model.next(stream));
                    auto pr = std::make_shared<std::promise<error_code>>();
                    inflight.push_back(pr->get_future());
                    w.async_append(c->as_record(), [&model, c, pr](error_code e, position p) {
                        if (!e) model.acked(*c, p.lsn, false);
                        if (e == errc::truncated) model.truncated(*c);
                        pr->set_value(e);
                    });
                }
                // An append waiting for its batch fsync above a truncation point completes
                // with errc::truncated; the stream goes on (the model allows the gap).
                for (auto& f : inflight) {
                    const error_code e = f.get();
                    BOOST_TEST((!e || e == errc::truncated), "append: " << e.message());
                }
            }
            --running;
        });
    }
    threads.emplace_back([&] {
        while (running > 0) {
            const lsn_t written = w.written_lsn();
            if (written > 200) {
                model.gc(written - 150);
                deletions += w.delete_segments_before(position{0, 0, written - 150});
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(3));
        }
    });
    threads.emplace_back([&] {
        for (int k = 0; running > 0; ++k) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            const lsn_t at = model.last_single_acked();
            if (at > 50 && k % 3 == 2) {
                const auto ticket = model.truncate_started(at);
                auto pr = std::make_shared<std::promise<error_code>>();
                auto f = pr->get_future();
                w.async_truncate_after(at, [pr](error_code e) { pr->set_value(e); });
                const error_code e = f.get();
                BOOST_TEST(!e, "truncate_after(" << at << "): " << e.message());
                if (!e) model.truncate_done(ticket);
                ++truncations;
            }
        }
    });
    for (auto& t : threads) t.join();
    const lsn_t written = w.written_lsn();
    w.close();
    readers.join();  // the close ends every reader (errc::closed), after its last record
    w = {};
    std::unique_ptr<detail::segment_log> log;
    recovery_info info;
    BOOST_TEST_REQUIRE(!detail::segment_log::open(cfg, log, info, why), why);
    std::vector<read_record> got;
    BOOST_TEST_REQUIRE(read_log(*posix_file_system(), cfg.dir, got) == "");
    BOOST_TEST(model.check(got, written) == "");
    readers.check(model, got, written, truncations, deletions);
    BOOST_TEST_MESSAGE("stress on real files: " << model.acked_count() << " appends acknowledged, "
                                                << truncations << " truncations, " << deletions
                                                << " segments deleted, " << info.segments_scanned
                                                << " segments at the end" << readers.summary());
}

BOOST_AUTO_TEST_SUITE_END()
