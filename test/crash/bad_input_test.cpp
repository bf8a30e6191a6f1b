// Bad configuration and bad paths: each is refused with a clear error (one line naming the
// field or the path) and nothing is written: no directory created, no file created or changed.
// Tests run as root, where permission bits do not apply: a directory the process may not write
// is made with a read-only bind mount (skipped, saying so, where mounting is not permitted).
#include <noriwal/error.hpp>

#include "crash/crash_explorer.hpp"
#include "support/mounts.hpp"
#include "support/printing.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <map>

using namespace noriwal;
using namespace noriwal::test;

namespace {

namespace nd = noriwal::detail;

struct open_result {
    std::error_code ec;
    std::string why;
    std::unique_ptr<nd::segment_log> log;
};

open_result try_open(const wal_config& cfg) {
    open_result r;
    recovery_info info;
    r.ec = nd::segment_log::open(cfg, r.log, info, r.why);
    return r;
}

// Every file under `root` with its content (directories as "<dir>").
std::map<std::string, std::vector<std::byte>> tree(const std::filesystem::path& root) {
    std::map<std::string, std::vector<std::byte>> out;
    if (!std::filesystem::exists(root)) return out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
        const auto rel = std::filesystem::relative(e.path(), root).string();
        if (e.is_directory()) {
            out[rel + "/"] = {};
        } else {
            out[rel] = read_file(e.path());
        }
    }
    return out;
}

// A sim_disk that records every operation that would change it.
struct watched_disk {
    std::shared_ptr<sim_disk> disk = std::make_shared<sim_disk>();
    std::vector<std::string> changes;
    watched_disk() {
        disk->set_fault_hook([this](const sim_event& e) -> std::error_code {
            if (is_mutating(e.op) || e.op == sim_op::create_directories || e.op == sim_op::lock)
                changes.push_back(std::string(to_string(e.op)) + " " + e.path.string());
            return {};
        });
    }
};

wal_config valid_config() {
    wal_config cfg;
    cfg.dir = "/data/log";
    cfg.max_segment_size = 1u << 20;
    cfg.max_record_size = 4096;
    return cfg;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bad_input)

// Each field out of range: errc::invalid_config naming the field, and not one operation on the
// disk (not even creating the directory or taking the lock).
BOOST_AUTO_TEST_CASE(each_invalid_field_is_refused_before_touching_the_disk) {
    struct bad {
        const char* field;
        void (*apply)(wal_config&);
    };
    const bad cases[] = {
        {"dir", [](wal_config& c) { c.dir.clear(); }},
        {"max_segment_size", [](wal_config& c) { c.max_segment_size = 100; }},
        {"max_segment_size", [](wal_config& c) { c.max_segment_size = 1ull << 50; }},
        {"max_segment_age", [](wal_config& c) { c.max_segment_age = std::chrono::milliseconds(-1); }},
        {"max_record_size", [](wal_config& c) { c.max_record_size = 0; }},
        {"max_record_size", [](wal_config& c) { c.max_record_size = 2u << 20; }},  // > the segment
        {"fsync", [](wal_config& c) { c.fsync = fsync_policy::batch(std::chrono::microseconds(0)); }},
        {"fsync", [](wal_config& c) { c.fsync = fsync_policy::batch(std::chrono::hours(1)); }},
        {"recovery", [](wal_config& c) { c.recovery = static_cast<recovery_mode>(9); }},
        {"prealloc", [](wal_config& c) { c.prealloc = static_cast<preallocation>(7); }},
        {"default_compression", [](wal_config& c) { c.default_compression = static_cast<compression>(5); }},
        {"zstd_level", [](wal_config& c) { c.zstd_level = 0; }},
        {"zstd_level", [](wal_config& c) { c.zstd_level = 23; }},
        {"retention", [](wal_config& c) { c.retention = std::chrono::milliseconds(-5); }},
    };
    for (const auto& b : cases) {
        watched_disk w;
        wal_config cfg = valid_config();
        cfg.fs = w.disk;
        b.apply(cfg);
        const auto r = try_open(cfg);
        BOOST_TEST(r.ec == errc::invalid_config, b.field << ": " << r.ec.message());
        BOOST_TEST(r.why.find(b.field) != std::string::npos,
                   "the message '" << r.why << "' does not name " << b.field);
        // (The message is built even when the check passes: no front() of an empty vector.)
        BOOST_TEST(w.changes.empty(),
                   b.field << ": the disk was touched: " << (w.changes.empty() ? "" : w.changes[0]));
        BOOST_TEST(!r.log);
    }
}

BOOST_AUTO_TEST_CASE(a_missing_directory_opened_read_only_is_not_created) {
    temp_dir tmp("noriwal-bad");
    wal_config cfg = valid_config();
    cfg.dir = tmp / "missing" / "log";
    cfg.read_only = true;
    const auto r = try_open(cfg);
    BOOST_TEST(r.ec == errc::not_found, r.ec.message());
    BOOST_TEST(r.why.find(cfg.dir.string()) != std::string::npos, r.why);
    BOOST_TEST(!std::filesystem::exists(tmp / "missing"));
}

