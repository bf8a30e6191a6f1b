// Opening a small log, through the public API with the default configuration (issue 15: a
// small log is cheap).
//
//   open.new         wal::open of a directory that does not exist yet (creates the log)
//   open.empty       wal::open of an empty log that was closed cleanly
//   open.small       the same with 1 000 records of 1 KiB in it
//   open.empty.full  open.empty as before first_segment_size and kept spares: every segment file
//                    max_segment_size (128 MiB) and the spare removed at close, so that every
//                    restart zero-fills one again (the baseline of open.empty)
//
// Each operation is one open, timed, of a log closed cleanly before (open.new: of a new
// directory). Besides the per-open latencies the rows report ready_ms_mean (from the start of
// open until the spare segment is prepared, which the wal's spare thread does after open
// returns) and disk_mib (what the log's files take after the last close).
#include "bench.hpp"

#include <noriwal/wal.hpp>

#include "internal/wal.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace noriwal::bench {

void wait_for_spare(wal& w) {
    w.flush();  // a round trip through the writer: it has asked for its spare by now
    const auto& core = detail::wal_core::of(w);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (core->spares_in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
}

void prealloc_from_env(wal_config& cfg) {
    const char* name = std::getenv("NORIWAL_BENCH_PREALLOC");
    if (name == nullptr) return;
    const std::string_view n(name);
    if (n == "zero_fill") {
        cfg.prealloc = preallocation::zero_fill;
    } else if (n == "fallocate") {
        cfg.prealloc = preallocation::fallocate;
    } else if (n == "none") {
        cfg.prealloc = preallocation::none;
    } else {
        throw std::runtime_error("NORIWAL_BENCH_PREALLOC: zero_fill, fallocate or none, not " +
                                 std::string(n));
    }
}

namespace {

enum class kind : std::uint8_t { fresh, empty, small, full };

double dir_mib(const std::filesystem::path& dir) {
    std::uint64_t bytes = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.is_regular_file()) bytes += e.file_size();
    return static_cast<double>(bytes) / (1 << 20);
}

/// As the library behaved before kept spares: close removed the spare.
void remove_spares(const std::filesystem::path& dir) {
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().filename().string().starts_with("spare-")) std::filesystem::remove(e.path());
}

result open_log(context& ctx, kind k) {
    const std::uint64_t n = ctx.records(20);
    wal_config cfg;
    cfg.dir = ctx.dir() / "wal";
    if (k == kind::full) cfg.first_segment_size = 0;
    if (k != kind::fresh) {
        auto w = wal::open(cfg).log;
        if (k == kind::small) {
            const std::string value(1024 - 32 - 16, 'v');
            for (int i = 0; i < 1000; ++i)
                w.append(record::put(std::to_string(1'000'000'000'000'000 + i), value));
        }
        wait_for_spare(w);
        w.close();
        if (k == kind::full) remove_spares(cfg.dir);
    }
    result r;
    r.latencies.reserve(n);
    double ready_ms = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
        if (k == kind::fresh) cfg.dir = ctx.dir() / ("wal-" + std::to_string(i));
        // The measured part is the opens only: their wall-clock and CPU times are summed.
        const double cpu_before = process_cpu_seconds();
        const stopwatch op;
        auto opened = wal::open(cfg);
        const auto took = op.elapsed();
        r.cpu_seconds = r.cpu_seconds.value_or(0) + (process_cpu_seconds() - cpu_before);
        r.latencies.add(took);
        r.seconds += std::chrono::duration<double>(took).count();
        if (k == kind::small && opened.recovery.valid_records != 1000)
            throw std::runtime_error("recovered " + std::to_string(opened.recovery.valid_records) +
                                     " records");
        wait_for_spare(opened.log);
        ready_ms += std::chrono::duration<double, std::milli>(op.elapsed()).count();
        opened.log.close();
        if (k == kind::full) remove_spares(cfg.dir);
    }
    r.records = n;
    r.extra.emplace_back("ready_ms_mean", ready_ms / static_cast<double>(n));
    r.extra.emplace_back("disk_mib", dir_mib(cfg.dir));
    r.note = k == kind::full ? "first_segment_size = 0, spare removed at close (the behaviour before)"
                             : "default config";
    return r;
}

const registration regs[] = {
    registration{{"open.new",
                  "wal::open creating a new log (default config), per open",
                  [](context& ctx) { return open_log(ctx, kind::fresh); },
                  {}}},
    registration{{"open.empty", "wal::open of an empty log closed cleanly (default config), per open",
                  [](context& ctx) { return open_log(ctx, kind::empty); }, "open.empty.full"}},
    registration{{"open.small", "wal::open of a log of 1000 1 KiB records closed cleanly, per open",
                  [](context& ctx) { return open_log(ctx, kind::small); }, "open.empty.full"}},
    registration{{"open.empty.full",
                  "open.empty with 128 MiB segments and the spare removed at close (as before kept spares)",
                  [](context& ctx) { return open_log(ctx, kind::full); },
                  {}}},
};

}  // namespace
}  // namespace noriwal::bench
