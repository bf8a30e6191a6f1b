// noriwal with plain callbacks: open a wal, append three records at once, make them durable,
// print where they went, close. Run it twice: the second run recovers the first run's records
// and continues their LSNs.
//
//   example_callback [directory]     (default: noriwal-example-callback in the temp directory)
#include <noriwal/wal.hpp>

#include <boost/asio/io_context.hpp>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

namespace asio = boost::asio;

int main(int argc, char** argv) {
    noriwal::wal_config cfg;
    cfg.dir = argc > 1 ? std::filesystem::path(argv[1])
                       : std::filesystem::temp_directory_path() / "noriwal-example-callback";
    // A small log is cheap with the default sizes: the first segment file is prepared (zero-
    // filled) to first_segment_size, 1 MiB, and each next one twice as large up to
    // max_segment_size, 128 MiB; with the spare kept for the next segment this log takes 3 MiB
    // of disk (doc/api.md, "Disk space"). A record must fit in max_segment_size.
    cfg.first_segment_size = 1u << 20;
    cfg.max_record_size = 1u << 20;
    cfg.fsync = noriwal::fsync_policy::batch(std::chrono::milliseconds(5));

    asio::io_context ioc;
    int status = 0;
    auto fail = [&status](const char* what, boost::system::error_code ec) {
        std::cerr << what << ": " << ec.message() << "\n";
        status = 1;
    };

    // Handlers run on ioc (the executor given to open), never inside the call that starts them.
    noriwal::wal::async_open(
        ioc.get_executor(), cfg,
        [&](boost::system::error_code ec, noriwal::wal log, noriwal::recovery_info info) {
            if (ec) return fail("open", ec);
            std::cout << "opened " << cfg.dir << ": " << info.valid_records << " records recovered, next LSN "
                      << log.current_position().lsn << "\n";

            // Three appends in flight at once; the wal writes them as one group. The record's
            // bytes are copied before async_append returns, so temporaries are fine here.
            auto left = std::make_shared<int>(3);
            for (int i = 1; i <= 3; ++i) {
                const std::string key = "user:" + std::to_string(i);
                log.async_append(
                    noriwal::record::put(key, "signed up"),
                    [&, log, left, key](boost::system::error_code ec, noriwal::position p) mutable {
                        if (ec) return fail("append", ec);
                        std::cout << key << " -> LSN " << p.lsn << " (segment " << p.segment_id << ", offset "
                                  << p.offset << ")\n";
                        if (--*left > 0) return;
                        // All three are in the OS; make them durable before saying so.
                        log.async_sync([&, log](boost::system::error_code ec) mutable {
                            if (ec) return fail("sync", ec);
                            std::cout << "durable up to LSN " << log.durable_lsn() << "\n";
                            log.async_close([&](boost::system::error_code ec) {
                                if (ec) return fail("close", ec);
                                std::cout << "closed\n";
                            });
                        });
                    });
            }
        });
    ioc.run();  // returns when every handler has run
    return status;
}
