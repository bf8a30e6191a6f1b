#include <noriwal/error.hpp>

#include <boost/test/unit_test.hpp>

BOOST_AUTO_TEST_SUITE(error_codes)

BOOST_AUTO_TEST_CASE(category_is_named_noriwal_and_messages_are_specific) {
    std::error_code ec = noriwal::errc::no_space;
    BOOST_TEST(std::string(ec.category().name()) == "noriwal");
    BOOST_TEST(ec.message().find("space") != std::string::npos);
    BOOST_TEST(ec == noriwal::errc::no_space);
    BOOST_TEST(ec != noriwal::errc::locked);
}

BOOST_AUTO_TEST_SUITE_END()
