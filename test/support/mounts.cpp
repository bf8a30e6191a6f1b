#include "support/mounts.hpp"

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace noriwal::test {
namespace {

std::string failure(const char* what, int e) {
    return std::string(what) + ": " + std::strerror(e) + " (euid " + std::to_string(::geteuid()) + ")";
}

}  // namespace

test_mount test_mount::tmpfs(const std::filesystem::path& at, std::uint64_t bytes) {
    test_mount m;
    m.at_ = at;
    const std::string opts = "size=" + std::to_string(bytes);
    if (::mount("tmpfs", at.c_str(), "tmpfs", 0, opts.c_str()) == 0) {
        m.mounted_ = true;
    } else {
        const int e = errno;
        m.error_ = failure("mount -t tmpfs", e);
        m.may_skip_ = e == EPERM || e == EACCES || e == ENODEV;
    }
    return m;
}

test_mount test_mount::read_only_bind(const std::filesystem::path& dir) {
    test_mount m;
    m.at_ = dir;
    if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0) {
        const int e = errno;
        m.error_ = failure("mount --bind", e);
        m.may_skip_ = e == EPERM || e == EACCES;
        return m;
    }
    m.mounted_ = true;
    if (::mount(nullptr, dir.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
        const int e = errno;
        m.error_ = failure("mount -o remount,bind,ro", e);
        m.may_skip_ = e == EPERM || e == EACCES;
        ::umount2(dir.c_str(), MNT_DETACH);
        m.mounted_ = false;
    }
    return m;
}

test_mount::test_mount(test_mount&& other) noexcept
    : at_(std::move(other.at_)),
      mounted_(std::exchange(other.mounted_, false)),
      may_skip_(other.may_skip_),
      error_(std::move(other.error_)) {}

test_mount::~test_mount() {
    if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
}

bool test_mount::resize(std::uint64_t bytes) {
    const std::string opts = "size=" + std::to_string(bytes);
    return mounted_ && ::mount("tmpfs", at_.c_str(), "tmpfs", MS_REMOUNT, opts.c_str()) == 0;
}

}  // namespace noriwal::test
