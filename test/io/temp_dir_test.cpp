// The temporary directory and file surgeries shared by the tests.
#include <noriwal/bytes.hpp>

#include "support/printing.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdlib>

using namespace noriwal;
using namespace noriwal::test;
using noriwal::as_string;

BOOST_AUTO_TEST_SUITE(temp_dir_suite)

BOOST_AUTO_TEST_CASE(directory_is_unique_and_removed_with_its_content) {
    std::filesystem::path kept;
    {
        temp_dir a("unit");
        temp_dir b("unit");
        BOOST_TEST(a.path() != b.path());
        BOOST_TEST(std::filesystem::is_directory(a.path()));
        BOOST_TEST(a.path().filename().string().starts_with("unit-"));
        std::filesystem::create_directories(a / "x" / "y");
        write_file(a / "x" / "y" / "f", bytes_of("data"));
        kept = a.path();
        temp_dir moved(std::move(b));
        BOOST_TEST(b.path().empty());
    }
    BOOST_TEST(!std::filesystem::exists(kept));
}

BOOST_AUTO_TEST_CASE(file_surgeries) {
    temp_dir dir;
    const auto p = dir / "f";
    write_file(p, bytes_of("abcdefgh"));
    BOOST_TEST(as_string(read_file(p)) == "abcdefgh");
    write_bytes_at(p, 2, bytes_of("XY"));
    BOOST_TEST(as_string(read_file(p)) == "abXYefgh");
    flip_bit(p, 0, 0);  // 'a' (0x61) -> 0x60 '`'
    BOOST_TEST(as_string(read_file(p)) == "`bXYefgh");
    flip_bit(p, 0, 0);
    zero_range(p, 6, 2);
    BOOST_TEST(as_string(read_file(p)) == std::string("abXYef\0\0", 8));
    truncate_file(p, 3);
    BOOST_TEST(as_string(read_file(p)) == "abX");
    BOOST_TEST(file_size(*posix_file_system(), p) == 3u);
    write_file(p, bytes_of("z"));  // replaces the whole content
    BOOST_TEST(as_string(read_file(p)) == "z");
    BOOST_CHECK_THROW(flip_bit(p, 10), std::system_error);
    BOOST_CHECK_THROW(read_file(dir / "missing"), std::system_error);
}

BOOST_AUTO_TEST_SUITE_END()
