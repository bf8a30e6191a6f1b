// Real mounts for tests that need a file system with particular properties: a small tmpfs (a
// disk that fills up) and a read-only bind mount (a directory the process may not write, even
// as root). Mounting needs CAP_SYS_ADMIN; without it a test says why it skips.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace noriwal::test {

/// Mounts something at a directory for the lifetime of the object (lazily unmounted at the end).
class test_mount {
public:
    /// A tmpfs of `bytes` at `at` (an existing empty directory).
    static test_mount tmpfs(const std::filesystem::path& at, std::uint64_t bytes);
    /// `dir` bind-mounted over itself, then remounted read-only.
    static test_mount read_only_bind(const std::filesystem::path& dir);

    test_mount(test_mount&& other) noexcept;
    test_mount& operator=(test_mount&&) = delete;
    test_mount(const test_mount&) = delete;
    test_mount& operator=(const test_mount&) = delete;
    ~test_mount();

    bool mounted() const noexcept { return mounted_; }
    /// Why the mount failed (empty when mounted).
    const std::string& error() const noexcept { return error_; }
    /// Whether the failure is a missing privilege (EPERM, EACCES) or a kernel without the file
    /// system (ENODEV): the only excuses for skipping.
    bool may_skip() const noexcept { return may_skip_; }

    /// Resizes a mounted tmpfs (frees space for a test that filled it).
    bool resize(std::uint64_t bytes);

private:
    test_mount() = default;
    std::filesystem::path at_;
    bool mounted_ = false;
    bool may_skip_ = false;
    std::string error_;
};

}  // namespace noriwal::test
