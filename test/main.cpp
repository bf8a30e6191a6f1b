// The one Boost.Test main of every test executable.
#define BOOST_TEST_MODULE noriwal
#include <boost/test/unit_test.hpp>
