// The recovery scanner. The rules are in recovery_scanner.hpp and doc/durability.md; each
// branch below is named after the stop or damage it handles.
#include "log/recovery_scanner.hpp"

#include <noriwal/detail/crc32c.hpp>
#include <noriwal/error.hpp>
#include <noriwal/version.hpp>

#include "format/little_endian.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

namespace noriwal::detail {
namespace {

// Recovery decodes with the format's own limit, not the configured max_record_size: a record
// that its writer accepted stays readable after the limit is lowered. Lengths are still checked
// against the bytes that remain, and nothing is allocated.
constexpr std::uint32_t decode_limit = any_record_size;
constexpr std::uint64_t before_all = std::numeric_limits<std::uint64_t>::max();

std::string file_of(std::uint64_t id) { return segment_file_name(id); }

bool all_zero(std::span<const std::byte> bytes) noexcept {
    return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

}  // namespace

// ------------------------------------------------------------------------ damage bookkeeping

void recovery_scanner::add_damage(std::uint64_t segment_id, std::uint64_t offset, std::uint64_t length,
                                  damage_kind kind, lsn_t n, std::uint64_t cut_index,
                                  std::uint64_t cut_offset) {
    damage_entry e;
    e.d.segment_id = segment_id;
    e.d.offset = offset;
    e.d.length = length;
    e.d.kind = kind;
    e.n = n;
    if (closed_ && closed_->last_lsn != 0 && n <= closed_->last_lsn) {
        // n == 0 (unknown) lies before every record: also before the end at close.
        e.d.mid_log = true;
        e.reason = "before the end the log had when it was last closed cleanly (LSN " +
                   std::to_string(closed_->last_lsn) +
                   "): the records there were durable, so this is "
                   "damage to the durable log, not a torn tail";
    }
    damages_.push_back(e);
    if (cutting() && !have_cut_) {
        have_cut_ = true;
        cut_index_ = cut_index;
        cut_offset_ = cut_offset;
        cut_damage_ = damages_.size() - 1;
        surveying_ = true;
        batch_.open = false;
    }
}

// A valid record seen after some damage: the damage lies in the durable middle of the log if
// this record's writer knew the LSN expected at the damage was already durable. Damages are
// registered in order of their LSN, so the ones a hint marks are always the next unmarked.
void recovery_scanner::note_valid(const record_view& rv) {
    ++valid_in_segment_;
    const lsn_t hint = rv.durable_hint();
    while (marked_ < damages_.size()) {
        damage_entry& e = damages_[marked_];
        if (e.n == 0) e.n = rv.lsn;  // the damage came before any known LSN: this is the first after it
        if (hint < e.n) break;
        e.d.mid_log = true;
        ++marked_;
    }
}

// ------------------------------------------------------------------------ records

void recovery_scanner::accept(const record_view& rv, std::uint64_t offset) {
    scanned_segment& s = segments_.back();
    ++s.records;
    if (s.first_lsn == 0) s.first_lsn = rv.lsn;
    s.last_lsn = rv.lsn;
    s.last_offset = offset;
    s.end = offset + rv.size;
    expected_ = rv.lsn + 1;
}

void recovery_scanner::drop_batch(std::uint64_t at) {
    // The batch's records are all or none: none. It is damage where it starts.
    const open_batch b = batch_;
    batch_.open = false;
    add_damage(segments_.back().id, b.start, at - b.start, damage_kind::incomplete_batch, b.first,
               segments_.size() - 1, b.start);
}

// Returns false when the record is stale (an LSN already passed): a stop, not a record.
bool recovery_scanner::on_record(const record_view& rv, std::uint64_t offset) {
    scanned_segment& s = segments_.back();
    if (surveying_) {
        ++surveyed_records_;
        note_valid(rv);
        return true;
    }
    if (expected_ == 0) expected_ = rv.lsn;  // no usable header told where the log starts
    const lsn_t want = batch_.open ? batch_.next : expected_;
    if (rv.lsn < want) return false;

    const bool continues_batch = (rv.type == record_type::middle || rv.type == record_type::last) &&
                                 batch_.open && rv.lsn == batch_.next;
    if (!continues_batch && batch_.open) {
        drop_batch(offset);
        if (surveying_) {
            note_valid(rv);
            return true;
        }
    }
    if (rv.type == record_type::middle || rv.type == record_type::last) {
        if (!continues_batch) {
            // An orphan: the rest of a batch whose start was damaged (skipped) or lost. It joins
            // the damage right before it when they touch.
            if (!damages_.empty() && damages_.back().d.segment_id == s.id &&
                damages_.back().d.offset + damages_.back().d.length == offset) {
                damages_.back().d.length += rv.size;
            } else {
                add_damage(s.id, offset, rv.size, damage_kind::incomplete_batch, expected_,
                           segments_.size() - 1, offset);
            }
            note_valid(rv);
            return true;
        }
        note_valid(rv);
        ++batch_.next;
        ++batch_.count;
        batch_.last_offset = offset;
        batch_.end = offset + rv.size;
        if (rv.type == record_type::last) {
            s.records += batch_.count;
            if (s.first_lsn == 0) s.first_lsn = batch_.first;
            s.last_lsn = batch_.next - 1;
            s.last_offset = batch_.last_offset;
            s.end = batch_.end;
            expected_ = batch_.next;
            batch_.open = false;
        }
        return true;
    }

    // full or first: must carry the expected LSN.
    if (rv.lsn > expected_) {
        add_damage(s.id, offset, 0, damage_kind::lsn_gap, expected_, segments_.size() - 1, offset);
        if (surveying_) {
            note_valid(rv);
            return true;
        }
        skipped_.push_back({expected_, rv.lsn - 1});
        expected_ = rv.lsn;
    }
    note_valid(rv);
    if (rv.type == record_type::full) {
        accept(rv, offset);
    } else {
        batch_ = {true, offset, rv.lsn, rv.lsn + 1, 1, offset, offset + rv.size};
    }
    return true;
}

void recovery_scanner::scan_records(std::span<const std::byte> bytes) {
    const std::uint64_t size = bytes.size();
    std::uint64_t off = segment_header_size;
    for (;;) {
        scanned_segment& s = segments_.back();
        stop sp;
        sp.offset = off;
        bool maybe_stale = false;  // bytes that are no header of this segment: perhaps inside an older record
        std::uint64_t from = off + record_alignment;  // where the survey for the next record starts
        if (off >= size) {
            sp.why = cause::eof;
            from = size;
        } else {
            record_view rv;
            const record_walker at(bytes, s.id, decode_limit, off);
            const auto rest = at.rest();
            switch (at.decode(rv)) {
                case decode_status::ok:
                    if (rv.lsn != 0) {
                        s.data_end = std::max(s.data_end, nonzero_end(bytes, off, off + rv.size));
                        if (on_record(rv, off)) {
                            off += rv.size;
                            continue;
                        }
                        sp.why = cause::stale;  // this segment's record with an LSN already passed
                        from = off + rv.size;
                    } else {
                        sp.why = cause::damage;  // no writer frames LSN 0
                        sp.kind = damage_kind::bad_checksum;
                    }
                    break;
                case decode_status::zero:
                    sp.why = cause::zero;
                    break;
                case decode_status::short_header:
                    sp.why = all_zero(rest) ? cause::zero : cause::damage;
                    sp.kind = damage_kind::torn_record;
                    break;
                case decode_status::bad_header_crc:
                    if (is_stale_record_header(rest, s.id, s.header_ok ? s.base_lsn : 0)) {
                        sp.why = cause::stale;
                    } else {
                        sp.why = cause::damage;
                        sp.kind = damage_kind::bad_checksum;
                        maybe_stale = true;
                    }
                    break;
                case decode_status::bad_header:
                    sp.why = cause::damage;
                    sp.kind = damage_kind::bad_checksum;
                    maybe_stale = true;
                    break;
                case decode_status::bad_length:
                    sp.why = cause::damage;
                    sp.kind = damage_kind::bad_length;
                    break;
                case decode_status::short_body:
                    sp.why = cause::damage;
                    sp.kind = damage_kind::torn_record;
                    break;
                case decode_status::bad_payload_crc:
                    // The header holds its CRC: the record's extent is known, the body is damaged.
                    sp.why = cause::damage;
                    sp.kind = damage_kind::bad_checksum;
                    from = off + rv.size;
                    break;
            }
        }
        from = std::min(from, size);
        s.data_end = std::max(s.data_end, nonzero_end(bytes, off, from));
        const gap_survey r = survey_gap(bytes, s.id, s.header_ok ? s.base_lsn : 0, from);
        if (r.nonzero) s.data_end = std::max(s.data_end, r.nonzero_end);

        if (r.next < size) {
            // A valid record follows in this segment: whatever stopped the scan is damage.
            if (!surveying_) {
                const damage_kind kind = sp.why == cause::zero    ? damage_kind::garbage_after_end
                                         : sp.why == cause::stale ? damage_kind::torn_record
                                                                  : sp.kind;
                const lsn_t n = expected_;  // while a batch is open, its first LSN
                if (batch_.open) drop_batch(off);
                add_damage(s.id, off, r.next - off, kind, n, segments_.size() - 1, off);
            }
            off = r.next;
            continue;
        }

        // Nothing valid follows: this is where the segment ends. In a recycled file the end
        // of the new records usually falls inside an older record: bytes that are no header,
        // followed by the older records' headers. They are stale, unless they carry the LSN
        // expected here, as the torn header of this segment's next record would. (A header
        // torn right after its first 8 bytes still reads as stale: an unsynced record is lost
        // either way, only the report differs; see doc/durability.md.)
        if (maybe_stale && r.stale && record_header_fields(bytes.data() + off).lsn() != expected_)
            sp.why = cause::stale;
        sp.junk_after = r.nonzero;
        sp.first_nonzero = r.nonzero ? r.first_nonzero : size;
        sp.stale_after = r.stale;
        last_stop_ = sp;
        stop_pending_ = false;
        if (!surveying_ && batch_.open) {
            // A batch never spans segments: its end is missing whatever follows.
            const lsn_t n = expected_;
            drop_batch(off);
            if (sp.why == cause::damage)
                add_damage(s.id, off, s.data_end > off ? s.data_end - off : 0, sp.kind, n,
                           segments_.size() - 1, off);
            s.tail_clean = false;
        } else if (!surveying_) {
            stop_pending_ = true;
        }
        return;
    }
}

// Judges the stop where the previous segment ended, now that what follows it is known.
// `next_continues`: the next segment exists, is the next id, has a usable header and starts at
// the expected LSN. `at_finish`: the stopped segment is the last one.
void recovery_scanner::resolve_pending_stop(bool at_finish, bool next_continues) {
    if (!stop_pending_) return;
    stop_pending_ = false;
    if (surveying_ || segments_.empty()) return;
    const std::size_t index = segments_.size() - 1;  // the stopped segment (the next is not added yet)
    scanned_segment& s = segments_[index];
    const stop& sp = last_stop_;
    const std::uint64_t length = s.data_end > sp.offset ? s.data_end - sp.offset : 0;
    // Records that run into the end of a file cut shorter than it was preallocated.
    const bool cut_short =
        s.prepared_size > s.file_size &&
        (sp.why == cause::eof || (sp.why == cause::damage && sp.kind == damage_kind::torn_record));
    if (!at_finish) {
        if (next_continues) return;  // a sealed segment's end, proven by its successor
        // Records are missing between this stop and the next segment's base_lsn.
        s.tail_clean = false;
        if (cut_short) {
            add_truncated_file(s, sp.offset, expected_, index);
            return;
        }
        add_damage(s.id, sp.offset, length, sp.why == cause::damage ? sp.kind : damage_kind::torn_record,
                   expected_, index, sp.offset);
        return;
    }
    if (cut_short) {
        s.tail_clean = false;
        add_truncated_file(s, sp.offset, expected_, index);
        return;
    }
    switch (sp.why) {
        case cause::eof:
            return;
        case cause::zero:
            if (!sp.junk_after) return;
            if (sp.stale_after) {
                informational(s.id, sp.first_nonzero, s.data_end - sp.first_nonzero,
                              damage_kind::stale_record);
                return;
            }
            s.tail_clean = false;
            add_damage(s.id, sp.first_nonzero, s.data_end - sp.first_nonzero, damage_kind::garbage_after_end,
                       expected_, index, sp.offset);
            return;
        case cause::stale:
            informational(s.id, sp.offset, length, damage_kind::stale_record);
            return;
        case cause::damage:
            s.tail_clean = false;
            add_damage(s.id, sp.offset, length, sp.kind, expected_, index, sp.offset);
            return;
    }
}

// A preallocated file shorter than it was prepared: nothing but a cut makes it so (writes never
// shrink a file, and its size was durable before its first record), so what it held past its
// end, which may be any number of records, is lost. Damage in the durable log.
void recovery_scanner::add_truncated_file(const scanned_segment& s, std::uint64_t offset, lsn_t n,
                                          std::uint64_t index) {
    // The bytes lost: up to the end at close when a close marker says where that was, else
    // what is missing from the file.
    std::uint64_t length = s.prepared_size - s.file_size;
    if (closed_ && closed_->segment_id == s.id && closed_->end_offset > offset)
        length = closed_->end_offset - offset;
    add_damage(s.id, offset, length, damage_kind::truncated_file, n, index, offset);
    damage_entry& e = damages_.back();
    e.d.mid_log = true;
    e.reason = "(the file is " + std::to_string(s.file_size) + " bytes, shorter than the " +
               std::to_string(s.prepared_size) +
               " bytes it was preallocated to: something cut it, and the records it held past its end are "
               "lost)";
}

// After a clean close the log must reach the LSN it had then. Records missing at the end (a
// last segment removed, a tail zeroed or cut at a record boundary) were durable: damage.
void recovery_scanner::check_closed_end() {
    if (!closed_ || closed_->last_lsn == 0 || surveying_ || segments_.empty()) return;
    // The last LSN the log accounts for: its last record, or one before a segment's base LSN
    // (a log whose records were all deleted, or whose active segment is still empty).
    lsn_t last = 0;
    for (const scanned_segment& s : segments_) {
        last = std::max(last, s.last_lsn);
        if (s.header_ok && s.base_lsn > 0) last = std::max(last, s.base_lsn - 1);
    }
    if (last >= closed_->last_lsn) return;
    const std::size_t index = segments_.size() - 1;
    scanned_segment& s = segments_.back();
    const std::uint64_t length =
        closed_->segment_id == s.id && closed_->end_offset > s.end ? closed_->end_offset - s.end : 0;
    s.tail_clean = false;
    add_damage(s.id, s.end, length, damage_kind::torn_record, last + 1, index, s.end);
    damage_entry& e = damages_.back();
    e.d.mid_log = true;
    e.reason = "(the log ends at LSN " + std::to_string(last) + " but was closed cleanly at LSN " +
               std::to_string(closed_->last_lsn) + ": records " + std::to_string(last + 1) + " to " +
               std::to_string(closed_->last_lsn) + ", which were durable, are missing)";
}

void recovery_scanner::informational(std::uint64_t segment_id, std::uint64_t offset, std::uint64_t length,
                                     damage_kind kind) {
    damage_entry e;
    e.d = {segment_id, offset, length, kind, false};
    e.informational = true;
    damages_.push_back(e);
}

// ------------------------------------------------------------------------ segments

std::error_code recovery_scanner::add_segment(std::uint64_t id, std::span<const std::byte> bytes,
                                              std::string& why) {
    segment_header h;
    const segment_header_status hs = decode_segment_header(bytes, h);
    if (hs == segment_header_status::unsupported_version) {
        why = "segment file " + file_of(id) +
              " was written by an unsupported format version (this build reads " +
              std::to_string(NORIWAL_FORMAT_VERSION_MAJOR) + ".x); open it with a newer noriwal";
        return errc::unsupported_version;
    }
    const std::size_t head = std::min<std::size_t>(bytes.size(), segment_header_size);
    const bool file_zero =
        (hs == segment_header_status::zero || hs == segment_header_status::short_file) && all_zero(bytes);
    // A file that does not start like a segment (nor like a zeroed one) may not be ours.
    const bool foreign =
        hs == segment_header_status::bad_magic ||
        (hs == segment_header_status::short_file && !all_zero(bytes.first(head)) &&
         std::memcmp(bytes.data(), segment_magic, std::min<std::size_t>(head, sizeof segment_magic)) != 0);

    scanned_segment s;
    s.id = id;
    s.file_size = bytes.size();
    s.header_ok = hs == segment_header_status::ok && h.segment_id == id;
    if (s.header_ok) {
        s.header = h;
        s.prepared_size = h.prepared_size;
    }
    s.end = segment_header_size;
    s.all_zero = file_zero;
    s.data_end = nonzero_end(bytes, 0, head);

    // The boundary with the previous segment.
    if (!segments_.empty() && !surveying_) {
        const std::size_t prev = segments_.size() - 1;
        const scanned_segment& p = segments_[prev];
        const std::uint64_t cut_index = prev == 0 ? before_all : prev - 1;
        const std::uint64_t cut_offset = prev == 0 ? 0 : segments_[prev - 1].end;
        if (p.all_zero) {
            // An all-zero file is a clean end only as the last segment.
            add_damage(p.id, 0, std::min<std::uint64_t>(segment_header_size, p.file_size),
                       damage_kind::bad_segment_header, expected_, cut_index, cut_offset);
        } else if (id != p.id + 1) {
            resolve_pending_stop(false, true);
            add_damage(p.id + 1, 0, 0, damage_kind::missing_segment, expected_, prev, p.end);
        } else if (!s.header_ok) {
            resolve_pending_stop(false, true);  // the bad header is the damage (below)
        } else if (expected_ == 0 || h.base_lsn == expected_) {
            resolve_pending_stop(false, true);
        } else if (h.base_lsn > expected_) {
            resolve_pending_stop(false, false);
        } else {
            // It claims LSNs the previous segment already holds.
            resolve_pending_stop(false, true);
            add_damage(id, 0, segment_header_size, damage_kind::bad_segment_header, expected_, prev, p.end);
        }
    }
    stop_pending_ = false;

    const std::uint64_t index = segments_.size();
    if (!s.header_ok && !file_zero && !surveying_) {
        add_damage(id, 0, std::min<std::uint64_t>(segment_header_size, bytes.size()),
                   damage_kind::bad_segment_header, expected_, index == 0 ? before_all : index - 1,
                   index == 0 ? 0 : segments_.back().end);
    }
    if (s.header_ok) {
        if (expected_ == 0) {
            expected_ = h.base_lsn;
        } else if (h.base_lsn > expected_ && !surveying_) {
            add_damage(id, segment_header_size, 0, damage_kind::lsn_gap, expected_, index - 1,
                       segments_.back().end);
            if (!surveying_) {
                skipped_.push_back({expected_, h.base_lsn - 1});
                expected_ = h.base_lsn;
            }
        }
        s.base_lsn = h.base_lsn;
    } else {
        s.base_lsn = expected_;
    }

    segments_.push_back(s);
    valid_in_segment_ = 0;
    batch_.open = false;
    if (!file_zero && bytes.size() >= segment_header_size) {
        scan_records(bytes);
        if (segments_.back().base_lsn == 0) segments_.back().base_lsn = segments_.back().first_lsn;
    }
    if (foreign && valid_in_segment_ == 0) {
        why = "file " + file_of(id) + " in the log directory is named like a segment but is not one (no " +
              "segment magic, no record); move it out of the directory";
        return errc::not_a_log;
    }
    return {};
}

// ------------------------------------------------------------------------ decision

recovery_plan recovery_scanner::finish() {
    recovery_plan plan;
    bool reset_last = false;
    if (!segments_.empty()) {
        if (segments_.back().all_zero && !surveying_) {
            reset_last = true;  // activated, never written: the clean end of the log
            if (segments_.back().base_lsn == 0) segments_.back().base_lsn = expected_ == 0 ? 1 : expected_;
        } else {
            const std::size_t before = damages_.size();
            resolve_pending_stop(true, false);
            // Damage at the end already says what is missing there.
            if (damages_.size() == before) check_closed_end();
        }
        if (reset_last) check_closed_end();
    }

    recovery_info& info = plan.info;
    info.clean_close = closed_.has_value();
    info.segments_scanned = segments_.size();
    const damage_entry* first_damage = nullptr;
    const damage_entry* first_mid_log = nullptr;
    for (const damage_entry& e : damages_) {
        info.damages.push_back(e.d);
        if (e.informational) continue;
        info.corruption_detected = true;
        if (first_damage == nullptr) first_damage = &e;
        if (e.d.mid_log && first_mid_log == nullptr) first_mid_log = &e;
    }

    auto where = [](const damage& d) {
        return "segment file " + file_of(d.segment_id) + " at offset " + std::to_string(d.offset) + ": " +
               std::string(to_string(d.kind));
    };
    if (mode_ == recovery_mode::absolute_consistency && first_damage != nullptr) {
        plan.error = errc::corrupted;
        plan.why = where(first_damage->d) + (first_damage->reason.empty() ? "" : " " + first_damage->reason) +
                   "; recovery_mode::absolute_consistency accepts only a clean end " +
                   "(tolerate_corrupted_tail would cut a torn tail, point_in_time cuts at the damage)";
        return plan;
    }
    if (mode_ == recovery_mode::tolerate_corrupted_tail && first_mid_log != nullptr) {
        plan.error = errc::corrupted;
        plan.why =
            where(first_mid_log->d) + " " +
            (first_mid_log->reason.empty()
                 ? std::string("in the middle of the log (records that were already durable follow it)")
                 : first_mid_log->reason) +
            "; open with recovery_mode::point_in_time to keep the log up to it, or skip_corrupted to "
            "salvage around it (copy the directory first to keep the damaged bytes)";
        return plan;
    }

    std::size_t keep = segments_.size();
    if (have_cut_) {
        keep = cut_index_ == before_all ? 0 : cut_index_ + 1;
        if (keep > 0 && segments_[keep - 1].data_end > cut_offset_) {
            plan.zero_from = cut_offset_;
            plan.zero_to = segments_[keep - 1].data_end;
        }
    } else {
        // Salvage (or no damage): trailing segments that hold nothing readable go.
        while (keep > 0 && !segments_[keep - 1].header_ok && segments_[keep - 1].records == 0 &&
               !(keep == segments_.size() && reset_last))
            --keep;
        if (keep > 0 && !segments_[keep - 1].tail_clean &&
            segments_[keep - 1].data_end > segments_[keep - 1].end) {
            plan.zero_from = segments_[keep - 1].end;
            plan.zero_to = segments_[keep - 1].data_end;
        }
    }
    plan.reset_last = reset_last && keep == segments_.size();
    plan.kept.assign(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(keep));
    for (std::size_t i = segments_.size(); i > keep; --i) {
        plan.removed.push_back(segments_[i - 1].id);
        info.bytes_truncated += segments_[i - 1].data_end;
    }
    info.bytes_truncated += plan.zero_to - plan.zero_from;

    lsn_t last = 0;
    for (const scanned_segment& s : plan.kept) {
        if (s.records == 0) continue;
        info.valid_records += s.records;
        if (info.first_lsn == 0) info.first_lsn = s.first_lsn;
        info.last_lsn = s.last_lsn;
        info.last_valid = {s.id, s.last_offset, s.last_lsn};
        last = s.last_lsn;
    }
    // What the log no longer holds. `accounted`: the last LSN the kept log accounts for (its
    // last record, or one before the base LSN of a segment with none yet).
    lsn_t accounted = last;
    if (!plan.kept.empty() && plan.kept.back().header_ok && plan.kept.back().base_lsn > 0)
        accounted = std::max(accounted, plan.kept.back().base_lsn - 1);
    std::uint64_t skipped_lsns = 0;
    for (const lsn_range& r : skipped_)
        if (r.last >= r.first) skipped_lsns += r.last - r.first + 1;
    if (closed_ && closed_->last_lsn != 0) {
        info.records_truncated =
            skipped_lsns + (closed_->last_lsn > accounted ? closed_->last_lsn - accounted : 0);
        // Bytes of the log that something cut from the file it was in (counted where known).
        for (const scanned_segment& s : segments_)
            if (s.id == closed_->segment_id && closed_->end_offset > s.file_size)
                info.bytes_truncated += closed_->end_offset - s.file_size;
    } else {
        info.records_truncated = skipped_lsns + surveyed_records_;
    }
    plan.next_lsn = last + 1;
    if (last == 0) {
        if (have_cut_ && damages_[cut_damage_].n != 0) {
            plan.next_lsn = damages_[cut_damage_].n;
        } else if (!plan.kept.empty() && plan.kept.back().base_lsn != 0) {
            plan.next_lsn = plan.kept.back().base_lsn;
        }
    } else if (!plan.kept.empty() && plan.kept.back().header_ok &&
               plan.kept.back().base_lsn > plan.next_lsn) {
        plan.next_lsn = plan.kept.back().base_lsn;
    }
    for (const lsn_range& r : skipped_)
        if (r.last < plan.next_lsn) plan.skipped.push_back(r);
    return plan;
}

}  // namespace noriwal::detail
