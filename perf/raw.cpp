// The raw baselines: what the machine can do with no log at all. A wal workload names one of
// these as its baseline, so that its ratio to the physical limit is read off the same run.
#include "bench.hpp"

#include <noriwal/detail/crc32c.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

namespace noriwal::bench {
namespace {

constexpr std::size_t kib = 1024;
constexpr std::size_t mib = 1024 * 1024;

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::system_category(), what); }

class fd_file {
public:
    explicit fd_file(const std::filesystem::path& p)
        : fd_(::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
        if (fd_ < 0) fail("open");
    }
    ~fd_file() { ::close(fd_); }
    fd_file(const fd_file&) = delete;
    fd_file& operator=(const fd_file&) = delete;

    void pwrite_all(const std::byte* data, std::size_t n, std::uint64_t offset) const {
        while (n > 0) {
            const ssize_t w = ::pwrite(fd_, data, n, static_cast<off_t>(offset));
            if (w < 0) {
                if (errno == EINTR) continue;
                fail("pwrite");
            }
            data += w;
            n -= static_cast<std::size_t>(w);
            offset += static_cast<std::uint64_t>(w);
        }
    }
    void datasync() const {
        if (::fdatasync(fd_) != 0) fail("fdatasync");
    }

private:
    int fd_;
};

std::vector<std::byte> pattern(std::size_t n) {
    std::vector<std::byte> out(n);
    std::uint32_t x = 2463534242u;
    for (auto& b : out) {  // xorshift: bytes that no layer can compress or deduplicate
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b = static_cast<std::byte>(x);
    }
    return out;
}

// pwrite of one 1 KiB record, then fdatasync, n times: the cost of one durable append with no
// batching, the floor under `fsync_policy::always()` with a single writer.
result fdatasync_loop(context& ctx, bool prezeroed) {
    const std::uint64_t n = ctx.records(20000);
    const fd_file f(ctx.dir() / "raw.data");
    if (prezeroed) {
        // Blocks written and synced beforehand: the fdatasync in the loop then has data to
        // flush but no block allocation or size change to journal.
        const std::vector<std::byte> zeros(mib);
        for (std::uint64_t off = 0; off < n * kib; off += mib) f.pwrite_all(zeros.data(), zeros.size(), off);
        f.datasync();
    }
    const auto record = pattern(kib);
    result r;
    r.latencies.reserve(n);
    const stopwatch total;
    for (std::uint64_t i = 0; i < n; ++i) {
        const stopwatch op;
        f.pwrite_all(record.data(), record.size(), i * kib);
        f.datasync();
        r.latencies.add(op.elapsed());
    }
    r.seconds = total.seconds();
    r.records = n;
    r.value_bytes = kib;
    r.extra.emplace_back("fdatasyncs", static_cast<double>(n));
    return r;
}

result fdatasync_prezeroed(context& ctx) { return fdatasync_loop(ctx, true); }
result fdatasync_growing(context& ctx) { return fdatasync_loop(ctx, false); }

// Buffered 1 MiB writes into a growing file, no sync: the page-cache bandwidth that bounds
// `fsync_policy::os()` throughput.
result write_1m(context& ctx) {
    const std::uint64_t n = ctx.records(1024);
    const fd_file f(ctx.dir() / "raw.data");
    const auto chunk = pattern(mib);
    result r;
    r.latencies.reserve(n);
    const stopwatch total;
    for (std::uint64_t i = 0; i < n; ++i) {
        const stopwatch op;
        f.pwrite_all(chunk.data(), chunk.size(), i * mib);
        r.latencies.add(op.elapsed());
    }
    r.seconds = total.seconds();
    r.records = n;
    r.value_bytes = mib;
    return r;
}

// CRC32C over a 1 MiB buffer (it stays in cache), n times: the checksum's own speed.
result crc_loop(context& ctx, bool portable) {
    const std::uint64_t n = ctx.records(portable ? 1024 : 8192);
    const auto buffer = pattern(mib);
    result r;
    r.latencies.reserve(n);
    std::uint32_t crc = 0;
    const stopwatch total;
    for (std::uint64_t i = 0; i < n; ++i) {
        const stopwatch op;
        crc = portable ? detail::crc32c_extend_portable(crc, buffer.data(), buffer.size())
                       : detail::crc32c_extend(crc, buffer.data(), buffer.size());
        r.latencies.add(op.elapsed());
    }
    r.seconds = total.seconds();
    keep(crc);
    r.records = n;
    r.value_bytes = mib;
    r.extra.emplace_back("gb_per_s", r.seconds > 0 ? static_cast<double>(n * mib) / 1e9 / r.seconds : 0.0);
    r.note = std::string("implementation: ") + (portable ? "portable" : detail::crc32c_implementation());
    return r;
}

