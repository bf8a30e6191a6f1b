// The raft log store (lib/raft/log_store.hpp).
#include "log_store.hpp"

#include <boost/test/unit_test.hpp>

BOOST_AUTO_TEST_SUITE(raft_log_store)

BOOST_AUTO_TEST_CASE(placeholder) { BOOST_TEST(true); }

BOOST_AUTO_TEST_SUITE_END()
