// The writer's decisions without I/O: which request completes when and with what, when an
// fdatasync round must start, when the batch timer must fire, what a failure, a truncation or
// a close does to the requests that wait. The writer strand (wal_core) is its driver: it feeds
// the events in and carries the actions out.
//
//   events in (from the driver)                  actions out (read by the driver)
//   ───────────────────────────                  ────────────────────────────────
//   on_group_written(written, now, appends)  ─▶  completions(): requests to complete, with ec
//   on_flush(op), on_sync_request(op)        ─▶  sync_due(): start an fdatasync round now
//   on_sync_done(ec)                         ─▶  timer_at(): when the batch timer must fire
//   on_timer(now)                            ─▶  must_wait(kind): hold a request until the
//   on_truncated(reset, durable, written)          round in flight returns
//   on_close(ec), on_failure(ec)             ─▶  refusal(): errc::closed / errc::poisoned
//                                                failure(): the first failure (poison)
//                                                may_write_speculatively(): an append may be
//                                                  written on its caller's thread
//
// It owns the group-commit queue (commit_queue), "closed" and "poisoned" for the writer, and
// the classification of engine errors. It never blocks, allocates only for its lists, and is
// tested directly (test/wal/writer_fsm_test.cpp) with plain integers as requests.
#pragma once

#include <noriwal/config.hpp>
#include <noriwal/error.hpp>
#include <noriwal/position.hpp>

#include <wal/commit_queue.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <system_error>
#include <utility>
#include <vector>

namespace noriwal::detail {

enum class request_kind : std::uint8_t {
    append,
    append_batch,
    flush,
    sync,
    close,
    delete_before,
    truncate,
    reset
};

/// What an operation reports for an engine error. I/O failures become errc::io_failed (or
/// errc::no_space), the first failure that poisons the log; the underlying system error is
/// kept by wal::failure(). Errors that are the request's own (too large, invalid) or the log's
/// state (poisoned, closed, read-only) pass through.
inline std::error_code classify(std::error_code ec) noexcept {
    if (!ec) return ec;
    if (ec == errc::no_space || ec == std::errc::no_space_on_device) return errc::no_space;
    if (ec.category() == error_category()) {
        switch (static_cast<errc>(ec.value())) {
            case errc::record_too_large:
            case errc::invalid_argument:
            case errc::poisoned:
            case errc::closed:
            case errc::read_only:
            case errc::not_found:
            case errc::truncated:
            case errc::io_failed:
                return ec;
            default:
                break;
        }
    }
    return errc::io_failed;
}

template <class Op>
class writer_fsm {
public:
    using clock = std::chrono::steady_clock;
    using completion = typename commit_queue<Op>::completion;

    /// One append of a group the engine wrote.
    struct written_append {
        Op op;
        lsn_t last_lsn = 0;          ///< its last record
        bool wants_durable = false;  ///< durability::always() was asked for it
        std::error_code result;      ///< the engine's result for it (unclassified)
    };

    explicit writer_fsm(fsync_policy policy) noexcept : policy_(policy), commit_(policy) {}

    /// The engine opened with these watermarks.
    void opened(lsn_t durable, lsn_t written) { commit_ = commit_queue<Op>(policy_, durable, written); }

    // ------------------------------------------------------------ state

    bool closed() const noexcept { return closed_; }
    bool poisoned() const noexcept { return poisoned_; }
    /// Why a request that needs the log cannot run: errc::closed, errc::poisoned, or none.
    std::error_code refusal() const noexcept {
        if (closed_) return errc::closed;
        if (poisoned_) return errc::poisoned;
        return {};
    }
    /// The first failure (what wal::failure() reports), empty while the log is healthy.
    std::error_code failure() const noexcept { return failure_; }
    lsn_t written() const noexcept { return commit_.written(); }
    lsn_t durable() const noexcept { return commit_.durable(); }

    /// A request of this kind must wait for the round in flight to return: a close syncs and
    /// releases the files, a truncation or reset rewrites what the round may cover.
    bool must_wait(request_kind k) const noexcept {
        const bool quiet =
            (k == request_kind::close && !closed_) || k == request_kind::truncate || k == request_kind::reset;
        return quiet && commit_.in_flight() != 0;
    }

    /// Whether an append may be written speculatively, in its initiating call on the
    /// caller's thread (doc/architecture.md, "The speculative write"): only on a healthy open
    /// log, with nothing queued ahead of it (`queued_ahead`: requests in the intake or held
    /// for the writer), and only when the engine takes it into the active segment with one
    /// buffered write (`fits`: no new segment, no rotation). Otherwise the writer thread
    /// takes it, as any append that queues: refusals, rotations and waits happen there.
    bool may_write_speculatively(bool queued_ahead, bool fits) const noexcept {
        return !closed_ && !poisoned_ && !queued_ahead && fits;
    }

    // ------------------------------------------------------------ events

