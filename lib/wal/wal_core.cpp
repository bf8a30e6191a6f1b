// The writer strand of noriwal::wal: intake, group writes, group commit, spares, timers and
// shutdown. See wal_core.hpp for the threads and the lifetime rules.
#include <wal/wal_core.hpp>

#include <noriwal/meter.hpp>
#include <wal/adaptive_spin.hpp>
#include <wal/requests.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <span>
#include <utility>

#include <pthread.h>

namespace noriwal::detail {

namespace {

// A group is written with one segment_log::append call; these bound its size so that one
// huge burst does not delay its first completions behind a single enormous write.
constexpr std::size_t max_group_requests = 4096;
constexpr std::size_t max_group_bytes = 16u << 20;

std::uint64_t system_now_ns() noexcept {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

std::uint64_t to_ns(steady::duration d) noexcept {
    auto n = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    return n < 0 ? 0 : static_cast<std::uint64_t>(n);
}

void name_thread(std::thread& t, const char* name) noexcept {
#if defined(__linux__)
    pthread_setname_np(t.native_handle(), name);
#else
    (void)t;
    (void)name;
#endif
}

}  // namespace

// ------------------------------------------------------------------ writer role

namespace {
/// The core whose writer role this thread holds (null: none). A handler run inside a writer
/// step that starts an append must queue it: the role is not recursive.
thread_local const wal_core* stepping_core = nullptr;
}  // namespace

/// Holds the writer role for one step: every handler of the writer strand runs inside one.
/// The step's completions go to their handlers' executors after the role is let go (see
/// deliver_outbox), so that a handler woken by them finds the writer idle.
class wal_core::writer_step {
public:
    explicit writer_step(wal_core& c)
        : core_(c), lk_(c.writer_role_), prev_(std::exchange(stepping_core, &c)) {}
    writer_step(wal_core& c, std::unique_lock<std::mutex>&& owned)
        : core_(c), lk_(std::move(owned)), prev_(std::exchange(stepping_core, &c)) {}
    ~writer_step() {
        lk_.unlock();
        core_.deliver_outbox();
        stepping_core = prev_;
    }
    writer_step(const writer_step&) = delete;
    writer_step& operator=(const writer_step&) = delete;

private:
    wal_core& core_;
    std::unique_lock<std::mutex> lk_;
    const wal_core* prev_;
};

// ------------------------------------------------------------------ meter

/// Handed to the engine as its meter: counts the engine's events (group writes, fsync rounds,
/// segments rolled and deleted) into the wal's statistics and forwards them to the user's
/// meter. The engine calls it on the writer thread. Append latencies come from the wal itself.
class wal_core::stats_meter final : public meter {
public:
    stats_meter(wal_counters& c, std::shared_ptr<meter> user) : c_(c), user_(std::move(user)) {}

    void on_segment_rolled(std::uint64_t sealed, std::uint64_t bytes, std::uint64_t next) override {
        wal_counters::add(c_.segments_rolled, 1);
        if (user_) user_->on_segment_rolled(sealed, bytes, next);
    }
    void on_fsync(std::chrono::nanoseconds duration, std::uint64_t group_size) override {
        wal_counters::add(c_.fsyncs, 1);
        c_.fsync_ns.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, duration.count())));
        c_.fsync_group.record(group_size);
        if (user_) user_->on_fsync(duration, group_size);
    }
    void on_corruption(const damage& what) override {
        if (user_) user_->on_corruption(what);
    }
    void on_segment_deleted(std::uint64_t id) override {
        wal_counters::add(c_.segments_deleted, 1);
        if (user_) user_->on_segment_deleted(id);
    }
    void on_write(std::uint64_t records, std::uint64_t bytes) override {
        wal_counters::add(c_.writes, 1);
        wal_counters::add(c_.records, records);
        wal_counters::add(c_.bytes, bytes);
        c_.write_group.record(records);
        if (user_) user_->on_write(records, bytes);
    }
    void on_append(std::chrono::nanoseconds latency) override {
        if (user_) user_->on_append(latency);
    }

    meter* user() const noexcept { return user_.get(); }

private:
    wal_counters& c_;
    std::shared_ptr<meter> user_;
};

// ------------------------------------------------------------------ construction, threads

