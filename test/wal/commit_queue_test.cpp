// The group-commit bookkeeping, driven by hand: no threads, no files, no clock.
#include <wal/commit_queue.hpp>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <vector>

using namespace noriwal;
using namespace std::chrono_literals;
using queue = detail::commit_queue<int>;
using wait_result = queue::wait_result;

namespace {

std::vector<int> waiters_of(const std::vector<queue::completion>& done) {
    std::vector<int> v;
    for (const auto& c : done) v.push_back(c.waiter);
    return v;
}

const queue::clock::time_point t0{};

}  // namespace

BOOST_AUTO_TEST_SUITE(commit_queue)

BOOST_AUTO_TEST_CASE(one_fsync_completes_every_append_it_covers) {
    queue q(fsync_policy::always());
    q.on_written(3, t0);
    BOOST_TEST((q.wait(1, 10) == wait_result::queued));
    BOOST_TEST((q.wait(2, 20) == wait_result::queued));
    BOOST_TEST((q.wait(3, 30) == wait_result::queued));
    BOOST_TEST(q.sync_due());
    q.sync_started(q.written());
    BOOST_TEST(q.in_flight() == 3u);
    BOOST_TEST(!q.sync_due());  // one round at a time
    std::vector<queue::completion> done;
    q.sync_finished({}, done);
    BOOST_TEST(waiters_of(done) == (std::vector<int>{10, 20, 30}));
    for (const auto& c : done) BOOST_TEST(!c.ec);
    BOOST_TEST(q.durable() == 3u);
    BOOST_TEST(!q.sync_due());
    BOOST_TEST(q.waiting() == 0u);
}

BOOST_AUTO_TEST_CASE(appends_written_during_a_round_wait_for_the_next_one) {
    queue q(fsync_policy::always());
    q.on_written(2, t0);
    q.wait(1, 1);
    q.wait(2, 2);
    q.sync_started(q.written());
    // The strand keeps writing while the round is in flight.
    q.on_written(5, t0);
    q.wait(3, 3);
    q.wait(4, 4);
    q.wait(5, 5);
    BOOST_TEST(!q.sync_due());
    std::vector<queue::completion> done;
    q.sync_finished({}, done);
    BOOST_TEST(waiters_of(done) == (std::vector<int>{1, 2}));
    BOOST_TEST(q.sync_due());
    q.sync_started(q.written());
    BOOST_TEST(q.in_flight() == 5u);  // the second round covers the three others
    done.clear();
    q.sync_finished({}, done);
    BOOST_TEST(waiters_of(done) == (std::vector<int>{3, 4, 5}));
    BOOST_TEST(q.durable() == 5u);
}

BOOST_AUTO_TEST_CASE(a_sync_by_the_log_itself_completes_every_waiter_without_a_round) {
    // The engine's close() syncs what is written: the queue takes it as covering everything.
    queue q(fsync_policy::always());
    q.on_written(3, t0);
    q.wait(2, 2);
    q.wait(3, 3);
    std::vector<queue::completion> done;
    q.synced_all({}, done);
    BOOST_TEST(waiters_of(done) == (std::vector<int>{2, 3}));
    for (const auto& c : done) BOOST_TEST(!c.ec);
    BOOST_TEST(q.durable() == 3u);
    BOOST_TEST(!q.sync_due());

    queue failing(fsync_policy::always());
    failing.on_written(1, t0);
    failing.wait(1, 1);
    done.clear();
    failing.synced_all(make_error_code(errc::io_failed), done);
    BOOST_TEST_REQUIRE(done.size() == 1u);
    BOOST_TEST(done[0].ec == make_error_code(errc::io_failed));
    BOOST_TEST(failing.poisoned());
    BOOST_TEST(failing.durable() == 0u);
}

BOOST_AUTO_TEST_CASE(a_waiter_already_durable_completes_at_once) {
    queue q(fsync_policy::os(), 7, 9);
    BOOST_TEST(q.durable() == 7u);
    BOOST_TEST(q.written() == 9u);
    BOOST_TEST((q.wait(7, 1) == wait_result::durable));
    BOOST_TEST((q.wait(9, 2) == wait_result::queued));
    BOOST_TEST(q.sync_due());
}

