// The segment registry: what the readers of a wal know about its log, kept up to date by the
// wal's writer strand and read by any number of reader threads.
//
//   writer strand (served_log)                segment_registry                 readers (any thread)
//   ───────────────────                       ────────────────                 ────────────────────
//   load(engine)            at open     ──▶   segments (id, base LSN, end),  ◀── snapshot(), locate()
//   on_appended(group)      per group   ──▶   written / durable watermarks,  ◀── map a segment
//   refresh(engine)         per step    ──▶   truncation epoch, skipped      ◀── add_waiter()
//   lock_files() + changed  delete/trunc      LSN ranges, tail waiters,
//   on_closed()                               the key index
//
// Pinning. A segment file is opened and mapped by the first reader that needs it (open_map)
// and shared by every reader on it through a segment_map, which entries share too; when the
// last holder lets go the mapping and the descriptor are released. Destructive operations of
// the engine (delete, truncate, retention) run under the unique files lock, and a segment
// file is only opened by path under the shared files lock and while its slot is not retired:
// so a reader never opens a file that is being removed or replaced, and never maps the
// replacement of a truncated segment believing it is the old one. The engine's recycle
// filter (may_recycle) refuses a segment whose slot anyone but the registry holds.
//
// Watermarks. Readers read the records with LSN <= the watermark they chose, whose bytes the
// writer handed to the OS before publishing it (release/acquire through the registry's mutex
// or its atomics); the bytes of a mapped segment never change below its written end.
#pragma once

#include <noriwal/config.hpp>
#include <noriwal/file_system.hpp>
#include <noriwal/position.hpp>
#include <noriwal/reader.hpp>

#include "log/segment_log.hpp"
#include "read/key_index.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace noriwal::detail {

struct segment_map;

/// One segment file as readers know it: a segment id in one generation (truncate_after
/// replaces the file of the segment it cuts: a new generation, a new slot).
struct segment_slot {
    segment_slot(std::uint64_t id_, std::uint64_t generation_, lsn_t base, std::filesystem::path p)
        : id(id_), generation(generation_), base_lsn(base), path(std::move(p)) {}

    const std::uint64_t id;
    const std::uint64_t generation;
    const lsn_t base_lsn;
    const std::filesystem::path path;
    /// Deleted or replaced: its file must not be opened by path any more.
    std::atomic<bool> retired{false};

    /// A sparse LSN -> offset index of records seen in this segment (by the writer, and by
    /// readers that scanned it), sorted by LSN: a seek starts from the last sample at or
    /// before its LSN. About one sample per sample_every bytes.
    struct sample {
        lsn_t lsn;
        std::uint64_t offset;
    };
    static constexpr std::uint64_t sample_every = 64u << 10;
    void add_sample(lsn_t lsn, std::uint64_t offset);
    /// The last sample with an LSN <= lsn (or none).
    std::optional<sample> sample_at_or_before(lsn_t lsn) const;

    mutable std::mutex m;                      // guards the two below
    std::weak_ptr<const segment_map> mapping;  // shared by the readers on this segment
    std::vector<sample> samples;
};

/// An open, mapped segment file: what a reader holds while it reads a segment and what each
/// entry it returns keeps alive.
struct segment_map {
    std::shared_ptr<segment_slot> slot;
    std::shared_ptr<file> f;
    std::shared_ptr<const mapped_region> region;
    std::span<const std::byte> mapped;  ///< region->bytes(), read once: a scan asks for every record
    std::span<const std::byte> bytes() const noexcept { return mapped; }

    /// Maps `length` bytes of `f` (at least its size) into `region` and `mapped`.
    std::error_code map(std::uint64_t length);
};

/// Opens and maps the file of `slot` with `fs`: at least `min_length` bytes (beyond the file's
/// size is allowed when the caller only reads below its written end), at least the file's
/// size.
std::error_code map_segment(file_system& fs, const std::shared_ptr<segment_slot>& slot,
                            std::uint64_t min_length, std::shared_ptr<const segment_map>& out);

/// What a reader waiting at the end of the log is woken by.
class tail_waiter {
public:
    virtual ~tail_waiter() = default;
    /// Called by the writer strand (or a closing thread) without any registry lock held, once
    /// per registration. Must not block: post the retry to an executor.
    virtual void wake() = 0;
};

/// The part of the registry a reader reads at once, under the mutex.
struct registry_snapshot {
    lsn_t written = 0;
    lsn_t durable = 0;
    lsn_t first = 1;            ///< first LSN the log holds (next LSN when empty)
    std::uint64_t epoch = 0;    ///< bumped by each truncate_after
    lsn_t truncated_to = 0;     ///< the LSN of the last truncate_after
    std::uint64_t version = 0;  ///< bumped by every change
    bool closed = false;
    bool has_skipped = false;  ///< skip_corrupted left LSN ranges without records
};

/// Where an LSN lives: its segment's slot and what is known of the segment.
struct segment_location {
    std::shared_ptr<segment_slot> slot;
    std::uint64_t end = 0;  ///< written end (bytes); only records before it exist
    bool sealed = false;    ///< a later segment exists
    lsn_t next_base = 0;    ///< base LSN of the next segment (when sealed)
};

class segment_registry {
public:
    segment_registry(const wal_config& cfg, std::shared_ptr<file_system> fs);

    /// How much of a segment readers map: the largest a segment can grow.
    std::uint64_t map_length() const noexcept { return cfg_.max_segment_size; }

    /// For segment_log::set_recycle_filter: false while a reader holds the segment.
    bool may_recycle(std::uint64_t segment_id) const;

    // ------------------------------------------------------------ readers (any thread)