wal_core::wal_core(private_tag, wal::executor_type ex, wal_config cfg)
    : cfg_(std::move(cfg)),
      own_writer_thread_(!cfg_.io_executor),
      writer_(boost::asio::make_strand(
          own_writer_thread_ ? boost::asio::any_io_executor(writer_ctx_.get_executor()) : cfg_.io_executor)),
      fsm_(cfg_.fsync),
      batch_timer_(sync_ctx_),
      maintenance_timer_(sync_ctx_) {
    if (!cfg_.fs) cfg_.fs = posix_file_system();
    encoding_.default_compression = cfg_.default_compression;
    encoding_.compression_min_size = cfg_.compression_min_size;
    encoding_.zstd_level = cfg_.zstd_level;
    encoding_.max_record_size = cfg_.max_record_size;
    public_ex_ = ex                   ? std::move(ex)
                 : own_writer_thread_ ? wal::executor_type(writer_ctx_.get_executor())
                                      : cfg_.io_executor;
    // Every request copies this executor (tracked). Wrapping the any_io_executor would share
    // its target and count references on each copy; an io_context's executor (or a strand of
    // one), the usual case, is held directly instead, where a copy is a plain copy.
    // With speculative writes, blocking.never: a handler is never run inside the call that
    // completes it (an append written speculatively completes on its caller's thread).
    using io_executor = boost::asio::io_context::executor_type;
    auto erase = [this](const auto& e) {
        if (!own_writer_thread_) return boost::asio::any_completion_executor(std::nothrow, e);
        return boost::asio::any_completion_executor(
            std::nothrow, boost::asio::prefer(e, boost::asio::execution::blocking.never));
    };
    if (const auto* io = public_ex_.target<io_executor>()) {
        default_ex_ = erase(*io);
    } else if (const auto* strand = public_ex_.target<boost::asio::strand<io_executor>>()) {
        default_ex_ = erase(*strand);
    } else if (const auto* pool = public_ex_.target<boost::asio::thread_pool::executor_type>()) {
        default_ex_ = erase(*pool);
    } else {
        default_ex_ = erase(public_ex_);
    }
    meter_ = std::make_shared<stats_meter>(counters_, cfg_.metrics);
    if (own_writer_thread_) writer_guard_.emplace(writer_ctx_.get_executor());
    sync_guard_.emplace(sync_ctx_.get_executor());
    spare_guard_.emplace(spare_ctx_.get_executor());
}

std::shared_ptr<wal_core> wal_core::create(wal::executor_type ex, wal_config cfg) {
    auto core = std::make_shared<wal_core>(private_tag{}, std::move(ex), std::move(cfg));
    core->start_threads();
    return core;
}

namespace {

/// Runs `ctx` until it is stopped or out of work, like io_context::run(), except that after
/// a burst of work the thread may keep polling for up to `spin` before it blocks: a handler
/// posted meanwhile then runs without the cost of waking a sleeping thread. It polls only while
/// polling pays (adaptive_spin: recent hand-overs came within `spin`), so a thread at rest,
/// or one whose work comes rarely, sleeps at once. Each empty poll yields the core, so a
/// spinning thread never keeps a runnable one off it.
/// When the thread that sleeps in run_polling was woken: the first handler it runs notes the
/// time (note_woken), so that the sleep is measured without the handler's own work (a sync
/// job's fdatasync lasts longer than any spin window, and would hide every short sleep).
struct wake_note {
    bool armed = false;
    steady::time_point at;
};
thread_local wake_note woken_note;

void note_woken() noexcept {
    if (!woken_note.armed) return;
    woken_note.armed = false;
    woken_note.at = steady::now();
}

void run_polling(boost::asio::io_context& ctx, std::chrono::microseconds spin) {
    if (spin.count() == 0) {
        ctx.run();
        return;
    }
    adaptive_spin policy(spin);
    for (;;) {
        if (ctx.poll() > 0) continue;
        if (ctx.stopped()) return;  // out of work (or stopped): what run() would return on
        if (const auto budget = policy.budget(); budget.count() > 0) {
            const auto until = steady::now() + budget;
            bool ran = false;
            while (!ran && steady::now() < until) {
                std::this_thread::yield();
                ran = ctx.poll() > 0;
                if (ctx.stopped()) return;
            }
            if (ran) {
                policy.on_hit();
                continue;
            }
            policy.on_miss();
        }
        const auto slept_from = steady::now();
        woken_note.armed = true;
        if (ctx.run_one() == 0) return;
        const auto woken = woken_note.armed ? steady::now() : woken_note.at;
        woken_note.armed = false;
        policy.on_woken(woken - slept_from);
    }
}

}  // namespace

