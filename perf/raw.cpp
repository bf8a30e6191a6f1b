// The raw baselines: what the machine can do with no log at all. A wal workload names one of
// these as its baseline, so that its ratio to the physical limit is read off the same run.
#include "bench.hpp"

#include <noriwal/detail/crc32c.hpp>
#include <noriwal/detail/format.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
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
    void truncate() const {
        if (::ftruncate(fd_, 0) != 0) fail("ftruncate");
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

// Writes zeros over the first `bytes` (rounded up to MiB) of `f` and syncs them: the blocks
// are then written, so that an fdatasync after a write into them has data to flush but no block
// allocation or size change to journal.
void zero_fill(const fd_file& f, std::uint64_t bytes) {
    const std::vector<std::byte> zeros(mib);
    for (std::uint64_t off = 0; off < bytes; off += mib) f.pwrite_all(zeros.data(), zeros.size(), off);
    f.datasync();
}

// pwrite of one 1 KiB record, then fdatasync, per record: the cost of one durable append with
// no batching, the floor under `fsync_policy::always()` with a single writer. At least 20 000
// records and 0.5 s: a disk that syncs in 10 us would be done in 0.2 s. The prezeroed file
// holds 20 000 records (or --records); past its end the loop starts again at its beginning,
// whose blocks are as allocated and written as the rest.
//
// `Sync` is made from the file and called after each write: it returns once the write is
// durable.
template <class Sync>
result fdatasync_loop(context& ctx, bool prezeroed) {
    const stable_loop loop(ctx, 20000);
    const std::uint64_t room = loop.min_records();
    const fd_file f(ctx.dir() / "raw.data");
    if (prezeroed) zero_fill(f, room * kib);
    Sync sync(f);
    const auto record = pattern(kib);
    result r;
    r.latencies.reserve(room * 8);
    const timed_part total;
    std::uint64_t i = 0;
    for (; loop.more(i, total); ++i) {
        const stopwatch op;
        f.pwrite_all(record.data(), record.size(), (prezeroed ? i % room : i) * kib);
        sync();
        r.latencies.add(op.elapsed());
    }
    total.stop(r);
    r.records = i;
    r.value_bytes = kib;
    r.extra.emplace_back("fdatasyncs", static_cast<double>(i));
    return r;
}

// The fdatasync on the writing thread.
struct direct_sync {
    explicit direct_sync(const fd_file& f) : f(f) {}
    void operator()() const { f.datasync(); }
    const fd_file& f;
};

// The fdatasync on a second thread, as a log whose fdatasync never runs on the caller's thread
// must do it: the caller hands the fdatasync over and sleeps on a condition variable (as a
// thread waiting in io_context::run does) until the second thread, which polls for its next
// job (as the wal's sync thread does while jobs come often), has synced and woken it. What it
// adds to a direct fdatasync is the hand-over: one wake-up of the sleeping caller per record.
class handoff_sync {
public:
    explicit handoff_sync(const fd_file& f) : syncer_([this, &f] { run(f); }) {}
    ~handoff_sync() {
        stop_.store(true, std::memory_order_release);
        syncer_.join();
    }
    handoff_sync(const handoff_sync&) = delete;
    handoff_sync& operator=(const handoff_sync&) = delete;

    void operator()() {
        job_.store(++asked_, std::memory_order_release);
        std::unique_lock lk(m_);
        cv_.wait(lk, [&] { return synced_ == asked_; });
    }

private:
    void run(const fd_file& f) {
        std::uint64_t seen = 0;
        while (!stop_.load(std::memory_order_acquire)) {
            const std::uint64_t j = job_.load(std::memory_order_acquire);
            if (j == seen) {
                std::this_thread::yield();
                continue;
            }
            seen = j;
            f.datasync();
            {
                std::lock_guard lk(m_);
                synced_ = j;
            }
            cv_.notify_one();
        }
    }

    std::uint64_t asked_ = 0;            // the caller's
    std::atomic<std::uint64_t> job_{0};  // the number of the write to sync; 0: none
    std::atomic<bool> stop_{false};
    std::mutex m_;
    std::condition_variable cv_;
    std::uint64_t synced_ = 0;  // m_
    std::thread syncer_;        // last: starts once the members above exist
};

result fdatasync_prezeroed(context& ctx) { return fdatasync_loop<direct_sync>(ctx, true); }
result fdatasync_growing(context& ctx) { return fdatasync_loop<direct_sync>(ctx, false); }
// raw.fdatasync.prezeroed.1k with each fdatasync handed to a second thread.
result fdatasync_handoff(context& ctx) { return fdatasync_loop<handoff_sync>(ctx, true); }

// Buffered 1 MiB writes into a growing file, no sync: the page-cache bandwidth that bounds
// `fsync_policy::os()` throughput. The file is cut back to nothing after every 256 MiB (the
// time of that ftruncate is counted), so that a run of stable_seconds does not fill the page
// cache with dirty pages that the kernel then starts writing back.
result write_1m(context& ctx) {
    constexpr std::uint64_t per_file = 256;
    fd_file f(ctx.dir() / "raw.data");
    const auto chunk = pattern(mib);
    result r;
    const stable_loop loop(ctx, 1024);
    r.latencies.reserve(loop.min_records() * 8);
    const timed_part total;
    std::uint64_t i = 0;
    for (; loop.more(i, total); ++i) {
        if (i % per_file == 0 && i != 0) f.truncate();
        const stopwatch op;
        f.pwrite_all(chunk.data(), chunk.size(), (i % per_file) * mib);
        r.latencies.add(op.elapsed());
    }
    total.stop(r);
    r.records = i;
    r.value_bytes = mib;
    return r;
}

// One buffered pwrite per record, CRC32C of the record first, at the next offset of a growing
// file, never synced: what a log that writes each record with its own system call as it
// arrives does at the least. An awaited append under `os` or `batch` is one such write (a
// group of one). The file is cut back after every 64 MiB, as raw.write.1m does.
result pwrite_loop(context& ctx, std::uint64_t bytes, std::uint64_t default_records) {
    const std::uint64_t per_file = std::max<std::uint64_t>(1, 64 * mib / bytes);
    fd_file f(ctx.dir() / "raw.data");
    const auto source = pattern(mib + bytes);
    result r;
    const stable_loop loop(ctx, default_records, 1024);
    r.latencies.reserve(loop.min_records() * 4);
    std::uint32_t fold = 0;
    const timed_part total;
    std::uint64_t i = 0;
    for (; loop.more(i, total); ++i) {
        if (i % per_file == 0 && i != 0) f.truncate();
        const stopwatch op;
        const std::byte* rec = source.data() + (i * 64) % mib;  // distinct records
        fold ^= detail::crc32c_extend(0, rec, bytes);
        f.pwrite_all(rec, bytes, (i % per_file) * bytes);
        r.latencies.add(op.elapsed());
    }
    total.stop(r);
    keep(fold);
    r.records = i;
    r.value_bytes = bytes;
    return r;
}

// CRC32C over a 1 MiB buffer (it stays in cache), again and again: the checksum's own speed.
result crc_loop(context& ctx, bool portable) {
    const auto buffer = pattern(mib);
    result r;
    const stable_loop loop(ctx, portable ? 512 : 4096);
    r.latencies.reserve(loop.min_records() * 8);
    std::uint32_t crc = 0;
    const timed_part total;
    std::uint64_t i = 0;
    for (; loop.more(i, total); ++i) {
        const stopwatch op;
        crc = portable ? detail::crc32c_extend_portable(crc, buffer.data(), buffer.size())
                       : detail::crc32c_extend(crc, buffer.data(), buffer.size());
        r.latencies.add(op.elapsed());
    }
    total.stop(r);
    keep(crc);
    r.records = i;
    r.value_bytes = mib;
    r.extra.emplace_back("gb_per_s", r.seconds > 0 ? static_cast<double>(i * mib) / 1e9 / r.seconds : 0.0);
    r.note = std::string("implementation: ") + (portable ? "portable" : detail::crc32c_implementation());
    return r;
}

result crc32c(context& ctx) { return crc_loop(ctx, false); }
result crc32c_portable(context& ctx) { return crc_loop(ctx, true); }

// memcpy of each record into an output buffer, then CRC32C of the copy: the least CPU work a
// log must do per record before any system call. Sources cycle through 1 MiB of distinct
// records and the output is a 4 MiB ring, so both stay in cache: an upper bound. One record
// takes well under a microsecond, so no per-record latency is taken (timing it would cost
// more than the work).
result memcpy_crc(context& ctx, std::size_t bytes) {
    const auto source = pattern(mib + bytes);
    std::vector<std::byte> ring(4 * mib + bytes);
    const std::size_t slots_in = mib / bytes;
    const std::size_t slots_out = 4 * mib / bytes;
    std::uint32_t fold = 0;
    const stable_loop loop(ctx, 200'000, 4096);
    result r;
    const timed_part total;
    std::uint64_t i = 0;
    for (; loop.more(i, total); ++i) {
        std::byte* out = ring.data() + (i % slots_out) * bytes;
        std::memcpy(out, source.data() + (i % slots_in) * bytes, bytes);
        fold ^= detail::crc32c_extend(0, out, bytes);
    }
    total.stop(r);
    keep(fold);
    r.records = i;
    r.value_bytes = bytes;
    return r;
}

}  // namespace

std::uint32_t mmap_crc_pass(const std::vector<std::filesystem::path>& files, std::uint64_t limit) {
    std::uint32_t fold = 0;
    for (const auto& p : files) {
        if (limit < kib) break;
        const auto size =
            static_cast<std::size_t>(std::min<std::uint64_t>(std::filesystem::file_size(p), limit));
        if (size < kib) continue;  // nothing to check (and nothing to map)
        const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail("open");
        void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
        ::close(fd);
        if (m == MAP_FAILED) fail("mmap");
        const auto* b = static_cast<const std::byte*>(m);
        std::size_t off = 0;
        for (; off + kib <= size; off += kib) fold ^= detail::crc32c_extend(0, b + off, kib);
        ::munmap(m, size);
        limit -= off;
    }
    return fold;
}

double log_files_crc_mb_per_s(const std::filesystem::path& dir, std::uint64_t limit, bool once) {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (std::uint64_t id = 0; detail::parse_segment_file_name(e.path().filename().string(), id))
            files.push_back(e.path());
    std::sort(files.begin(), files.end());  // segment names sort in log order (fixed-width ids)
    keep(mmap_crc_pass(files, limit));      // the mappings' page tables, as a scan's first pass
    std::uint64_t bytes = 0;
    const stopwatch total;
    do {
        keep(mmap_crc_pass(files, limit));
        bytes += limit / kib * kib;
    } while (!once && std::chrono::duration<double>(total.elapsed()).count() < stable_seconds);
    return static_cast<double>(bytes) / 1e6 / std::chrono::duration<double>(total.elapsed()).count();
}

void same_files_floor(result& r, const context& ctx, const std::filesystem::path& dir, std::uint64_t limit,
                      double read_bytes) {
    const double floor = log_files_crc_mb_per_s(dir, limit, ctx.records_fixed());
    if (!(floor > 0) || !(r.seconds > 0)) throw std::runtime_error("same_files: nothing was read");
    r.extra.emplace_back("same_files_mb_per_s", floor);
    r.extra.emplace_back("ratio_to_same_files", read_bytes / 1e6 / r.seconds / floor);
}

namespace {

// Recovery's and a scan's floor: map files of 128 MiB (a segment) that the page cache holds,
// one at a time, and CRC32C each 1 KiB of them, as recovery checks each record, unmapping
// each file before the next (1 GiB by default, --records counts KiB). Unlike raw.memcpy_crc
// the bytes come from memory, not from the CPU cache, and each page is faulted into the
// mapping. One pass over 1 GiB takes about 0.1 s: passes repeat until stable_seconds (one
// pass when --records is given); `records` counts the KiB checked in all of them. The files
// are written in 2 MiB chunks at multiples of 2 MiB: the page cache then holds them in 2 MiB
// folios, which a mapping takes with one fault each, the fastest layout the same bytes can
// have (in 1 MiB chunks, as before, the same loop ran at about 0.7 of that). The wal's
// segments sit in smaller folios (its zero fill writes 256 KiB chunks, so that appends stay
// cheap): this floor is stricter than the layout a scan finds.
result mmap_crc(context& ctx) {
    const std::uint64_t n = ctx.records(std::uint64_t{1} << 20);
    constexpr std::uint64_t file_bytes = 128 * mib;
    constexpr std::uint64_t chunk_bytes = 2 * mib;
    const auto chunk = pattern(chunk_bytes);
    std::vector<std::filesystem::path> files;
    for (std::uint64_t left = n * kib; left > 0;) {
        const std::uint64_t size = std::min(left, file_bytes);
        files.push_back(ctx.dir() / ("raw." + std::to_string(files.size())));
        const fd_file f(files.back());
        for (std::uint64_t off = 0; off < size; off += chunk_bytes)
            f.pwrite_all(chunk.data(),
                         static_cast<std::size_t>(std::min<std::uint64_t>(chunk_bytes, size - off)), off);
        left -= size;
    }
    const std::uint64_t all = n * kib;
    auto pass = [&] { return mmap_crc_pass(files, all); };
    keep(pass());  // the page cache holds the files from here on
    result r;
    r.latencies.reserve(64);
    std::uint64_t passes = 0;
    const timed_part total;
    do {
        const stopwatch op;
        keep(pass());
        r.latencies.add(op.elapsed());
        ++passes;
    } while (!ctx.records_fixed() && total.seconds() < stable_seconds);
    total.stop(r);
    r.records = n * passes;
    r.value_bytes = kib;
    r.extra.emplace_back("passes", static_cast<double>(passes));
    return r;
}

const registration regs[] = {
    registration{{"raw.mmap_crc.1gib",
                  "mmap 128 MiB files held by the page cache, one at a time, and CRC32C each KiB (1 GiB a "
                  "pass, for >= 0.5 s): the floor of a scan or a recovery of the same bytes",
                  mmap_crc,
                  {}}},
    registration{{"raw.fdatasync.prezeroed.1k",
                  "pwrite 1 KiB + fdatasync per record into a file zero-filled and synced beforehand, for "
                  ">= 0.5 s: one durable append at a time",
                  fdatasync_prezeroed,
                  {}}},
    registration{{"raw.fdatasync.handoff.1k",
                  "raw.fdatasync.prezeroed.1k with each fdatasync handed to a second thread while the "
                  "writing thread sleeps until it is done, for >= 0.5 s: one durable append whose "
                  "fdatasync is off the caller's thread",
                  fdatasync_handoff,
                  {}}},
    registration{{"raw.fdatasync.growing.1k",
                  "pwrite 1 KiB + fdatasync per record, appending to an empty file (each sync also "
                  "journals the size), for >= 0.5 s",
                  fdatasync_growing,
                  {}}},
    registration{{"raw.write.1m",
                  "buffered pwrite of 1 MiB chunks into a growing file, never synced, for >= 0.5 s: "
                  "page-cache bandwidth",
                  write_1m,
                  {}}},
    registration{{"raw.pwrite.100b",
                  "CRC32C + one buffered pwrite per 100-byte record at the end of a file, for >= 0.5 s: "
                  "a log writing each record as it comes",
                  [](context& ctx) { return pwrite_loop(ctx, 100, 300'000); },
                  {}}},
    registration{{"raw.pwrite.1k",
                  "CRC32C + one buffered pwrite per 1 KiB record at the end of a file, for >= 0.5 s: "
                  "a log writing each record as it comes",
                  [](context& ctx) { return pwrite_loop(ctx, kib, 200'000); },
                  {}}},
    registration{{"raw.pwrite.10k",
                  "CRC32C + one buffered pwrite per 10 KiB record at the end of a file, for >= 0.5 s: "
                  "a log writing each record as it comes",
                  [](context& ctx) { return pwrite_loop(ctx, 10 * kib, 40'000); },
                  {}}},
    registration{{"raw.crc32c",
                  "CRC32C (run-time chosen code) over a 1 MiB in-cache buffer, for >= 0.5 s: the "
                  "checksum's own speed",
                  crc32c,
                  {}}},
    registration{{"raw.crc32c.portable",
                  "CRC32C forced onto the portable slicing-by-8 code, 1 MiB buffer, for >= 0.5 s",
                  crc32c_portable, "raw.crc32c", rate::mb_per_s}},
    registration{{"raw.memcpy_crc",
                  "memcpy of a 1 KiB record into an output ring + CRC32C of it, all in cache, for >= 0.5 "
                  "s: the least CPU work per record",
                  [](context& ctx) { return memcpy_crc(ctx, kib); },
                  {}}},
    registration{{"raw.memcpy_crc.100b",
                  "memcpy of a 100-byte record into an output ring + CRC32C of it, all in cache, for >= "
                  "0.5 s: the least CPU work per record",
                  [](context& ctx) { return memcpy_crc(ctx, 100); },
                  {}}},
};

}  // namespace

struct fdatasync_slices::loop {
    loop(const std::filesystem::path& file, std::uint64_t room_records, bool handed_off_)
        : f(file), room(std::max<std::uint64_t>(room_records, 1)), handed_off(handed_off_) {
        zero_fill(f, room * kib);
    }
    fd_file f;
    std::uint64_t room;
    bool handed_off;
    std::vector<std::byte> record = pattern(kib);
    std::uint64_t next = 0;
};

fdatasync_slices::fdatasync_slices(const std::filesystem::path& file, std::uint64_t room, bool handed_off)
    : loop_(std::make_unique<loop>(file, room, handed_off)) {}

fdatasync_slices::~fdatasync_slices() = default;

std::chrono::nanoseconds fdatasync_slices::run(std::uint64_t n) {
    loop& l = *loop_;
    // The second thread lives for one slice only: it polls, and must not take a core from
    // whatever runs between the slices.
    std::optional<handoff_sync> handoff;
    if (l.handed_off) handoff.emplace(l.f);
    const stopwatch took;
    for (std::uint64_t i = 0; i < n; ++i, ++l.next) {
        l.f.pwrite_all(l.record.data(), l.record.size(), (l.next % l.room) * kib);
        if (handoff) {
            (*handoff)();
        } else {
            l.f.datasync();
        }
    }
    return took.elapsed();
}

}  // namespace noriwal::bench
