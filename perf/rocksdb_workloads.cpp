// The RocksDB twins: the same workloads run on RocksDB's write-ahead log, named rocksdb.<our
// name> and compared with ours in the same run (the twin's baseline is our workload, so its
// ratio reads "RocksDB does x of what noriwal does": below 1 means noriwal is ahead).
// Built only when CMake finds RocksDB (perf/CMakeLists.txt).
//
// How each of our settings maps onto RocksDB (doc/performance.md says the same for users):
// - Every record is a Put of the same key and value we append (16-digit key, value of the
//   workload's size), with the WAL on (RocksDB's default).
// - fsync_policy::always  -> WriteOptions::sync = true (fdatasync of the WAL before Put returns;
//   concurrent writers share one through RocksDB's write groups).
// - fsync_policy::os      -> WriteOptions::sync = false: each write group is written to the WAL
//   file with write(2) before Put returns (it survives a crash of the process), never synced.
// - fsync_policy::batch(5ms) -> RocksDB has no timer that syncs the WAL on its own, so the
//   closest equivalent is sync = false plus a thread that calls DB::FlushWAL(true) (a
//   SyncWAL) every 5 ms: the same bound on what a power loss can take.
// - RocksDB also inserts every record into its memtable, which a log does not do. To measure
//   its WAL and not its index, the memtable is the cheapest one RocksDB has (VectorRepFactory:
//   an append to a vector), it is large enough (2 GiB) never to be flushed to a table file
//   during a workload, and compaction is off: no background work competes with the writers.
// - "await" is one thread calling Put in a loop (RocksDB's API is synchronous: one in flight).
//   "pipelined" (ours: 1024 appends in flight from one thread) is one Put loop per core: the
//   most RocksDB can have in flight on this machine; its write groups then batch them.
//   "wN" is N threads each calling Put (ours: N coroutines each awaiting its append).
// - append_batch.bN is a WriteBatch of N Puts written with sync = true (atomic, as ours).
// - scan.1k reads the log back with GetUpdatesSince (RocksDB's WAL iterator, checksums
//   verified) and visits every key and value: reading the log, as our reader does. A DB
//   iterator would read the memtable instead, which is not reading a log.
// - recover.1gib is DB::Open of a database whose WAL holds 1 GiB (nothing was flushed:
//   avoid_flush_during_shutdown), replaying it into the memtable without writing a table
//   file (avoid_flush_during_recovery), page cache warm: the counterpart of opening our log.
#include "bench.hpp"