void wal_core::start_threads() {
    {
        std::lock_guard lk(state_mutex_);
        threads_running_ = own_writer_thread_ ? 3 : 2;
    }
    auto exited = [](wal_core& c) {
        std::lock_guard lk(c.state_mutex_);
        --c.threads_running_;
        c.state_cv_.notify_all();
    };
    // The writer ends first (when closed and the last handle is gone); only then may the
    // sync and spare threads end, since the writer is who gives them work.
    if (own_writer_thread_) {
        writer_thread_ = std::thread([self = shared_from_this(), exited] {
            run_polling(self->writer_ctx_, self->cfg_.idle_spin);
            self->sync_guard_.reset();
            self->spare_guard_.reset();
            exited(*self);
        });
        writer_id_ = writer_thread_.get_id();
        name_thread(writer_thread_, "noriwal-writer");
    }
    sync_thread_ = std::thread([self = shared_from_this(), exited]() mutable {
        run_polling(self->sync_ctx_, self->cfg_.idle_spin);
        auto work = std::move(self->sync_exit_work_);  // let go of after the core (close_log)
        exited(*self);
        self.reset();
    });
    sync_id_ = sync_thread_.get_id();
    name_thread(sync_thread_, "noriwal-sync");
    spare_thread_ = std::thread([self = shared_from_this(), exited]() mutable {
        self->spare_ctx_.run();
        auto work = std::move(self->spare_exit_work_);  // let go of after the core (close_log)
        exited(*self);
        self.reset();
    });
    spare_id_ = spare_thread_.get_id();
    name_thread(spare_thread_, "noriwal-spare");
}

wal_core::~wal_core() {
    // Each thread holds a reference, so by now every thread has finished its work; this may
    // run on the last of them, which cannot join itself.
    for (auto* t : {&writer_thread_, &sync_thread_, &spare_thread_}) {
        if (!t->joinable()) continue;
        if (t->get_id() == std::this_thread::get_id()) {
            t->detach();
        } else {
            t->join();
        }
    }
}

bool wal_core::on_own_thread() const noexcept {
    auto me = std::this_thread::get_id();
    return me == writer_id_ || me == sync_id_ || me == spare_id_;
}

boost::asio::any_io_executor wal_core::writer_work() const {
    // Tracked: the writer's context (the wal's own, or the io_executor's) keeps running until
    // the result comes back.
    return boost::asio::prefer(writer_.get_inner_executor(),
                               boost::asio::execution::outstanding_work.tracked);
}

bool wal_core::cannot_wait_here() const noexcept {
    if (on_own_thread() || writer_.running_in_this_thread()) return true;
    if (own_writer_thread_) return false;
    // On a thread of the io_executor, waiting for the close would keep it from the very strand
    // that closes. Recognised for Asio's usual executors; others are waited for (bounded).
    using io_executor = boost::asio::io_context::executor_type;
    const auto& ex = cfg_.io_executor;
    if (const auto* io = ex.target<io_executor>()) return io->running_in_this_thread();
    if (const auto* st = ex.target<boost::asio::strand<io_executor>>())
        return st->get_inner_executor().running_in_this_thread();
    if (const auto* pool = ex.target<boost::asio::thread_pool::executor_type>())
        return pool->running_in_this_thread();
    return false;
}

wal wal_core::make_handle() {
    // The handles' own counter: when it drops to zero, shutdown() closes the log; the core
    // stays alive through `self` until then, and through its threads after.
    auto self = shared_from_this();
    std::shared_ptr<wal_core> handle(self.get(), [self](wal_core* c) mutable {
        c->shutdown();
        self.reset();
    });
    return wal(std::move(handle));
}

std::error_code wal_core::open_log(recovery_info& info, std::string& why) {
    wal_config engine_cfg = cfg_;
    engine_cfg.metrics = meter_;
    if (auto ec = served_log::open(cfg_, engine_cfg, log_, info, why)) return ec;
    registry_ = log_->registry();
    const segment_log& engine = log_->engine();
    fsm_.opened(engine.durable_lsn(), engine.written_lsn());
    written_pos_ = engine.next_position();
    {
        std::lock_guard lk(published_mutex_);
        published_written_ = written_pos_;
        published_durable_ = engine.durable_lsn() >= engine.written_lsn()
                                 ? written_pos_
                                 : position{0, 0, engine.durable_lsn() + 1};
    }
    written_lsn_.store(engine.written_lsn(), std::memory_order_release);
    durable_lsn_.store(engine.durable_lsn(), std::memory_order_release);
    first_lsn_.store(engine.first_lsn(), std::memory_order_release);
    open_.store(true, std::memory_order_release);
    // Spare preparation and timers start on the writer strand.
    boost::asio::post(writer_, [self = shared_from_this()] {
        writer_step step(*self);
        self->end_step();
    });
    return {};
}

