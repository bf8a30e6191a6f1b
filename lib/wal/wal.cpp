// noriwal::wal: the initiating functions' compiled halves, handler delivery, and the blocking
// conveniences.
#include <noriwal/wal.hpp>

#include <wal/adaptive_spin.hpp>
#include <wal/requests.hpp>
#include <wal/wal_core.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/system_executor.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <tuple>

namespace noriwal {

namespace detail {

namespace {

/// The handler's associated executor (by default `fallback`), tracking outstanding work so
/// that its execution context does not run out of work before the handler has run
/// (tracked_work, impl/wal.hpp).
template <class Handler>
boost::asio::any_completion_executor tracked_executor(const Handler& h,
                                                      const boost::asio::any_completion_executor& fallback,
                                                      bool never_inline = false) {
    return tracked_work(boost::asio::get_associated_executor(h, fallback), never_inline);
}

/// Completes a request of an empty wal (errc::closed). There is no wal executor: the
/// completion goes through the system executor, never inline.
void reject_without_wal(request* r) {
    r->ec = errc::closed;
    boost::asio::post(boost::asio::system_executor(), [r] { wal_core::complete(r); });
}

/// The prologue every initiation shares: `op` takes the handler and the executor its handler
/// completes on (`work`; empty: found from the handler now). Without a wal, `op` completes with
/// errc::closed and false is returned.
template <class Op, class Handler>
bool adopt(Op* op, const std::shared_ptr<wal_core>& core, Handler& h,
           boost::asio::any_completion_executor work) {
    op->handler.swap(h);  // not operator=: in Boost 1.81 it recurses (through the converting constructor)
    if (!core) {
        op->work = tracked_executor(op->handler, boost::asio::system_executor());
        reject_without_wal(op);
        return false;
    }
    op->work = work ? std::move(work)
                    : tracked_executor(op->handler, core->default_executor(), core->writes_speculatively());
    return true;
}

template <class Op>
void install_cancellation(const std::shared_ptr<wal_core>& core, Op* op) {
    auto slot = boost::asio::get_associated_cancellation_slot(op->handler);
    if (slot.is_connected()) {
        slot.template emplace<cancel_append>(cancel_append{core, op});
        op->cancellable = true;
    }
}

// Per-thread cache of append requests: the thread that runs a handler is usually the one
// that starts the next append, so a request and its encoded buffer come back to be reused.
struct append_op_cache {
    static constexpr std::size_t capacity = 128;
    // A buffer grown by a large record is not kept: the cache should not pin memory.
    static constexpr std::size_t max_buffer = 256u << 10;

