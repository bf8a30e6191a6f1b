// The directory source of a reader. See directory_source.hpp; the rules readers promise are in
// include/noriwal/reader.hpp and doc/readers.md.
#include "read/directory_source.hpp"

#include <noriwal/error.hpp>

#include <algorithm>
#include <array>
#include <limits>
#include <thread>

namespace noriwal::detail {

directory_source::directory_source(std::shared_ptr<file_system> fs, std::filesystem::path dir,
                                   const reader_options& opts)
    : fs_(std::move(fs)),
      dir_(std::move(dir)),
      limit_(opts.max_record_size == 0 ? any_record_size : opts.max_record_size),
      poll_interval_(opts.poll_interval) {}

void directory_source::wait_for_change() const { std::this_thread::sleep_for(poll_interval_); }

std::error_code directory_source::read_segment_header(std::uint64_t id, lsn_t& base) {
    std::unique_ptr<file> f;
    if (auto ec = fs_->open(dir_ / segment_file_name(id), open_mode::read_only, f)) return ec;
    std::array<std::byte, segment_header_size> h{};
    std::size_t got = 0;
    if (auto ec = f->read_at(0, h, got)) return ec;
    segment_header sh;
    switch (decode_segment_header(std::span<const std::byte>(h.data(), got), sh)) {
        case segment_header_status::ok:
            if (sh.segment_id != id) return errc::corrupted;
            base = sh.base_lsn;
            return {};
        case segment_header_status::unsupported_version:
            return errc::unsupported_version;
        case segment_header_status::bad_magic:
            return errc::not_a_log;
        case segment_header_status::zero:
        case segment_header_status::short_file:
            return errc::end_of_log;  // created, not started yet
        case segment_header_status::bad_crc:
            break;
    }
    return errc::corrupted;
}

std::error_code directory_source::list_directory() {
    std::vector<std::string> names;
    if (auto ec = fs_->list(dir_, names)) return ec;
    std::vector<std::uint64_t> ids;
    for (const std::string& n : names) {
        std::uint64_t id = 0;
        if (parse_segment_file_name(n, id)) ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    std::vector<listed_segment> segs;
    segs.reserve(ids.size());
    for (const std::uint64_t id : ids) {
        // Headers are read again each time: truncate_after rewrites a segment's file (and,
        // when it empties the log, its base LSN) under the same name.
        lsn_t base = 0;
        const std::error_code ec = read_segment_header(id, base);
        if (ec == errc::unsupported_version || ec == errc::not_a_log) return ec;
        // Not started yet, damaged, or removed since the listing: not a segment to read (yet).
        if (ec) continue;
        segs.push_back({id, base});
    }
    segments_ = std::move(segs);
    return {};
}

std::error_code directory_source::map_file(std::uint64_t id, std::shared_ptr<const segment_map>& out) {
    lsn_t base = 0;
    for (const listed_segment& s : segments_)
        if (s.id == id) base = s.base_lsn;
    auto slot = std::make_shared<segment_slot>(id, 0, base, dir_ / segment_file_name(id));
    // Only the file's current size: past it a mapping must not be read (SIGBUS), and a
    // directory reader has no written end to stay below.
    return map_segment(*fs_, slot, 0, out);
}

bool directory_source::probe_next_segment(const cursor_state& cur, listed_segment& next) {
    const auto after_cursor = [&] {
        const auto it = std::find_if(segments_.begin(), segments_.end(),
                                     [&](const listed_segment& s) { return s.id > cur.seg.id; });
        if (it == segments_.end()) return false;
        next = *it;
        return true;
    };
    if (after_cursor()) return true;
    // The usual case: the next segment id. A gap in ids needs a listing.
    lsn_t base = 0;
    const std::error_code ec = read_segment_header(cur.seg.id + 1, base);
    if (!ec) {
        segments_.push_back({cur.seg.id + 1, base});
        next = segments_.back();
        return true;
    }
    return ec == std::errc::no_such_file_or_directory && !list_directory() && after_cursor();
}

// A writer that truncates its log replaces the file of the segment it cuts. Our mapping keeps
// the old file, so at the end of the log the current file is mapped again and the last record
// this reader returned from it must still be there, byte for byte: then the new mapping
// carries on (records appended after a truncation above us); otherwise the log was cut below
// what this reader returned.
std::error_code directory_source::verify_current_file(cursor_state& cur, bool& switched) {
    switched = false;
    std::shared_ptr<const segment_map> fresh;
    std::error_code ec = map_file(cur.seg.id, fresh);
    if (ec == std::errc::no_such_file_or_directory) {
        // Deleted by the writer's garbage collection (later segments remain: our mapping
        // stays valid), or cut away by a truncation below it.
        if (auto lec = list_directory()) return lec;
        if (!segments_.empty() && segments_.back().id > cur.seg.id) return {};
        cur.sticky = errc::truncated;
        return cur.sticky;
    }
    if (ec) return ec;
    const auto old_bytes = cur.seg.map->bytes();
    const auto new_bytes = fresh->bytes();
    const std::uint64_t from = cur.last_offset >= segment_header_size ? cur.last_offset : 0;
    const std::uint64_t len =
        cur.last_offset >= segment_header_size ? record_header_size : segment_header_size;
    if (new_bytes.size() < from + len || old_bytes.size() < from + len ||
        !std::equal(old_bytes.begin() + from, old_bytes.begin() + from + len, new_bytes.begin() + from)) {
        cur.sticky = errc::truncated;
        return cur.sticky;
    }
    if (new_bytes.size() >= cur.offset) {
        cur.seg.map = std::move(fresh);
        cur.seg.end = cur.seg.map->bytes().size();
        switched = true;
    }
    return {};
}

std::error_code directory_source::enter_segment(cursor_state& cur) {
    for (int attempt = 0; attempt < 4; ++attempt) {
        if (segments_.empty() || (cur.at_start && cur.expected < segments_.front().base_lsn)) {
            if (auto ec = list_directory()) return ec;
        }
        if (segments_.empty()) return errc::end_of_log;  // no segment yet
        if (cur.expected == 0 || (cur.at_start && cur.expected < segments_.front().base_lsn))
            cur.expect(segments_.front().base_lsn);
        std::size_t i = segments_.size();
        while (i > 0 && segments_[i - 1].base_lsn > cur.expected) --i;
        if (i == 0) {
            cur.sticky = errc::not_found;  // deleted before this reader reached it
            return cur.sticky;
        }
        const listed_segment seg = segments_[i - 1];
        std::shared_ptr<const segment_map> m;
        const std::error_code ec = map_file(seg.id, m);
        if (ec == std::errc::no_such_file_or_directory) {  // removed since the listing
            if (auto lec = list_directory()) return lec;
            continue;
        }
        if (ec) return ec;
        const bool sealed = i < segments_.size();
        const std::uint64_t end = m->bytes().size();
        if (cur.enter({std::move(m), seg.id, 0, end, sealed, sealed ? segments_[i].base_lsn : 0})) {
            cur.offset_known = true;
            if (cur.expected != seg.base_lsn) {
                const lsn_t at = walk_headers(cur.seg.map->bytes(), cur.seg.id, decode_limit(), cur.offset,
                                              seg.base_lsn, cur.expected, cur.seg.sealed, nullptr);
                // Not (yet) in this segment: the reader waits at the end of its records.
                if (at != cur.expected) cur.expect(at);
            }
        }
        return {};
    }
    return errc::not_found;
}

std::error_code directory_source::begin_read(cursor_state& cur) {
    verified_ = false;
    if (!cur.seg.map || (poll_interval_.count() != 0 && ++reads_since_verify_ < 64)) return {};
    reads_since_verify_ = 0;
    const auto t = std::chrono::steady_clock::now();
    if (t - last_verify_ < poll_interval_) return {};
    last_verify_ = t;
    verified_ = true;
    bool switched = false;
    return verify_current_file(cur, switched);
}

read_step directory_source::find_record(cursor_state& cur, std::error_code& ec) {
    if (!cur.seg.map && (ec = enter_segment(cur))) return read_step::stop;
    return read_step::ready;
}

read_step directory_source::on_mismatch(cursor_state& cur, decode_status, const record_view&,
                                        std::error_code& ec) {
    // A file that grows (preallocation::none) may hold the record past our mapping.
    std::uint64_t size = 0;
    if (!cur.seg.map->f->size(size) && size > cur.seg.map->bytes().size()) {
        std::shared_ptr<const segment_map> m;
        if ((ec = map_segment(*fs_, cur.seg.map->slot, 0, m))) return read_step::stop;
        cur.seg.map = std::move(m);
        cur.seg.end = cur.seg.map->bytes().size();
        return read_step::again;
    }
    listed_segment next;
    if (!probe_next_segment(cur, next)) {
        // The end of the log, for now. Now and then, check that the file is still the one we
        // read (see verify_current_file).
        const auto t = std::chrono::steady_clock::now();
        if (!verified_ && t - last_verify_ >= poll_interval_) {
            last_verify_ = t;
            verified_ = true;
            bool switched = false;
            if ((ec = verify_current_file(cur, switched))) return read_step::stop;
            if (switched) return read_step::again;
        }
        ec = errc::end_of_log;
        return read_step::stop;
    }
    if (next.id != cur.seg.id + 1) {
        // Segments are missing after ours: deleted (oldest first, after the one we hold
        // mapped) before this reader reached them.
        cur.sticky = errc::not_found;
        return read_step::again;
    }
    if (next.base_lsn == cur.expected) {  // this segment is finished
        cur.leave_segment();
        return read_step::again;
    }
    if (next.base_lsn > cur.expected) {
        // The segment ends before the LSN the next one starts at: damage (a salvaged log),
        // stepped over to the next record that decodes, in this segment or the next.
        record_walker w(cur.seg.map->bytes(), cur.seg.id, decode_limit());
        record_view found;
        if (w.find_in_range(cur.offset + record_alignment, cur.expected, next.base_lsn - 1, found)) {
            cur.offset = w.offset();
            cur.expected = found.lsn;
        } else {
            cur.expected = next.base_lsn;
            cur.leave_segment();
        }
        return read_step::again;
    }
    // The next segment starts below what we expect: the log was cut and rewritten.
    cur.sticky = errc::truncated;
    return read_step::again;
}

std::error_code directory_source::seek_to(cursor_state& cur, lsn_t lsn, bool to_end) {
    cursor_state saved = cur;
    if (auto ec = list_directory()) return ec;
    cur.sticky.clear();
    cur.leave_segment();
    cur.last_offset = 0;
    cur.at_start = lsn == 0 && !to_end;
    if (segments_.empty()) {
        cur.expected = 0;  // the first segment to appear says where the log starts
        cur.last = 0;
        return {};
    }
    if (cur.at_start) {
        cur.expect(segments_.front().base_lsn);
        return {};
    }
    if (to_end) {
        // Walk the last segment to the end of its records.
        const listed_segment last = segments_.back();
        std::shared_ptr<const segment_map> m;
        if (auto ec = map_file(last.id, m)) {
            cur = std::move(saved);
            return ec;
        }
        std::uint64_t off = segment_header_size;
        const lsn_t end_lsn = walk_headers(m->bytes(), last.id, decode_limit(), off, last.base_lsn,
                                           std::numeric_limits<lsn_t>::max(), false, nullptr);
        const std::uint64_t size = m->bytes().size();
        cur.place({std::move(m), last.id, 0, size, false, 0}, off, end_lsn);
        return {};
    }
    if (lsn < segments_.front().base_lsn) {
        cur = std::move(saved);
        return errc::not_found;
    }
    cur.expect(lsn);
    if (auto ec = enter_segment(cur)) {
        cur = std::move(saved);
        return ec;
    }
    if (cur.expected != lsn) {  // beyond the end
        cur = std::move(saved);
        return errc::invalid_argument;
    }
    return {};
}

std::error_code directory_source::seek(cursor_state& cur, const position& p) {
    std::shared_ptr<const segment_map> m;
    if (auto ec = map_file(p.segment_id, m))
        return ec == std::errc::no_such_file_or_directory ? make_error_code(errc::not_found) : ec;
    record_view rv;
    if (!decode_at(m->bytes(), p.segment_id, decode_limit(), p.offset, p.lsn, rv)) return errc::not_found;
    const std::uint64_t size = m->bytes().size();
    cur.place({std::move(m), p.segment_id, 0, size, false, 0}, p.offset, p.lsn);
    return {};
}

std::error_code directory_source::map_for_read_at(const position& p, std::shared_ptr<const segment_map>& out,
                                                  std::uint64_t& end) {
    if (auto ec = map_file(p.segment_id, out))
        return ec == std::errc::no_such_file_or_directory ? make_error_code(errc::not_found) : ec;
    end = out->bytes().size();
    return {};
}

}  // namespace noriwal::detail
