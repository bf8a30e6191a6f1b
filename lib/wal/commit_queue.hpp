// Group commit without I/O: who waits for which LSN to become durable, when an fdatasync must
// start, which waiters an fdatasync completes, and what a failure does to them.
//
// The writer strand drives it. The strand writes groups of appends and tells the queue the new
// written watermark; appends that must be durable before they complete (fsync_policy::always,
// durability::always(), async_sync) wait here for an LSN. At most one fdatasync round is in flight;
// it covers everything written when it started. When it returns, every waiter at or below what
// it covered completes, and the next round (if anything is still waited for) covers everything
// written meanwhile: that is group commit.
//
// Under fsync_policy::batch(w), appends complete once written, and the queue keeps the time of
// the oldest write that no fdatasync covers yet: sync_deadline() says when a round must start so
// that no completed append stays unsynced for more than w, whether or not more appends come.
// A round cannot start while one is in flight: when a slow fdatasync keeps the deadline from
// being met, window_exceeded() tells the strand to stop completing appends once written
// (back-pressure): they wait for durability (need::held), as under always, until the rounds
// catch up. While some are held, later appends wait behind them (need::order, holding()) and
// complete as soon as no held waiter precedes them: otherwise an append written after the
// rounds caught up would complete before an earlier held one, and handlers sharing an ordered
// executor would not run in LSN order. Waiting behind does not demand a round: once the held
// ones are durable, appends complete once written again.
//
// Invariants: durable() <= in_flight() <= written() when a round is in flight; waiters are kept
// in LSN order (the strand writes in LSN order and a sync request waits for the written
// watermark), except order waiters of no LSN (a flush waits with LSN 0); order waiters exist
// only behind held ones; once poisoned, nothing ever completes successfully again.
#pragma once

#include <noriwal/config.hpp>
#include <noriwal/error.hpp>
#include <noriwal/position.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <system_error>
#include <vector>

namespace noriwal::detail {

template <class Waiter>
class commit_queue {
public:
    using clock = std::chrono::steady_clock;

    struct completion {
        Waiter waiter;
        std::error_code ec;
    };

    enum class wait_result : std::uint8_t {
        queued,    ///< the waiter completes from sync_finished() or fail_all()
        durable,   ///< already durable: complete it now
        poisoned,  ///< the log is poisoned: complete it now with errc::poisoned
    };

    /// `durable` and `written` are the watermarks the log was opened with.
    explicit commit_queue(fsync_policy policy, lsn_t durable = 0, lsn_t written = 0) noexcept
        : policy_(policy), durable_(durable), written_(std::max(durable, written)) {}

    /// A group was written; the written watermark is now `written`.
    void on_written(lsn_t written, clock::time_point now) {
        if (written <= written_) return;
        written_ = written;
        if (policy_.policy() == fsync_policy::kind::batch && !oldest_unsynced_) oldest_unsynced_ = now;
    }

    /// What a waiter waits for.
    enum class need : std::uint8_t {
        durable,  ///< its LSN durable (always, durability::always(), async_sync)
        held,     ///< its LSN durable, because the batch window was exceeded (back-pressure)
        order,    ///< only that no `held` waiter before it is still waiting (see holding())
    };

    /// Makes `w` wait until `lsn` (at most the written watermark) is durable, or, for
    /// need::order, until no held waiter precedes it (wait_result::durable: complete it now).
    wait_result wait(lsn_t lsn, Waiter w, need n = need::durable) {
        if (poisoned_) return wait_result::poisoned;
        if (n == need::order ? held_ == 0 : lsn <= durable_) return wait_result::durable;
        waiters_.push_back({lsn, n, std::move(w)});
        if (n == need::held) ++held_;
        if (n != need::order) demand_ = std::max(demand_, lsn);
        return wait_result::queued;
    }

    /// Asks for everything up to `lsn` to be made durable, with nobody waiting (close, timer).
    void demand(lsn_t lsn) noexcept { demand_ = std::max(demand_, std::min(lsn, written_)); }

    /// Whether the driver should start an fdatasync round now: none is in flight and something
    /// demanded is not durable yet.
    bool sync_due() const noexcept { return !poisoned_ && in_flight_ == 0 && demand_ > durable_; }

    /// A round was started covering everything up to `covers` (the written watermark when its
    /// job was prepared). (The group-size histogram is counted by the engine, in records.)
    void sync_started(lsn_t covers) noexcept {
        in_flight_ = std::max(covers, durable_);
        if (in_flight_ >= written_) oldest_unsynced_.reset();
    }

    /// The round in flight returned. On success, every waiter it covers moves to `done` with no
    /// error. On failure the queue is poisoned and every waiter gets `ec` (the first failure):
    /// each waits for an LSN already written, whose bytes are in the file but will never be
    /// known durable (in doubt: present or not after a reopen). errc::poisoned is for what
    /// was never written (doc/durability.md, "What a failed append means").
    void sync_finished(std::error_code ec, std::vector<completion>& done) {
        lsn_t covered = in_flight_;
        in_flight_ = 0;
        settle(covered, ec, done);
    }