// Every waiter was written: all of them are in doubt, and get the failure (not errc::poisoned,
// which says "never written").
BOOST_AUTO_TEST_CASE(a_failed_fsync_fails_every_waiter_with_the_failure_and_poisons_the_queue) {
    queue q(fsync_policy::always());
    q.on_written(2, t0);
    q.wait(1, 1);
    q.wait(2, 2);
    q.sync_started(2);
    q.on_written(3, t0);
    q.wait(3, 3);
    std::vector<queue::completion> done;
    q.sync_finished(make_error_code(errc::io_failed), done);
    BOOST_TEST_REQUIRE(done.size() == 3u);
    BOOST_TEST((done[0].ec == errc::io_failed));
    BOOST_TEST((done[1].ec == errc::io_failed));
    BOOST_TEST((done[2].ec == errc::io_failed));  // written after the round started: in doubt too
    BOOST_TEST(q.poisoned());
    BOOST_TEST(q.durable() == 0u);  // a failed round never advances the durable watermark
    // Nothing is acknowledged after the failure, even a later retry.
    q.on_written(4, t0);
    BOOST_TEST((q.wait(4, 4) == wait_result::poisoned));
    q.demand(4);
    BOOST_TEST(!q.sync_due());
}

BOOST_AUTO_TEST_CASE(a_failed_write_fails_every_waiter) {
    queue q(fsync_policy::always());
    q.on_written(2, t0);
    q.wait(1, 1);
    q.wait(2, 2);
    std::vector<queue::completion> done;
    q.fail_all(make_error_code(errc::poisoned), done);
    BOOST_TEST(waiters_of(done) == (std::vector<int>{1, 2}));
    for (const auto& c : done) BOOST_TEST((c.ec == errc::poisoned));
    BOOST_TEST(!q.sync_due());
}

BOOST_AUTO_TEST_CASE(batch_deadline_follows_the_oldest_unsynced_write) {
    queue q(fsync_policy::batch(5ms));
    BOOST_TEST(!q.sync_deadline());
    q.on_written(1, t0);
    q.on_written(2, t0 + 1ms);  // a later write does not move the deadline
    BOOST_TEST_REQUIRE(q.sync_deadline().has_value());
    BOOST_TEST((*q.sync_deadline() == t0 + 5ms));
    q.on_timer(t0 + 4ms);
    BOOST_TEST(!q.sync_due());
    // No append comes: the timer alone makes the round due.
    q.on_timer(t0 + 5ms);
    BOOST_TEST(q.sync_due());
    q.sync_started(q.written());
    BOOST_TEST(!q.sync_deadline());
    // Written during the round: a new deadline counts from this write.
    q.on_written(3, t0 + 6ms);
    BOOST_TEST((*q.sync_deadline() == t0 + 11ms));
    std::vector<queue::completion> done;
    q.sync_finished({}, done);
    BOOST_TEST(q.durable() == 2u);
    BOOST_TEST(!q.sync_due());
    q.on_timer(t0 + 11ms);
    BOOST_TEST(q.sync_due());
    q.sync_started(q.written());
    q.sync_finished({}, done);
    BOOST_TEST(q.durable() == 3u);
}

// Issue 17, item 5: a slow fdatasync must not let the acknowledged-but-not-durable window grow.
BOOST_AUTO_TEST_CASE(batch_window_exceeded_while_a_round_is_in_flight_holds_new_appends) {
    queue q(fsync_policy::batch(5ms));
    q.on_written(1, t0);
    q.on_timer(t0 + 5ms);
    BOOST_TEST(q.sync_due());
    q.sync_started(1);  // covers LSN 1; it is slow
    q.on_written(2, t0 + 6ms);
    BOOST_TEST(!q.window_exceeded(t0 + 10ms));  // LSN 2's window is not over yet
    BOOST_TEST(q.window_exceeded(t0 + 11ms));   // it is, and no round can start for it
    q.on_timer(t0 + 11ms);
    BOOST_TEST(!q.sync_due());  // one round at a time
    std::vector<queue::completion> done;
    q.sync_finished({}, done);
    BOOST_TEST(q.sync_due());  // the next round starts at once for LSN 2
    q.sync_started(2);
    BOOST_TEST(!q.window_exceeded(t0 + 20ms));  // everything written is covered
    // Without a round in flight a passed deadline only demands a round.
    q.sync_finished({}, done);
    q.on_written(3, t0 + 30ms);
    BOOST_TEST(!q.window_exceeded(t0 + 40ms));
}

