// The real file system: one small class per concept over the POSIX calls. Nothing here
// buffers; every call is the system call it names, retried on EINTR and on short transfers.
#include <noriwal/error.hpp>
#include <noriwal/file_system.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

namespace noriwal {
namespace {

// ENOSPC and EDQUOT both mean "no room for these bytes"; the wal reports them as one error so
// that a caller can react to a full disk without knowing about quotas.
std::error_code from_errno(int e) noexcept {
    if (e == ENOSPC || e == EDQUOT) return make_error_code(errc::no_space);
    return {e, std::system_category()};
}

std::error_code last_error() noexcept { return from_errno(errno); }

// std::filesystem reports errno values in the generic or the system category; give them the
// same mapping (and category) as the errors of the calls made here directly.
std::error_code as_errno(std::error_code ec) noexcept {
    if (ec.category() == std::system_category() || ec.category() == std::generic_category()) {
        return from_errno(ec.value());
    }
    return ec;
}

// A write that made no progress without setting errno would loop forever; report it as EIO.
std::error_code no_progress() noexcept { return {EIO, std::system_category()}; }

#ifdef IOV_MAX
constexpr std::size_t iov_batch = IOV_MAX < 1024 ? IOV_MAX : 1024;
#else
constexpr std::size_t iov_batch = 1024;
#endif

class posix_region final : public mapped_region {
public:
    posix_region(void* base, std::size_t len) noexcept : base_(base), len_(len) {}
    ~posix_region() override {
        if (len_ != 0) ::munmap(base_, len_);
    }
    posix_region(const posix_region&) = delete;
    posix_region& operator=(const posix_region&) = delete;

    const std::byte* data() const noexcept override { return static_cast<const std::byte*>(base_); }
    std::size_t size() const noexcept override { return len_; }

private:
    void* base_;
    std::size_t len_;
};

/// An open file descriptor, closed when this goes (unless release() handed it on).
class unique_fd {
public:
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    ~unique_fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;

    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_;
};

class posix_file final : public file {
public:
    explicit posix_file(int fd) noexcept : fd_(fd) {}

    std::error_code write_at(std::uint64_t offset, std::span<const std::byte> data) override {
        while (!data.empty()) {
            const ssize_t n = ::pwrite(fd_.get(), data.data(), data.size(), static_cast<off_t>(offset));
            if (n < 0) {
                if (errno == EINTR) continue;
                return last_error();
            }
            if (n == 0) return no_progress();
            data = data.subspan(static_cast<std::size_t>(n));
            offset += static_cast<std::uint64_t>(n);
        }
        return {};
    }

    std::error_code write_at(std::uint64_t offset,
                             std::span<const std::span<const std::byte>> buffers) override {
        // The iovecs live on the stack so that a group write allocates nothing. `next` is the
        // first buffer not yet handed to the kernel, `skip` the bytes of it already written.
        std::array<iovec, iov_batch> iov;
        std::size_t next = 0;
        std::size_t skip = 0;
        for (;;) {
            std::size_t count = 0;
            for (std::size_t i = next; i < buffers.size() && count < iov.size(); ++i) {
                const std::size_t from = i == next ? skip : 0;
                if (buffers[i].size() == from) continue;
                iov[count].iov_base = const_cast<std::byte*>(buffers[i].data() + from);
                iov[count].iov_len = buffers[i].size() - from;
                ++count;
            }
            if (count == 0) return {};
            const ssize_t n =
                ::pwritev(fd_.get(), iov.data(), static_cast<int>(count), static_cast<off_t>(offset));
            if (n < 0) {
                if (errno == EINTR) continue;
                return last_error();
            }
            if (n == 0) return no_progress();
            offset += static_cast<std::uint64_t>(n);
            // Advance through the buffers by the bytes written, which may end inside one.
            auto left = static_cast<std::size_t>(n);
            while (left > 0) {
                const std::size_t rest = buffers[next].size() - skip;
                if (left < rest) {
                    skip += left;
                    left = 0;
                } else {
                    left -= rest;
                    ++next;
                    skip = 0;
                }
            }
        }
    }

    std::error_code read_at(std::uint64_t offset, std::span<std::byte> out, std::size_t& got) override {
        got = 0;
        while (got < out.size()) {
            const ssize_t n =
                ::pread(fd_.get(), out.data() + got, out.size() - got, static_cast<off_t>(offset + got));
            if (n < 0) {
                if (errno == EINTR) continue;
                return last_error();
            }
            if (n == 0) break;  // end of file
            got += static_cast<std::size_t>(n);
        }
        return {};
    }

    std::error_code sync() override {
        // EINTR is not a write-back failure (those are EIO, ENOSPC...), so retrying it is safe.
        while (::fdatasync(fd_.get()) != 0) {
            if (errno != EINTR) return last_error();
        }
        return {};
    }

    std::error_code size(std::uint64_t& out) override {
        struct stat st;
        if (::fstat(fd_.get(), &st) != 0) return last_error();
        out = static_cast<std::uint64_t>(st.st_size);
        return {};
    }

    std::error_code truncate(std::uint64_t size) override {
        while (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) {
            if (errno != EINTR) return last_error();
        }
        return {};
    }

    std::error_code allocate(std::uint64_t offset, std::uint64_t len) override {
        if (len == 0) return {};  // fallocate refuses an empty range; there is nothing to reserve
        for (;;) {
            if (::fallocate(fd_.get(), 0, static_cast<off_t>(offset), static_cast<off_t>(len)) == 0)
                return {};
            if (errno == EINTR) continue;
            if (errno != EOPNOTSUPP) return last_error();
            break;
        }
        // The file system has no fallocate (e.g. some network or FUSE file systems): glibc's
        // posix_fallocate writes a byte into each block instead. It returns the error number.
        int e;
        while ((e = ::posix_fallocate(fd_.get(), static_cast<off_t>(offset), static_cast<off_t>(len))) ==
               EINTR) {
        }
        return e == 0 ? std::error_code{} : from_errno(e);
    }

