// The writer's decisions driven by hand: no threads, no files, no clock. Requests are integers;
// the test plays the driver (wal_core) and checks what the state machine asks it to do.
#include <wal/writer_fsm.hpp>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <utility>
#include <vector>

using namespace noriwal;
using namespace std::chrono_literals;
using fsm = detail::writer_fsm<int>;
using detail::request_kind;

namespace {

const fsm::clock::time_point t0{};

/// The completions the fsm asked for, as (request, error) pairs; clears them like the driver.
std::vector<std::pair<int, std::error_code>> take(fsm& w) {
    std::vector<std::pair<int, std::error_code>> v;
    for (const auto& c : w.completions()) v.emplace_back(c.waiter, c.ec);
    w.completions().clear();
    return v;
}

std::vector<int> ids(const std::vector<std::pair<int, std::error_code>>& v) {
    std::vector<int> r;
    for (const auto& [id, ec] : v) r.push_back(id);
    return r;
}

fsm::written_append ok(int id, lsn_t last, bool wants_durable = false) {
    return {id, last, wants_durable, {}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(writer_fsm)

BOOST_AUTO_TEST_CASE(under_always_a_written_group_waits_for_one_round_that_completes_it) {
    fsm w(fsync_policy::always());
    const std::vector<fsm::written_append> group{ok(1, 1), ok(2, 2), ok(3, 3)};
    w.on_group_written(3, t0, group);
    BOOST_TEST(take(w).empty());  // nothing completes before it is durable
    BOOST_TEST(w.sync_due());
    w.sync_started(3);
    BOOST_TEST(!w.sync_due());  // one round at a time
    BOOST_TEST(w.must_wait(request_kind::truncate));
    BOOST_TEST(w.must_wait(request_kind::close));
    BOOST_TEST(!w.must_wait(request_kind::flush));
    w.on_sync_done({});
    const auto done = take(w);
    BOOST_TEST(ids(done) == (std::vector<int>{1, 2, 3}));
    for (const auto& [id, ec] : done) BOOST_TEST(!ec);
    BOOST_TEST(w.durable() == 3u);
    BOOST_TEST(!w.must_wait(request_kind::truncate));
}

BOOST_AUTO_TEST_CASE(under_batch_appends_complete_once_written_unless_they_ask_for_durability) {
    fsm w(fsync_policy::batch(5ms));
    const std::vector<fsm::written_append> group{ok(1, 1), ok(2, 2, true), ok(3, 3)};
    w.on_group_written(3, t0, group);
    BOOST_TEST(ids(take(w)) == (std::vector<int>{1, 3}));
    BOOST_TEST(w.sync_due());  // append 2 waits for a round
    BOOST_TEST_REQUIRE(w.timer_at().has_value());
    BOOST_TEST((*w.timer_at() == t0 + 5ms));
    w.sync_started(3);
    w.on_sync_done({});
    BOOST_TEST(ids(take(w)) == (std::vector<int>{2}));
    BOOST_TEST(!w.timer_at().has_value());  // everything written is durable
}

BOOST_AUTO_TEST_CASE(under_batch_the_timer_demands_a_round_and_a_late_round_holds_new_appends) {
    fsm w(fsync_policy::batch(5ms));
    const std::vector<fsm::written_append> first{ok(1, 1)};
    w.on_group_written(1, t0, first);
    BOOST_TEST(ids(take(w)) == (std::vector<int>{1}));
    BOOST_TEST(!w.sync_due());  // not before the deadline
    w.on_timer(t0 + 5ms);
    BOOST_TEST(w.sync_due());
    w.sync_started(1);  // slow
    w.on_group_written(2, t0 + 6ms, std::vector<fsm::written_append>{ok(2, 2)});
    BOOST_TEST(ids(take(w)) == (std::vector<int>{2}));  // its deadline (t0 + 11ms) is ahead
    w.on_group_written(3, t0 + 20ms, std::vector<fsm::written_append>{ok(3, 3)});
    BOOST_TEST(take(w).empty());  // deadline passed with a round in flight: held (back-pressure)
    w.on_sync_done({});
    BOOST_TEST(take(w).empty());  // the round covered LSN 1 only
    BOOST_TEST(w.sync_due());
    w.sync_started(3);
    w.on_sync_done({});
    BOOST_TEST(ids(take(w)) == (std::vector<int>{3}));
}

// Handlers keep LSN order through back-pressure: an append written after the slow round
// returned, while a held one still waits for its own round, waits behind it (and so does a
// flush), and both complete right after it; then appends complete once written again.
BOOST_AUTO_TEST_CASE(appends_and_a_flush_written_behind_held_ones_complete_after_them_in_lsn_order) {
    fsm w(fsync_policy::batch(5ms));
    w.on_group_written(1, t0, std::vector<fsm::written_append>{ok(1, 1)});
    BOOST_TEST(ids(take(w)) == (std::vector<int>{1}));
    w.on_timer(t0 + 5ms);
    w.sync_started(1);  // slow
    w.on_group_written(2, t0 + 6ms, std::vector<fsm::written_append>{ok(2, 2)});
    BOOST_TEST(ids(take(w)) == (std::vector<int>{2}));  // its deadline (t0 + 11ms) is ahead
    w.on_group_written(3, t0 + 20ms, std::vector<fsm::written_append>{ok(3, 3)});
    BOOST_TEST(take(w).empty());  // held (back-pressure)
    w.on_sync_done({});           // covered LSN 1 only
    BOOST_TEST(take(w).empty());
    BOOST_TEST_REQUIRE(w.sync_due());
    w.sync_started(3);
    w.on_group_written(4, t0 + 21ms, std::vector<fsm::written_append>{ok(4, 4)});
    w.on_flush(40);
    BOOST_TEST(take(w).empty());  // behind the held append 3, not before it
    w.on_sync_done({});
    BOOST_TEST(ids(take(w)) == (std::vector<int>{3, 4, 40}));
    BOOST_TEST(!w.sync_due());  // 4 waited for order, not for durability
    w.on_group_written(5, t0 + 22ms, std::vector<fsm::written_append>{ok(5, 5)});
    w.on_flush(50);
    BOOST_TEST(ids(take(w)) == (std::vector<int>{5, 50}));
}

BOOST_AUTO_TEST_CASE(an_append_the_engine_refused_completes_with_its_classified_error) {
    fsm w(fsync_policy::always());
    const std::vector<fsm::written_append> group{
        {1, 0, false, make_error_code(errc::record_too_large)},
        {2, 0, false, std::make_error_code(std::errc::no_space_on_device)},
        {3, 0, false, std::make_error_code(std::errc::io_error)},
    };
    w.on_group_written(0, t0, group);
    const auto done = take(w);
    BOOST_TEST_REQUIRE(done.size() == 3u);
    BOOST_TEST((done[0].second == errc::record_too_large));
    BOOST_TEST((done[1].second == errc::no_space));
    BOOST_TEST((done[2].second == errc::io_failed));
    BOOST_TEST(!w.poisoned());  // poisoning is the engine's call (the driver reports it)
}

BOOST_AUTO_TEST_CASE(a_failed_round_poisons_every_waiter_and_refuses_what_comes_after) {
    fsm w(fsync_policy::always());
    w.on_group_written(2, t0, std::vector<fsm::written_append>{ok(1, 1), ok(2, 2)});
    w.on_sync_request(3);
    w.sync_started(2);
    const auto eio = std::make_error_code(std::errc::io_error);
    w.on_sync_done(eio);
    const auto done = take(w);
    BOOST_TEST(ids(done) == (std::vector<int>{1, 2, 3}));
    for (const auto& [id, ec] : done) BOOST_TEST((ec == errc::io_failed));  // in doubt, not "poisoned"
    BOOST_TEST(w.poisoned());
    BOOST_TEST(w.failure() == eio);  // the system error, for wal::failure()
    BOOST_TEST(!w.sync_due());
    BOOST_TEST(!w.timer_at().has_value());
    BOOST_TEST((w.refusal() == errc::poisoned));
    w.on_sync_request(4);
    w.on_flush(5);
    const auto later = take(w);
    BOOST_TEST(ids(later) == (std::vector<int>{4, 5}));
    for (const auto& [id, ec] : later) BOOST_TEST((ec == errc::poisoned));
    w.on_failure(make_error_code(errc::no_space));
    BOOST_TEST(w.failure() == eio);  // the first failure stays
}

BOOST_AUTO_TEST_CASE(a_sync_request_with_everything_durable_completes_at_once) {
    fsm w(fsync_policy::os());
    w.opened(4, 4);
    w.on_sync_request(1);
    BOOST_TEST(ids(take(w)) == (std::vector<int>{1}));
    BOOST_TEST(!w.sync_due());
    w.on_group_written(5, t0, std::vector<fsm::written_append>{ok(2, 5)});
    BOOST_TEST(ids(take(w)) == (std::vector<int>{2}));  // os: complete once written
    w.on_sync_request(3);
    BOOST_TEST(take(w).empty());
    BOOST_TEST(w.sync_due());
}

BOOST_AUTO_TEST_CASE(close_settles_the_waiters_on_what_the_engine_close_returned_without_a_round) {
    fsm w(fsync_policy::always());
    w.on_group_written(2, t0, std::vector<fsm::written_append>{ok(1, 1), ok(2, 2)});
    BOOST_TEST(!w.must_wait(request_kind::close));  // no round in flight
    BOOST_TEST(!w.on_close({}));
    BOOST_TEST(ids(take(w)) == (std::vector<int>{1, 2}));
    BOOST_TEST(w.durable() == 2u);
    BOOST_TEST(w.closed());
    BOOST_TEST(!w.sync_due());
    BOOST_TEST((w.refusal() == errc::closed));
    BOOST_TEST(!w.on_close({}));  // closing a closed log: nothing to do
    w.on_flush(3);
    const auto later = take(w);
    BOOST_TEST_REQUIRE(later.size() == 1u);
    BOOST_TEST((later[0].second == errc::closed));
}

BOOST_AUTO_TEST_CASE(a_failed_close_poisons_and_reports_the_failure) {
    fsm w(fsync_policy::always());
    w.on_group_written(1, t0, std::vector<fsm::written_append>{ok(1, 1)});
    const auto eio = std::make_error_code(std::errc::io_error);
    BOOST_TEST((w.on_close(eio) == errc::io_failed));
    const auto done = take(w);
    BOOST_TEST_REQUIRE(done.size() == 1u);
    BOOST_TEST((done[0].second == errc::io_failed));
    BOOST_TEST(w.poisoned());
    BOOST_TEST(w.failure() == eio);
    BOOST_TEST(w.durable() == 0u);
}

BOOST_AUTO_TEST_CASE(closing_a_poisoned_log_reports_poisoned) {
    fsm w(fsync_policy::always());
    w.on_failure(std::make_error_code(std::errc::io_error));
    BOOST_TEST((w.on_close({}) == errc::poisoned));
    BOOST_TEST(w.closed());
}

BOOST_AUTO_TEST_CASE(a_truncation_completes_the_waiters_it_keeps_and_truncates_the_others) {
    fsm w(fsync_policy::always());
    w.opened(2, 2);
    w.on_group_written(5, t0, std::vector<fsm::written_append>{ok(3, 3), ok(4, 4), ok(5, 5)});
    BOOST_TEST(take(w).empty());
    // The engine cut the log after LSN 3 and synced what it kept.
    w.on_truncated(false, 3, 3);
    const auto done = take(w);
    BOOST_TEST(ids(done) == (std::vector<int>{3, 4, 5}));
    BOOST_TEST(!done[0].second);
    BOOST_TEST((done[1].second == errc::truncated));
    BOOST_TEST((done[2].second == errc::truncated));
    BOOST_TEST(w.written() == 3u);
    BOOST_TEST(!w.sync_due());
}

BOOST_AUTO_TEST_CASE(a_reset_truncates_every_waiter_even_below_its_new_start) {
    fsm w(fsync_policy::always());
    w.on_group_written(2, t0, std::vector<fsm::written_append>{ok(1, 1), ok(2, 2)});
    w.on_truncated(true, 100, 100);  // reset_to(101): the log now starts at 101, empty
    const auto done = take(w);
    BOOST_TEST(ids(done) == (std::vector<int>{1, 2}));
    for (const auto& [id, ec] : done) BOOST_TEST((ec == errc::truncated));
    BOOST_TEST(w.durable() == 100u);
    BOOST_TEST(w.written() == 100u);
}

// The speculative write (an append written on its caller's thread) is allowed only on a
// healthy open log, with nothing queued ahead and room in the active segment; a round in
// flight does not prevent it (the writer keeps taking appends while an fdatasync runs).
BOOST_AUTO_TEST_CASE(a_speculative_write_needs_a_healthy_open_log_nothing_queued_and_room) {
    fsm w(fsync_policy::always());
    BOOST_TEST(w.may_write_speculatively(false, true));
    BOOST_TEST(!w.may_write_speculatively(true, true));    // requests queued ahead keep their order
    BOOST_TEST(!w.may_write_speculatively(false, false));  // a new segment: the writer thread's
    const std::vector<fsm::written_append> group{ok(1, 1)};
    w.on_group_written(1, t0, group);
    w.sync_started(1);
    BOOST_TEST(w.may_write_speculatively(false, true));  // while the round is in flight
    w.on_sync_done(std::make_error_code(std::errc::io_error));
    BOOST_TEST(!w.may_write_speculatively(false, true));  // poisoned: refused on the writer thread
    fsm c(fsync_policy::os());
    BOOST_TEST(!c.on_close({}));
    BOOST_TEST(!c.may_write_speculatively(false, true));  // closed
}

BOOST_AUTO_TEST_SUITE_END()
