// noriwal with C++20 coroutines: co_await every operation with asio::use_awaitable (errors
// arrive as boost::system::system_error exceptions), or with asio::as_tuple to get the error
// code instead.
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

asio::awaitable<void> run(noriwal::wal_config cfg) {
    auto ex = co_await asio::this_coro::executor;
    auto [log, info] = co_await noriwal::wal::async_open(ex, cfg, asio::use_awaitable);
    std::cout << "opened " << cfg.dir << ": " << info.valid_records << " records recovered\n";

    // One append at a time; under batch(5ms) each completes once in the OS, and is synced
    // within 5 ms even if nothing else is appended.
    for (int i = 0; i < 3; ++i) {
        const std::string key = "order:" + std::to_string(i);
        noriwal::position p =
            co_await log.async_append(noriwal::record::put(key, "placed"), asio::use_awaitable);
        std::cout << key << " -> LSN " << p.lsn << "\n";
    }

    // This one must be durable before we go on, whatever the policy.
    noriwal::position paid = co_await log.async_append(noriwal::record::put("order:0", "paid"),
                                                       noriwal::durability::always(), asio::use_awaitable);
    std::cout << "order:0 paid at LSN " << paid.lsn << ", durable up to " << log.durable_lsn() << "\n";

    // An atomic batch: after a crash, all of it or none of it.
    std::vector<noriwal::record> batch{noriwal::record::put("stock:apples", "41"),
                                       noriwal::record::put("stock:pears", "17"),
                                       noriwal::record::put_tombstone("reservation:9")};
    std::vector<noriwal::position> ps = co_await log.async_append_batch(batch, asio::use_awaitable);
    std::cout << "batch at LSNs " << ps.front().lsn << ".." << ps.back().lsn << "\n";

    co_await log.async_sync(asio::use_awaitable);
    co_await log.async_close(asio::use_awaitable);

    // After close, operations fail with noriwal::errc::closed; as_tuple hands back the code.
    auto [ec, p] =
        co_await log.async_append(noriwal::record::put("late", "x"), asio::as_tuple(asio::use_awaitable));
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
