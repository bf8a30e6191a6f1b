// The compiled core of noriwal::wal: the intake of requests, the writer strand, the sync and
// spare threads, and completion of handlers on their executors.
//
//   caller thread: encode the record(s) -> request -> if the writer is idle and nothing is
//                  queued: write it now, as one writer step (the speculative write) ->
//                  else intake (mutex, O(1)) -> post one drain
//   writer thread: take the whole intake -> write consecutive appends as one group
//                  (segment_log::append) -> writer_fsm: complete, or wait for a round
//                  -> start an fdatasync round on the sync thread when one is due
//   sync thread:   run_sync(job) -> post the result back to the writer thread
//   spare thread:  make_spare(request) -> post the spare back to the writer thread
//
// Threads and lifetime. The three threads each hold a strong reference to the core; the
// public handles (noriwal::wal) share a second reference counter whose deleter calls
// shutdown(). So the last handle to go closes the log and waits (bounded) for the threads,
// while the core itself lives until the last thread has let go of it.
#pragma once

#include <noriwal/wal.hpp>

#include <read/served_log.hpp>
#include <wal/histogram_recorder.hpp>
#include <wal/writer_fsm.hpp>

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace noriwal::detail {

using steady = std::chrono::steady_clock;

// ------------------------------------------------------------------ requests

/// One operation of the intake. Created on the caller's thread, owned by the core from
/// submit() until complete(), then handed to its handler's executor, where deliver() invokes
/// the handler and frees the request.
struct request {
    /// Cancellation: the writer moves an append from `queued` to `taken` right before writing
    /// it; a cancellation moves it from `queued` to `cancelled`. Whoever wins decides.
    enum : std::uint8_t { queued, taken, cancelled };

    explicit request(request_kind k) noexcept : kind(k) {}
    virtual ~request() = default;
    request(const request&) = delete;
    request& operator=(const request&) = delete;

    /// On the handler's executor: invokes the handler with the result, frees this request.
    virtual void deliver() = 0;

    bool is_append() const noexcept {
        return kind == request_kind::append || kind == request_kind::append_batch;
    }

    request_kind kind;
    std::atomic<std::uint8_t> state{queued};
    std::uint64_t generation = 0;  // the intake generation it was submitted in
    request* prev = nullptr;       // intake / pending list links
    request* next = nullptr;
    boost::system::error_code ec;
    /// The handler's associated executor, tracking outstanding work until delivery. Empty
    /// for the internal close of shutdown(), which has no handler.
    boost::asio::any_completion_executor work;
    /// Appends of a wal with a writer thread: the wal's count of appends not yet delivered,
    /// released by deliver() just before the handler runs (see write_speculatively).
    std::shared_ptr<std::atomic<std::int64_t>> undelivered;
};

// ------------------------------------------------------------------ statistics

/// Counters of the wal, written by the writer thread and read by stats() on any thread.
struct wal_counters {
    std::atomic<std::uint64_t> appends{0}, records{0}, bytes{0}, writes{0}, fsyncs{0}, failed_appends{0},
        segments_rolled{0}, segments_deleted{0};
    histogram_recorder<duration_bounds_ns.size()> fsync_ns{duration_bounds_ns, 1e9};
    histogram_recorder<duration_bounds_ns.size()> append_ns{duration_bounds_ns, 1e9};
    histogram_recorder<size_bounds.size()> fsync_group{size_bounds, 1};
    histogram_recorder<size_bounds.size()> write_group{size_bounds, 1};

    static void add(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
        c.fetch_add(n, std::memory_order_relaxed);
    }
};

// ------------------------------------------------------------------ the core

class wal_core : public std::enable_shared_from_this<wal_core> {
public:
    /// How long the last handle's destructor waits for the close and for the threads.
    static constexpr std::chrono::seconds shutdown_wait{10};

    /// Starts the threads. `ex` empty: handlers default to the writer thread.
    static std::shared_ptr<wal_core> create(wal::executor_type ex, wal_config cfg);
    ~wal_core();

    /// Opens the engine (recovery). On the calling thread, before anything else runs.
    std::error_code open_log(recovery_info& info, std::string& why);
    /// A public handle (see the top of this file). Once per core.
    wal make_handle();
    /// Closes the log (unless closed) and ends the threads, waiting at most shutdown_wait.
    /// From one of the core's own threads it cannot wait: the threads then end by themselves.
    void shutdown() noexcept;
    /// Ends a core whose open_log failed: no close (there is no log), then shutdown().
    void abandon() noexcept;

    // Caller threads.
    void submit(request* r);
    /// Completes `r` (its ec set) without it ever entering the intake, never inline.
    void reject(request* r);
    void cancel(request* r) noexcept;
    const encode_options& encoding() const noexcept { return encoding_; }
    /// Appends may be written on their callers' threads (write_speculatively): only with the
    /// wal's own writer thread. Its handlers' executors are then tracked with blocking.never.
    bool writes_speculatively() const noexcept { return own_writer_thread_; }
    boost::asio::any_completion_executor default_executor() const noexcept { return default_ex_; }
    /// Where open_log runs: a thread of the wal's own (the spare thread, idle until then).
    boost::asio::io_context::executor_type open_executor() noexcept { return spare_ctx_.get_executor(); }
    /// The writer strand: on the wal's own writer thread, or on wal_config::io_executor.
    const boost::asio::strand<boost::asio::any_io_executor>& writer_executor() const noexcept {
        return writer_;
    }

    // Observation (any thread).
    position written_position() const;
    position durable_position() const;
    lsn_t written_lsn() const noexcept { return written_lsn_.load(std::memory_order_acquire); }
    lsn_t durable_lsn() const noexcept { return durable_lsn_.load(std::memory_order_acquire); }
    lsn_t first_lsn() const noexcept { return first_lsn_.load(std::memory_order_acquire); }
    const wal_config& config() const noexcept { return cfg_; }
    wal_stats stats() const;
    wal::executor_type get_executor() const noexcept { return public_ex_; }
    bool is_open() const noexcept { return open_.load(std::memory_order_acquire); }
    std::error_code failure() const;
    wal_counters& counters() noexcept { return counters_; }
    /// Spare segments being prepared on the spare thread (for benchmarks, which leave that
    /// set-up out of their timed part).
    int spares_in_flight() const noexcept { return spares_in_flight_.load(std::memory_order_acquire); }

    static const std::shared_ptr<wal_core>& of(const wal& w) noexcept { return w.core_; }
    /// The writer role (see writer_role_). Tests hold it to keep the writer busy, so that
    /// appends initiated meanwhile queue instead of being written speculatively.
    std::mutex& writer_role() noexcept { return writer_role_; }
    /// What readers of this wal read from (set by open_log).
    const std::shared_ptr<segment_registry>& registry() const noexcept { return registry_; }

    /// Completes `r` on its handler's executor (dispatch: inline only if the caller already
    /// runs there, which for the wal's own threads means a handler without an executor).
    static void complete(request* r) noexcept;
    /// Completes requests in order, grouping consecutive ones that share an executor.
    static void complete_all(std::span<request* const> done) noexcept;

private:
    struct private_tag {};

public:
    wal_core(private_tag, wal::executor_type ex, wal_config cfg);

private:
    class stats_meter;

    void start_threads();
    bool on_own_thread() const noexcept;
    bool cannot_wait_here() const noexcept;
    boost::asio::any_io_executor writer_work() const;

    // Writer strand.
    class writer_step;
    bool write_speculatively(request* r);
    void drain();
    void process();
    void write_appends();
    void handle(request* r);
    void finish(request* r);  // queue for completion at the end of the strand step
    void end_step();
    void maybe_start_sync();
    void on_sync_done(const sync_job& job, std::error_code ec, position covered);
    void maybe_prepare_spare();
    void arm_batch_timer();
    void arm_maintenance_timer();
    void on_maintenance();
    void close_log(request* r);
    void poison(std::error_code ec);
    void take_completions();         // finish() what the fsm completed
    void deliver_outbox() noexcept;  // after a step: complete what steps finished, in order
    void publish_watermarks();

    wal_config cfg_;
    encode_options encoding_;
    wal::executor_type public_ex_;                     // given to open, or the writer's
    boost::asio::any_completion_executor default_ex_;  // same, for get_associated_executor
    std::shared_ptr<stats_meter> meter_;
    wal_counters counters_;

    boost::asio::io_context writer_ctx_{1};  // run by the writer thread, unless io_executor is given
    bool own_writer_thread_;                 // no io_executor given
    boost::asio::strand<boost::asio::any_io_executor> writer_;
    boost::asio::io_context sync_ctx_{1};
    boost::asio::io_context spare_ctx_{1};
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> writer_guard_,
        sync_guard_, spare_guard_;
    std::thread writer_thread_, sync_thread_, spare_thread_;
    std::thread::id writer_id_, sync_id_, spare_id_;
    // With an io_executor: work on it, set by close_log, that the sync and spare threads keep
    // until they have dropped their reference to the core.
    boost::asio::any_io_executor sync_exit_work_, spare_exit_work_;

    // Intake (intake_mutex_).
    std::mutex intake_mutex_;
    request* intake_head_ = nullptr;
    request* intake_tail_ = nullptr;
    std::uint64_t intake_generation_ = 1;
    bool drain_posted_ = false;
    bool closing_ = false;  // a close was accepted: later requests get errc::closed

    // The writer role: whoever holds it runs one step of the writer and may touch the writer
    // strand state below. The strand's handlers take it (and wait for it), a caller takes it
    // only with try_lock, to write an uncontended append speculatively (write_speculatively).
    // Lock order: writer_role_, then intake_mutex_.
    std::mutex writer_role_;
    // Appends submitted and not yet delivered to their handlers. Only an append with none
    // before it is written speculatively: with appends in flight (pipelined, or several
    // appenders), queueing lets the writer thread write them as one group.
    std::shared_ptr<std::atomic<std::int64_t>> undelivered_ = std::make_shared<std::atomic<std::int64_t>>(0);

    // Writer strand state (writer_role_).
    std::unique_ptr<served_log> log_;             // the engine and its readers' registry
    std::shared_ptr<segment_registry> registry_;  // log_'s, kept for readers after the close
    writer_fsm<request*> fsm_;         // the writer's decisions; this class carries out its actions
    request* pending_head_ = nullptr;  // taken from the intake, not yet handled, in order
    request* pending_tail_ = nullptr;
    position written_pos_;  // last record written (writer's copy)
    // The timers wait on the sync thread's context and complete on the writer strand: so the
    // strand's context (the wal's writer, or the io_executor's) gets no reactor from the wal,
    // and running it costs no epoll_wait per handler.
    boost::asio::steady_timer batch_timer_;
    bool batch_timer_armed_ = false;
    boost::asio::steady_timer maintenance_timer_;
    std::optional<steady::time_point> maintenance_at_;
    std::vector<append_request> group_;
    std::vector<request*> group_ops_;
    std::vector<std::error_code> results_;
    std::vector<request*> done_;  // completed during this strand step
    // Completed by steps, not yet handed to their executors (outbox_mutex_); the thread that
    // holds delivery_mutex_ hands them over (deliver_outbox), from delivering_.
    std::mutex outbox_mutex_, delivery_mutex_;
    std::vector<request*> outbox_, delivering_;
    std::vector<writer_fsm<request*>::written_append> written_;

    // Published for any thread.
    std::atomic<lsn_t> written_lsn_{0};
    std::atomic<lsn_t> durable_lsn_{0};
    std::atomic<lsn_t> first_lsn_{0};  // the log's first_lsn(), after open, deletions, truncations
    std::atomic<bool> open_{false};
    std::atomic<int> spares_in_flight_{0};
    mutable std::mutex published_mutex_;
    position published_written_, published_durable_;
    std::error_code failure_;  // fsm_.failure(), published

    // Shutdown (state_mutex_).
    std::mutex state_mutex_;
    std::condition_variable state_cv_;
    bool close_done_ = false;
    int threads_running_ = 0;
    std::atomic<bool> shutdown_started_{false};
};

}  // namespace noriwal::detail
