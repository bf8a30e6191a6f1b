// A reader's cursor: where it stands in the log, and the steps that both of its sources take
// with it (wal_source.hpp: a live wal's segment registry; directory_source.hpp: the files of a
// log directory).
//
// `expected` is the LSN of the next record to return. When `seg.map` is set, that record is
// looked for at `offset` of the mapping; otherwise the source locates the segment holding
// `expected` first and, unless the LSN is the segment's first, finds the offset by walking
// record headers (walk_headers). A record is returned only if its CRCs hold and its LSN is
// `expected`; what any other bytes there mean is for the source to say.
#pragma once

#include <noriwal/reader.hpp>

#include "format/record_walk.hpp"
#include "read/segment_registry.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <system_error>
#include <vector>

namespace noriwal::detail {

/// Builds entries (their fields are private to the public class).
struct entry_access {
    static void set(entry& e, const position& p, const record_view& rv, bytes_view value,
                    std::shared_ptr<const void> pin) {
        e.pos_ = p;
        e.key_ = rv.key;
        e.value_ = value;
        e.expiry_ns_ = rv.expiry_ns;
        e.tombstone_ = rv.tombstone();
        e.stored_ = rv.compression();
        e.batch_ = static_cast<batch_part>(rv.type);
        e.pin_ = std::move(pin);
    }
};

/// Decompressed values, shared by the entries that view them.
struct value_buffer {
    std::vector<std::byte> bytes;
    std::shared_ptr<const segment_map> map;  // the key lives in the mapping
};

/// The entry for the record `rv` at `offset` of segment `segment_id`, found in `map`. A
/// compressed value is decompressed into `buf`, which is reused while no entry holds it;
/// errc::corrupted (and no entry) if it does not decompress. Built in the optional the reader
/// returns, from scalars: copying an object that was just written field by field (an entry, a
/// position) waits for those stores, which cost a scan more than the entry's checks did.
std::optional<entry> make_entry(const record_view& rv, const std::shared_ptr<const segment_map>& map,
                                std::uint64_t segment_id, std::uint64_t offset,
                                std::shared_ptr<value_buffer>& buf, std::error_code& ec);

/// Walks record headers of segment `id` from `off` (the record with LSN `cur`) towards `target`,
/// or to the end of the records. Returns the LSN found at `off` (target if it was found;
/// otherwise the LSN the next record would have, with `off` where it would start). `resync`:
/// step over bytes that do not decode (damage that skip_corrupted left, only where the segment
/// is known to continue after it). `samples`: where to note LSN samples on the way (or null).
lsn_t walk_headers(std::span<const std::byte> bytes, std::uint64_t id, std::uint32_t limit,
                   std::uint64_t& off, lsn_t cur, lsn_t target, bool resync, segment_slot* samples);

/// One segment as a source shows it to the cursor.
struct segment_view {
    std::shared_ptr<const segment_map> map;  ///< null: no segment
    std::uint64_t id = 0;
    std::uint64_t generation = 0;  ///< wal source: its slot's (truncate_after replaces the file)
    std::uint64_t end = 0;         ///< bytes of map that may hold records
    bool sealed = false;           ///< a later segment exists
    lsn_t next_base = 0;           ///< its base LSN (when sealed)
};

/// What a source says the cursor does next (reader_core::try_next).
enum class read_step : std::uint8_t {
    ready,  ///< decode the record at the cursor
    again,  ///< the cursor moved: look again
    stop,   ///< return the error set (end_of_log, closed, corrupted, ...)
};

/// The cursor, the same for both sources. A seek that fails restores a saved copy.
struct cursor_state {
    segment_view seg;
    std::uint64_t offset = 0;
    bool offset_known = false;  ///< offset is where `expected` starts in segment seg.id
    lsn_t expected = 1;
    lsn_t last = 0;                 ///< the LSN before expected (the last returned, or where a seek put us)
    std::uint64_t last_offset = 0;  ///< of the record last returned in seg.id (0: none there)
    std::error_code sticky;         ///< truncated / not_found: until the next seek
    bool at_start = false;          ///< seek_start and nothing returned since: follow the log's start

    /// The position of the next record (its segment and offset when known exactly).
    position tell() const noexcept;
    /// The next record expected is `lsn`.
    void expect(lsn_t lsn) noexcept {
        expected = lsn;
        last = lsn - 1;
    }
    /// Lets go of the mapping (the offset stays known: the same segment mapped again).
    void drop_segment() noexcept;
    /// Lets go of the segment: the offset of `expected` is to be found again.
    void leave_segment() noexcept {
        drop_segment();
        offset_known = false;
    }
    /// Stands on `s`. True when the offset of `expected` there is still to be found: the cursor
    /// is then at the segment's first record. False when it stood on s's segment already.
    bool enter(segment_view s) noexcept;
    /// Stands at the record with LSN `lsn` at `at` of `s` (a seek to a position, checked).
    void place(segment_view s, std::uint64_t at, lsn_t lsn) noexcept;
    /// Decodes the record at `offset` (within seg.end); short_header past it.
    decode_status decode(std::uint32_t limit, record_view& rv) const noexcept;
    /// Moves past `rv`, the record expected, found at `offset`.
    void pass(const record_view& rv) noexcept;
};

}  // namespace noriwal::detail