void wal_core::abandon() noexcept {
    // Nothing was opened, so there is nothing to close: no request goes through the strand
    // (with an io_executor nothing may run it), and the threads end once idle.
    {
        std::lock_guard lk(intake_mutex_);
        closing_ = true;
    }
    if (!own_writer_thread_) {
        // Where shutdown() cannot wait for the threads (on one of them: async_open), they keep
        // work on the io_executor until they have let go of the core, as in close_log. Where
        // it waits and joins them, no such work is taken: releasing it, with nothing else
        // outstanding, would stop an io_context that nobody runs yet.
        if (cannot_wait_here()) {
            try {
                sync_exit_work_ = writer_work();
                spare_exit_work_ = writer_work();
            } catch (...) {
            }
        }
        sync_guard_.reset();
        spare_guard_.reset();
    }
    {
        std::lock_guard lk(state_mutex_);
        close_done_ = true;
    }
    shutdown();
}

void wal_core::shutdown() noexcept {
    if (shutdown_started_.exchange(true)) return;
    const bool own = cannot_wait_here();
    // Close, unless the log is closed already (then this close completes at once). It is
    // queued behind every request initiated before, which complete normally. A close that has
    // already run needs none: with an io_executor that nothing runs any more, a request
    // queued now would never be taken, nor freed.
    bool closed;
    {
        std::lock_guard lk(state_mutex_);
        closed = close_done_;
    }
    try {
        if (!closed) submit(new done_op(request_kind::close));
    } catch (...) {
        // Out of memory: the threads still end below; the engine's destructor releases the
        // files and the lock without the final sync.
    }
    const auto deadline = steady::now() + shutdown_wait;
    if (!own) {
        std::unique_lock lk(state_mutex_);
        state_cv_.wait_until(lk, deadline, [&] { return close_done_; });
    }
    // From now on the writer ends as soon as it has nothing left to do.
    writer_guard_.reset();
    bool all_ended = false;
    if (!own) {
        std::unique_lock lk(state_mutex_);
        all_ended = state_cv_.wait_until(lk, deadline, [&] { return threads_running_ == 0; });
    }
    for (auto* t : {&writer_thread_, &sync_thread_, &spare_thread_}) {
        if (!t->joinable()) continue;
        // A thread that has not ended (a hung disk, or we are on it) finishes on its own; it
        // holds the core alive until then.
        if (all_ended) {
            t->join();
        } else {
            t->detach();
        }
    }
}

// ------------------------------------------------------------------ intake (caller threads)

void wal_core::submit(request* r) {
    // The speculative write needs the writer strand's state on this thread: only with the
    // wal's own writer thread (on an io_executor the strand's threads are the user's).
    if (own_writer_thread_ && r->is_append()) {
        r->undelivered = undelivered_;
        const bool alone = undelivered_->fetch_add(1, std::memory_order_acq_rel) == 0;
        if (alone && write_speculatively(r)) return;
    }
    bool post = false;
    {
        std::lock_guard lk(intake_mutex_);
        if (closing_ && r->kind != request_kind::close) {
            r->ec = errc::closed;
        } else {
            if (r->kind == request_kind::close) {
                closing_ = true;
                open_.store(false, std::memory_order_release);
            }
            r->generation = intake_generation_;
            r->prev = intake_tail_;
            r->next = nullptr;
            if (intake_tail_) {
                intake_tail_->next = r;
            } else {
                intake_head_ = r;
            }
            intake_tail_ = r;
            post = !drain_posted_;
            drain_posted_ = true;
            r = nullptr;
        }
    }
    if (r) {
        reject(r);
        return;
    }
    // The strand's handlers hold the core: with an io_executor nothing else keeps it alive
    // until they have run.
    if (!post) return;
    if (own_writer_thread_) {
        boost::asio::post(writer_, [this] {  // the writer thread holds the core
            note_woken();
            drain();
        });
    } else {
        boost::asio::post(writer_, [self = shared_from_this()] { self->drain(); });
    }
}

void wal_core::reject(request* r) {
    if (r->is_append()) wal_counters::add(counters_.failed_appends, 1);
    // Posted to the wal's executor (the one given to open), then dispatched to the handler's:
    // the handler never runs inside the initiating function, nor inside the emission of a
    // cancellation signal, and does not wait for a busy writer thread.
    boost::asio::post(public_ex_, [r] { complete(r); });
}

void wal_core::cancel(request* r) noexcept {
    {
        std::lock_guard lk(intake_mutex_);
        if (r->generation == intake_generation_ &&
            r->state.load(std::memory_order_relaxed) == request::queued) {
            // Still in the intake: take it out and complete it now.
            (r->prev ? r->prev->next : intake_head_) = r->next;
            (r->next ? r->next->prev : intake_tail_) = r->prev;
            r->prev = r->next = nullptr;
            r->state.store(request::cancelled, std::memory_order_relaxed);
            r->ec = boost::asio::error::operation_aborted;
        } else {
            // Taken by the writer: if it is not being written yet, the writer sees it
            // cancelled and completes it; if it is, the cancellation has no effect.
            std::uint8_t expected = request::queued;
            r->state.compare_exchange_strong(expected, request::cancelled, std::memory_order_acq_rel);
            r = nullptr;
        }
    }
    if (r) {
        try {
            reject(r);
        } catch (...) {
            // Posting failed (out of memory): nothing else can complete it. Leave it.
        }
    }
}

