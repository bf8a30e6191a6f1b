#include "record_walk.hpp"

#include "command.hpp"
#include "internal/format.hpp"

#include <algorithm>
#include <limits>

namespace noriwal::inspect {

namespace {

// The walk decodes with the format's own limit: a record its writer accepted stays readable
// whatever max_record_size was configured (as recovery does).
constexpr std::uint32_t decode_limit = detail::any_record_size;

bool all_zero(std::span<const std::byte> b) noexcept {
    return std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; });
}

// The first record at or after `from` that decodes under `segment_id` with an LSN >= lo.
std::uint64_t find_record_from(std::span<const std::byte> bytes, std::uint64_t segment_id, std::uint64_t from,
                               lsn_t lo, detail::record_view& rv) noexcept {
    detail::record_walker w(bytes, segment_id);
    w.find_in_range(from, lo, std::numeric_limits<lsn_t>::max(), rv);
    return w.offset();
}

}  // namespace

record_walk::record_walk(std::shared_ptr<file_system> fs, std::filesystem::path dir,
                         std::vector<segment_file> segments)
    : fs_(std::move(fs)), dir_(std::move(dir)), segments_(std::move(segments)) {}

void record_walk::start_at(lsn_t lsn) {
    from_ = lsn;
    index_ = 0;
    for (std::size_t i = 0; i < segments_.size(); ++i) {
        if (!segments_[i].fresh && segments_[i].header.base_lsn <= lsn) index_ = i;
    }
}

void record_walk::damage(std::uint64_t offset, std::uint64_t length, lsn_t first, lsn_t last,
                         std::string what, bool at_tail) {
    if (!on_damage) return;
    walk_damage d;
    d.segment_id = segments_[index_].id;
    d.offset = offset;
    d.length = length;
    d.first_lost = first;
    d.last_lost = first == 0 ? 0 : last;
    d.what = std::move(what);
    d.at_tail = at_tail;
    on_damage(d);
}

bool record_walk::enter(std::size_t index) {
    map_.reset();
    index_ = index;
    if (index >= segments_.size()) return false;
    const segment_file& s = segments_[index];
    if (s.fresh) return false;  // activated, never written: the end of the log
    if (auto ec = map_segment(*fs_, s.path, map_)) {
        if (ec == std::errc::no_such_file_or_directory) {
            // Deleted by the log's owner (retention) while we walked: its records are gone.
            damage(0, 0, 0, 0, "segment file deleted while it was read");
            return enter(index + 1);
        }
        throw failure(s.path.string() + ": cannot map: " + ec.message());
    }
    offset_ = detail::segment_header_size;
    if (expected_ == 0) expected_ = s.header.base_lsn;
    return true;
}

void record_walk::leave() {
    map_.reset();
    batch_.clear();
    batch_open_ = false;
}

bool record_walk::next(walked_record& out) {
    for (;;) {
        while (!ready_.empty()) {
            const held h = ready_.front();
            ready_.pop_front();
            if (h.view.lsn < from_) continue;
            out.pos = {segments_[index_].id, h.offset, h.view.lsn};
            out.view = h.view;
            out.frame = map_->bytes().subspan(h.offset, h.view.size);
            out.mapping = map_;
            return true;
        }
        if (at_end_) return false;
        if (!map_ && !enter(index_)) {
            at_end_ = true;  // past the last segment, or at a fresh one
            return false;
        }
        step();
    }
}

void record_walk::drop_batch(const char* what, bool at_tail) {
    const lsn_t count = batch_.size();
    damage(batch_offset_, offset_ - batch_offset_, batch_first_, batch_first_ + count - 1, what, at_tail);
    expected_ = batch_first_ + count;
    batch_open_ = false;
    batch_.clear();
}

