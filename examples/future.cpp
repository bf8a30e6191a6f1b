// noriwal from plain threads, without an event loop: asio::use_future turns each operation
// into a std::future, and the blocking conveniences (append, sync, close) wait for you.
//
//   example_future [directory]     (default: noriwal-example-future in the temp directory)
#include <noriwal/wal.hpp>

#include <boost/asio/use_future.hpp>

#include <filesystem>
#include <future>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;

int main(int argc, char** argv) try {
    noriwal::wal_config cfg;
    cfg.dir = argc > 1 ? std::filesystem::path(argv[1])
                       : std::filesystem::temp_directory_path() / "noriwal-example-future";
    // Small segments for a small program (the default is 128 MiB, prepared ahead, zero-filled);
    // a record must fit in a segment.
    cfg.max_segment_size = 4u << 20;
    cfg.max_record_size = 1u << 20;
    // Every append completes only once it is on stable storage; concurrent appends share
    // each fdatasync (group commit).
    cfg.fsync = noriwal::fsync_policy::always();

    // No executor: handlers without one of their own run on the wal's writer thread.
    auto [log, info] = noriwal::wal::open(cfg);  // throws std::system_error on failure
    std::cout << "opened " << cfg.dir << ": " << info.valid_records << " records recovered\n";

    // Four threads, each with several appends in flight as futures.
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&log, t] {
            std::vector<std::future<noriwal::position>> pending;
            for (int i = 0; i < 5; ++i) {
                const std::string key = "thread" + std::to_string(t) + ":" + std::to_string(i);
                pending.push_back(log.async_append(noriwal::record::put(key, "hello"), asio::use_future));
            }
            for (auto& f : pending) f.get();  // throws boost::system::system_error on error
        });
    }
    for (auto& t : threads) t.join();

    // The blocking conveniences throw std::system_error.
    const noriwal::position p = log.append(noriwal::record::put("last", "one"));
    std::cout << "last record: LSN " << p.lsn << ", durable up to LSN " << log.durable_lsn() << "\n";

    const auto s = log.stats();
    std::cout << s.appends << " appends made durable by " << s.fsyncs << " fdatasync rounds\n";
    log.close();
    return 0;
} catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
}
