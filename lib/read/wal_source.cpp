// The wal source of a reader. See wal_source.hpp; the rules readers promise are in
// include/noriwal/reader.hpp and doc/readers.md.
#include "read/wal_source.hpp"

#include <noriwal/error.hpp>

#include <algorithm>

namespace noriwal::detail {

wal_source::wal_source(std::shared_ptr<segment_registry> registry, const reader_options& opts)
    : registry_(std::move(registry)), visible_(opts.visible) {
    epoch_ = registry_->snapshot().epoch;
}

segment_view wal_source::view_of(const segment_location& loc, std::shared_ptr<const segment_map> m) const {
    const std::uint64_t end = std::min<std::uint64_t>(loc.end, m->bytes().size());
    return {std::move(m), loc.slot->id, loc.slot->generation, end, loc.sealed, loc.next_base};
}

void wal_source::refresh_snapshot(cursor_state& cur) {
    const registry_snapshot s = registry_->snapshot();
    version_ = s.version;
    closed_ = s.closed;
    has_skipped_ = s.has_skipped;
    first_ = s.first;
    if (s.epoch != epoch_) {
        epoch_ = s.epoch;
        if (!cur.at_start && cur.last > s.truncated_to && !cur.sticky) {
            cur.sticky = errc::truncated;
        } else if (cur.seg.map && !registry_->current(cur.seg.id, cur.seg.generation).slot &&
                   (registry_->current_generation(cur.seg.id) != 0 ||
                    cur.seg.map->slot->base_lsn > s.truncated_to)) {
            // truncate_after replaced our segment's file by a copy of its prefix (the offset
            // stays valid: the prefix is the same bytes; the mapping does not), or removed
            // the segment we were about to start. A segment merely deleted by garbage
            // collection stays readable through our mapping.
            cur.drop_segment();
        }
    }
    if (cur.at_start && cur.expected != first_) {
        // Nothing returned since seek_start: follow the start of the log (deletion moves it).
        cur.leave_segment();
        cur.expect(first_);
    }
    limit_ = visible(s);
    written_ = s.written;
}

std::error_code wal_source::enter_segment(cursor_state& cur) {
    for (int attempt = 0; attempt < 8; ++attempt) {
        if (has_skipped_ && registry_->is_skipped(cur.expected))
            cur.expected = registry_->next_present_lsn(cur.expected);
        const segment_location loc = registry_->locate(cur.expected);
        if (!loc.slot || cur.expected < first_) {
            cur.sticky = errc::not_found;  // deleted before this reader mapped it
            return cur.sticky;
        }
        std::shared_ptr<const segment_map> m;
        const std::error_code ec = registry_->open_map(loc.slot, m);
        if (ec == errc::not_found) {
            // Retired between locate and open (deleted, or replaced by truncate_after): the
            // registry already says what replaced it.
            refresh_snapshot(cur);
            if (cur.sticky) return cur.sticky;
            continue;
        }
        if (ec) return ec;
        if (cur.enter(view_of(loc, std::move(m)))) {
            if (cur.expected != loc.slot->base_lsn) {
                // From the nearest LSN sample (doc/readers.md, "Seeking"), else from the start.
                lsn_t from = loc.slot->base_lsn;
                if (auto s = loc.slot->sample_at_or_before(cur.expected);
                    s && s->lsn > from && s->offset >= cur.offset && s->offset < cur.seg.end) {
                    cur.offset = s->offset;
                    from = s->lsn;
                }
                const lsn_t at =
                    walk_headers(cur.seg.map->bytes().first(cur.seg.end), cur.seg.id, decode_limit(),
                                 cur.offset, from, cur.expected, has_skipped_, loc.slot.get());
                if (at != cur.expected) {
                    cur.drop_segment();
                    return errc::corrupted;  // the log says the record is there, the bytes do not
                }
                if (auto s = loc.slot->sample_at_or_before(cur.expected); !s || s->lsn + 64 < cur.expected)
                    loc.slot->add_sample(cur.expected, cur.offset);
            }
            cur.offset_known = true;
        }
        return {};
    }
    return errc::not_found;
}

read_step wal_source::find_record_elsewhere(cursor_state& cur, std::error_code& ec) {
    if (cur.expected > limit_) {
        refresh_snapshot(cur);
        if (cur.sticky) return read_step::again;
        if (cur.expected > limit_) {
            ec = closed_ ? errc::closed : errc::end_of_log;
            return read_step::stop;
        }
    }
    if (!cur.seg.map) {
        if ((ec = enter_segment(cur))) return read_step::stop;
        // enter_segment takes a new snapshot when the slot it found was retired meanwhile
        // (truncate_after replaced the file): the watermark may now be below cur.expected, and
        // the new file may end where we stand. Look at the watermark again.
        if (cur.expected > limit_) return read_step::again;
    }
    if (cur.offset < cur.seg.end) return read_step::ready;
    // The end of what we knew of this segment: it may have grown, or been sealed.
    const segment_location loc = registry_->current(cur.seg.id, cur.seg.generation);
    if (!loc.slot) {  // replaced or deleted: the snapshot says how
        cur.drop_segment();
        refresh_snapshot(cur);
        if (!cur.sticky && cur.expected <= limit_ && first_ > cur.expected) cur.sticky = errc::not_found;
        return read_step::again;
    }
    cur.seg = view_of(loc, std::move(cur.seg.map));
    if (cur.offset < cur.seg.end) return read_step::ready;
    if (!cur.seg.sealed) {
        ec = errc::corrupted;  // the watermark covers cur.expected, the active segment ends before it
        return read_step::stop;
    }
    // On to the next segment. LSNs missing at the end of this one can only be ranges that
    // skip_corrupted recovery removed.
    if (cur.expected < cur.seg.next_base) {
        if (!has_skipped_ || !registry_->is_skipped(cur.expected)) {
            ec = errc::corrupted;
            return read_step::stop;
        }
        cur.expected = cur.seg.next_base;
    }
    cur.leave_segment();
    return read_step::again;
}

read_step wal_source::on_mismatch(cursor_state& cur, decode_status st, const record_view& rv,
                                  std::error_code& ec) {
    // Only acceptable where skip_corrupted recovery left a range of missing LSNs (damaged
    // bytes, or a record with a later LSN right here).
    if (!has_skipped_ || !registry_->is_skipped(cur.expected)) {
        ec = errc::corrupted;
        return read_step::stop;
    }
    const lsn_t want = registry_->next_present_lsn(cur.expected);
    if ((st == decode_status::ok && rv.lsn == want) || want > limit_) {
        // The record right here, or the range reaches the end of what is visible.
        cur.expected = want;
        return read_step::again;
    }
    record_walker w(cur.seg.map->bytes().first(cur.seg.end), cur.seg.id, decode_limit());
    record_view found;
    cur.expected = want;
    if (w.find_in_range(cur.offset + record_alignment, want, want, found)) {
        cur.offset = w.offset();
    } else {
        cur.leave_segment();  // it starts a later segment
    }
    return read_step::again;
}

std::error_code wal_source::seek_edge(cursor_state& cur, bool to_end) {
    refresh_snapshot(cur);
    cur.sticky.clear();
    cur.leave_segment();
    cur.at_start = !to_end;
    cur.expect(to_end ? limit_ + 1 : first_);
    cur.last_offset = 0;
    return {};
}

std::error_code wal_source::seek(cursor_state& cur, lsn_t lsn) {
    cursor_state saved = cur;
    refresh_snapshot(cur);
    cur.sticky.clear();
    cur.at_start = false;
    // Up to the written end, even for a durable reader: the records exist, it waits for them.
    if (lsn > written_ + 1) {
        cur = std::move(saved);
        return errc::invalid_argument;
    }
    if (lsn < first_) {
        cur = std::move(saved);
        return errc::not_found;
    }
    cur.leave_segment();
    cur.last_offset = 0;
    cur.expect(lsn);
    if (cur.expected <= limit_) {
        if (auto ec = enter_segment(cur)) {
            cur = std::move(saved);
            return ec;
        }
    }
    return {};
}

std::error_code wal_source::seek(cursor_state& cur, const position& p) {
    refresh_snapshot(cur);
    if (p.lsn == written_ + 1) return seek(cur, p.lsn);  // the end
    if (p.lsn < first_ || p.lsn > written_) return errc::not_found;
    const segment_location loc = registry_->locate(p.lsn);
    if (!loc.slot || loc.slot->id != p.segment_id) return errc::not_found;
    std::shared_ptr<const segment_map> m;
    if (auto ec = registry_->open_map(loc.slot, m)) return ec;
    segment_view v = view_of(loc, std::move(m));
    record_view rv;
    if (!decode_at(v.map->bytes().first(v.end), p.segment_id, decode_limit(), p.offset, p.lsn, rv))
        return errc::not_found;
    cur.place(std::move(v), p.offset, p.lsn);
    return {};
}

std::error_code wal_source::map_for_read_at(const position& p, std::shared_ptr<const segment_map>& out,
                                            std::uint64_t& end) {
    const registry_snapshot s = registry_->snapshot();
    if (p.lsn == 0 || p.lsn < s.first || p.lsn > visible(s)) return errc::not_found;
    const segment_location loc = registry_->locate(p.lsn);
    if (!loc.slot || loc.slot->id != p.segment_id) return errc::not_found;
    if (auto ec = registry_->open_map(loc.slot, out)) return ec;
    end = std::min<std::uint64_t>(loc.end, out->bytes().size());
    return {};
}

bool wal_source::add_waiter(const cursor_state& cur, const std::shared_ptr<tail_waiter>& w) {
    const lsn_t need = has_skipped_ ? registry_->next_present_lsn(cur.expected - 1) : cur.expected;
    return registry_->add_waiter(w, version_, need, visible_ == visibility::durable);
}

}  // namespace noriwal::detail
