// How Boost.Test prints error values in failed assertions such as
// BOOST_TEST(ec == errc::locked) or BOOST_TEST(ec == std::errc::no_such_file_or_directory).
#pragma once

#include <noriwal/error.hpp>

#include <boost/test/unit_test.hpp>

#include <ostream>
#include <system_error>

namespace noriwal {

inline std::ostream& boost_test_print_type(std::ostream& os, errc e) {
    return os << "noriwal::errc " << static_cast<int>(e) << " (" << make_error_code(e).message() << ")";
}

}  // namespace noriwal

// std::errc has no operator<< and may not be given one in namespace std; the error_code on the
// other side of the comparison is still printed (as category:value).
BOOST_TEST_DONT_PRINT_LOG_VALUE(std::errc)
// Likewise for std::byte (compared element by element in vectors of bytes).
BOOST_TEST_DONT_PRINT_LOG_VALUE(std::byte)
