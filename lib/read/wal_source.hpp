// The wal source of a reader (wal::make_reader): the records of a live wal in this process, as
// its segment_registry shows them. The registry says which segments exist, how far each is
// readable, and where LSNs start in them (samples).
//
// A wal reader reads up to a limit: the watermark of its visibility, taken from the registry
// with the truncation epoch in one snapshot, and refreshed only when the cursor reaches it (so
// that a scan costs no synchronisation per record). A record that is not the one expected is
// damage, unless skip_corrupted recovery left a range of missing LSNs there.
#pragma once

#include <noriwal/reader.hpp>

#include "read/cursor.hpp"
#include "read/segment_registry.hpp"

#include <cstdint>
#include <memory>
#include <system_error>

namespace noriwal::detail {

class wal_source {
public:
    wal_source(std::shared_ptr<segment_registry> registry, const reader_options& opts);

    /// Records are decoded with the format's limit, as recovery does: a record its writer
    /// accepted stays readable after max_record_size is lowered. Lengths are still checked
    /// against the bytes of the segment, and nothing is allocated from them.
    std::uint32_t decode_limit() const noexcept { return any_record_size; }

    // The steps of reader_core::try_next.
    // The two steps every record of a scan takes are inline, and cheap when nothing changed:
    // their work is out of line (a scan reads its records through them one by one).
    /// Before a read: takes in a truncation that happened since the last one.
    std::error_code begin_read(cursor_state& cur) {
        if (view_changed()) refresh_snapshot(cur);
        return {};
    }
    /// Puts the cursor on the segment and offset of `cur.expected`, if it is visible.
    read_step find_record(cursor_state& cur, std::error_code& ec) {
        if (cur.expected <= limit_ && cur.seg.map && cur.offset < cur.seg.end) return read_step::ready;
        return find_record_elsewhere(cur, ec);
    }
    /// The bytes at the cursor are not the record expected (`st`, `rv`: what decoded there).
    read_step on_mismatch(cursor_state& cur, decode_status st, const record_view& rv, std::error_code& ec);
    /// A truncate_after ran since the last snapshot: damage found meanwhile may come from a
    /// view of the log that no longer holds (the read is tried again).
    bool view_changed() const noexcept { return registry_->epoch() != epoch_; }

    /// Before the log's first record (seek_start) or after its last (seek_end, `to_end`), as
    /// the registry reports them now.
    std::error_code seek_edge(cursor_state& cur, bool to_end);
    std::error_code seek(cursor_state& cur, lsn_t lsn);
    /// `p.lsn` is not 0.
    std::error_code seek(cursor_state& cur, const position& p);
    /// For read_at: p's segment mapped, and how many of its bytes are readable, if `p` may name
    /// a visible record; errc::not_found otherwise.
    std::error_code map_for_read_at(const position& p, std::shared_ptr<const segment_map>& out,
                                    std::uint64_t& end);

    /// Blocks until the registry changes after the last snapshot (next()).
    void wait_for_change() { registry_->wait_change(version_); }
    /// Registers `w` to be woken when the registry changes after the last read that returned
    /// end_of_log; false if it already has (try again now).
    bool add_waiter(const cursor_state& cur, const std::shared_ptr<tail_waiter>& w);
    bool remove_waiter(const tail_waiter* w) { return registry_->remove_waiter(w); }

private:
    /// find_record when `cur.expected` is not within the segment the cursor holds, as far as
    /// the last snapshot knows.
    read_step find_record_elsewhere(cursor_state& cur, std::error_code& ec);
    void refresh_snapshot(cursor_state& cur);
    lsn_t visible(const registry_snapshot& s) const noexcept {
        return visible_ == visibility::durable ? s.durable : s.written;
    }
    segment_view view_of(const segment_location& loc, std::shared_ptr<const segment_map> m) const;
    /// Locates the segment that holds cur.expected (<= limit_), maps it and finds the offset.
    std::error_code enter_segment(cursor_state& cur);

    std::shared_ptr<segment_registry> registry_;
    visibility visible_;

    // The wal's state as last seen.
    lsn_t limit_ = 0;    // the visible watermark
    lsn_t written_ = 0;  // the written watermark (seeks may go up to it)
    lsn_t first_ = 1;    // the first LSN the log holds
    std::uint64_t epoch_ = 0;
    std::uint64_t version_ = 0;
    bool closed_ = false;
    bool has_skipped_ = false;
};

}  // namespace noriwal::detail