    std::vector<append_op*> free;
    ~append_op_cache() {
        for (auto* op : free) delete op;
    }
};

thread_local append_op_cache op_cache;

}  // namespace

append_op* append_op::acquire() {
    auto& cache = op_cache.free;
    if (cache.empty()) return new append_op;
    auto* op = cache.back();
    cache.pop_back();
    return op;
}

void append_op::recycle(append_op* op) noexcept {
    auto& cache = op_cache;
    if (cache.free.size() >= append_op_cache::capacity ||
        op->encoded.bytes.capacity() > append_op_cache::max_buffer) {
        delete op;
        return;
    }
    op->state.store(queued, std::memory_order_relaxed);
    op->ec.clear();
    op->pos = {};
    op->cancellable = false;
    try {
        cache.free.push_back(op);
    } catch (...) {
        delete op;
    }
}

namespace {
/// The append is delivered: the wal's count of undelivered appends drops before its handler
/// runs, so an append that handler starts may be written speculatively.
void release_undelivered(request& r) noexcept {
    if (auto u = std::move(r.undelivered)) u->fetch_sub(1, std::memory_order_acq_rel);
}
}  // namespace

void append_op::deliver() {
    release_undelivered(*this);
    auto h = std::move(handler);
    const auto e = ec;
    const auto p = pos;
    // We run on the handler's executor, where its cancellation signal is emitted: clearing the
    // slot here cannot race with an emission.
    if (cancellable) boost::asio::get_associated_cancellation_slot(h).clear();
    recycle(this);
    std::move(h)(e, p);
}

void batch_op::deliver() {
    release_undelivered(*this);
    auto h = std::move(handler);
    const auto e = ec;
    auto p = e ? std::vector<position>{} : std::move(positions);
    if (cancellable) boost::asio::get_associated_cancellation_slot(h).clear();
    delete this;
    std::move(h)(e, std::move(p));
}

void done_op::deliver() {
    auto h = std::move(handler);
    const auto e = ec;
    delete this;
    if (h) std::move(h)(e);
}

void count_op::deliver() {
    auto h = std::move(handler);
    const auto e = ec;
    const auto n = count;
    delete this;
    std::move(h)(e, n);
}

// ------------------------------------------------------------------ initiations

void start_open(wal::executor_type ex, wal_config cfg, open_handler h) {
    auto work = tracked_executor(h, boost::asio::any_completion_executor(std::nothrow, ex));
    auto core = wal_core::create(std::move(ex), std::move(cfg));
    // Recovery reads the whole log: it runs on one of the new wal's own threads, never on `ex`
    // nor on the io_executor (which may be the thread that waits for this open).
    boost::asio::post(core->open_executor(), [core, h = std::move(h), work = std::move(work)]() mutable {
        recovery_info info;
        std::string why;
        auto ec = core->open_log(info, why);
        wal w;
        if (ec) {
            info.error_message = std::move(why);  // the blocking open's one line, for the handler
            core->abandon();
        } else {
            w = core->make_handle();
        }
        core.reset();
        work.execute([h = std::move(h), ec, w = std::move(w), info = std::move(info)]() mutable {
            std::move(h)(boost::system::error_code(ec), std::move(w), std::move(info));
        });
    });
}

wal::executor_type default_executor_of(const std::shared_ptr<wal_core>& core) noexcept {
    return core ? core->get_executor() : wal::executor_type{};
}

bool writes_speculatively(const std::shared_ptr<wal_core>& core) noexcept {
    return core && core->writes_speculatively();
}

void start_append(const std::shared_ptr<wal_core>& core, const record& r, durability d, append_handler h,
                  boost::asio::any_completion_executor work) {
    auto* op = append_op::acquire();
    op->dur = d;
    op->started = steady::now();
    if (!adopt(op, core, h, std::move(work))) return;
    // The caller's thread does the heavy part: payload CRC and compression.
    if (auto ec = encode_record(r, core->encoding(), op->encoded)) {
        op->ec = ec;
        core->reject(op);
        return;
    }
    install_cancellation(core, op);
    core->submit(op);
}

void start_append_batch(const std::shared_ptr<wal_core>& core, std::span<const record> records, durability d,
                        batch_handler h, boost::asio::any_completion_executor work) {
    auto* op = new batch_op;
    op->dur = d;
    op->started = steady::now();
    if (!adopt(op, core, h, std::move(work))) return;
    if (records.empty()) {
        op->ec = errc::invalid_argument;
        core->reject(op);
        return;
    }
    op->encoded.resize(records.size());
    op->encoded_ptrs.resize(records.size());
    op->positions.resize(records.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
        if (auto ec = encode_record(records[i], core->encoding(), op->encoded[i])) {
            op->ec = ec;
            core->reject(op);
            return;
        }
        op->encoded_ptrs[i] = &op->encoded[i];
    }
    install_cancellation(core, op);
    core->submit(op);
}

namespace {

void start_done(const std::shared_ptr<wal_core>& core, request_kind kind, lsn_t lsn, done_handler h) {
    auto* op = new done_op(kind);
    op->lsn = lsn;
    if (adopt(op, core, h, {})) core->submit(op);
}

}  // namespace

void start_flush(const std::shared_ptr<wal_core>& core, done_handler h) {
    start_done(core, request_kind::flush, 0, std::move(h));
}

void start_sync(const std::shared_ptr<wal_core>& core, done_handler h) {
    start_done(core, request_kind::sync, 0, std::move(h));
}

void start_close(const std::shared_ptr<wal_core>& core, done_handler h) {
    start_done(core, request_kind::close, 0, std::move(h));
}

void start_truncate_after(const std::shared_ptr<wal_core>& core, lsn_t lsn, done_handler h) {
    start_done(core, request_kind::truncate, lsn, std::move(h));
}

void start_reset_to(const std::shared_ptr<wal_core>& core, lsn_t next_lsn, done_handler h) {
    start_done(core, request_kind::reset, next_lsn, std::move(h));
}

void start_delete_segments_before(const std::shared_ptr<wal_core>& core, position p, count_handler h) {
    auto* op = new count_op;
    op->before = p;
    if (adopt(op, core, h, {})) core->submit(op);
}

}  // namespace detail

// ------------------------------------------------------------------ opening

wal::opened wal::open(wal_config cfg, std::error_code& ec, std::string* why) {
    return open_on(executor_type{}, std::move(cfg), ec, why);
}

wal::opened wal::open_on(executor_type ex, wal_config cfg, std::error_code& ec, std::string* why) {
    auto core = detail::wal_core::create(std::move(ex), std::move(cfg));
    opened result;
    std::string line;
    ec = core->open_log(result.recovery, line);
    if (ec) {
        core->abandon();
        if (why) *why = std::move(line);
        return {};
    }
    result.log = core->make_handle();
    return result;
}

namespace {

[[noreturn]] void throw_open_error(std::error_code ec, std::string why) {
    // std::system_error appends ": " + ec.message() to what(): a line that already ends with
    // that message would say it twice.
    const std::string tail = ": " + ec.message();
    if (why.size() > tail.size() && why.ends_with(tail)) why.resize(why.size() - tail.size());
    throw std::system_error(ec,
                            why.empty() ? std::string("noriwal: cannot open the wal") : "noriwal: " + why);
}

}  // namespace

wal::opened wal::open(executor_type ex, wal_config cfg) {
    std::error_code ec;
    std::string why;
    auto o = open_on(std::move(ex), std::move(cfg), ec, &why);
    if (ec) throw_open_error(ec, why);
    return o;
}

wal::opened wal::open(wal_config cfg) { return open(executor_type{}, std::move(cfg)); }

// ------------------------------------------------------------------ blocking conveniences

namespace {

std::chrono::microseconds spin_of(const std::shared_ptr<detail::wal_core>& core) {
    return core ? core->config().idle_spin : std::chrono::microseconds{0};
}

// What a blocking call waits for: the operation's result, and a flag the handler raises.
template <class... T>
struct awaited_result {
    std::atomic<std::uint32_t> ready{0};
    std::tuple<boost::system::error_code, T...> value;
};

// Starts an operation with a handler that stores its result, waits for it, and throws its
// error as a std::system_error. The handler is bound to the system executor (waiter_executor),
// so it runs on whichever thread completes the operation (a wal thread, or this one when the
// append is written speculatively), never on an executor the caller might be blocking right
// now. Like the wal's own threads, the caller polls for the result for up to `spin`
// (wal_config::idle_spin) before it sleeps, while polling pays (adaptive_spin): an append
// written within that time costs it no wake-up.
template <class... T, class Start>
auto wait_for(std::chrono::microseconds spin, Start start) {
    // Shared: the handler raises the flag and wakes the caller, who may return (and would
    // free a result on its stack) between the two.
    auto result = std::make_shared<awaited_result<T...>>();
    start(
        boost::asio::bind_executor(detail::waiter_executor(), [result](boost::system::error_code ec, T... v) {
            result->value = {ec, std::move(v)...};
            result->ready.store(1, std::memory_order_release);
            result->ready.notify_one();
        }));
    if (spin.count() > 0 && result->ready.load(std::memory_order_acquire) == 0) {
        // Per thread: whether this thread's recent waits paid for polling (adaptive_spin).
        thread_local detail::adaptive_spin policy(spin);
        const auto budget = policy.budget();
        const auto from = std::chrono::steady_clock::now();
        const auto until = from + budget;
        while (result->ready.load(std::memory_order_acquire) == 0 && std::chrono::steady_clock::now() < until)
            std::this_thread::yield();
        if (budget.count() > 0) {
            if (result->ready.load(std::memory_order_acquire) != 0) {
                policy.on_hit();
            } else {
                policy.on_miss();
            }
        } else {
            result->ready.wait(0, std::memory_order_acquire);
            policy.on_woken(std::chrono::steady_clock::now() - from);
        }
    }
    result->ready.wait(0, std::memory_order_acquire);
    auto& t = result->value;
    if (std::get<0>(t)) throw std::system_error(static_cast<std::error_code>(std::get<0>(t)));
    if constexpr (sizeof...(T) == 1) return std::move(std::get<1>(t));
}

}  // namespace

position wal::append(const record& r, durability d) {
    return wait_for<position>(spin_of(core_), [&](auto h) { async_append(r, d, std::move(h)); });
}

std::vector<position> wal::append_batch(std::span<const record> records, durability d) {
    return wait_for<std::vector<position>>(spin_of(core_),
                                           [&](auto h) { async_append_batch(records, d, std::move(h)); });
}

void wal::flush() {
    wait_for<>(spin_of(core_), [&](auto h) { async_flush(std::move(h)); });
}

void wal::sync() {
    wait_for<>(spin_of(core_), [&](auto h) { async_sync(std::move(h)); });
}

void wal::close() {
    if (!core_) return;
    wait_for<>(spin_of(core_), [&](auto h) { async_close(std::move(h)); });
}

std::uint64_t wal::delete_segments_before(position p) {
    return wait_for<std::uint64_t>(spin_of(core_),
                                   [&](auto h) { async_delete_segments_before(p, std::move(h)); });
}

void wal::truncate_after(lsn_t lsn) {
    wait_for<>(spin_of(core_), [&](auto h) { async_truncate_after(lsn, std::move(h)); });
}

void wal::reset_to(lsn_t next_lsn) {
    wait_for<>(spin_of(core_), [&](auto h) { async_reset_to(next_lsn, std::move(h)); });
}

// ------------------------------------------------------------------ observation

position wal::current_position() const { return core_ ? core_->written_position() : position{}; }

position wal::durable_position() const { return core_ ? core_->durable_position() : position{}; }

lsn_t wal::written_lsn() const noexcept { return core_ ? core_->written_lsn() : 0; }

lsn_t wal::durable_lsn() const noexcept { return core_ ? core_->durable_lsn() : 0; }

lsn_t wal::first_lsn() const noexcept { return core_ ? core_->first_lsn() : 0; }

const wal_config& wal::config() const noexcept {
    static const wal_config none;  // an empty wal has no configuration: the defaults
    return core_ ? core_->config() : none;
}

wal_stats wal::stats() const { return core_ ? core_->stats() : wal_stats{}; }

wal::executor_type wal::get_executor() const noexcept {
    return core_ ? core_->get_executor() : executor_type{};
}

bool wal::is_open() const noexcept { return core_ && core_->is_open(); }

std::error_code wal::failure() const { return core_ ? core_->failure() : std::error_code{}; }

}  // namespace noriwal