    registry_snapshot snapshot() const;
    /// The truncation epoch alone (one atomic load): a reader compares it at every read, so
    /// that no record that a completed truncate_after removed is returned after it.
    std::uint64_t epoch() const noexcept { return epoch_atomic_.load(std::memory_order_acquire); }
    /// The segment holding `lsn` (the last segment whose base LSN <= lsn), or empty.
    segment_location locate(lsn_t lsn) const;
    /// The current facts of segment `id` in generation `generation` (empty slot if it is gone
    /// or was replaced).
    segment_location current(std::uint64_t id, std::uint64_t generation) const;
    /// The generation of segment `id` in the log now (0: no such segment).
    std::uint64_t current_generation(std::uint64_t id) const;
    /// The first LSN after `lsn` that is not in a skipped range (lsn + 1 if none applies).
    lsn_t next_present_lsn(lsn_t lsn) const;
    /// True if `lsn` lies in a range skipped by skip_corrupted recovery.
    bool is_skipped(lsn_t lsn) const;
    /// The registry's mapping of `slot`: shared with other readers, opened if needed (never
    /// for a retired slot: errc::not_found).
    std::error_code open_map(const std::shared_ptr<segment_slot>& slot,
                             std::shared_ptr<const segment_map>& out);

    /// Registers `w` to be woken when something changes after `seen_version`: false (and not
    /// registered) if something already has. `need` is the LSN the reader waits for on the
    /// watermark it reads (`durable`).
    bool add_waiter(const std::shared_ptr<tail_waiter>& w, std::uint64_t seen_version, lsn_t need,
                    bool durable);
    /// Unregisters `w`: true if it was registered (it will then not be woken).
    bool remove_waiter(const tail_waiter* w);
    /// Blocks until something changes after `seen_version`.
    void wait_change(std::uint64_t seen_version);

    // ------------------------------------------------------------ key index (any thread)

    bool indexes_keys() const noexcept { return cfg_.index_keys; }
    std::vector<std::string> keys() const;
    std::vector<position> records_for(bytes_view key) const;
    std::optional<position> latest(bytes_view key) const;
    /// Records held by the index.
    std::size_t indexed_records() const;

private:
    // ------------------------------------------------------------ writer strand
    // Called by served_log only, which keeps the engine and the registry in step.
    friend class served_log;

    /// Takes the engine's segments and watermarks after open, and builds the key index (if
    /// configured) by reading every record once. Errors: mapping failures.
    std::error_code load(const segment_log& log);
    /// After a group was appended: key index and LSN samples of the records written.
    void on_appended(const segment_log& log, std::span<const append_request> group,
                     std::span<const std::error_code> results);
    /// After any step of the writer: takes the watermarks and the active segment's end (and
    /// new segments after a rotation) and wakes the tail waiters that can now make progress.
    void refresh(const segment_log& log);
    /// Held around the engine's delete_segments_before, apply_retention and truncate_after
    /// (see the top of this file); then call on_segments_changed / on_truncated while still
    /// holding it.
    std::unique_lock<std::shared_mutex> lock_files() { return std::unique_lock(files_mutex_); }
    /// After segments were deleted (delete_segments_before, apply_retention).
    void on_segments_changed(const segment_log& log);
    /// After truncate_after(lsn) succeeded.
    void on_truncated(const segment_log& log, lsn_t lsn);
    /// The wal is closed: waiting readers complete with errc::closed.
    void on_closed();
    struct segment_desc {
        std::shared_ptr<segment_slot> slot;
        std::uint64_t end = 0;
        lsn_t last_lsn = 0;
        std::uint64_t records = 0;
    };
    struct waiter_entry {
        std::shared_ptr<tail_waiter> w;
        lsn_t need = 0;
        bool durable = false;
    };

    // Under mutex_.
    void take_segments(const segment_log& log, bool replace_last);
    // `advance`: raise the watermarks to the engine's. Only refresh() raises them, since the
    // writer calls it after publishing the wal's own (written_lsn(), durable_lsn()); mid-step
    // the engine's may be ahead of those. Lowering (a truncation) is taken at once.
    void take_watermarks(const segment_log& log, bool advance = true);
    void collect_wakeable(std::vector<std::shared_ptr<tail_waiter>>& out, bool all);
    std::size_t index_of(lsn_t lsn) const;  // segment holding lsn, or segments_.size()
    position position_of(lsn_t lsn, std::uint64_t offset) const;
    segment_location location_at(std::size_t i) const;
    void wake(std::vector<std::shared_ptr<tail_waiter>>& ws);
    void index_segment(const segment_desc& d, std::span<const std::byte> bytes);

    wal_config cfg_;
    std::shared_ptr<file_system> fs_;

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<segment_desc> segments_;  // oldest first; back() is the active segment
    std::atomic<lsn_t> written_{0};
    std::atomic<lsn_t> durable_{0};
    lsn_t first_ = 1;
    lsn_t next_lsn_ = 1;
    std::uint64_t epoch_ = 0;
    std::atomic<std::uint64_t> epoch_atomic_{0};
    lsn_t truncated_to_ = 0;
    std::uint64_t version_ = 0;
    std::uint64_t generation_ = 0;  // generations are unique across segments
    bool closed_ = false;
    std::vector<lsn_range> skipped_;
    std::vector<waiter_entry> waiters_;
    int blocked_ = 0;  // threads in wait_change

    mutable std::shared_mutex files_mutex_;

    // Writer strand only.
    lsn_t last_appended_ = 0;           // the highest LSN on_appended saw
    std::uint64_t sample_segment_ = 0;  // where the writer's next LSN sample is due
    std::uint64_t sample_end_ = 0;

    mutable std::shared_mutex index_mutex_;
    key_index index_;
};

}  // namespace noriwal::detail
