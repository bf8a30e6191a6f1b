// noriwal with C++20 coroutines. Without a completion token, `co_await log.async_append(r)`
// awaits the operation (the default token, asio::deferred, works in any coroutine; errors
// arrive as boost::system::system_error exceptions). A wal adapted with
// asio::as_tuple_t<asio::use_awaitable_t<>>::as_default_on hands back the error code instead;
// so does asio::as_tuple(asio::use_awaitable) on one call.
//
//   example_coroutine [directory]     (default: noriwal-example-coroutine in the temp directory)
#include <noriwal/wal.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace asio = boost::asio;

// A wal whose operations, awaited without a token, give (error_code, result...) tuples.
using tuple_wal = asio::as_tuple_t<asio::use_awaitable_t<>>::as_default_on_t<noriwal::wal>;

asio::awaitable<void> run(noriwal::wal_config cfg) {
    auto ex = co_await asio::this_coro::executor;
    auto [log, info] = co_await noriwal::wal::async_open(ex, cfg);
    std::cout << "opened " << cfg.dir << ": " << info.valid_records << " records recovered\n";

    // One append at a time; under batch(5ms) each completes once in the OS, and is synced
    // within 5 ms even if nothing else is appended.
    for (int i = 0; i < 3; ++i) {
        const std::string key = "order:" + std::to_string(i);
        noriwal::position p = co_await log.async_append(noriwal::record::put(key, "placed"));
        std::cout << key << " -> LSN " << p.lsn << "\n";
    }

    // This one must be durable before we go on, whatever the policy.
    noriwal::position paid =
        co_await log.async_append(noriwal::record::put("order:0", "paid"), noriwal::durability::always());
    std::cout << "order:0 paid at LSN " << paid.lsn << ", durable up to " << log.durable_lsn() << "\n";

    // An atomic batch: after a crash, all of it or none of it. Keys and values are any
    // contiguous bytes: strings, string_views, vectors of char or std::byte, arrays.
    const std::vector<char> pears{'1', '7'};
    std::vector<noriwal::record> batch{noriwal::record::put("stock:apples", "41"),
                                       noriwal::record::put("stock:pears", pears),
                                       noriwal::record::put_tombstone("reservation:9")};
    std::vector<noriwal::position> ps = co_await log.async_append_batch(batch);
    std::cout << "batch at LSNs " << ps.front().lsn << ".." << ps.back().lsn << "\n";

    // Read it back: a value converts to a std::string (a copy) explicitly.
    auto r = log.read_from(ps.front());
    noriwal::entry apples = co_await r.async_next();
    std::cout << "stock:apples = " << std::string(apples.value()) << "\n";

    co_await log.async_sync();
    co_await log.async_close();

    // After close, operations fail with noriwal::errc::closed; a tuple_wal hands back the code.
    tuple_wal tlog(log);
    auto [ec, p] = co_await tlog.async_append(noriwal::record::put("late", "x"));
    std::cout << "append after close: " << ec.message() << "\n";
}

int main(int argc, char** argv) {
    noriwal::wal_config cfg;
    cfg.dir = argc > 1 ? std::filesystem::path(argv[1])
                       : std::filesystem::temp_directory_path() / "noriwal-example-coroutine";
    // Small segments for a small program (the default is 128 MiB, prepared ahead, zero-filled);
    // a record must fit in a segment.
    cfg.max_segment_size = 4u << 20;
    cfg.max_record_size = 1u << 20;
    cfg.fsync = noriwal::fsync_policy::batch(std::chrono::milliseconds(5));

    asio::io_context ioc;
    int status = 0;
    asio::co_spawn(ioc, run(cfg), [&](std::exception_ptr e) {
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
