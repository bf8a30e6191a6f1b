// noriwal-demo: the main demonstration. Writes N records through the asynchronous API under
// fsync_policy::batch, prints the throughput and what the wal did (group writes, fdatasync
// rounds, latencies), then reopens the log and prints what recovery found.
//
//   noriwal-demo [--records N] [--value-bytes B] [--dir DIR] [--keep]
//
// Without --dir it works in a fresh directory under the temp directory, removed at the end
// unless --keep is given.
#include <noriwal/stats.hpp>
#include <noriwal/version.hpp>
#include <noriwal/wal.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/program_options.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>

namespace asio = boost::asio;
namespace po = boost::program_options;
using namespace noriwal;

namespace {

struct options {
    std::uint64_t records = 200'000;
    std::uint64_t value_bytes = 100;
    std::filesystem::path dir;
    bool keep = false;
};

constexpr std::uint64_t in_flight = 1024;
constexpr auto batch_window = std::chrono::milliseconds(5);

std::filesystem::path fresh_directory() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "noriwal-demo-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::system_error(errno, std::system_category(), "mkdtemp");
    return tmpl;
}

std::string human_duration(double seconds) {
    char buf[32];
    if (seconds < 1e-3) {
        std::snprintf(buf, sizeof buf, "%.0f us", seconds * 1e6);
    } else if (seconds < 1) {
        std::snprintf(buf, sizeof buf, "%.1f ms", seconds * 1e3);
    } else {
        std::snprintf(buf, sizeof buf, "%.2f s", seconds);
    }
    return buf;
}

/// Writes opts.records records with `in_flight` appends outstanding (each completion starts
/// the next), then syncs. Returns the wall-clock seconds of the appends.
double write_records(wal& log, asio::io_context& ioc, const options& opts) {
    const std::string value(opts.value_bytes, 'v');
    std::uint64_t started = 0, completed = 0;
    boost::system::error_code failure;
    char key[24];
    // Starts one append; its handler starts the next one until all are started.
    std::function<void()> start_one = [&] {
        std::snprintf(key, sizeof key, "key-%012llu", static_cast<unsigned long long>(++started));
        log.async_append(record::put(std::string_view(key), value),
                         [&](boost::system::error_code ec, position) {
                             ++completed;
                             if (ec && !failure) failure = ec;
                             if (!failure && started < opts.records) start_one();
                         });
    };
    const auto t0 = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < in_flight && started < opts.records; ++i) start_one();
    ioc.run();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (failure) throw boost::system::system_error(failure, "append");
    log.sync();
    return seconds;
}

void print_write_figures(const wal& log, const options& opts, double seconds) {
    const wal_stats s = log.stats();
    const double mb = static_cast<double>(s.bytes) / 1e6;
    std::printf("    %llu records in %.2f s: %.0f records/s, %.1f MB/s written (framing included)\n",
                static_cast<unsigned long long>(opts.records), seconds,
                static_cast<double>(opts.records) / seconds, mb / seconds);
    std::printf("    append latency (initiation to completion): p50 <= %s, p99 <= %s\n",
                human_duration(s.append_seconds.quantile(0.5)).c_str(),
                human_duration(s.append_seconds.quantile(0.99)).c_str());
    std::printf(
        "    %llu group writes (%.1f records per system call), %llu fdatasync rounds, %llu segments rolled\n",
        static_cast<unsigned long long>(s.writes),
        s.writes ? static_cast<double>(s.records) / static_cast<double>(s.writes) : 0.0,
        static_cast<unsigned long long>(s.fsyncs), static_cast<unsigned long long>(s.segments_rolled));
    std::printf("    written up to LSN %llu, durable up to LSN %llu\n",
                static_cast<unsigned long long>(s.written_lsn),
                static_cast<unsigned long long>(s.durable_lsn));
}

