// When the wal's threads poll before they sleep (lib/wal/adaptive_spin.hpp): driven by hand.
#include <wal/adaptive_spin.hpp>

#include <boost/test/unit_test.hpp>

#include <chrono>

using noriwal::detail::adaptive_spin;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(adaptive_spin_policy)

BOOST_AUTO_TEST_CASE(a_thread_at_rest_never_polls) {
    adaptive_spin s(100us);
    BOOST_TEST(s.budget().count() == 0);  // no credit yet: sleep at once
    s.on_woken(5s);                       // woken long after: polling would not have paid
    BOOST_TEST(s.budget().count() == 0);
}

BOOST_AUTO_TEST_CASE(polling_starts_when_wake_ups_come_soon_and_stops_when_it_stops_paying) {
    adaptive_spin s(100us);
    s.on_woken(20us);  // a spin would have caught it
    BOOST_TEST((s.budget() == adaptive_spin::clock::duration(100us)));
    for (int i = 0; i < 100; ++i) s.on_hit();
    BOOST_TEST(s.credit() == adaptive_spin::max_credit);  // bounded: stops soon after
    int misses = 0;
    while (s.budget().count() > 0) {
        s.on_miss();
        ++misses;
    }
    BOOST_TEST(misses <= adaptive_spin::max_credit / adaptive_spin::miss_cost);
}

BOOST_AUTO_TEST_CASE(zero_window_never_polls) {
    adaptive_spin s(0us);
    s.on_woken(0us);
    BOOST_TEST(s.budget().count() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
