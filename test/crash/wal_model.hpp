// A model of what concurrent appenders gave a wal, for checking a log whose LSNs the test does
// not choose. Every record names itself: its key is "<stream>/<n>" and its content is
// make_content(stream, n), so a recovered record is checked byte for byte without knowing in
// advance which LSN it would get. Each stream is appended to by one thread, in order.
//
// What a recovered log must satisfy (check()):
//   - contiguous LSNs; every record exactly the content its key names, initiated by the
//     workload, appearing once; within a stream, in the order the stream appended;
//   - atomic batches whole or absent, with their record types;
//   - every acknowledged record at the LSN its completion reported, when it is required: it was
//     acknowledged as durable, or its LSN is at or below the durable watermark at the crash
//     point, and no later truncation may have removed it;
//   - every LSN from the last GC point up to the durable watermark present;
//   - no record removed by a completed truncate_after comes back.
//
// What readers of the live log return is checked against the same model: each entry as it is
// read (check_entry), and all of them at the end against the acknowledgements, the
// truncations and the final log (check_reads).
//
// Thread safety: every member may be called from any thread.
#pragma once

#include "crash/crash_explorer.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace noriwal::test {

/// A record a reader of the live log returned: `key` at `lsn`, by a read that began after the
/// model's first `after` events (seq() taken before the read).
struct observed_read {
    lsn_t lsn = 0;
    std::string key;
    std::uint64_t after = 0;
};

class wal_model {
public:
    /// The content of the next record of `stream` (registered as initiated). `max_value` must
    /// be the same for every single record of a stream (and for every batch record).
    record_content next(const std::string& stream, std::size_t max_value = 1500);
    /// k records of `stream` appended as one atomic batch.
    std::vector<record_content> next_batch(const std::string& stream, std::size_t k,
                                           std::size_t max_value = 700);

    /// Declares that records 0..count-1 of `stream` may have been initiated (by another process
    /// that reports only what it acknowledged).
    void allow_stream(const std::string& stream, std::uint64_t count, std::size_t max_value);

    /// A successful completion: `c` is at `lsn`; `durable` when the completion promises it
    /// (fsync_policy::always, durability::always()).
    void acked(const record_content& c, lsn_t lsn, bool durable);
    /// An async_sync about to be initiated; sync_done(ticket) when it completed without error:
    /// everything acknowledged before it started is then durable.
    std::uint64_t sync_started();
    void sync_done(std::uint64_t ticket);
    /// A completion with errc::truncated: the record was written, then removed.
    void truncated(const record_content& c);

    /// Records below `lsn` may go (a delete_segments_before(lsn) is about to be initiated).
    void gc(lsn_t lsn);
    /// truncate_after(lsn) about to be initiated; returns its ticket for truncate_done().
    std::size_t truncate_started(lsn_t lsn);
    void truncate_done(std::size_t ticket);

    /// What a recovered log must satisfy at a crash point: copies what the model requires
    /// (acknowledgements, completed truncations), calls `snapshot` (which takes the disk's
    /// snapshot), then copies what it allows (records initiated meanwhile may be on that disk).
    /// `durable_watermark` is the wal's, read before. The returned check holds the copies.
    crash_explorer::log_check check_around(lsn_t durable_watermark,
                                           const std::function<void()>& snapshot) const;
    /// The same check applied directly.
    std::string check(const std::vector<read_record>& records, lsn_t durable_watermark) const;

    /// The number of events so far: a read that begins after this call is ordered after them.
    std::uint64_t seq() const;
    /// How many truncations were initiated, and whether one is running (for a check that a
    /// watermark did not go down meanwhile).
    std::pair<std::size_t, bool> truncation_state() const;
    /// The GC point: records below it may be gone.
    lsn_t gc_floor() const;

    /// One record as a reader returned it (the value uncompressed): its key names a record an
    /// append initiated, and its bytes and its place in an atomic batch are exactly that
    /// record's. Returns an empty string, or what is wrong.
    std::string check_entry(const read_record& r) const;
    /// Everything readers returned, after the log was closed, against `final_log` (the log as
    /// it was closed): a record whose append was acknowledged is at the LSN it reported; no
    /// record is returned by a read that began after a completed truncation removed it; a read
    /// that began after every truncation completed agrees with the final log at its LSN.
    std::string check_reads(const std::vector<observed_read>& reads,
                            const std::vector<read_record>& final_log) const;

    std::uint64_t acked_count() const;
    /// The LSN of the most recently acknowledged single record (0: none): a point outside any
    /// atomic batch, for truncate_after.
    lsn_t last_single_acked() const;

private:
    struct stream_state {
        std::uint64_t initiated = 0;
        std::size_t max_value = 0;                       // of its single records
        std::size_t batch_max_value = 0;                 // of its batches' records
        std::map<std::uint64_t, std::uint64_t> batches;  // first n -> last n
    };
    struct ack {
        lsn_t lsn = 0;
        bool durable = false;
        std::uint64_t seq = 0;  // order of events in the model
    };
    struct truncation {
        lsn_t lsn = 0;
        std::uint64_t seq = 0;       // when it was initiated
        std::uint64_t done_seq = 0;  // when it completed (valid when done)
        bool done = false;
    };
    struct state {
        std::map<std::string, stream_state> streams;
        std::map<std::string, ack> acks;
        std::set<std::string> truncated_keys;
        std::map<std::string, std::uint64_t> truncated_seq;  // key -> when it completed with errc::truncated
        std::vector<truncation> truncations;
        lsn_t gc_floor = 1;
        std::uint64_t seq = 0;
        lsn_t last_single = 0;
        std::vector<std::string> events;  // GC and truncations, for failure messages
    };
    // `required`: the model before the disk snapshot; `allowed`: after it.
    static std::string check(const state& required, const state& allowed,
                             const std::vector<read_record>& records, lsn_t durable_watermark);

    mutable std::mutex mutex_;
    state s_;
};

}  // namespace noriwal::test
