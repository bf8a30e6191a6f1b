// A workload on the synchronous engine (segment_log) over a sim_disk, with a model of what
// recovery may and must return at every moment, and crash points taken at its disk
// operations (see crash_explorer.hpp).
#pragma once

#include "crash/crash_explorer.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace noriwal::test {

/// Which mutating disk operations become crash points.
struct crash_schedule {
    double probability = 1.0;  ///< of each mutating operation (1: every one)
    std::uint64_t seed = 1;
};

class engine_workload {
public:
    /// Opens a fresh log on a new sim_disk. `explorer` may be null (no crash points).
    engine_workload(std::string name, wal_config cfg, crash_explorer* explorer, crash_schedule schedule = {});
    ~engine_workload();
    engine_workload(const engine_workload&) = delete;
    engine_workload& operator=(const engine_workload&) = delete;

    detail::segment_log& log() { return *log_; }
    sim_disk& disk() { return *disk_; }
    const log_expectation& model() const { return model_; }

    /// The next record content of this workload's stream (unique key, deterministic value).
    record_content next_content(std::size_t max_value = 1500);

    // Each operation requires success (BOOST_TEST_REQUIRE) and keeps the model up to date.
    std::vector<position> append(std::vector<record_content> contents, bool atomic = false);
    /// n single records, one request each, in one group (one write).
    void append_group(const std::vector<append_group_request>& group);
    void sync();
    std::uint64_t delete_before(lsn_t lsn);
    void truncate_after(lsn_t lsn);
    void rotate();
    /// Prepares the next segment file as the async layer does (spare_needed, make_spare,
    /// spare_ready), here on the same thread.
    void prepare_spare();
    void close_and_reopen();
    /// A power cut drawn from `seed`, then recovery on what the disk kept (checked against the
    /// model); the workload goes on with the recovered log.
    void power_cut_and_recover(std::uint64_t seed);
    /// Appends `n` records with a mix of single records, groups and atomic batches (sync
    /// every `sync_every` calls; 0: never).
    void append_mix(std::size_t n, std::size_t sync_every, std::mt19937_64& rng);

    lsn_t acked_durable() const noexcept { return acked_; }
    /// The highest LSN <= lsn that does not fall inside an atomic batch (a batch's last LSN,
    /// or a single record's).
    lsn_t batch_boundary(lsn_t lsn) const;

private:
    void open();
    void after_op(const sim_event& ev, std::error_code ec);
    void settle();  // after an operation returned: acknowledged watermark, phase cleared

    std::string name_;
    wal_config cfg_;
    crash_explorer* explorer_;
    crash_schedule schedule_;
    std::mt19937_64 schedule_rng_;
    std::shared_ptr<sim_disk> disk_;
    std::unique_ptr<detail::segment_log> log_;
    log_expectation model_;
    std::uint64_t counter_ = 0;

    lsn_t acked_ = 0;                   // highest LSN acknowledged as durable
    std::optional<lsn_t> truncate_to_;  // a truncate_after(lsn) in progress
    std::string phase_;                 // what the workload is doing, for messages
};

}  // namespace noriwal::test