void record_walk::step() {
    const std::span<const std::byte> bytes = map_->bytes();
    const std::uint64_t id = segments_[index_].id;
    if (offset_ >= bytes.size()) return end_of_segment(offset_, nullptr, true);
    const std::span<const std::byte> rest = bytes.subspan(offset_);
    detail::record_view rv;
    switch (detail::decode_record(rest, id, decode_limit, rv)) {
        case detail::decode_status::ok:
            break;
        case detail::decode_status::zero:
            return end_of_segment(offset_, nullptr, true);
        case detail::decode_status::short_header:
            return all_zero(rest)
                       ? end_of_segment(offset_, nullptr, true)
                       : end_of_segment(offset_, "torn record (cut short by the end of the file)", false);
        case detail::decode_status::bad_header_crc:
            // Bytes of an earlier use of a recycled file end the segment, as in recovery.
            if (detail::is_stale_record_header(rest, id, segments_[index_].header.base_lsn))
                return end_of_segment(offset_, nullptr, true);
            return end_of_segment(offset_, "bad checksum (record header)", false);
        case detail::decode_status::bad_header:
            return end_of_segment(offset_, "bad record header (impossible field)", false);
        case detail::decode_status::bad_length:
            return end_of_segment(offset_, "bad length", false);
        case detail::decode_status::short_body:
            return end_of_segment(offset_, "torn record (its body runs past the end of the file)", false);
        case detail::decode_status::bad_payload_crc:
            return end_of_segment(offset_, "bad checksum (record body)", false);
    }
    if (rv.lsn == 0) return end_of_segment(offset_, "bad record header (LSN 0)", false);

    const bool continues = rv.type == detail::record_type::middle || rv.type == detail::record_type::last;
    if (!continues) {
        if (batch_open_)
            drop_batch("incomplete batch (its last record is missing; recovery drops the whole batch)");
        if (rv.lsn < expected_)
            return end_of_segment(offset_, nullptr, true);  // stale: an LSN already passed
        if (rv.lsn > expected_) {
            damage(offset_, 0, expected_, rv.lsn - 1, "LSN gap (records missing before this one)");
            expected_ = rv.lsn;
        }
        if (rv.type == detail::record_type::full) {
            ready_.push_back({offset_, rv});
            expected_ = rv.lsn + 1;
        } else {
            batch_open_ = true;
            batch_first_ = rv.lsn;
            batch_offset_ = offset_;
            batch_.push_back({offset_, rv});
        }
        offset_ += rv.size;
        return;
    }
    const lsn_t want = batch_open_ ? batch_first_ + batch_.size() : expected_;
    if (!batch_open_ || rv.lsn != want) {
        if (!batch_open_ && rv.lsn < expected_) return end_of_segment(offset_, nullptr, true);  // stale
        if (batch_open_) drop_batch("incomplete batch (a record of it is missing)");
        if (rv.lsn > expected_)
            damage(offset_, 0, expected_, rv.lsn - 1, "LSN gap (records missing before this one)");
        damage(offset_, rv.size, rv.lsn, rv.lsn, "orphan batch record (the start of its batch is lost)");
        expected_ = std::max(expected_, rv.lsn + 1);
        offset_ += rv.size;
        return;
    }
    batch_.push_back({offset_, rv});
    offset_ += rv.size;
    if (rv.type == detail::record_type::last) {
        for (const held& h : batch_) ready_.push_back(h);
        expected_ = rv.lsn + 1;
        batch_open_ = false;
        batch_.clear();
    }
}

void record_walk::end_of_segment(std::uint64_t stop, const char* what, bool clean) {
    const std::span<const std::byte> bytes = map_->bytes();
    const std::uint64_t id = segments_[index_].id;
    const bool last = index_ + 1 >= segments_.size();

    // Valid records later in this segment: whatever stopped the walk is damage in the middle.
    detail::record_view rv;
    const lsn_t resume_from = batch_open_ ? batch_first_ + batch_.size() : expected_;
    const std::uint64_t next = find_record_from(bytes, id, stop + detail::record_alignment, resume_from, rv);
    // A batch never spans segments: one still open here lacks its last record. At the very end
    // of the log that is what a crash leaves (recovery drops the batch); elsewhere it is damage.
    if (batch_open_)
        drop_batch("incomplete batch (its last record is missing; recovery drops the whole batch)",
                   last && next >= bytes.size());
    if (next < bytes.size()) {
        damage(stop, next - stop, rv.lsn > expected_ ? expected_ : 0, rv.lsn - 1,
               what != nullptr ? what : "zeros or stale bytes in the middle of a segment");
        offset_ = next;
        if (rv.lsn > expected_) expected_ = rv.lsn;  // the LSNs between were reported lost just now
        return;
    }

    if (!last) {
        const segment_file& following = segments_[index_ + 1];
        const lsn_t next_base = following.fresh ? expected_ : following.header.base_lsn;
        if (next_base > expected_) {
            damage(stop, 0, expected_, next_base - 1,
                   what != nullptr
                       ? std::string(what) + "; the segment ends before the next one's base LSN"
                       : std::string("the segment ends before the next one's base LSN (records lost)"));
        } else if (!clean) {
            damage(stop, 0, 0, 0, what);
        }
        leave();
        if (enter(index_ + 1) && segments_[index_].header.base_lsn > expected_)
            expected_ = segments_[index_].header.base_lsn;
        return;
    }
    if (!clean) damage(stop, 0, 0, 0, what, true);
    at_end_ = true;
}

}  // namespace noriwal::inspect