result crc32c(context& ctx) { return crc_loop(ctx, false); }
result crc32c_portable(context& ctx) { return crc_loop(ctx, true); }

// memcpy of each 1 KiB record into an output buffer, then CRC32C of the copy: the least CPU
// work a log must do per record before any system call. Sources cycle through 1 MiB of
// distinct records and the output is a 4 MiB ring, so both stay in cache: an upper bound.
// One record takes well under a microsecond, so no per-record latency is taken (timing it
// would cost more than the work).
result memcpy_crc(context& ctx) {
    const std::uint64_t n = ctx.records(200'000);
    const auto source = pattern(mib);
    std::vector<std::byte> ring(4 * mib);
    constexpr std::size_t slots_in = mib / kib;
    constexpr std::size_t slots_out = 4 * mib / kib;
    std::uint32_t fold = 0;
    const stopwatch total;
    for (std::uint64_t i = 0; i < n; ++i) {
        std::byte* out = ring.data() + (i % slots_out) * kib;
        std::memcpy(out, source.data() + (i % slots_in) * kib, kib);
        fold ^= detail::crc32c_extend(0, out, kib);
    }
    result r;
    r.seconds = total.seconds();
    keep(fold);
    r.records = n;
    r.value_bytes = kib;
    return r;
}

// Recovery's floor: map files of 128 MiB (a segment) that the page cache holds, one at a time,
// and CRC32C each 1 KiB of them, as recovery checks each record, unmapping each file before
// the next (1 GiB by default, --records counts KiB). Unlike raw.memcpy_crc the bytes come
// from memory, not from the CPU cache, and each page is faulted into the mapping.
result mmap_crc(context& ctx) {
    const std::uint64_t n = ctx.records(std::uint64_t{1} << 20);
    constexpr std::uint64_t file_bytes = 128 * mib;
    const auto chunk = pattern(mib);
    std::vector<std::filesystem::path> files;
    for (std::uint64_t left = n * kib; left > 0;) {
        const std::uint64_t size = std::min(left, file_bytes);
        files.push_back(ctx.dir() / ("raw." + std::to_string(files.size())));
        const fd_file f(files.back());
        for (std::uint64_t off = 0; off < size; off += mib)
            f.pwrite_all(chunk.data(), static_cast<std::size_t>(std::min<std::uint64_t>(mib, size - off)),
                         off);
        left -= size;
    }
    auto pass = [&] {
        std::uint32_t fold = 0;
        for (const auto& p : files) {
            const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) fail("open");
            const auto size = static_cast<std::size_t>(std::filesystem::file_size(p));
            void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
            ::close(fd);
            if (m == MAP_FAILED) fail("mmap");
            const auto* b = static_cast<const std::byte*>(m);
            for (std::size_t off = 0; off + kib <= size; off += kib)
                fold ^= detail::crc32c_extend(0, b + off, kib);
            ::munmap(m, size);
        }
        return fold;
    };
    keep(pass());  // the page cache holds the files from here on
    result r;
    r.latencies.reserve(1);
    const stopwatch total;
    keep(pass());
    r.latencies.add(total.elapsed());
    r.seconds = total.seconds();
    r.records = n;
    r.value_bytes = kib;
    return r;
}

const registration regs[] = {
    registration{{"raw.mmap_crc.1gib",
                  "mmap 128 MiB files held by the page cache, one at a time, and CRC32C each KiB (1 GiB)",
                  mmap_crc,
                  {}}},
    registration{{"raw.fdatasync.prezeroed.1k",
                  "pwrite 1 KiB + fdatasync per record into a file zero-filled and synced beforehand",
                  fdatasync_prezeroed,
                  {}}},
    registration{{"raw.fdatasync.growing.1k",
                  "pwrite 1 KiB + fdatasync per record, appending to an empty file",
                  fdatasync_growing,
                  {}}},
    registration{
        {"raw.write.1m", "buffered pwrite of 1 MiB chunks into a growing file, never synced", write_1m, {}}},
    registration{{"raw.crc32c", "CRC32C (run-time chosen code) over a 1 MiB in-cache buffer", crc32c, {}}},
    registration{{"raw.crc32c.portable", "CRC32C forced onto the portable slicing-by-8 code, 1 MiB buffer",
                  crc32c_portable, "raw.crc32c", rate::mb_per_s}},
    registration{{"raw.memcpy_crc",
                  "memcpy of a 1 KiB record into an output ring + CRC32C of it, per record",
                  memcpy_crc,
                  {}}},
};

}  // namespace
}  // namespace noriwal::bench
