// What only the real file system can show: more buffers than IOV_MAX in one pwritev, a lock
// seen from another process, a mapping that outlives its file, symbolic links in a listing.
// The rest of the contract is checked on both implementations in file_system_test.cpp.
#include <noriwal/bytes.hpp>
#include <noriwal/error.hpp>
#include <noriwal/file_system.hpp>

#include "support/printing.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <numeric>

using namespace noriwal;
using noriwal::test::bytes_of;
using noriwal::test::pattern_bytes;
using noriwal::test::read_file;
using noriwal::test::temp_dir;

namespace {

std::unique_ptr<file> create(file_system& fs, const std::filesystem::path& p) {
    std::unique_ptr<file> f;
    const auto ec = fs.open(p, open_mode::create_exclusive, f);
    BOOST_TEST_REQUIRE(!ec, "create " << p << ": " << ec.message());
    return f;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(posix_file_system_suite)

BOOST_AUTO_TEST_CASE(vector_write_of_more_buffers_than_iov_max) {
    temp_dir dir;
    auto fs = posix_file_system();
    auto f = create(*fs, dir / "f");
    const std::size_t n = 3 * IOV_MAX + 17;
    std::vector<std::vector<std::byte>> store;
    for (std::size_t i = 0; i < n; ++i) store.push_back(pattern_bytes(i % 5 == 0 ? 0 : 1 + i % 64, i));
    std::vector<std::span<const std::byte>> buffers(store.begin(), store.end());
    BOOST_TEST(!f->write_at(0, buffers));
    std::vector<std::byte> expected;
    for (const auto& b : store) expected.insert(expected.end(), b.begin(), b.end());
    BOOST_TEST(read_file(dir / "f") == expected);
}

BOOST_AUTO_TEST_CASE(lock_held_by_parent_is_refused_to_a_forked_child) {
    temp_dir dir;
    auto fs = posix_file_system();
    std::unique_ptr<directory_lock> held;
    BOOST_TEST_REQUIRE(!fs->lock(dir.path(), held));
    const pid_t child = ::fork();
    BOOST_TEST_REQUIRE(child >= 0);
    if (child == 0) {
        // The child inherits the parent's descriptor, but its own open of LOCK is a new open
        // file description and so must conflict. Exit codes: 0 locked, 1 acquired, 2 other.
        std::unique_ptr<directory_lock> mine;
        const auto ec = fs->lock(dir.path(), mine);
        ::_exit(ec == errc::locked ? 0 : (ec ? 2 : 1));
    }
    int status = 0;
    BOOST_TEST_REQUIRE(::waitpid(child, &status, 0) == child);
    BOOST_TEST_REQUIRE(WIFEXITED(status));
    BOOST_TEST(WEXITSTATUS(status) == 0,
               "the child's lock attempt ended with code " << WEXITSTATUS(status) << " (0 = errc::locked)");
}

BOOST_AUTO_TEST_CASE(map_outlives_the_handle_and_the_name) {
    temp_dir dir;
    auto fs = posix_file_system();
    auto f = create(*fs, dir / "f");
    BOOST_TEST(!f->write_at(0, pattern_bytes(8192, 3)));
    std::shared_ptr<const mapped_region> region;
    BOOST_TEST_REQUIRE(!f->map(8192, region));
    f.reset();
    BOOST_TEST(!fs->remove(dir / "f"));
    BOOST_TEST(
        (std::vector<std::byte>(region->bytes().begin(), region->bytes().end()) == pattern_bytes(8192, 3)));
}

BOOST_AUTO_TEST_CASE(list_leaves_out_symbolic_links) {
    temp_dir dir;
    auto fs = posix_file_system();
    create(*fs, dir / "a.wal");
    std::filesystem::create_symlink(dir / "a.wal", dir / "link");
    std::vector<std::string> names;
    BOOST_TEST(!fs->list(dir.path(), names));
    BOOST_TEST(names == std::vector<std::string>{"a.wal"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
