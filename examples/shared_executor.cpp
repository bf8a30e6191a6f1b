// A single-threaded server whose io_context is also the wal's io_executor: the wal's writer
// strand runs on the server's own thread, so an append is framed and written there, with no
// hand-over to a writer thread (fdatasync, recovery and spare segments stay on the wal's own
// threads). Two sessions log their commands concurrently; the log is then read back and
// closed.
//
// On this thread, use only the asynchronous operations: a blocking one (wal::open, append,
// sync, flush, close) would wait for work that only this thread can do.
//
//   example_shared_executor [directory]   (default: noriwal-example-shared-executor in the temp directory)
#include <noriwal/wal.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

std::string_view text(noriwal::bytes_view b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// One client's commands, each logged before it is answered.
asio::awaitable<void> session(noriwal::wal& log, std::string client) {
    for (int i = 0; i < 3; ++i) {
        const std::string key = client + ":" + std::to_string(i);
        const std::string command = "command " + std::to_string(i);
        noriwal::position p = co_await log.async_append(noriwal::record::put(key, command));
        std::cout << key << " logged at LSN " << p.lsn << "\n";  // answer the client here
    }
}

asio::awaitable<void> serve(noriwal::wal_config cfg) {
    // Recovery runs on a thread of the wal's own: this thread keeps serving meanwhile.
    auto [log, info] = co_await noriwal::wal::async_open(cfg.io_executor, cfg);
    std::cout << "opened " << cfg.dir << ": " << info.valid_records << " records recovered\n";

    co_await (session(log, "alice") && session(log, "bob"));
    co_await log.async_sync();  // every record so far is durable
    std::cout << "durable up to LSN " << log.durable_lsn() << "\n";

    // Read back what this run appended. try_next never waits: it is safe on this thread.
    noriwal::reader r = log.make_reader();
    if (auto ec = r.seek(info.last_lsn + 1)) throw std::system_error(ec);
    while (auto e = r.try_next())
        std::cout << "  " << e->lsn() << "  " << text(e->key()) << " = " << text(e->value()) << "\n";

    // The final sync of the close runs on the writer strand, here.
    co_await log.async_close();
    std::cout << "closed\n";
}

int main(int argc, char** argv) {
    asio::io_context ioc(1);  // run by this one thread (the hint); the wal's threads still post to it

    noriwal::wal_config cfg;
    cfg.dir = argc > 1 ? std::filesystem::path(argv[1])
                       : std::filesystem::temp_directory_path() / "noriwal-example-shared-executor";
    cfg.max_segment_size = 4u << 20;  // small segments for a small program
    cfg.max_record_size = 1u << 20;
    cfg.fsync = noriwal::fsync_policy::batch(std::chrono::milliseconds(5));
    cfg.io_executor = ioc.get_executor();  // the writer strand runs here; no writer thread

    int status = 0;
    asio::co_spawn(ioc, serve(cfg), [&](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            std::cerr << "error: " << x.what() << "\n";
            status = 1;
        }
    });
    ioc.run();
    return status;
}