void wal_core::complete(request* r) noexcept {
    if (!r->work) {
        r->deliver();
        return;
    }
    auto ex = std::move(r->work);
    ex.execute([r] { r->deliver(); });
}

namespace {

/// Delivers a chain of requests (linked by `next`) in order, on the executor they share. Its
/// copy of the tracked executor keeps the work until the last handler has run. If a handler
/// throws, the rest of the chain is handed to the executor again before the exception leaves.
struct delivery_chain {
    request* head;
    boost::asio::any_completion_executor ex;

    void operator()() {
        while (request* r = head) {
            head = r->next;
            r->next = nullptr;
            try {
                r->deliver();
            } catch (...) {
                if (head) {
                    auto again = ex;
                    again.execute(delivery_chain{std::exchange(head, nullptr), ex});
                }
                throw;
            }
        }
    }
};

}  // namespace

void wal_core::complete_all(std::span<request* const> done) noexcept {
    // Consecutive requests whose handlers share an executor go there as one function: one
    // post (and one wake-up of that executor) per group, not one per record.
    std::size_t i = 0;
    while (i < done.size()) {
        request* first = done[i];
        std::size_t j = i + 1;
        if (first->work) {
            while (j < done.size() && done[j]->work == first->work) ++j;
        }
        if (j - i == 1) {
            complete(first);
            i = j;
            continue;
        }
        // `first`'s tracked executor travels with the chain and keeps the work until the last
        // handler ran; the second's hands the chain over and is released here; the others are
        // released now. Each copy keeps a single owner (no executor is shared between threads).
        for (std::size_t k = i + 1; k < j; ++k) done[k - 1]->next = done[k];
        done[j - 1]->next = nullptr;
        for (std::size_t k = i + 2; k < j; ++k) done[k]->work = boost::asio::any_completion_executor();
        auto runner = std::move(done[i + 1]->work);
        runner.execute(delivery_chain{first, std::move(first->work)});
        i = j;
    }
}

// ------------------------------------------------------------------ writer strand

// The speculative write (doc/architecture.md): an append initiated while the writer is idle
// is written here, on the caller's thread, as one writer step — one buffered write of its
// group, the fsm's decisions, the watermarks published, an fdatasync handed to the sync thread
// if one is due, and the completion posted to the handler's executor (never run here: every
// handler's executor is tracked with blocking.never). Anything that would make the caller
// wait — another writer step running, requests queued ahead, a new segment, a refusal — sends
// the append to the writer thread instead (false).
bool wal_core::write_speculatively(request* r) {
    if (stepping_core == this) return false;  // a handler inside a step of this wal
    std::unique_lock role(writer_role_, std::try_to_lock);
    if (!role.owns_lock()) return false;  // a step runs: queue behind it, never wait for it
    bool queued_ahead = pending_head_ != nullptr;
    {
        std::lock_guard lk(intake_mutex_);
        queued_ahead = queued_ahead || closing_ || intake_head_ || drain_posted_;
        r->generation = 0;  // never in the intake: cancel() leaves it to the writer
    }
    const bool fits = log_ && log_->engine().fits_active_segment(encoded_size_of(r));
    if (!fsm_.may_write_speculatively(queued_ahead, fits)) return false;
    writer_step step(*this, std::move(role));
    pending_head_ = pending_tail_ = r;
    process();
    return true;
}

void wal_core::drain() {
    writer_step step(*this);
    {
        std::lock_guard lk(intake_mutex_);
        drain_posted_ = false;
        if (intake_head_) {
            if (pending_tail_) {
                pending_tail_->next = intake_head_;
                intake_head_->prev = pending_tail_;
            } else {
                pending_head_ = intake_head_;
            }
            pending_tail_ = intake_tail_;
            intake_head_ = intake_tail_ = nullptr;
            ++intake_generation_;  // what was taken is no longer in the intake (see cancel)
        }
    }
    process();
}

void wal_core::process() {
    while (pending_head_) {
        request* r = pending_head_;
        if (r->is_append()) {
            write_appends();
            continue;
        }
        if (fsm_.must_wait(r->kind)) break;  // on_sync_done resumes
        pending_head_ = r->next;
        if (!pending_head_) pending_tail_ = nullptr;
        r->next = r->prev = nullptr;
        handle(r);
    }
    end_step();
}