BOOST_AUTO_TEST_CASE(a_file_where_the_directory_should_be) {
    temp_dir tmp("noriwal-bad");
    const auto file = tmp / "log";
    write_file(file, bytes_of("not a directory"));
    for (const auto& dir : {file, file / "sub"}) {
        wal_config cfg = valid_config();
        cfg.dir = dir;
        const auto r = try_open(cfg);
        BOOST_TEST(static_cast<bool>(r.ec), dir << " opened");
        BOOST_TEST((r.ec == std::errc::not_a_directory || r.ec == std::errc::file_exists),
                   dir << ": " << r.ec.message());
        BOOST_TEST(r.why.find(dir.string()) != std::string::npos,
                   "the message '" << r.why << "' does not name " << dir);
        BOOST_TEST(read_file(file) == bytes_of("not a directory"));
        cfg.read_only = true;
        BOOST_TEST(try_open(cfg).ec == errc::not_found);
    }
}

// A directory the process may not write: the open fails with the system's error and changes
// nothing; a read-only open of an existing log there works (that is what the inspector does).
BOOST_AUTO_TEST_CASE(a_directory_without_write_permission) {
    temp_dir tmp("noriwal-bad");
    const auto dir = tmp / "log";
    {
        wal_config cfg = valid_config();
        cfg.dir = dir;
        auto r = try_open(cfg);
        BOOST_TEST_REQUIRE(!r.ec, r.why);
        BOOST_TEST_REQUIRE(!append_contents(*r.log, {make_content("perm", 0, 100)}, false));
        BOOST_TEST_REQUIRE(!r.log->close());
    }
    const auto empty = tmp / "empty";
    std::filesystem::create_directory(empty);
    std::optional<test_mount> ro_log;
    std::optional<test_mount> ro_empty;
    if (::geteuid() == 0) {
        ro_log.emplace(test_mount::read_only_bind(dir));
        ro_empty.emplace(test_mount::read_only_bind(empty));
        if (!ro_log->mounted() || !ro_empty->mounted()) {
            const auto& m = ro_log->mounted() ? *ro_empty : *ro_log;
            BOOST_TEST(m.may_skip(),
                       "read-only bind mount failed for another reason than privileges: " << m.error());
            BOOST_TEST_MESSAGE("SKIPPED: " << m.error()
                                           << "; root without CAP_SYS_ADMIN cannot make a directory "
                                           << "it may not write");
            return;
        }
    } else {
        std::filesystem::permissions(dir,
                                     std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
        std::filesystem::permissions(empty,
                                     std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    }
    const auto before = tree(tmp.path());
    for (const auto& d : {dir, empty, empty / "sub"}) {
        wal_config cfg = valid_config();
        cfg.dir = d;
        const auto r = try_open(cfg);
        BOOST_TEST((r.ec == std::errc::read_only_file_system || r.ec == std::errc::permission_denied),
                   d << ": " << r.ec.message() << " (" << r.why << ")");
        BOOST_TEST(r.why.find(d.string()) != std::string::npos,
                   "the message '" << r.why << "' does not name " << d);
    }
    BOOST_TEST((tree(tmp.path()) == before), "a refused open changed the directory");
    wal_config ro = valid_config();
    ro.dir = dir;
    ro.read_only = true;
    const auto r = try_open(ro);
    BOOST_TEST(!r.ec, "read-only open of a log in a read-only directory: " << r.ec.message() << " (" << r.why
                                                                           << ")");
    if (::geteuid() != 0) {
        std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
        std::filesystem::permissions(empty, std::filesystem::perms::owner_all);
    }
}

// Foreign files that look like segments: refused with errc::not_a_log naming the file; the
// foreign files are left exactly as they were and no segment or temporary file is created.
const struct foreign {
    const char* name;
    std::string content;
} foreign_files[] = {
    {"00000000000000000001.wal", std::string(200, 'x')},
    {"00000000000000000001.wal", "short"},
    {"notes.wal", "my notes"},
    {"0001.wal", std::string(100, '\0')},
};

BOOST_AUTO_TEST_CASE(a_directory_of_foreign_files) {
    for (const auto& f : foreign_files) {
        temp_dir tmp("noriwal-bad");
        write_file(tmp / "README.txt", bytes_of("the user's own file"));
        write_file(tmp / f.name, bytes_of(f.content));
        wal_config cfg = valid_config();
        cfg.dir = tmp.path();
        for (const bool read_only : {true, false}) {
            const auto before = tree(tmp.path());
            cfg.read_only = read_only;
            const auto r = try_open(cfg);
            BOOST_TEST(r.ec == errc::not_a_log, f.name << ": " << r.ec.message() << " (" << r.why << ")");
            BOOST_TEST(r.why.find(f.name) != std::string::npos,
                       "the message '" << r.why << "' does not name " << f.name);
            auto after = tree(tmp.path());
            after.erase("LOCK");  // see a_refused_open_leaves_no_lock_file
            BOOST_TEST((after == before),
                       f.name << (read_only ? " (read-only)" : "") << ": the refused open changed the "
                              << "directory: " << after.size() << " entries, was " << before.size());
        }
    }
}

// The lock file is the engine's too: an open refused because the directory holds foreign files
// should not leave one behind in the user's directory.
BOOST_AUTO_TEST_CASE(a_refused_open_leaves_no_lock_file) {
    temp_dir tmp("noriwal-bad");
    write_file(tmp / "notes.wal", bytes_of("my notes"));
    wal_config cfg = valid_config();
    cfg.dir = tmp.path();
    const auto r = try_open(cfg);
    BOOST_TEST_REQUIRE(r.ec == errc::not_a_log);
    BOOST_TEST(!std::filesystem::exists(tmp / "LOCK"),
               "a refused open left " << (tmp / "LOCK") << " in a directory that is not a log");
}

BOOST_AUTO_TEST_SUITE_END()
