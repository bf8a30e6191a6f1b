// Recipe: a replication follower that tails the leader's durable watermark (doc/recipes.md,
// "A replication follower").
//
// The leader appends on its own thread. The follower reads the leader's log with a reader
// that sees only durable records (visibility::durable), waits for new ones with async_next,
// and appends each record to its own wal, atomic batches as atomic batches, so that the
// replica's LSNs are the leader's. It stops once, reopens the replica and resumes where the
// replica ends. At the end both logs are read back from disk and compared record by record.
//
//   recipe_replication [parent-directory]
#include "recipe.hpp"

#include <noriwal/reader.hpp>
#include <noriwal/wal.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdint>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;

namespace {

using noriwal::as_string;
using noriwal::lsn_t;

constexpr lsn_t total_records = 3000;
constexpr lsn_t first_session_stops_at = 1000;

noriwal::wal_config log_config(const std::filesystem::path& dir) {
    noriwal::wal_config cfg;
    cfg.dir = dir;
    cfg.max_segment_size = 32u << 10;
    cfg.max_record_size = 16u << 10;
    // Appends complete once written; each is durable within 1 ms, which is when the follower
    // may copy it.
    cfg.fsync = noriwal::fsync_policy::batch(std::chrono::milliseconds(1));
    return cfg;
}

// The same record, as the replica should store it (compressed the same way; LZ4 and Zstd
// values are compressed again by the replica from the uncompressed bytes the reader gives).
noriwal::record copy_of(const noriwal::entry& e) {
    noriwal::record r =
        e.tombstone() ? noriwal::record::put_tombstone(e.key()) : noriwal::record::put(e.key(), e.value());
    r.with_compression(e.stored_compression());
    return r;
}

// Copies the leader's durable records into `replica`, from the replica's end, until the
// leader closes or (if given) the replica holds `stop_at`. Batches are kept whole: the
// entries of a batch are gathered until its last one and appended together.
asio::awaitable<void> follow(noriwal::wal leader, noriwal::wal replica, std::optional<lsn_t> stop_at,
                             std::promise<void>* subscribed) {
    noriwal::reader_options opts;
    opts.visible = noriwal::visibility::durable;
    noriwal::reader r = leader.make_reader(opts);
    const lsn_t resume = replica.current_position().lsn;  // the next LSN the replica lacks
    if (auto ec = r.seek(resume))
        throw std::system_error(ec, "seek the leader to LSN " + std::to_string(resume));
    if (subscribed) subscribed->set_value();
    std::cout << "follower: resuming at LSN " << resume << "\n";

    std::vector<noriwal::entry> batch;  // a batch whose last record has not come yet
    while (!stop_at || replica.written_lsn() < *stop_at || !batch.empty()) {
        auto [ec, e] = co_await r.async_next(asio::as_tuple(asio::use_awaitable));
        if (ec == noriwal::errc::closed) break;  // the leader closed, and every record was read
        if (ec) throw std::system_error(ec, "follower read");
        // The reader never shows a record the leader has not made durable.
        recipe::check(e.lsn() <= leader.durable_lsn(), "the follower only sees durable records");

        if (e.batch() == noriwal::batch_part::single) {
            const noriwal::position p = co_await replica.async_append(copy_of(e));
            recipe::check(p.lsn == e.lsn(), "the replica's LSN is the leader's");
            continue;
        }
        batch.push_back(e);
        if (e.batch() != noriwal::batch_part::last) continue;
        std::vector<noriwal::record> records;
        for (const auto& b : batch) records.push_back(copy_of(b));
        const auto ps = co_await replica.async_append_batch(records);
        recipe::check(ps.front().lsn == batch.front().lsn(), "the replica's batch LSNs are the leader's");
        batch.clear();
    }
    co_await replica.async_close();  // syncs what was copied
}

void run_follower(asio::io_context& ioc, const noriwal::wal& leader, const std::filesystem::path& replica_dir,
                  std::optional<lsn_t> stop_at, std::promise<void>* subscribed) {
    auto [replica, info] = noriwal::wal::open(ioc.get_executor(), log_config(replica_dir));
    std::exception_ptr failure;
    asio::co_spawn(ioc, follow(leader, replica, stop_at, subscribed),
                   [&](std::exception_ptr e) { failure = e; });
    ioc.restart();
    ioc.run();
    if (failure) std::rethrow_exception(failure);
}

std::string value_for(lsn_t i) {
    // Some values are long and repetitive, so that LZ4 has something to compress.
    return i % 10 == 0 ? std::string(2000, static_cast<char>('a' + i % 26)) : "value " + std::to_string(i);
}

// The leader's writer: singles, deletes and three-record batches, some compressed.
void produce(noriwal::wal leader, std::future<void> second_session_subscribed) {
    lsn_t next = 1;
    while (next <= total_records) {
        if (next % 7 == 0 && next + 2 <= total_records) {
            const std::string k1 = "batch:" + std::to_string(next), k2 = k1 + ".b", k3 = k1 + ".c";
            std::vector<noriwal::record> batch{noriwal::record::put(k1, value_for(next)),
                                               noriwal::record::put(k2, value_for(next + 1)),
                                               noriwal::record::put_tombstone(k3)};
            next = leader.append_batch(batch).back().lsn + 1;
            continue;
        }
        const std::string key = "key:" + std::to_string(next % 100);
        auto r =
            next % 11 == 0 ? noriwal::record::put_tombstone(key) : noriwal::record::put(key, value_for(next));
        if (next % 10 == 0) r.with_compression(noriwal::compression::lz4);
        next = leader.append(r).lsn + 1;
    }
    second_session_subscribed.wait();  // a reader cannot be made of a closed wal
    leader.close();  // the final sync makes every record durable; the follower then sees errc::closed
}

// Both logs, read back from their directories, must hold the same records.
void compare_logs(const std::filesystem::path& a, const std::filesystem::path& b) {
    auto ra = noriwal::reader::open_directory(a);
    auto rb = noriwal::reader::open_directory(b);
    lsn_t count = 0;
    for (;;) {
        auto ea = ra.try_next();
        auto eb = rb.try_next();
        recipe::check(ea.has_value() == eb.has_value(), "both logs end at the same LSN");
        if (!ea) break;
        const std::string at = " at LSN " + std::to_string(ea->lsn());
        recipe::check(ea->lsn() == eb->lsn(), "same LSN" + at);
        recipe::check(as_string(ea->key()) == as_string(eb->key()), "same key" + at);
        recipe::check(as_string(ea->value()) == as_string(eb->value()), "same value" + at);
        recipe::check(ea->tombstone() == eb->tombstone(), "same tombstone flag" + at);
        recipe::check(ea->batch() == eb->batch(), "same batch boundaries" + at);
        recipe::check(ea->stored_compression() == eb->stored_compression(), "same compression" + at);
        ++count;
    }
    recipe::check(count == total_records,
                  "the replica holds all " + std::to_string(total_records) + " records");
}

}  // namespace

int main(int argc, char** argv) {
    return recipe::run(argc, argv, "recipe-replication", [](const std::filesystem::path& dir) {
        const auto leader_dir = dir / "leader";
        const auto replica_dir = dir / "replica";
        asio::io_context ioc;  // the follower's event loop (this thread)

        // No executor: the leader's handlers (of its blocking appends) run on its own thread.
        noriwal::wal leader = noriwal::wal::open(log_config(leader_dir)).log;
        std::promise<void> subscribed;
        std::thread producer(produce, leader, subscribed.get_future());
        try {
            run_follower(ioc, leader, replica_dir, first_session_stops_at, nullptr);
            // The replica was closed; the second session reopens it and resumes at its end.
            run_follower(ioc, leader, replica_dir, std::nullopt, &subscribed);
        } catch (...) {
            try {
                subscribed.set_value();  // let the producer finish, then report the failure
            } catch (const std::future_error&) {
            }
            producer.join();
            throw;
        }
        producer.join();
        compare_logs(leader_dir, replica_dir);
        std::cout << "replica equals leader: " << total_records << " records\n";
    });
}
