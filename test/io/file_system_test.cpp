// The contract of noriwal::file_system, checked on both implementations: the real (POSIX) file
// system in a temporary directory and the simulated disk. Every scenario runs on each, so the
// simulation cannot drift from what the kernel does (error codes included).
#include <noriwal/bytes.hpp>
#include <noriwal/error.hpp>
#include <noriwal/file_system.hpp>

#include "support/printing.hpp"
#include "support/sim_disk.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>

using namespace noriwal;
using noriwal::test::bytes_of;
using noriwal::test::pattern_bytes;
using noriwal::test::read_file;

namespace {

// A file system and an existing, empty directory in it.
struct world {
    std::shared_ptr<file_system> fs;
    std::filesystem::path root;
};

struct posix_world : world {
    noriwal::test::temp_dir tmp{"noriwal-fs"};
    posix_world() {
        fs = posix_file_system();
        root = tmp.path();
    }
};

struct sim_world : world {
    sim_world() {
        fs = std::make_shared<noriwal::test::sim_disk>();
        root = "/data/log";
        BOOST_TEST_REQUIRE(!fs->create_directories(root));
    }
};

std::unique_ptr<file> create(file_system& fs, const std::filesystem::path& p) {
    std::unique_ptr<file> f;
    const auto ec = fs.open(p, open_mode::create_exclusive, f);
    BOOST_TEST_REQUIRE(!ec, "create " << p << ": " << ec.message());
    return f;
}

std::string as_text(const std::vector<std::byte>& b) { return std::string(as_string(b)); }

}  // namespace

