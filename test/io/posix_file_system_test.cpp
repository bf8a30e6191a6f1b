// The real file system, exercised on a temporary directory.
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
using noriwal::test::read_file;
using noriwal::test::temp_dir;

namespace {

std::unique_ptr<file> create(file_system& fs, const std::filesystem::path& p) {
    std::unique_ptr<file> f;
    const auto ec = fs.open(p, open_mode::create_exclusive, f);
    BOOST_TEST_REQUIRE(!ec, "create " << p << ": " << ec.message());
    return f;
}

std::string as_text(const std::vector<std::byte>& b) { return std::string(as_string(b)); }

// Bytes whose value depends on their position, so that a misplaced buffer shows.
std::vector<std::byte> pattern(std::size_t n, std::size_t seed) {
    std::vector<std::byte> out(n);
    for (std::size_t i = 0; i < n; ++i)
        out[i] = std::byte(static_cast<unsigned char>((i * 31 + seed * 7) % 251));
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(posix_file_system_suite)

BOOST_AUTO_TEST_CASE(open_modes_and_their_errors) {
    temp_dir dir;
    auto fs = posix_file_system();
    std::unique_ptr<file> f;
    BOOST_TEST(fs->open(dir / "a", open_mode::read_only, f) == std::errc::no_such_file_or_directory);
    BOOST_TEST(!f);
    BOOST_TEST(fs->open(dir / "a", open_mode::read_write, f) == std::errc::no_such_file_or_directory);
    BOOST_TEST(!fs->open(dir / "a", open_mode::create_exclusive, f));
    std::uint64_t size = 1;
    BOOST_TEST(!f->size(size));
    BOOST_TEST(size == 0u);
    BOOST_TEST(fs->open(dir / "a", open_mode::create_exclusive, f) == std::errc::file_exists);
    BOOST_TEST(!fs->open(dir / "a", open_mode::read_write, f));
    BOOST_TEST(!fs->open(dir / "a", open_mode::read_only, f));
    BOOST_TEST(f->write_at(0, bytes_of("x")) == std::errc::bad_file_descriptor);
    BOOST_TEST(fs->open(dir.path(), open_mode::read_only, f) == std::errc::is_a_directory);
    BOOST_TEST(fs->open(dir / "missing" / "a", open_mode::create_exclusive, f) ==
               std::errc::no_such_file_or_directory);
    BOOST_TEST(fs->open(dir / "a" / "b", open_mode::create_exclusive, f) == std::errc::not_a_directory);
}

BOOST_AUTO_TEST_CASE(write_and_read_at_offsets) {
    temp_dir dir;
    auto fs = posix_file_system();
    auto f = create(*fs, dir / "f");
    BOOST_TEST(!f->write_at(0, bytes_of("hello world")));
    BOOST_TEST(!f->write_at(6, bytes_of("there")));
    BOOST_TEST(!f->write_at(20, bytes_of("!")));  // leaves a hole of zeros
    std::vector<std::byte> out(32, std::byte{0x55});
    std::size_t got = 0;
    BOOST_TEST(!f->read_at(0, out, got));
    BOOST_TEST(got == 21u);  // short at end of file
    out.resize(got);
    BOOST_TEST(as_text(out) == std::string("hello there\0\0\0\0\0\0\0\0\0!", 21));
    BOOST_TEST(!f->read_at(100, out, got));
    BOOST_TEST(got == 0u);
    BOOST_TEST(!f->sync());
    f.reset();
    BOOST_TEST(read_file(dir / "f").size() == 21u);
}

BOOST_AUTO_TEST_CASE(vector_write_places_buffers_one_after_another) {
    temp_dir dir;
    auto fs = posix_file_system();
    auto f = create(*fs, dir / "f");
    std::vector<std::vector<std::byte>> store;
    for (std::size_t i = 0; i < 100; ++i) store.push_back(pattern(i % 7 == 0 ? 0 : i * 13 % 300, i));
    std::vector<std::span<const std::byte>> buffers(store.begin(), store.end());
    BOOST_TEST(!f->write_at(5, buffers));
    std::vector<std::byte> expected(5);
    for (const auto& b : store) expected.insert(expected.end(), b.begin(), b.end());
    BOOST_TEST(read_file(dir / "f") == expected);
    // No buffers at all writes nothing and succeeds.
    BOOST_TEST(!f->write_at(0, std::span<const std::span<const std::byte>>{}));
    BOOST_TEST(read_file(dir / "f") == expected);
}

BOOST_AUTO_TEST_CASE(vector_write_of_more_buffers_than_iov_max) {
    temp_dir dir;
    auto fs = posix_file_system();
    auto f = create(*fs, dir / "f");
    const std::size_t n = 3 * IOV_MAX + 17;
    std::vector<std::vector<std::byte>> store;
    for (std::size_t i = 0; i < n; ++i) store.push_back(pattern(i % 5 == 0 ? 0 : 1 + i % 64, i));
    std::vector<std::span<const std::byte>> buffers(store.begin(), store.end());
    BOOST_TEST(!f->write_at(0, buffers));
    std::vector<std::byte> expected;
    for (const auto& b : store) expected.insert(expected.end(), b.begin(), b.end());
    BOOST_TEST(read_file(dir / "f") == expected);
}

BOOST_AUTO_TEST_CASE(size_truncate_and_allocate) {
    temp_dir dir;
    auto fs = posix_file_system();
    auto f = create(*fs, dir / "f");
    BOOST_TEST(!f->write_at(0, pattern(1000, 1)));
    std::uint64_t size = 0;
    BOOST_TEST(!f->size(size));
    BOOST_TEST(size == 1000u);
    BOOST_TEST(!f->truncate(10));
    BOOST_TEST(!f->size(size));
    BOOST_TEST(size == 10u);
    BOOST_TEST(!f->truncate(50));  // extends with zeros
    auto content = read_file(dir / "f");
    BOOST_TEST(content.size() == 50u);
    BOOST_TEST(
        std::all_of(content.begin() + 10, content.end(), [](std::byte b) { return b == std::byte{0}; }));
    BOOST_TEST(!f->allocate(0, 1 << 20));  // reserves and grows the size
    BOOST_TEST(!f->size(size));
    BOOST_TEST(size == 1u << 20);
    BOOST_TEST(!f->allocate(0, 0));
    BOOST_TEST(!f->allocate(100, 10));  // inside: size unchanged
    BOOST_TEST(!f->size(size));
    BOOST_TEST(size == 1u << 20);
}

BOOST_AUTO_TEST_CASE(map_sees_bytes_written_after_mapping) {
    temp_dir dir;
    auto fs = posix_file_system();
    auto f = create(*fs, dir / "f");
    BOOST_TEST(!f->write_at(0, std::vector<std::byte>(8192)));
    std::shared_ptr<const mapped_region> region;
    BOOST_TEST(!f->map(8192, region));
    BOOST_TEST_REQUIRE(region);
    BOOST_TEST(region->size() == 8192u);
    BOOST_TEST(region->data()[4096] == std::byte{0});
    BOOST_TEST(!f->write_at(4096, bytes_of("hello")));
    BOOST_TEST(as_string(region->bytes().subspan(4096, 5)) == "hello");
    // The mapping outlives both the handle and the directory entry.
    f.reset();
    BOOST_TEST(!fs->remove(dir / "f"));
    BOOST_TEST(as_string(region->bytes().subspan(4096, 5)) == "hello");
}

BOOST_AUTO_TEST_CASE(map_of_zero_bytes_is_an_empty_region) {
    temp_dir dir;
    auto fs = posix_file_system();
    auto f = create(*fs, dir / "f");
    std::shared_ptr<const mapped_region> region;
    BOOST_TEST(!f->map(0, region));
    BOOST_TEST_REQUIRE(region);
    BOOST_TEST(region->size() == 0u);
    BOOST_TEST(region->bytes().empty());
}

BOOST_AUTO_TEST_CASE(list_names_regular_files_only) {
    temp_dir dir;
    auto fs = posix_file_system();
    create(*fs, dir / "b.wal");
    create(*fs, dir / "a.wal");
    BOOST_TEST(!fs->create_directories(dir / "sub"));
    create(*fs, dir / "sub" / "nested");
    std::filesystem::create_symlink(dir / "a.wal", dir / "link");
    std::vector<std::string> names{"stale"};
    BOOST_TEST(!fs->list(dir.path(), names));
    std::sort(names.begin(), names.end());
    BOOST_TEST(names == (std::vector<std::string>{"a.wal", "b.wal"}), boost::test_tools::per_element());
    BOOST_TEST(fs->list(dir / "missing", names) == std::errc::no_such_file_or_directory);
    BOOST_TEST(fs->list(dir / "a.wal", names) == std::errc::not_a_directory);
}

BOOST_AUTO_TEST_CASE(create_directories_and_is_directory) {
    temp_dir dir;
    auto fs = posix_file_system();
    bool is_dir = true;
    BOOST_TEST(!fs->is_directory(dir / "x" / "y", is_dir));
    BOOST_TEST(!is_dir);
    BOOST_TEST(!fs->create_directories(dir / "x" / "y"));
    BOOST_TEST(!fs->is_directory(dir / "x" / "y", is_dir));
    BOOST_TEST(is_dir);
    BOOST_TEST(!fs->create_directories(dir / "x" / "y"));  // already there: fine
    create(*fs, dir / "file");
    BOOST_TEST(!fs->is_directory(dir / "file", is_dir));
    BOOST_TEST(!is_dir);
    BOOST_TEST(!fs->is_directory(dir / "file" / "below", is_dir));
    BOOST_TEST(!is_dir);
    BOOST_TEST(fs->create_directories(dir / "file") == std::errc::not_a_directory);
    BOOST_TEST(fs->create_directories(dir / "file" / "below") == std::errc::not_a_directory);
}

BOOST_AUTO_TEST_CASE(rename_remove_and_sync_directory) {
    temp_dir dir;
    auto fs = posix_file_system();
    create(*fs, dir / "a")->write_at(0, bytes_of("first"));
    create(*fs, dir / "b")->write_at(0, bytes_of("second"));
    BOOST_TEST(!fs->rename(dir / "a", dir / "b"));  // replaces b
    BOOST_TEST(as_text(read_file(dir / "b")) == "first");
    std::vector<std::string> names;
    BOOST_TEST(!fs->list(dir.path(), names));
    BOOST_TEST(names == std::vector<std::string>{"b"}, boost::test_tools::per_element());
    BOOST_TEST(fs->rename(dir / "a", dir / "c") == std::errc::no_such_file_or_directory);
    BOOST_TEST(!fs->sync_directory(dir.path()));
    BOOST_TEST(!fs->remove(dir / "b"));
    BOOST_TEST(fs->remove(dir / "b") == std::errc::no_such_file_or_directory);
    BOOST_TEST(!fs->list(dir.path(), names));
    BOOST_TEST(names.empty());
    BOOST_TEST(!fs->sync_directory(dir.path()));
    BOOST_TEST(fs->sync_directory(dir / "missing") == std::errc::no_such_file_or_directory);
    create(*fs, dir / "f");
    BOOST_TEST(fs->sync_directory(dir / "f") == std::errc::not_a_directory);
}

BOOST_AUTO_TEST_CASE(lock_is_exclusive_until_released) {
    temp_dir dir;
    auto fs = posix_file_system();
    std::unique_ptr<directory_lock> first;
    std::unique_ptr<directory_lock> second;
    BOOST_TEST(!fs->lock(dir.path(), first));
    BOOST_TEST_REQUIRE(first);
    bool exists = std::filesystem::exists(dir / "LOCK");
    BOOST_TEST(exists);
    BOOST_TEST(fs->lock(dir.path(), second) == errc::locked);
    BOOST_TEST(!second);
    first.reset();
    BOOST_TEST(!fs->lock(dir.path(), second));
    BOOST_TEST(second);
    BOOST_TEST(fs->lock(dir / "missing", first) == std::errc::no_such_file_or_directory);
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

BOOST_AUTO_TEST_SUITE_END()