void wal_core::write_appends() {
    group_.clear();
    group_ops_.clear();
    std::size_t bytes = 0;
    while (pending_head_ && pending_head_->is_append() && group_ops_.size() < max_group_requests &&
           bytes < max_group_bytes) {
        request* r = pending_head_;
        pending_head_ = r->next;
        if (!pending_head_) pending_tail_ = nullptr;
        r->next = r->prev = nullptr;
        std::uint8_t expected = request::queued;
        if (!r->state.compare_exchange_strong(expected, request::taken, std::memory_order_acq_rel)) {
            r->ec = boost::asio::error::operation_aborted;
            finish(r);
            continue;
        }
        if (auto refused = fsm_.refusal()) {
            r->ec = refused;
            finish(r);
            continue;
        }
        if (r->kind == request_kind::append) {
            auto* op = static_cast<append_op*>(r);
            group_.push_back({op->records(), false, op->positions()});
        } else {
            auto* op = static_cast<batch_op*>(r);
            group_.push_back({op->records(), true, op->positions.data()});
        }
        bytes += encoded_size_of(r);
        group_ops_.push_back(r);
    }
    if (group_ops_.empty()) return;

    results_.assign(group_ops_.size(), std::error_code{});
    const auto ec = log_->append(group_, results_);
    const segment_log& engine = log_->engine();
    written_pos_ = engine.next_position();
    written_.clear();
    for (std::size_t i = 0; i < group_ops_.size(); ++i) {
        request* r = group_ops_[i];
        written_.push_back({r, last_lsn_of(r), durability_of(r) == durability::always(), results_[i]});
    }
    fsm_.on_group_written(engine.written_lsn(), steady::now(), written_);
    take_completions();
    if (ec || engine.poisoned()) poison(ec ? ec : make_error_code(errc::io_failed));
}

void wal_core::handle(request* r) {
    switch (r->kind) {
        case request_kind::flush:
            fsm_.on_flush(r);
            take_completions();
            return;
        case request_kind::sync:
            fsm_.on_sync_request(r);
            take_completions();
            return;
        case request_kind::close:
            close_log(r);
            return;
        case request_kind::delete_before: {
            auto* op = static_cast<count_op*>(r);
            if (fsm_.closed()) {
                r->ec = errc::closed;
            } else {
                r->ec = classify(log_->delete_before(op->before, op->count));
                first_lsn_.store(log_->engine().first_lsn(), std::memory_order_release);
                if (log_->engine().poisoned()) poison(r->ec);
            }
            finish(r);
            return;
        }
        case request_kind::truncate:
        case request_kind::reset: {
            auto* op = static_cast<done_op*>(r);
            const bool reset = r->kind == request_kind::reset;
            if (auto refused = fsm_.refusal()) {
                r->ec = refused;
                finish(r);
                return;
            }
            r->ec = classify(reset ? log_->reset_to(op->lsn) : log_->truncate_after(op->lsn));
            const segment_log& engine = log_->engine();
            first_lsn_.store(engine.first_lsn(), std::memory_order_release);
            if (engine.poisoned()) {
                poison(r->ec);
            } else {
                fsm_.on_truncated(reset, engine.durable_lsn(), engine.written_lsn());
                take_completions();
                written_pos_ = engine.next_position();
                std::lock_guard lk(published_mutex_);
                published_durable_ = written_pos_;
            }
            finish(r);
            return;
        }
        case request_kind::append:
        case request_kind::append_batch:
            break;  // written by write_appends()
    }
}

void wal_core::close_log(request* r) {
    if (fsm_.closed()) {
        finish(r);  // closing a closed wal: nothing to do
        return;
    }
    // No round is in flight (process() waited): the engine's close() syncs what is written,
    // then releases the files and the directory lock.
    const std::error_code ec = fsm_.on_close(log_ ? log_->close() : std::error_code{});
    if (!ec) {
        std::lock_guard lk(published_mutex_);
        published_durable_ = written_pos_;
    }
    take_completions();
    // The wal's watermarks before the readers' (as in publish_watermarks): a reader woken by
    // the refresh never holds a record above what written_lsn() says.
    written_lsn_.store(fsm_.written(), std::memory_order_release);
    if (log_ && !ec) durable_lsn_.store(log_->engine().durable_lsn(), std::memory_order_release);
    if (log_) log_->end();  // readers take the last watermarks; waiting ones get errc::closed
    log_.reset();
    batch_timer_.cancel();
    maintenance_timer_.cancel();
    r->ec = ec;
    finish(r);
    if (!own_writer_thread_) {
        // No writer thread to end them: the sync and spare threads end once they are idle
        // (no round is in flight now, and no more are started). Either may hold the last
        // reference to the core, whose strand and timers belong to the io_executor's context:
        // each keeps work on that context until it has let go, so that run() cannot return
        // (and the context be destroyed) before the core is gone.
        sync_exit_work_ = writer_work();
        spare_exit_work_ = writer_work();
        sync_guard_.reset();
        spare_guard_.reset();
    }
    std::lock_guard lk(state_mutex_);
    close_done_ = true;
    state_cv_.notify_all();
}