// While appends held by back-pressure wait, later appends wait behind them (need::order) and
// complete as soon as no held one precedes them: an append written after the round in flight
// returned must not complete before an earlier held one (handlers on one strand would run out
// of LSN order; api_test/order found it under TSan). Waiting behind demands no round, so
// appends complete once written again as soon as the held ones are durable.
BOOST_AUTO_TEST_CASE(appends_behind_held_ones_complete_right_after_them) {
    queue q(fsync_policy::batch(5ms));
    q.on_written(1, t0);
    q.on_timer(t0 + 5ms);
    q.sync_started(1);  // slow
    q.on_written(2, t0 + 6ms);
    BOOST_TEST(!q.holding(t0 + 10ms));  // LSN 2's window is not over yet
    BOOST_TEST_REQUIRE((q.holding(t0 + 11ms) == queue::need::held));
    BOOST_TEST((q.wait(2, 2, queue::need::held) == wait_result::queued));
    std::vector<queue::completion> done;
    q.sync_finished({}, done);  // covers LSN 1 only
    BOOST_TEST(done.empty());
    BOOST_TEST_REQUIRE(q.sync_due());  // the round for the held LSN 2
    q.sync_started(2);
    q.on_written(3, t0 + 12ms);
    BOOST_TEST_REQUIRE((q.holding(t0 + 12ms) == queue::need::order));  // 2 still waits: 3 waits behind it
    BOOST_TEST((q.wait(3, 3, queue::need::order) == wait_result::queued));
    BOOST_TEST((q.wait(0, 30, queue::need::order) == wait_result::queued));  // a flush
    q.on_written(4, t0 + 13ms);
    BOOST_TEST((q.wait(4, 4, queue::need::durable) == wait_result::queued));  // durability::always()
    q.sync_finished({}, done);  // covers 2: 3 and the flush follow at once, 4 waits for its round
    BOOST_TEST(waiters_of(done) == (std::vector<int>{2, 3, 30}));
    BOOST_TEST(!q.holding(t0 + 14ms));  // appends complete once written again
    BOOST_TEST((q.wait(0, 31, queue::need::order) == wait_result::durable));
    BOOST_TEST(q.sync_due());  // for 4, not for 3
    q.sync_started(4);
    q.sync_finished({}, done);
    BOOST_TEST(waiters_of(done) == (std::vector<int>{2, 3, 30, 4}));
}

BOOST_AUTO_TEST_CASE(order_waiters_alone_demand_no_round_and_a_truncation_keeps_a_flush) {
    queue q(fsync_policy::batch(5ms));
    q.on_written(1, t0);
    q.on_timer(t0 + 5ms);
    q.sync_started(1);
    q.on_written(3, t0 + 6ms);
    BOOST_TEST((q.wait(2, 2, queue::need::held) == wait_result::queued));
    BOOST_TEST((q.wait(3, 3, queue::need::order) == wait_result::queued));
    BOOST_TEST((q.wait(0, 30, queue::need::order) == wait_result::queued));
    std::vector<queue::completion> done;
    q.sync_finished({}, done);
    BOOST_TEST(done.empty());
    q.rebase(1, 1, done);  // truncate_after(1): 2 and 3 are gone, the flush is not failed
    BOOST_TEST(waiters_of(done) == (std::vector<int>{2, 3, 30}));
    BOOST_TEST((done[0].ec == errc::truncated));
    BOOST_TEST((done[1].ec == errc::truncated));
    BOOST_TEST(!done[2].ec);
    BOOST_TEST(!q.holding(t0 + 20ms));
    BOOST_TEST(!q.sync_due());
}

BOOST_AUTO_TEST_CASE(os_policy_syncs_only_on_demand) {
    queue q(fsync_policy::os());
    q.on_written(10, t0);
    BOOST_TEST(!q.sync_deadline());
    q.on_timer(t0 + 1h);
    BOOST_TEST(!q.sync_due());
    q.demand(100);  // clamped to what was written
    BOOST_TEST(q.sync_due());
    q.sync_started(q.written());
    std::vector<queue::completion> done;
    q.sync_finished({}, done);
    BOOST_TEST(q.durable() == 10u);
    BOOST_TEST(!q.sync_due());
}

BOOST_AUTO_TEST_CASE(truncation_completes_waiters_below_it_and_fails_those_above) {
    queue q(fsync_policy::always());
    q.on_written(6, t0);
    q.wait(2, 2);
    q.wait(6, 6);
    std::vector<queue::completion> done;
    q.rebase(3, 3, done);  // truncate_after(3): everything up to 3 is durable, the rest is gone
    BOOST_TEST_REQUIRE(done.size() == 2u);
    BOOST_TEST(!done[0].ec);
    BOOST_TEST((done[1].ec == errc::truncated));
    BOOST_TEST(q.durable() == 3u);
    BOOST_TEST(q.written() == 3u);
    BOOST_TEST(!q.sync_due());
    q.on_written(4, t0);  // the next append gets 4 again
    BOOST_TEST((q.wait(4, 4) == wait_result::queued));
}

BOOST_AUTO_TEST_SUITE_END()