#include <rocksdb/db.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/statistics.h>
#include <rocksdb/transaction_log.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace noriwal::bench {
namespace {

enum class sync_mode { always, batch, os };

void check(const rocksdb::Status& s, const char* what) {
    if (!s.ok()) throw std::runtime_error(std::string("rocksdb ") + what + ": " + s.ToString());
}

rocksdb::Options db_options() {
    rocksdb::Options o;
    o.create_if_missing = true;
    o.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();
    o.allow_concurrent_memtable_write = false;  // the vector memtable takes one writer at a time
    o.write_buffer_size = std::size_t{2} << 30;
    o.max_write_buffer_number = 2;
    o.disable_auto_compactions = true;
    o.avoid_flush_during_recovery = true;
    o.avoid_flush_during_shutdown = true;
    o.statistics = rocksdb::CreateDBStatistics();
    o.statistics->set_stats_level(rocksdb::StatsLevel::kExceptHistogramOrTimers);
    return o;
}

std::unique_ptr<rocksdb::DB> open_db(const context& ctx, const rocksdb::Options& o) {
    rocksdb::DB* db = nullptr;
    check(rocksdb::DB::Open(o, (ctx.dir() / "rocksdb").string(), &db), "open");
    return std::unique_ptr<rocksdb::DB>(db);
}

/// The keys our workloads use: 16 decimal digits of a counter, rewritten in place.
struct key_source {
    char key[16] = {};
    std::uint64_t counter = 0;
    rocksdb::Slice next() {
        std::uint64_t k = ++counter;
        for (int i = 15; i >= 0; --i, k /= 10)
            key[static_cast<std::size_t>(i)] = static_cast<char>('0' + k % 10);
        return {key, sizeof key};
    }
};

/// Calls FlushWAL(true) every `window` until stopped: the batch policy's timer.
class wal_syncer {
public:
    wal_syncer(rocksdb::DB& db, std::chrono::microseconds window)
        : thread_([this, &db, window] {
              std::unique_lock lk(m_);
              while (!cv_.wait_for(lk, window, [this] { return stop_; })) {
                  lk.unlock();
                  check(db.FlushWAL(true), "FlushWAL");
                  lk.lock();
              }
          }) {}
    ~wal_syncer() {
        {
            std::lock_guard lk(m_);
            stop_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }
    wal_syncer(const wal_syncer&) = delete;
    wal_syncer& operator=(const wal_syncer&) = delete;

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;
};

void add_stats(result& r, const rocksdb::Options& o) {
    r.extra.emplace_back("fsyncs",
                         static_cast<double>(o.statistics->getTickerCount(rocksdb::WAL_FILE_SYNCED)));
    const auto groups = o.statistics->getTickerCount(rocksdb::WRITE_DONE_BY_SELF);
    r.extra.emplace_back("write_groups", static_cast<double>(groups));
    if (groups != 0) r.extra.emplace_back("records_per_write_group", static_cast<double>(r.records) / groups);
}

// `threads` threads write n records in all, each a Put (batch == 1) or a WriteBatch of `batch`
// Puts, timing each write.
result puts(context& ctx, sync_mode mode, std::uint64_t value_bytes, std::uint64_t n, int threads,
            std::size_t batch) {
    const auto o = db_options();
    auto db = open_db(ctx, o);
    rocksdb::WriteOptions wo;
    wo.sync = mode == sync_mode::always;
    const std::string value(value_bytes, 'v');
    std::atomic<std::uint64_t> claimed{0};
    std::vector<std::vector<std::int64_t>> samples(static_cast<std::size_t>(threads));
    std::exception_ptr failure;
    std::mutex failure_mutex;
    auto writer = [&](int t) {
        try {
            key_source keys;
            keys.counter = static_cast<std::uint64_t>(t) * 1'000'000'000'000ull;  // distinct keys per thread
            auto& mine = samples[static_cast<std::size_t>(t)];
            mine.reserve(
                static_cast<std::size_t>(std::min<std::uint64_t>(n / batch / threads + 16, 1u << 22)));
            rocksdb::WriteBatch wb;
            for (;;) {
                const std::uint64_t first = claimed.fetch_add(batch, std::memory_order_relaxed);
                if (first >= n) break;
                const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(batch, n - first));
                const stopwatch op;
                if (batch == 1) {
                    check(db->Put(wo, keys.next(), value), "Put");
                } else {
                    wb.Clear();
                    for (std::size_t i = 0; i < k; ++i) check(wb.Put(keys.next(), value), "WriteBatch::Put");
                    check(db->Write(wo, &wb), "Write");
                }
                if (mine.size() < mine.capacity()) mine.push_back(op.elapsed().count());
            }
        } catch (...) {
            std::lock_guard lk(failure_mutex);
            if (!failure) failure = std::current_exception();
        }
    };
    result r;
    {
        std::unique_ptr<wal_syncer> syncer;
        if (mode == sync_mode::batch)
            syncer = std::make_unique<wal_syncer>(*db, std::chrono::milliseconds(5));
        const timed_part total;
        std::vector<std::thread> pool;
        for (int t = 1; t < threads; ++t) pool.emplace_back(writer, t);
        writer(0);
        for (auto& th : pool) th.join();
        total.stop(r);
    }
    if (failure) std::rethrow_exception(failure);
    std::size_t total_samples = 0;
    for (const auto& s : samples) total_samples += s.size();
    r.latencies.reserve(total_samples);
    for (const auto& s : samples)
        for (const auto ns : s) r.latencies.add(std::chrono::nanoseconds(ns));
    r.records = n;
    r.value_bytes = value_bytes;
    add_stats(r, o);
    db.reset();
    return r;
}

// Writes n records of value_bytes with sync = false, then closes the database without a flush:
// everything stays in its WAL.
void fill(const context& ctx, std::uint64_t n, std::uint64_t value_bytes) {
    const auto o = db_options();
    auto db = open_db(ctx, o);
    const std::string value(value_bytes, 'v');
    key_source keys;
    rocksdb::WriteOptions wo;
    for (std::uint64_t i = 0; i < n; ++i) check(db->Put(wo, keys.next(), value), "Put");
    check(db->FlushWAL(true), "FlushWAL");
    check(db->Close(), "Close");
}

// Counts and touches every Put of a WAL batch, as a reader of our log touches key and value.
struct visit_puts : rocksdb::WriteBatch::Handler {
    std::uint64_t records = 0;
    std::uint64_t bytes = 0;
    std::uint64_t fold = 0;
    void Put(const rocksdb::Slice& key, const rocksdb::Slice& value) override {
        ++records;
        bytes += key.size() + value.size();
        fold += static_cast<unsigned char>(key[key.size() - 1]) + static_cast<unsigned char>(value[0]);
    }
};

result scan(context& ctx, std::uint64_t n, std::uint64_t value_bytes) {
    fill(ctx, n, value_bytes);
    auto o = db_options();
    auto db = open_db(ctx, o);
    auto read_all = [&](visit_puts& v) {
        std::unique_ptr<rocksdb::TransactionLogIterator> it;
        check(db->GetUpdatesSince(1, &it), "GetUpdatesSince");
        for (; it->Valid(); it->Next()) {
            rocksdb::BatchResult b = it->GetBatch();
            check(b.writeBatchPtr->Iterate(&v), "WriteBatch::Iterate");
        }
        check(it->status(), "TransactionLogIterator");
    };
    visit_puts warm;
    read_all(warm);  // page cache warm, as for ours
    visit_puts v;
    result r;
    r.latencies.reserve(1);
    const timed_part total;
    read_all(v);
    r.latencies.add(total.elapsed());
    total.stop(r);
    if (v.records != n)
        throw std::runtime_error("rocksdb scan read " + std::to_string(v.records) + " records");
    keep(v.fold);
    r.records = n;
    r.value_bytes = value_bytes;
    return r;
}

result recover(context& ctx, std::uint64_t n, std::uint64_t value_bytes) {
    fill(ctx, n, value_bytes);
    const auto o = db_options();
    {
        auto warm = open_db(ctx, o);  // page cache warm, as for ours
        check(warm->Close(), "Close");
    }
    result r;
    r.latencies.reserve(1);
    const timed_part total;
    auto db = open_db(ctx, o);
    r.latencies.add(total.elapsed());
    total.stop(r);
    std::uint64_t keys = 0;
    if (!db->GetIntProperty(rocksdb::DB::Properties::kNumEntriesActiveMemTable, &keys) || keys != n)
        throw std::runtime_error("rocksdb recovered " + std::to_string(keys) + " entries, expected " +
                                 std::to_string(n));
    check(db->Close(), "Close");
    r.records = n;
    r.value_bytes = 1024;  // as ours: about 1 KiB of log per record (key, value, framing)
    return r;
}

int cores() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

std::vector<registration> register_all() {
    std::vector<registration> regs;
    auto twin = [&](const std::string& ours, std::string what, std::function<result(context&)> run) {
        regs.emplace_back(workload{"rocksdb." + ours, "RocksDB: " + std::move(what), std::move(run), ours,
                                   rate::records_per_s});
    };
    for (const auto mode : {sync_mode::os, sync_mode::batch}) {
        const std::string policy = mode == sync_mode::os ? "os" : "batch";
        const std::string how =
            mode == sync_mode::os ? "sync=false" : "sync=false, FlushWAL(true) every 5 ms";
        for (const auto& size : append_sizes) {
            const std::string base = "append." + policy + "." + size.name;
            twin(base + ".await", std::string("one thread Puts ") + size.name + " values, " + how,
                 [mode, size](context& ctx) {
                     return puts(ctx, mode, ctx.value_bytes(size.bytes), ctx.records(size.await_records), 1,
                                 1);
                 });
            twin(base + ".pipelined", std::string("one Put loop per core, ") + size.name + " values, " + how,
                 [mode, size](context& ctx) {
                     return puts(ctx, mode, ctx.value_bytes(size.bytes), ctx.records(size.pipelined_records),
                                 cores(), 1);
                 });
        }
    }
    for (const auto& c : concurrent_writers) {
        twin(std::string("append.always.1k.") + c.suffix,
             std::to_string(c.writers) + " thread(s) each Put 1 KiB values, sync=true", [c](context& ctx) {
                 return puts(ctx, sync_mode::always, ctx.value_bytes(1024), ctx.records(c.records), c.writers,
                             1);
             });
    }
    for (const auto& b : append_batches) {
        twin(std::string("append_batch.always.1k.") + b.suffix,
             "one thread writes WriteBatches of " + std::to_string(b.batch) + " 1 KiB Puts, sync=true",
             [b](context& ctx) {
                 return puts(ctx, sync_mode::always, ctx.value_bytes(1024), ctx.records(b.records), 1,
                             b.batch);
             });
    }
    twin("scan.1k", "GetUpdatesSince over a WAL of 1 KiB Puts, every key and value visited, cache warm",
         [](context& ctx) { return scan(ctx, ctx.records(200'000), ctx.value_bytes(1024)); });
    twin("recover.1gib", "DB::Open replaying a WAL of 1 GiB of 1 KiB records into the memtable, cache warm",
         [](context& ctx) { return recover(ctx, ctx.records(1u << 20), 1024 - 16 - 32); });
    return regs;
}

const std::vector<registration> regs = register_all();

}  // namespace
}  // namespace noriwal::bench