void wal_core::poison(std::error_code ec) {
    fsm_.on_failure(ec);
    take_completions();
}

void wal_core::take_completions() {
    auto& done = fsm_.completions();
    for (auto& c : done) {
        c.waiter->ec = c.ec;
        finish(c.waiter);
    }
    done.clear();
}

void wal_core::finish(request* r) { done_.push_back(r); }

void wal_core::end_step() {
    publish_watermarks();  // before a round starts: readers of written_lsn() see what it covers
    if (!fsm_.closed() && log_) {
        maybe_start_sync();
        arm_batch_timer();
        maybe_prepare_spare();
        arm_maintenance_timer();
    }
    if (done_.empty()) return;
    // Completions go to the outbox, delivered when the step ends (writer_step).
    const auto now = steady::now();
    meter* user = meter_->user();
    std::uint64_t appended = 0, failed = 0;
    for (request* r : done_) {
        if (r->is_append()) {
            if (r->ec) {
                ++failed;
            } else {
                ++appended;
                auto took = to_ns(now - started_of(r));
                counters_.append_ns.record_by_owner(took);  // only the writer role records it
                if (user) user->on_append(std::chrono::nanoseconds(took));
            }
        }
    }
    if (appended) wal_counters::add(counters_.appends, appended);
    if (failed) wal_counters::add(counters_.failed_appends, failed);
    std::lock_guard lk(outbox_mutex_);
    outbox_.insert(outbox_.end(), done_.begin(), done_.end());
    done_.clear();
}

void wal_core::deliver_outbox() noexcept {
    // One thread delivers at a time, in the order the steps filled the outbox: the LSN order
    // of completions holds across steps run by different threads. A step that finds another
    // thread delivering leaves its completions to it: the deliverer looks at the outbox again
    // after letting go, so nothing is left behind, and no thread waits for another.
    for (;;) {
        std::unique_lock deliverer(delivery_mutex_, std::try_to_lock);
        if (!deliverer.owns_lock()) return;
        for (;;) {
            {
                std::lock_guard lk(outbox_mutex_);
                if (outbox_.empty()) break;
                delivering_.swap(outbox_);
            }
            complete_all(delivering_);
            delivering_.clear();
        }
        deliverer.unlock();
        std::lock_guard lk(outbox_mutex_);
        if (outbox_.empty()) return;
    }
}

void wal_core::publish_watermarks() {
    written_lsn_.store(fsm_.written(), std::memory_order_release);
    durable_lsn_.store(fsm_.durable(), std::memory_order_release);
    // Readers' watermarks, after the wal's: a reader woken here never holds a record above
    // what written_lsn() and durable_lsn() say.
    if (log_) log_->refresh();
    std::lock_guard lk(published_mutex_);
    published_written_ = written_pos_;
    if (!failure_) failure_ = fsm_.failure();
}

void wal_core::maybe_start_sync() {
    if (!fsm_.sync_due()) return;
    auto job = std::make_shared<sync_job>(log_->engine().prepare_sync());
    fsm_.sync_started(job->lsn);
    const position covered = written_pos_;
    // The work guard keeps the writer alive until the result is back.
    boost::asio::post(sync_ctx_, [self = shared_from_this(), job, covered, guard = writer_work()]() mutable {
        note_woken();
        const auto ec = run_sync(*job);
        auto* core = self.get();
        // With the wal's own writer thread, an idle writer role is taken here: the round's
        // completions go from this thread straight to their handlers' executors, without
        // waking the writer thread to post them (one thread hand-over fewer per durable
        // append). A busy writer gets the result posted, as an io_executor always does.
        if (core->own_writer_thread_) {
            std::unique_lock role(core->writer_role_, std::try_to_lock);
            if (role.owns_lock()) {
                writer_step step(*core, std::move(role));
                core->on_sync_done(*job, ec, covered);
                return;
            }
        }
        boost::asio::post(core->writer_, [self = std::move(self), job = std::move(job), ec, covered] {
            writer_step step(*self);
            self->on_sync_done(*job, ec, covered);
        });
    });
}

void wal_core::on_sync_done(const sync_job& job, std::error_code ec, position covered) {
    if (log_) log_->engine().sync_done(job, ec);
    fsm_.on_sync_done(ec);
    take_completions();
    if (!ec) {
        std::lock_guard lk(published_mutex_);
        if (covered.lsn > published_durable_.lsn) published_durable_ = covered;
    }
    process();  // resumes a close or truncation waiting for the round, ends the step
}

