// The records of a log directory in LSN order, as wal-inspect reads them: one segment file mapped
// at a time, every record's CRCs checked, stepping over damage instead of stopping at it.
//
// A record is returned when it decodes under its segment's id and carries the next LSN
// expected (the first segment's base LSN to start with); the records of an atomic batch are
// returned only once its last record was read. What the walk cannot read is reported to
// on_damage, once per damaged region, with the LSNs it lost:
// - bytes that do not decode (bad CRC, bad length, a record cut short) with valid records
//   after them in the same segment: the walk resumes at the next record with a later LSN;
// - a segment that ends (zeros, end of file, stale bytes of a recycled file) short of the next
//   segment's base LSN, or a segment whose base LSN jumps ahead;
// - a batch without its last record;
// - at the end of the log, non-zero bytes that are not a record (`at_tail`): a write cut short
//   by a crash, or one that another process is making right now.
// Bytes of an earlier use of a recycled segment (records bound to an older segment id or to
// LSNs already passed) end a segment quietly, as recovery treats them.
//
// The walk reads the log as it is when each segment is mapped; following a log as it grows is
// the directory reader's job (reader.hpp: tail -f uses it).
#pragma once

#include "log_dir.hpp"

#include <noriwal/detail/format.hpp>
#include <noriwal/file_system.hpp>
#include <noriwal/position.hpp>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace noriwal::inspect {

/// A record as the walk returns it. The views stay valid until the walk moves to another
/// segment; keep `mapping` to keep them longer.
struct walked_record {
    position pos;
    detail::record_view view;          ///< key and stored value view the mapping
    std::span<const std::byte> frame;  ///< the record as stored: header, body, padding
    std::shared_ptr<const mapped_region> mapping;
};

/// A region the walk could not read.
struct walk_damage {
    std::uint64_t segment_id = 0;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;  ///< bytes stepped over (0 if none or unknown)
    lsn_t first_lost = 0;      ///< LSNs that were expected there and not read (0: none known)
    lsn_t last_lost = 0;
    std::string what;      ///< "bad checksum", "incomplete batch", ...
    bool at_tail = false;  ///< at the end of the log: nothing valid follows it
};

class record_walk {
public:
    record_walk(std::shared_ptr<file_system> fs, std::filesystem::path dir,
                std::vector<segment_file> segments);

    /// Called for every damaged region, in log order.
    std::function<void(const walk_damage&)> on_damage;

    /// Records with an LSN below `lsn` are read (to find their successors) but not returned.
    /// Starts at the segment that holds `lsn`. Call before the first next().
    void start_at(lsn_t lsn);
    /// The next record; false at the end of the log.
    bool next(walked_record& out);

    const std::vector<segment_file>& segments() const noexcept { return segments_; }
    /// Index in segments() of the segment being read (segments().size() at the end).
    std::size_t segment_index() const noexcept { return index_; }
    /// The LSN the walk expects next (0 before the first segment was entered).
    lsn_t expected_lsn() const noexcept { return expected_; }

private:
    struct held {  // a record of an open batch, returned once the batch completes
        std::uint64_t offset;
        detail::record_view view;
    };

    bool enter(std::size_t index);
    void step();
    void end_of_segment(std::uint64_t stop, const char* what, bool clean);
    void drop_batch(const char* what, bool at_tail = false);
    void damage(std::uint64_t offset, std::uint64_t length, lsn_t first, lsn_t last, std::string what,
                bool at_tail = false);
    void leave();

    std::shared_ptr<file_system> fs_;
    std::filesystem::path dir_;
    std::vector<segment_file> segments_;

    std::size_t index_ = 0;
    std::shared_ptr<const mapped_region> map_;
    std::uint64_t offset_ = 0;
    lsn_t expected_ = 0;  // 0: the first segment's base LSN
    lsn_t from_ = 0;
    bool at_end_ = false;

    bool batch_open_ = false;
    lsn_t batch_first_ = 0;
    std::uint64_t batch_offset_ = 0;
    std::vector<held> batch_;
    std::deque<held> ready_;  // records of this segment to return, in order
};

}  // namespace noriwal::inspect