    std::error_code map(std::uint64_t len, std::shared_ptr<const mapped_region>& out) override {
        out.reset();
        if (len > std::numeric_limits<std::size_t>::max()) return {EOVERFLOW, std::system_category()};
        if (len == 0) {
            out = std::make_shared<posix_region>(nullptr, 0);
            return {};
        }
        void* base = ::mmap(nullptr, static_cast<std::size_t>(len), PROT_READ, MAP_SHARED, fd_.get(), 0);
        if (base == MAP_FAILED) return last_error();
        out = std::make_shared<posix_region>(base, static_cast<std::size_t>(len));
        return {};
    }

private:
    unique_fd fd_;
};

class posix_lock final : public directory_lock {
public:
    explicit posix_lock(int fd) noexcept : fd_(fd) {}

private:
    unique_fd fd_;  // closing the only descriptor of the open file description releases the flock
};

int open_retrying(const char* path, int flags, mode_t mode = 0) noexcept {
    int fd;
    while ((fd = ::open(path, flags | O_CLOEXEC, mode)) < 0 && errno == EINTR) {
    }
    return fd;
}

class posix_fs final : public file_system {
public:
    std::error_code open(const std::filesystem::path& p, open_mode mode,
                         std::unique_ptr<file>& out) override {
        out.reset();
        int flags = 0;
        switch (mode) {
            case open_mode::read_only:
                flags = O_RDONLY;
                break;
            case open_mode::read_write:
                flags = O_RDWR;
                break;
            case open_mode::create_exclusive:
                flags = O_RDWR | O_CREAT | O_EXCL;
                break;
        }
        unique_fd fd(open_retrying(p.c_str(), flags, 0644));
        if (fd.get() < 0) return last_error();
        // open(O_RDONLY) succeeds on a directory; refuse it here rather than fail on first read.
        struct stat st;
        if (::fstat(fd.get(), &st) != 0) return last_error();
        if (S_ISDIR(st.st_mode)) return {EISDIR, std::system_category()};
        out = std::make_unique<posix_file>(fd.release());
        return {};
    }

    std::error_code list(const std::filesystem::path& dir, std::vector<std::string>& names) override {
        names.clear();
        unique_fd dir_fd(open_retrying(dir.c_str(), O_RDONLY | O_DIRECTORY));
        if (dir_fd.get() < 0) return last_error();
        DIR* d = ::fdopendir(dir_fd.get());
        if (d == nullptr) return last_error();
        const int fd = dir_fd.release();  // closedir closes it
        std::error_code ec;
        for (;;) {
            errno = 0;
            const dirent* e = ::readdir(d);
            if (e == nullptr) {
                if (errno != 0) ec = last_error();
                break;
            }
            bool regular = e->d_type == DT_REG;
            if (e->d_type == DT_UNKNOWN) {
                // Some file systems (XFS without ftype, some network ones) leave d_type unset.
                struct stat st;
                if (::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                    regular = S_ISREG(st.st_mode);
                } else if (errno != ENOENT) {  // ENOENT: removed since readdir saw it
                    ec = last_error();
                    break;
                }
            }
            if (regular) names.emplace_back(e->d_name);
        }
        ::closedir(d);  // closes fd as well
        if (ec) names.clear();
        return ec;
    }

    std::error_code create_directories(const std::filesystem::path& dir) override {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec && ec != std::errc::file_exists) return as_errno(ec);
        const auto st = std::filesystem::status(dir, ec);
        if (ec) return as_errno(ec);
        if (!std::filesystem::is_directory(st)) return {ENOTDIR, std::system_category()};
        return {};
    }

    std::error_code is_directory(const std::filesystem::path& dir, bool& out) override {
        out = false;
        struct stat st;
        if (::stat(dir.c_str(), &st) != 0) {
            if (errno == ENOENT || errno == ENOTDIR) return {};
            return last_error();
        }
        out = S_ISDIR(st.st_mode);
        return {};
    }

    std::error_code rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
        if (::rename(from.c_str(), to.c_str()) != 0) return last_error();
        return {};
    }

    std::error_code remove(const std::filesystem::path& p) override {
        if (::unlink(p.c_str()) != 0) return last_error();
        return {};
    }

    std::error_code sync_directory(const std::filesystem::path& dir) override {
        const unique_fd fd(open_retrying(dir.c_str(), O_RDONLY | O_DIRECTORY));
        if (fd.get() < 0) return last_error();
        while (::fsync(fd.get()) != 0) {
            if (errno != EINTR) return last_error();
        }
        return {};
    }

    std::error_code lock(const std::filesystem::path& dir, std::unique_ptr<directory_lock>& out) override {
        out.reset();
        const auto path = dir / "LOCK";
        unique_fd fd(open_retrying(path.c_str(), O_RDWR | O_CREAT, 0644));
        if (fd.get() < 0) return last_error();
        // flock locks belong to the open file description: a second open of LOCK in this same
        // process conflicts too, which is what makes two wal objects on one directory fail.
        while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
            if (errno == EINTR) continue;
            return errno == EWOULDBLOCK ? make_error_code(errc::locked) : last_error();
        }
        out = std::make_unique<posix_lock>(fd.release());
        return {};
    }
};

}  // namespace

std::shared_ptr<file_system> posix_file_system() {
    static const auto instance = std::make_shared<posix_fs>();
    return instance;
}

}  // namespace noriwal
