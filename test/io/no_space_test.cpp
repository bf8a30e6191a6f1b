// A real full file system: a 1 MiB tmpfs mounted for the test. Mounting needs root
// (CAP_SYS_ADMIN); without it the case reports why it could not run and passes.
#include <noriwal/error.hpp>
#include <noriwal/file_system.hpp>

#include "support/printing.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

using namespace noriwal;
using noriwal::test::temp_dir;

namespace {

class tmpfs_mount {
public:
    explicit tmpfs_mount(const std::filesystem::path& at) : at_(at) {
        if (::mount("tmpfs", at.c_str(), "tmpfs", 0, "size=1m") == 0) {
            mounted_ = true;
        } else {
            error_ = errno;
        }
    }
    ~tmpfs_mount() {
        if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
    }
    tmpfs_mount(const tmpfs_mount&) = delete;
    tmpfs_mount& operator=(const tmpfs_mount&) = delete;

    bool mounted() const noexcept { return mounted_; }
    int error() const noexcept { return error_; }

private:
    std::filesystem::path at_;
    bool mounted_ = false;
    int error_ = 0;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(no_space_suite)

BOOST_AUTO_TEST_CASE(full_file_system_reports_no_space) {
    temp_dir dir("noriwal-nospace");
    const auto at = dir / "mnt";
    std::filesystem::create_directory(at);
    tmpfs_mount mount(at);
    if (!mount.mounted()) {
        // Only a missing privilege (or a kernel without tmpfs) excuses the skip.
        const int e = mount.error();
        BOOST_TEST((e == EPERM || e == EACCES || e == ENODEV),
                   "mount failed for another reason than privileges: " << std::strerror(e));
        BOOST_TEST_MESSAGE("SKIPPED: cannot mount a tmpfs (" << std::strerror(e) << ", euid " << ::geteuid()
                                                             << "); run as root to test a real full disk");
        return;
    }
    auto fs = posix_file_system();
    std::unique_ptr<file> f;
    BOOST_TEST_REQUIRE(!fs->open(at / "fill", open_mode::create_exclusive, f));
    const std::vector<std::byte> chunk(64 * 1024, std::byte{0x5a});
    std::error_code ec;
    std::uint64_t offset = 0;
    for (int i = 0; i < 64 && !ec; ++i) {  // 4 MiB into 1 MiB
        ec = f->write_at(offset, chunk);
        if (!ec) offset += chunk.size();
    }
    BOOST_TEST(ec == errc::no_space, "writing past a full tmpfs gave: " << ec.message());
    BOOST_TEST(offset <= 1u << 20);

    // Vectored writes and reservations report the same error.
    const std::span<const std::byte> parts[] = {chunk, chunk};
    BOOST_TEST(f->write_at(offset, parts) == errc::no_space);
    BOOST_TEST(f->allocate(0, 8u << 20) == errc::no_space);

    // Freeing space makes writes succeed again.
    BOOST_TEST(!f->truncate(0));
    BOOST_TEST(!f->write_at(0, chunk));
    f.reset();
}

BOOST_AUTO_TEST_SUITE_END()