    /// The engine wrote a group; the written watermark is now `written`. Each append completes
    /// now (it failed, or it need not wait for durability) or waits for a round.
    void on_group_written(lsn_t written, clock::time_point now, std::span<const written_append> group) {
        commit_.on_written(written, now);
        const bool always = policy_.policy() == fsync_policy::kind::always;
        // batch(w): a deadline already passed starts a round at the end of this step (the timer
        // may not have run yet); if it cannot start because one is in flight, these appends
        // wait until they are durable (back-pressure, doc/durability.md); while held ones wait,
        // later appends wait behind them: handlers keep their LSN order.
        commit_.on_timer(now);
        const auto hold = commit_.holding(now);
        for (const auto& a : group) {
            if (a.result) {
                done_.push_back({a.op, classify(a.result)});
            } else if (always || a.wants_durable) {
                wait(a.last_lsn, a.op, need::durable);
            } else if (hold) {
                wait(a.last_lsn, a.op, *hold);
            } else {
                done_.push_back({a.op, {}});  // batch and os: complete once written
            }
        }
    }

    /// A flush: every append before it was written by the groups before it; it completes
    /// after those that complete once written, so it waits behind held ones too.
    void on_flush(Op op) {
        if (auto ec = refusal()) {
            done_.push_back({op, ec});
            return;
        }
        wait(0, op, need::order);  // of no LSN: a truncation does not fail it
    }

    /// A sync request: completes once everything written so far is durable.
    void on_sync_request(Op op) {
        if (auto ec = refusal()) {
            done_.push_back({op, ec});
            return;
        }
        wait(commit_.written(), op);
    }

    /// A round covering `covers` (the written watermark when it was prepared) started.
    void sync_started(lsn_t covers) noexcept { commit_.sync_started(covers); }

    /// The round in flight returned `ec` (unclassified): its waiters complete; a failure
    /// poisons the log.
    void on_sync_done(std::error_code ec) {
        commit_.sync_finished(classify(ec), done_);
        if (ec) on_failure(ec);
    }

    /// The batch timer fired at `now`.
    void on_timer(clock::time_point now) noexcept { commit_.on_timer(now); }

    /// A truncate_after (or a reset, `reset`) succeeded and left the engine at these
    /// watermarks. Waiters at or below `durable` complete, the others with errc::truncated;
    /// after a reset no record anyone waits for exists any more, so all of them do.
    void on_truncated(bool reset, lsn_t durable, lsn_t written) {
        if (reset) commit_.rebase(0, 0, done_);
        commit_.rebase(durable, written, done_);
    }

    /// The engine failed with `ec` (unclassified) and is poisoned: every waiter was written,
    /// so it is in doubt and gets the failure itself; errc::poisoned is for appends never
    /// written (doc/durability.md).
    void on_failure(std::error_code ec) {
        if (!poisoned_) {
            poisoned_ = true;
            failure_ = ec;
        }
        std::error_code failed = classify(ec);
        if (!failed || failed == errc::poisoned || failed == errc::closed) failed = errc::io_failed;
        commit_.fail_all(failed, done_);
    }

    /// The engine's close() returned `ec` (unclassified); it synced what was written unless it
    /// failed or the log was poisoned. Returns what the close request reports: empty only if
    /// everything written is durable.
    std::error_code on_close(std::error_code ec) {
        if (closed_) return {};
        if (!ec && poisoned_) ec = errc::poisoned;                // the engine does not sync a poisoned log
        if (!poisoned_) commit_.synced_all(classify(ec), done_);  // no round of our own
        if (ec && !poisoned_) on_failure(ec);
        closed_ = true;
        return classify(ec);
    }

    // ------------------------------------------------------------ actions

    /// An fdatasync round must start now (then call sync_started).
    bool sync_due() const noexcept { return !closed_ && !poisoned_ && commit_.sync_due(); }

    /// When the batch timer must fire (fsync_policy::batch), if at all.
    std::optional<clock::time_point> timer_at() const noexcept {
        if (closed_ || poisoned_) return std::nullopt;
        return commit_.sync_deadline();
    }

    /// The requests to complete, in order, with their results (cleared by the driver).
    std::vector<completion>& completions() noexcept { return done_; }

private:
    using need = typename commit_queue<Op>::need;

    void wait(lsn_t lsn, Op op, need n = need::durable) {
        switch (commit_.wait(lsn, op, n)) {
            case commit_queue<Op>::wait_result::queued:
                return;
            case commit_queue<Op>::wait_result::durable:
                done_.push_back({op, {}});
                return;
            case commit_queue<Op>::wait_result::poisoned:
                done_.push_back({op, make_error_code(errc::poisoned)});
                return;
        }
    }

    fsync_policy policy_;
    commit_queue<Op> commit_;
    bool closed_ = false;
    bool poisoned_ = false;
    std::error_code failure_;
    std::vector<completion> done_;
};

}  // namespace noriwal::detail