namespace scenario {

void open_modes_and_their_errors(world& w) {
    auto& fs = w.fs;
    const auto& dir = w.root;
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
    BOOST_TEST(fs->open(dir, open_mode::read_only, f) == std::errc::is_a_directory);
    BOOST_TEST(fs->open(dir / "missing" / "a", open_mode::create_exclusive, f) ==
               std::errc::no_such_file_or_directory);
    BOOST_TEST(fs->open(dir / "a" / "b", open_mode::create_exclusive, f) == std::errc::not_a_directory);
}

void write_and_read_at_offsets(world& w) {
    auto& fs = w.fs;
    const auto& dir = w.root;
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
    BOOST_TEST(read_file(*fs, dir / "f").size() == 21u);
}

void vector_write_places_buffers_one_after_another(world& w) {
    auto& fs = w.fs;
    const auto& dir = w.root;
    auto f = create(*fs, dir / "f");
    std::vector<std::vector<std::byte>> store;
    for (std::size_t i = 0; i < 100; ++i) store.push_back(pattern_bytes(i % 7 == 0 ? 0 : i * 13 % 300, i));
    std::vector<std::span<const std::byte>> buffers(store.begin(), store.end());
    BOOST_TEST(!f->write_at(5, buffers));
    std::vector<std::byte> expected(5);
    for (const auto& b : store) expected.insert(expected.end(), b.begin(), b.end());
    BOOST_TEST(read_file(*fs, dir / "f") == expected);
    // No buffers at all writes nothing and succeeds.
    BOOST_TEST(!f->write_at(0, std::span<const std::span<const std::byte>>{}));
    BOOST_TEST(read_file(*fs, dir / "f") == expected);
}

void size_truncate_and_allocate(world& w) {
    auto& fs = w.fs;
    const auto& dir = w.root;
    auto f = create(*fs, dir / "f");
    BOOST_TEST(!f->write_at(0, pattern_bytes(1000, 1)));
    std::uint64_t size = 0;
    BOOST_TEST(!f->size(size));
    BOOST_TEST(size == 1000u);
    BOOST_TEST(!f->truncate(10));
    BOOST_TEST(!f->size(size));
    BOOST_TEST(size == 10u);
    BOOST_TEST(!f->truncate(50));  // extends with zeros
    auto content = read_file(*fs, dir / "f");
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

void map_sees_bytes_written_after_mapping(world& w) {
    auto& fs = w.fs;
    const auto& dir = w.root;
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
    // Not past what was mapped.
    BOOST_TEST(region->size() == 8192u);
}

void map_of_zero_bytes_is_an_empty_region(world& w) {
    auto& fs = w.fs;
    const auto& dir = w.root;
    auto f = create(*fs, dir / "f");
    std::shared_ptr<const mapped_region> region;
    BOOST_TEST(!f->map(0, region));
    BOOST_TEST_REQUIRE(region);
    BOOST_TEST(region->size() == 0u);
    BOOST_TEST(region->bytes().empty());
}

void list_names_regular_files_only(world& w) {
    auto& fs = w.fs;
    const auto& dir = w.root;
    create(*fs, dir / "b.wal");
    create(*fs, dir / "a.wal");
    BOOST_TEST(!fs->create_directories(dir / "sub"));
    create(*fs, dir / "sub" / "nested");
    std::vector<std::string> names{"stale"};
    BOOST_TEST(!fs->list(dir, names));
    std::sort(names.begin(), names.end());
    BOOST_TEST(names == (std::vector<std::string>{"a.wal", "b.wal"}), boost::test_tools::per_element());
    BOOST_TEST(fs->list(dir / "missing", names) == std::errc::no_such_file_or_directory);
    BOOST_TEST(fs->list(dir / "a.wal", names) == std::errc::not_a_directory);
}

void create_directories_and_is_directory(world& w) {
    auto& fs = w.fs;
    const auto& dir = w.root;
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

void rename_remove_and_sync_directory(world& w) {
    auto& fs = w.fs;
    const auto& dir = w.root;
    create(*fs, dir / "a")->write_at(0, bytes_of("first"));
    create(*fs, dir / "b")->write_at(0, bytes_of("second"));
    BOOST_TEST(!fs->rename(dir / "a", dir / "b"));  // replaces b
    BOOST_TEST(as_text(read_file(*fs, dir / "b")) == "first");
    std::vector<std::string> names;
    BOOST_TEST(!fs->list(dir, names));
    BOOST_TEST(names == std::vector<std::string>{"b"}, boost::test_tools::per_element());
    BOOST_TEST(fs->rename(dir / "a", dir / "c") == std::errc::no_such_file_or_directory);
    BOOST_TEST(!fs->sync_directory(dir));
    BOOST_TEST(!fs->remove(dir / "b"));
    BOOST_TEST(fs->remove(dir / "b") == std::errc::no_such_file_or_directory);
    BOOST_TEST(!fs->list(dir, names));
    BOOST_TEST(names.empty());
    BOOST_TEST(!fs->sync_directory(dir));
    BOOST_TEST(fs->sync_directory(dir / "missing") == std::errc::no_such_file_or_directory);
    create(*fs, dir / "f");
    BOOST_TEST(fs->sync_directory(dir / "f") == std::errc::not_a_directory);
}

void lock_is_exclusive_until_released(world& w) {
    auto& fs = w.fs;
    const auto& dir = w.root;
    std::unique_ptr<directory_lock> first;
    std::unique_ptr<directory_lock> second;
    BOOST_TEST(!fs->lock(dir, first));
    BOOST_TEST_REQUIRE(first);
    std::vector<std::string> names;
    BOOST_TEST(!fs->list(dir, names));
    BOOST_TEST(names == std::vector<std::string>{"LOCK"}, boost::test_tools::per_element());
    BOOST_TEST(fs->lock(dir, second) == errc::locked);
    BOOST_TEST(!second);
    first.reset();
    BOOST_TEST(!fs->lock(dir, second));
    BOOST_TEST(second);
    BOOST_TEST(fs->lock(dir / "missing", first) == std::errc::no_such_file_or_directory);
}

}  // namespace scenario

#define NORIWAL_FS_SCENARIOS(X)                      \
    X(open_modes_and_their_errors)                   \
    X(write_and_read_at_offsets)                     \
    X(vector_write_places_buffers_one_after_another) \
    X(size_truncate_and_allocate)                    \
    X(map_sees_bytes_written_after_mapping)          \
    X(map_of_zero_bytes_is_an_empty_region)          \
    X(list_names_regular_files_only)                 \
    X(create_directories_and_is_directory)           \
    X(rename_remove_and_sync_directory)              \
    X(lock_is_exclusive_until_released)

#define NORIWAL_FS_CASE(name)    \
    BOOST_AUTO_TEST_CASE(name) { \
        world_type w;            \
        scenario::name(w);       \
    }

BOOST_AUTO_TEST_SUITE(file_system_posix)
using world_type = posix_world;
NORIWAL_FS_SCENARIOS(NORIWAL_FS_CASE)
BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(file_system_sim)
using world_type = sim_world;
NORIWAL_FS_SCENARIOS(NORIWAL_FS_CASE)
BOOST_AUTO_TEST_SUITE_END()
