// What the public headers expose: the machinery that connects the templates to the compiled
// library lives in noriwal/detail/ and noriwal/impl/ (Beast's layout), and a reader cannot be
// made from its internals by a user.
#include <noriwal/reader.hpp>
#include <noriwal/wal.hpp>

#include <boost/test/unit_test.hpp>

#include <memory>
#include <type_traits>

using namespace noriwal;

// The constructor from the library's core is private.
static_assert(!std::is_constructible_v<reader, std::shared_ptr<detail::reader_core>>);
static_assert(std::is_default_constructible_v<reader>);
static_assert(std::is_nothrow_move_constructible_v<reader>);
static_assert(!std::is_copy_constructible_v<reader>);
// A wal is a copyable handle; so is a basic_wal.
static_assert(std::is_copy_constructible_v<wal>);
static_assert(std::is_copy_constructible_v<basic_wal<boost::asio::any_io_executor>>);

BOOST_AUTO_TEST_SUITE(headers)

BOOST_AUTO_TEST_CASE(empty_handles_report_closed) {
    wal log;
    BOOST_TEST(!log.is_open());
    reader r;
    BOOST_TEST(!r.is_open());
    std::error_code ec;
    BOOST_TEST(!r.try_next(ec).has_value());
    BOOST_TEST((ec == errc::closed));
}

BOOST_AUTO_TEST_SUITE_END()
