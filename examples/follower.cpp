// A follower that ships the durable log: a reader with visibility::durable tails the wal with
// async_next and sees a record only once an fdatasync covers it, which is what a replica may
// safely apply. The wal here appends from a second thread; the follower prints what it would
// ship and stops when the wal closes.
//
// With a directory argument, it follows a log that another process writes instead (no lock,
// nothing written), printing each record as it appears; stop it with Ctrl-C.
//
//   example_follower                 (in-process writer, durable tailing)
//   example_follower <directory>     (follow another process's log)
#include <noriwal/reader.hpp>
#include <noriwal/wal.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <filesystem>
#include <iostream>
#include <thread>

namespace asio = boost::asio;

// Ships records until the reader reports an error (errc::closed when the wal closes).
asio::awaitable<void> ship(noriwal::reader& r) {
    for (;;) {
        boost::system::error_code ec;
        noriwal::entry e = co_await r.async_next(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            std::cout << "follower stops: " << ec.message() << "\n";
            co_return;
        }
        std::cout << "ship LSN " << e.lsn() << " " << noriwal::as_string(e.key()) << " (" << e.value().size()
                  << " bytes)" << std::endl;  // a stream: one line at a time
    }
}

int main(int argc, char** argv) try {
    asio::io_context ioc;
    if (argc > 1) {
        noriwal::reader_options o;
        o.poll_interval = std::chrono::milliseconds(10);
        noriwal::reader r = noriwal::reader::open_directory(ioc.get_executor(), argv[1], o);
        asio::co_spawn(ioc, ship(r), asio::detached);
        ioc.run();
        return 0;
    }

    noriwal::wal_config cfg;
    cfg.dir = std::filesystem::temp_directory_path() / "noriwal-example-follower";
    cfg.max_segment_size = 4u << 20;
    cfg.max_record_size = 1u << 20;
    cfg.fsync = noriwal::fsync_policy::batch(std::chrono::milliseconds(2));
    auto log = noriwal::wal::open(ioc.get_executor(), cfg).log;

    noriwal::reader_options o;
    o.visible = noriwal::visibility::durable;
    noriwal::reader r = log.read_from(log.current_position(), o);  // only what comes next
    asio::co_spawn(ioc, ship(r), asio::detached);

    std::thread writer([log]() mutable {
        for (int i = 1; i <= 10; ++i)
            log.append(noriwal::record::put("event:" + std::to_string(i), "payload"));
        log.sync();   // the follower sees every record once this returns
        log.close();  // and then stops with "closed"
    });
    ioc.run();
    writer.join();
    return 0;
} catch (const std::exception& ex) {
    std::cerr << "example_follower: " << ex.what() << "\n";
    return 1;
}