void wal_core::maybe_prepare_spare() {
    if (fsm_.poisoned()) return;
    auto req = log_->engine().spare_needed();
    if (!req) return;
    spares_in_flight_.fetch_add(1, std::memory_order_relaxed);
    boost::asio::post(spare_ctx_, [self = shared_from_this(), req = std::move(*req),
                                   guard = writer_work()]() mutable {
        spare_segment spare;
        auto ec = make_spare(req, spare);
        auto* core = self.get();
        boost::asio::post(core->writer_, [self = std::move(self), spare = std::move(spare), ec]() mutable {
            writer_step step(*self);
            // After close the file stays behind as a temporary; the next open removes it.
            if (self->log_ && !self->fsm_.closed()) self->log_->engine().spare_ready(std::move(spare), ec);
            self->spares_in_flight_.fetch_sub(1, std::memory_order_release);
        });
    });
}

void wal_core::arm_batch_timer() {
    if (batch_timer_armed_) return;
    auto at = fsm_.timer_at();
    if (!at) return;
    // Never moved: it may fire early (the deadline only moves later), and then re-arms.
    batch_timer_armed_ = true;
    batch_timer_.expires_at(*at);
    batch_timer_.async_wait(boost::asio::bind_executor(
        writer_, [this, self = shared_from_this()](const boost::system::error_code& ec) {
            writer_step step(*this);
            batch_timer_armed_ = false;
            if (ec || fsm_.closed()) return;
            fsm_.on_timer(steady::now());
            end_step();
        }));
}

void wal_core::arm_maintenance_timer() {
    if (fsm_.poisoned()) return;
    std::optional<steady::time_point> at;
    if (auto due = log_->engine().rotation_due_ns()) {
        auto now_ns = system_now_ns();
        at = steady::now() + std::chrono::nanoseconds(*due > now_ns ? *due - now_ns : 0);
    }
    if (cfg_.retention.count() > 0) {
        auto every = std::clamp<steady::duration>(cfg_.retention / 4, std::chrono::milliseconds(10),
                                                  std::chrono::seconds(60));
        auto next = steady::now() + every;
        if (!at || next < *at) at = next;
    }
    if (!at) return;
    if (maintenance_at_ && *maintenance_at_ <= *at) return;  // an earlier wake-up is armed
    maintenance_at_ = at;
    maintenance_timer_.expires_at(*at);  // cancels a later one
    maintenance_timer_.async_wait(boost::asio::bind_executor(
        writer_, [this, self = shared_from_this()](const boost::system::error_code& ec) {
            writer_step step(*this);
            if (ec || fsm_.closed()) return;
            maintenance_at_.reset();
            on_maintenance();
        }));
}

void wal_core::on_maintenance() {
    if (!log_ || fsm_.poisoned()) return;
    const auto now_ns = system_now_ns();
    std::error_code ec = log_->engine().rotate_if_older_than(now_ns);
    if (!ec && cfg_.retention.count() > 0) {
        std::uint64_t deleted = 0;
        ec = log_->apply_retention(now_ns, deleted);
        first_lsn_.store(log_->engine().first_lsn(), std::memory_order_release);
    }
    if (ec && log_->engine().poisoned()) poison(ec);
    end_step();
}

// ------------------------------------------------------------------ observation

position wal_core::written_position() const {
    std::lock_guard lk(published_mutex_);
    return published_written_;
}

position wal_core::durable_position() const {
    std::lock_guard lk(published_mutex_);
    return published_durable_;
}

std::error_code wal_core::failure() const {
    std::lock_guard lk(published_mutex_);
    return failure_;
}

wal_stats wal_core::stats() const {
    wal_stats s;
    auto load = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    s.appends = load(counters_.appends);
    s.records = load(counters_.records);
    s.bytes = load(counters_.bytes);
    s.writes = load(counters_.writes);
    s.fsyncs = load(counters_.fsyncs);
    s.failed_appends = load(counters_.failed_appends);
    s.segments_rolled = load(counters_.segments_rolled);
    s.segments_deleted = load(counters_.segments_deleted);
    s.written_lsn = written_lsn();
    s.durable_lsn = durable_lsn();
    s.poisoned = static_cast<bool>(failure());
    s.fsync_seconds = counters_.fsync_ns.snapshot();
    s.append_seconds = counters_.append_ns.snapshot();
    s.fsync_group_size = counters_.fsync_group.snapshot();
    s.write_group_size = counters_.write_group.snapshot();
    return s;
}

}  // namespace noriwal::detail