void print_recovery(const recovery_info& info) {
    std::printf("    valid records %llu, segments scanned %llu, LSNs %llu..%llu\n",
                static_cast<unsigned long long>(info.valid_records),
                static_cast<unsigned long long>(info.segments_scanned),
                static_cast<unsigned long long>(info.first_lsn),
                static_cast<unsigned long long>(info.last_lsn));
    std::printf("    last record at segment %llu offset %llu; bytes truncated %llu; corruption %s\n",
                static_cast<unsigned long long>(info.last_valid.segment_id),
                static_cast<unsigned long long>(info.last_valid.offset),
                static_cast<unsigned long long>(info.bytes_truncated),
                info.corruption_detected ? "found" : "none");
    for (const damage& d : info.damages) {
        std::printf("      damage: %s in segment %llu at offset %llu (%s)\n",
                    std::string(to_string(d.kind)).c_str(), static_cast<unsigned long long>(d.segment_id),
                    static_cast<unsigned long long>(d.offset), d.mid_log ? "mid-log" : "torn tail");
    }
}

int run(const options& opts) {
    wal_config cfg;
    cfg.dir = opts.dir;
    cfg.fsync = fsync_policy::batch(batch_window);
    cfg.max_segment_size = 64u << 20;
    cfg.max_record_size = 1u << 20;

    std::printf("noriwal %s demo: %llu records of %llu bytes, fsync_policy::batch(%lld ms), in %s\n",
                NORIWAL_VERSION_STRING, static_cast<unsigned long long>(opts.records),
                static_cast<unsigned long long>(opts.value_bytes),
                static_cast<long long>(batch_window.count()), cfg.dir.c_str());

    lsn_t last_written = 0;
    {
        asio::io_context ioc;
        auto [log, info] = wal::open(ioc.get_executor(), cfg);
        std::printf("[1] opened (%llu records already there); writing with %llu appends in flight...\n",
                    static_cast<unsigned long long>(info.valid_records),
                    static_cast<unsigned long long>(in_flight));
        const double seconds = write_records(log, ioc, opts);
        print_write_figures(log, opts, seconds);
        last_written = log.written_lsn();
        log.close();
    }

    std::printf("[2] reopening: recovery found\n");
    const auto t0 = std::chrono::steady_clock::now();
    auto [log, info] = wal::open(cfg);
    const double open_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    print_recovery(info);
    std::printf("    open took %s\n", human_duration(open_seconds).c_str());
    if (info.last_lsn != last_written) {
        std::printf("    ERROR: recovered up to LSN %llu, but %llu were written\n",
                    static_cast<unsigned long long>(info.last_lsn),
                    static_cast<unsigned long long>(last_written));
        return 1;
    }
    const position next = log.append(record::put("after-reopen", "continues"));
    std::printf("[3] the next append continues at LSN %llu\n", static_cast<unsigned long long>(next.lsn));
    log.close();
    return 0;
}

}  // namespace

int main(int argc, char** argv) try {
    options opts;
    std::string dir;
    po::options_description desc(
        "noriwal-demo: write records through the async API, then recover them. Options");
    desc.add_options()("help,h", "print this help")(
        "records,n", po::value(&opts.records)->default_value(opts.records), "records to write")(
        "value-bytes", po::value(&opts.value_bytes)->default_value(opts.value_bytes), "bytes per value")(
        "dir,d", po::value(&dir),
        "log directory (default: a fresh one under the temp directory, removed after)")(
        "keep", po::bool_switch(&opts.keep), "keep the fresh directory");
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
    if (vm.count("help")) {
        std::cout << desc << "\n";
        return 0;
    }
    if (opts.records == 0 || opts.value_bytes > (512u << 10)) {
        std::cerr << "noriwal-demo: --records must be at least 1 and --value-bytes at most 524288\n";
        return 2;
    }
    const bool fresh = dir.empty();
    opts.dir = fresh ? fresh_directory() : std::filesystem::path(dir);
    const int status = run(opts);
    if (fresh && !opts.keep) {
        std::filesystem::remove_all(opts.dir);
    } else {
        std::printf("the log stays in %s\n", opts.dir.c_str());
    }
    return status;
} catch (const std::exception& e) {
    std::cerr << "noriwal-demo: " << e.what() << "\n";
    return 1;
}
