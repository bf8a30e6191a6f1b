// A workload on the public asynchronous wal over a sim_disk: several threads appending at
// once (group commit), syncs, GC and truncation, with a wal_model of what recovery may and
// must return. Crash points are taken at a seeded random sample of the disk operations the
// wal's own threads (writer, sync, spare) perform, and explored with a crash_explorer.
#pragma once

#include <noriwal/wal.hpp>

#include "crash/crash_explorer.hpp"
#include "crash/wal_model.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <random>
#include <string>

namespace noriwal::test {

class wal_workload {
public:
    /// Opens a wal on a fresh sim_disk. `explorer` may be null (no crash points); otherwise
    /// each mutating disk operation becomes a crash point with probability `p`.
    wal_workload(std::string name, wal_config cfg, crash_explorer* explorer = nullptr, double p = 0,
                 std::uint64_t seed = 1);
    ~wal_workload();
    wal_workload(const wal_workload&) = delete;
    wal_workload& operator=(const wal_workload&) = delete;

    noriwal::wal& log() { return wal_; }
    wal_model& model() { return model_; }
    sim_disk& disk() { return *disk_; }
    const std::shared_ptr<sim_disk>& disk_ptr() const { return disk_; }
    const wal_config& config() const { return cfg_; }

    /// Appends `count` records of `stream` from the calling thread, keeping up to `burst`
    /// appends in flight (they complete out of one group commit), every `batch_every`-th one
    /// an atomic batch of 2 to 4 records (0: none), with durability `d`. Stops at the first
    /// error and returns it.
    std::error_code append_stream(const std::string& stream, std::size_t count, std::size_t burst,
                                  std::size_t batch_every, durability d = durability::as_configured());
    std::error_code sync();
    std::error_code delete_before(lsn_t lsn, std::uint64_t* deleted = nullptr);
    std::error_code truncate_after(lsn_t lsn);
    std::error_code close();

    /// A crash point now, taken by the calling thread.
    void crash_point(const std::string& where);
    /// After close: the log must reopen (after a power cut) and hold everything written.
    /// `final_log`, if given, receives its records.
    std::string check_closed(std::vector<read_record>* final_log = nullptr);

private:
    void after_op(const sim_event& ev, std::error_code ec);

    std::string name_;
    wal_config cfg_;
    crash_explorer* explorer_;
    double p_;
    std::shared_ptr<sim_disk> disk_;
    wal_model model_;
    noriwal::wal wal_;

    std::mutex explore_mutex_;  // one crash point at a time; guards rng_ and live_
    std::mt19937_64 rng_;
    bool live_ = false;  // wal_ may be read by the hooks
};

}  // namespace noriwal::test