    /// The log synced everything written by itself, with no round of the queue (the engine's
    /// close() syncs before it releases the files): like a round covering the written
    /// watermark. Only while no round is in flight.
    void synced_all(std::error_code ec, std::vector<completion>& done) { settle(written_, ec, done); }

    /// Poisons the queue after a failed write: every waiter moves to `done` with `ec`.
    void fail_all(std::error_code ec, std::vector<completion>& done) {
        poisoned_ = true;
        oldest_unsynced_.reset();
        for (auto& w : waiters_) done.push_back({std::move(w.waiter), ec});
        waiters_.clear();
        held_ = 0;
    }

    /// The log was cut back (truncate_after) while no round was in flight: the watermarks are
    /// now `durable` <= `written`. Waiters at or below `durable` complete without error, the
    /// others (their records are gone) with errc::truncated.
    void rebase(lsn_t durable, lsn_t written, std::vector<completion>& done) {
        durable_ = durable;
        written_ = std::max(durable, written);
        demand_ = std::min(demand_, written_);
        held_ = 0;  // every waiter completes now
        if (written_ <= durable_) oldest_unsynced_.reset();
        for (auto& w : waiters_) {
            done.push_back({std::move(w.waiter),
                            w.lsn <= durable_ ? std::error_code{} : make_error_code(errc::truncated)});
        }
        waiters_.clear();
    }

    /// Under fsync_policy::batch: the time by which an fdatasync round must start so that the
    /// oldest write no round covers yet is synced within the window. Empty when nothing is due.
    std::optional<clock::time_point> sync_deadline() const noexcept {
        if (!oldest_unsynced_) return std::nullopt;
        return *oldest_unsynced_ + policy_.window();
    }

    /// Under fsync_policy::batch: the deadline of the oldest write no round covers has passed
    /// at `now` while a round is in flight, so that no round can start for it yet. Appends
    /// written now must not complete before they are durable: otherwise the records that are
    /// acknowledged but not durable would keep growing past the window for as long as the
    /// fdatasync in flight takes.
    bool window_exceeded(clock::time_point now) const noexcept {
        const auto d = sync_deadline();
        return d && *d <= now && in_flight_ != 0;
    }

    /// Whether appends written now that would complete once written must wait instead: for
    /// durability (need::held) when the window is exceeded, else behind the held waiters
    /// (need::order) while there are any. Empty: they complete now.
    std::optional<need> holding(clock::time_point now) const noexcept {
        if (window_exceeded(now)) return need::held;
        if (held_ != 0) return need::order;
        return std::nullopt;
    }

    /// The batch timer fired at `now`: demands a round if the deadline has passed.
    void on_timer(clock::time_point now) noexcept {
        if (auto d = sync_deadline(); d && *d <= now) demand_ = std::max(demand_, written_);
    }

    lsn_t durable() const noexcept { return durable_; }
    lsn_t written() const noexcept { return written_; }
    /// What the round in flight covers; 0 when none is in flight.
    lsn_t in_flight() const noexcept { return in_flight_; }
    bool poisoned() const noexcept { return poisoned_; }
    std::size_t waiting() const noexcept { return waiters_.size(); }

private:
    struct entry {
        lsn_t lsn;
        need n;
        Waiter waiter;
    };

    // A sync covering `covered` returned `ec`: see sync_finished().
    void settle(lsn_t covered, std::error_code ec, std::vector<completion>& done) {
        if (ec) {
            fail_all(ec, done);
            return;
        }
        durable_ = std::max(durable_, covered);
        if (held_ == 0) {
            while (!waiters_.empty() && waiters_.front().lsn <= durable_) {
                done.push_back({std::move(waiters_.front().waiter), {}});
                waiters_.pop_front();
            }
            return;
        }
        // Durable waiters complete; an order waiter completes unless a held one before it
        // still waits. Kept in LSN order.
        bool behind_held = false;
        std::deque<entry> kept;
        for (auto& w : waiters_) {
            if (w.n == need::order ? !behind_held : w.lsn <= durable_) {
                if (w.n == need::held) --held_;
                done.push_back({std::move(w.waiter), {}});
            } else {
                behind_held = behind_held || w.n == need::held;
                kept.push_back(std::move(w));
            }
        }
        waiters_.swap(kept);
    }

    fsync_policy policy_;
    lsn_t durable_ = 0;
    lsn_t written_ = 0;
    lsn_t in_flight_ = 0;
    lsn_t demand_ = 0;
    std::size_t held_ = 0;  ///< waiters with need::held
    std::optional<clock::time_point> oldest_unsynced_;
    bool poisoned_ = false;
    std::deque<entry> waiters_;
};

}  // namespace noriwal::detail
