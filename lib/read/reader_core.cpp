// A reader's cursor over a wal's registry or a log directory. See reader_core.hpp; the rules
// readers promise are in include/noriwal/reader.hpp and doc/readers.md.
#include "read/reader_core.hpp"

#include <noriwal/error.hpp>
#include <noriwal/file_system.hpp>

#include "read/segment_walk.hpp"

#include <algorithm>
#include <limits>
#include <thread>

namespace noriwal::detail {
namespace {

std::uint64_t system_now_ns() noexcept {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

bool is_expired(const record_view& rv, std::uint64_t now_ns) noexcept {
    return rv.expiry_ns != 0 && rv.expiry_ns <= now_ns;
}

// How far record headers are walked from a segment's start or an LSN sample: to `target`, or
// to the end of the records. Returns the LSN found at `off` (target if it was found; otherwise
// the LSN the next record would have, with `off` where it would start). `resync`: step over
// bytes that do not decode (damage that skip_corrupted left, only where the segment is known
// to continue after it).
lsn_t walk_headers(std::span<const std::byte> bytes, std::uint64_t id, std::uint32_t limit,
                   std::uint64_t& off, lsn_t cur, lsn_t target, bool resync, segment_slot* samples) {
    std::uint64_t last_sample = off;
    record_walker w(bytes, id, limit, off);
    while (cur < target && !w.at_end()) {
        record_view rv;
        const auto st = w.decode_header(rv);
        if (st != decode_status::ok || rv.lsn < cur || rv.lsn > target) {
            // `off` stays at the record that did not decode.
            if (!resync || !w.find_in_range(off + record_alignment, cur, target, rv)) return cur;
        }
        off = w.offset();
        if (rv.lsn == target) return target;
        if (samples != nullptr && off >= last_sample + segment_slot::sample_every) {
            samples->add_sample(rv.lsn, off);
            last_sample = off;
        }
        cur = rv.lsn + 1;
        w.advance(rv);
        off = w.offset();
    }
    return cur;
}

}  // namespace

reader_core::cursor_state reader_core::save() const { return cur_; }

void reader_core::restore(cursor_state s) { cur_ = std::move(s); }

void reader_core::drop_segment() noexcept {
    cur_.map.reset();
    cur_.seg_sealed = false;
    cur_.seg_end = 0;
}

reader_core::reader_core(reader_options opts, boost::asio::any_io_executor ex)
    : opts_(std::move(opts)), ex_(std::move(ex)) {}

reader_core::reader_core(std::shared_ptr<segment_registry> registry, reader_options opts,
                         boost::asio::any_io_executor ex)
    : reader_core(std::move(opts), std::move(ex)) {
    registry_ = std::move(registry);
    const registry_snapshot s = registry_->snapshot();
    epoch_ = s.epoch;
    (void)seek_start();  // lazy: cannot fail
}

reader_core::~reader_core() = default;

std::uint32_t reader_core::decode_limit() const noexcept {
    // A wal reader decodes with the format's limit, as recovery does: a record its writer
    // accepted stays readable after max_record_size is lowered. Lengths are still checked
    // against the bytes of the segment, and nothing is allocated from them.
    if (registry_ || opts_.max_record_size == 0) return std::numeric_limits<std::uint32_t>::max();
    return opts_.max_record_size;
}

entry reader_core::make_entry(const record_view& rv, const std::shared_ptr<const segment_map>& map,
                              std::uint64_t segment_id, std::uint64_t offset,
                              std::shared_ptr<value_buffer>& buf, std::error_code& ec) {
    entry e;
    const position p{segment_id, offset, rv.lsn};
    if (rv.compression() == compression::none) {
        entry_access::set(e, p, rv, rv.stored_value, map);
        return e;
    }
    // The buffer is reused while no entry holds it (the usual loop drops each entry before
    // asking for the next); otherwise the held one is left to its entries.
    if (!buf || buf.use_count() > 1) buf = std::make_shared<value_buffer>();
    buf->map = map;
    if (decompress_value(rv, buf->bytes)) {
        ec = errc::corrupted;
        return {};
    }
    entry_access::set(e, p, rv, buf->bytes, buf);
    return e;
}

bool reader_core::pass_record(const record_view& rv, std::uint64_t now_ns) noexcept {
    cur_.last_offset = cur_.offset;
    cur_.offset += rv.size;
    cur_.last = rv.lsn;
    cur_.expected = rv.lsn + 1;
    cur_.at_start = false;
    return !(opts_.skip_expired && is_expired(rv, now_ns));
}

position reader_core::tell() const noexcept {
    if (!cur_.offset_known) return {0, 0, cur_.expected};
    return {cur_.seg_id, cur_.offset, cur_.expected};
}

std::optional<entry> reader_core::try_next(std::error_code& ec) {
    ec.clear();
    return registry_ ? try_next_wal(ec) : try_next_dir(ec);
}

std::optional<entry> reader_core::next(std::error_code& ec) {
    for (;;) {
        auto e = try_next(ec);
        if (e || ec != errc::end_of_log) return e;
        if (registry_) {
            registry_->wait_change(version_);
        } else {
            std::this_thread::sleep_for(opts_.poll_interval);
        }
    }
}

std::error_code reader_core::seek_start() { return registry_ ? seek_wal_edge(false) : seek_dir(0, false); }

std::error_code reader_core::seek_end() { return registry_ ? seek_wal_edge(true) : seek_dir(0, true); }

std::error_code reader_core::seek(lsn_t lsn) {
    if (lsn == 0) return errc::invalid_argument;
    return registry_ ? seek_wal(lsn) : seek_dir(lsn, false);
}

// ------------------------------------------------------------------------ wal readers

bool reader_core::view_is_stale() const noexcept { return registry_->epoch() != epoch_; }

lsn_t reader_core::visible(const registry_snapshot& s) const noexcept {
    return opts_.visible == visibility::durable ? s.durable : s.written;
}

void reader_core::refresh_snapshot() {
    const registry_snapshot s = registry_->snapshot();
    version_ = s.version;
    closed_ = s.closed;
    has_skipped_ = s.has_skipped;
    first_ = s.first;
    if (s.epoch != epoch_) {
        epoch_ = s.epoch;
        if (!cur_.at_start && cur_.last > s.truncated_to && !cur_.sticky) {
            cur_.sticky = errc::truncated;
        } else if (cur_.map && !registry_->current(cur_.seg_id, cur_.seg_generation).slot &&
                   (registry_->current_generation(cur_.seg_id) != 0 ||
                    cur_.map->slot->base_lsn > s.truncated_to)) {
            // truncate_after replaced our segment's file by a copy of its prefix (the offset
            // stays valid: the prefix is the same bytes; the mapping does not), or removed
            // the segment we were about to start. A segment merely deleted by garbage
            // collection stays readable through our mapping.
            drop_segment();
        }
    }
    if (cur_.at_start && cur_.expected != first_) {
        // Nothing returned since seek_start: follow the start of the log (deletion moves it).
        drop_segment();
        cur_.offset_known = false;
        cur_.expected = first_;
        cur_.last = first_ - 1;
    }
    limit_ = visible(s);
    written_ = s.written;
}

// Locates the segment that holds cur_.expected (<= limit_), maps it and finds the offset.
std::error_code reader_core::enter_segment() {
    for (int attempt = 0; attempt < 8; ++attempt) {
        if (has_skipped_ && registry_->is_skipped(cur_.expected))
            cur_.expected = registry_->next_present_lsn(cur_.expected);
        const segment_location loc = registry_->locate(cur_.expected);
        if (!loc.slot || cur_.expected < first_) {
            cur_.sticky = errc::not_found;  // deleted before this reader mapped it
            return cur_.sticky;
        }
        std::shared_ptr<const segment_map> m;
        const std::error_code ec = registry_->open_map(loc.slot, m);
        if (ec == errc::not_found) {
            // Retired between locate and open (deleted, or replaced by truncate_after): the
            // registry already says what replaced it.
            refresh_snapshot();
            if (cur_.sticky) return cur_.sticky;
            continue;
        }
        if (ec) return ec;
        const bool same_place = cur_.offset_known && cur_.seg_id == loc.slot->id;
        cur_.map = std::move(m);
        cur_.seg_id = loc.slot->id;
        cur_.seg_generation = loc.slot->generation;
        cur_.seg_end = std::min<std::uint64_t>(loc.end, cur_.map->bytes().size());
        cur_.seg_sealed = loc.sealed;
        cur_.seg_next_base = loc.next_base;
        if (!same_place) {
            cur_.last_offset = 0;
            cur_.offset = segment_header_size;
            if (cur_.expected != loc.slot->base_lsn) {
                const lsn_t at = walk_headers(cur_.map->bytes().first(cur_.seg_end), cur_.seg_id,
                                              decode_limit(), cur_.offset, loc.slot->base_lsn, cur_.expected,
                                              has_skipped_, loc.slot.get());
                if (at != cur_.expected) {
                    drop_segment();
                    return errc::corrupted;  // the log says the record is there, the bytes do not
                }
                if (auto s = loc.slot->sample_at_or_before(cur_.expected); !s || s->lsn + 64 < cur_.expected)
                    loc.slot->add_sample(cur_.expected, cur_.offset);
            }
            cur_.offset_known = true;
        }
        return {};
    }
    return errc::not_found;
}

std::optional<entry> reader_core::try_next_wal(std::error_code& ec) {
    for (;;) {
        auto e = try_next_in_view(ec);
        // Damage must come from one consistent view of the log: a truncate_after during the
        // call may have left the watermark read before it covering records that the segments
        // found after it no longer have. The next attempt starts from a new snapshot; each one
        // takes in at least one more truncation.
        if (ec != errc::corrupted || !view_is_stale()) return e;
    }
}

std::optional<entry> reader_core::try_next_in_view(std::error_code& ec) {
    const std::uint64_t now = opts_.skip_expired ? system_now_ns() : 0;
    if (registry_->epoch() != epoch_) refresh_snapshot();
    // Each pass either returns or moves the cursor; the bound only guards against a registry
    // that contradicts the bytes forever.
    for (int pass = 0; pass < 1'000'000; ++pass) {
        if (cur_.sticky) {
            ec = cur_.sticky;
            return std::nullopt;
        }
        if (cur_.expected > limit_) {
            refresh_snapshot();
            if (cur_.sticky) continue;
            if (cur_.expected > limit_) {
                ec = closed_ ? errc::closed : errc::end_of_log;
                return std::nullopt;
            }
        }
        if (!cur_.map) {
            if (auto e = enter_segment()) {
                ec = e;
                return std::nullopt;
            }
            // enter_segment takes a new snapshot when the slot it found was retired meanwhile
            // (truncate_after replaced the file): the watermark may now be below cur_.expected, and
            // the new file may end where we stand. Look at the watermark again.
            if (cur_.expected > limit_) continue;
        }
        if (cur_.offset >= cur_.seg_end) {
            // The end of what we knew of this segment: it may have grown, or been sealed.
            const segment_location loc = registry_->current(cur_.seg_id, cur_.seg_generation);
            if (!loc.slot) {  // replaced or deleted: the snapshot says how
                drop_segment();
                refresh_snapshot();
                if (!cur_.sticky && cur_.expected <= limit_ && first_ > cur_.expected)
                    cur_.sticky = errc::not_found;
                continue;
            }
            cur_.seg_end = std::min<std::uint64_t>(loc.end, cur_.map->bytes().size());
            cur_.seg_sealed = loc.sealed;
            cur_.seg_next_base = loc.next_base;
            if (cur_.offset >= cur_.seg_end) {
                if (!cur_.seg_sealed) {
                    ec = errc::corrupted;  // the watermark covers cur_.expected, the active segment ends
                                           // before it
                    return std::nullopt;
                }
                // On to the next segment. LSNs missing at the end of this one can only be
                // ranges that skip_corrupted recovery removed.
                if (cur_.expected < cur_.seg_next_base) {
                    if (!has_skipped_ || !registry_->is_skipped(cur_.expected)) {
                        ec = errc::corrupted;
                        return std::nullopt;
                    }
                    cur_.expected = cur_.seg_next_base;
                }
                drop_segment();
                cur_.offset_known = false;
                continue;
            }
        }

        record_view rv;
        const auto st =
            record_walker(cur_.map->bytes().first(cur_.seg_end), cur_.seg_id, decode_limit(), cur_.offset)
                .decode(rv);
        if (st == decode_status::ok && rv.lsn == cur_.expected) {
            const std::uint64_t at = cur_.offset;
            if (!pass_record(rv, now)) continue;
            entry e = make_entry(rv, cur_.map, cur_.seg_id, at, buf_, ec);
            if (ec) return std::nullopt;
            return e;
        }
        // Not the record expected: only acceptable where skip_corrupted recovery left a range
        // of missing LSNs (damaged bytes, or a record with a later LSN right here).
        if (has_skipped_ && registry_->is_skipped(cur_.expected)) {
            const lsn_t want = registry_->next_present_lsn(cur_.expected);
            if (st == decode_status::ok && rv.lsn == want) {
                cur_.expected = want;
                continue;
            }
            if (want > limit_) {  // the range reaches the end of what is visible
                cur_.expected = want;
                continue;
            }
            const std::uint64_t found =
                find_record_in_range(cur_.map->bytes().first(cur_.seg_end), cur_.seg_id, decode_limit(),
                                     cur_.offset + record_alignment, want, want, rv);
            cur_.expected = want;
            if (found < cur_.seg_end) {
                cur_.offset = found;
            } else {
                drop_segment();  // it starts a later segment
                cur_.offset_known = false;
            }
            continue;
        }
        ec = errc::corrupted;
        return std::nullopt;
    }
    ec = errc::corrupted;
    return std::nullopt;
}

std::error_code reader_core::seek_wal_edge(bool to_end) {
    refresh_snapshot();
    cur_.sticky.clear();
    drop_segment();
    cur_.offset_known = false;
    cur_.at_start = !to_end;
    cur_.expected = to_end ? limit_ + 1 : first_;
    cur_.last = cur_.expected - 1;
    cur_.last_offset = 0;
    return {};
}

std::error_code reader_core::seek_wal(lsn_t lsn) {
    cursor_state saved = save();
    refresh_snapshot();
    cur_.sticky.clear();
    cur_.at_start = false;
    // Up to the written end, even for a durable reader: the records exist, it waits for them.
    if (lsn > written_ + 1) {
        restore(std::move(saved));
        return errc::invalid_argument;
    }
    if (lsn < first_) {
        restore(std::move(saved));
        return errc::not_found;
    }
    drop_segment();
    cur_.offset_known = false;
    cur_.last_offset = 0;
    cur_.expected = lsn;
    cur_.last = lsn - 1;
    if (cur_.expected <= limit_) {
        if (auto ec = enter_segment()) {
            restore(std::move(saved));
            return ec;
        }
    }
    return {};
}

std::error_code reader_core::seek(const position& p) {
    if (p.lsn == 0) return seek_start();
    if (!registry_) {
        cursor_state saved = save();
        std::shared_ptr<const segment_map> m;
        if (auto ec = map_dir_segment(p.segment_id, m))
            return ec == std::errc::no_such_file_or_directory ? make_error_code(errc::not_found) : ec;
        record_view rv;
        const auto bytes = m->bytes();
        if (!decode_at(bytes, p.segment_id, decode_limit(), p.offset, p.lsn, rv)) {
            restore(std::move(saved));
            return errc::not_found;
        }
        cur_.sticky.clear();
        cur_.at_start = false;
        cur_.map = std::move(m);
        cur_.seg_id = p.segment_id;
        cur_.seg_end = cur_.map->bytes().size();
        cur_.offset = p.offset;
        cur_.offset_known = true;
        cur_.expected = p.lsn;
        cur_.last = p.lsn - 1;
        cur_.last_offset = 0;
        return {};
    }
    refresh_snapshot();
    if (p.lsn == written_ + 1) return seek_wal(p.lsn);  // the end
    if (p.lsn < first_ || p.lsn > written_) return errc::not_found;
    const segment_location loc = registry_->locate(p.lsn);
    if (!loc.slot || loc.slot->id != p.segment_id) return errc::not_found;
    std::shared_ptr<const segment_map> m;
    if (auto ec = registry_->open_map(loc.slot, m)) return ec;
    const std::uint64_t end = std::min<std::uint64_t>(loc.end, m->bytes().size());
    record_view rv;
    if (!decode_at(m->bytes().first(end), p.segment_id, decode_limit(), p.offset, p.lsn, rv))
        return errc::not_found;
    cur_.sticky.clear();
    cur_.at_start = false;
    cur_.map = std::move(m);
    cur_.seg_id = loc.slot->id;
    cur_.seg_generation = loc.slot->generation;
    cur_.seg_end = end;
    cur_.seg_sealed = loc.sealed;
    cur_.seg_next_base = loc.next_base;
    cur_.offset = p.offset;
    cur_.offset_known = true;
    cur_.expected = p.lsn;
    cur_.last = p.lsn - 1;
    cur_.last_offset = 0;
    return {};
}

std::optional<entry> reader_core::read_at(const position& p, std::error_code& ec) {
    ec.clear();
    std::shared_ptr<const segment_map> m;
    std::uint64_t end = 0;
    if (registry_) {
        const registry_snapshot s = registry_->snapshot();
        if (p.lsn == 0 || p.lsn < s.first || p.lsn > visible(s)) {
            ec = errc::not_found;
            return std::nullopt;
        }
        const segment_location loc = registry_->locate(p.lsn);
        if (!loc.slot || loc.slot->id != p.segment_id) {
            ec = errc::not_found;
            return std::nullopt;
        }
        if ((ec = registry_->open_map(loc.slot, m))) return std::nullopt;
        end = std::min<std::uint64_t>(loc.end, m->bytes().size());
    } else {
        if ((ec = map_dir_segment(p.segment_id, m))) {
            if (ec == std::errc::no_such_file_or_directory) ec = errc::not_found;
            return std::nullopt;
        }
        end = m->bytes().size();
    }
    record_view rv;
    if (!decode_at(m->bytes().first(end), p.segment_id, decode_limit(), p.offset, p.lsn, rv)) {
        ec = errc::not_found;
        return std::nullopt;
    }
    entry e = make_entry(rv, m, p.segment_id, p.offset, at_buf_, ec);
    if (ec) return std::nullopt;
    return e;
}

bool reader_core::add_waiter(const std::shared_ptr<tail_waiter>& w) {
    const lsn_t need = has_skipped_ ? registry_->next_present_lsn(cur_.expected - 1) : cur_.expected;
    return registry_->add_waiter(w, version_, need, opts_.visible == visibility::durable);
}

bool reader_core::remove_waiter(const tail_waiter* w) { return registry_->remove_waiter(w); }

// ------------------------------------------------------------------------ directory readers

std::error_code reader_core::open_directory(const std::filesystem::path& dir, reader_options opts,
                                            boost::asio::any_io_executor ex,
                                            std::shared_ptr<reader_core>& out) {
    out.reset();
    std::shared_ptr<reader_core> core(new reader_core(std::move(opts), std::move(ex)));
    core->fs_ = core->opts_.fs ? core->opts_.fs : posix_file_system();
    core->dir_ = dir;
    bool is_dir = false;
    if (auto ec = core->fs_->is_directory(dir, is_dir); ec || !is_dir)
        return ec ? ec : make_error_code(errc::not_found);
    if (auto ec = core->seek_dir(0, false)) return ec;
    out = std::move(core);
    return {};
}

std::error_code reader_core::read_segment_header(std::uint64_t id, lsn_t& base) {
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

std::error_code reader_core::list_directory() {
    std::vector<std::string> names;
    if (auto ec = fs_->list(dir_, names)) return ec;
    std::vector<std::uint64_t> ids;
    for (const std::string& n : names) {
        std::uint64_t id = 0;
        if (parse_segment_file_name(n, id)) ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    std::vector<dir_segment> segs;
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
    dir_segments_ = std::move(segs);
    return {};
}

std::error_code reader_core::map_dir_segment(std::uint64_t id, std::shared_ptr<const segment_map>& out) {
    lsn_t base = 0;
    for (const dir_segment& s : dir_segments_)
        if (s.id == id) base = s.base_lsn;
    auto slot = std::make_shared<segment_slot>(id, 0, base, dir_ / segment_file_name(id));
    // Only the file's current size: past it a mapping must not be read (SIGBUS), and a
    // directory reader has no written end to stay below.
    return map_segment(*fs_, slot, 0, out);
}

bool reader_core::probe_next_segment(dir_segment& next) {
    for (const dir_segment& s : dir_segments_) {
        if (s.id > cur_.seg_id) {
            next = s;
            return true;
        }
    }
    // The usual case: the next segment id. A gap in ids needs a listing.
    lsn_t base = 0;
    std::error_code ec = read_segment_header(cur_.seg_id + 1, base);
    if (!ec) {
        dir_segments_.push_back({cur_.seg_id + 1, base});
        next = dir_segments_.back();
        return true;
    }
    if (ec == std::errc::no_such_file_or_directory && !list_directory()) {
        for (const dir_segment& s : dir_segments_) {
            if (s.id > cur_.seg_id) {
                next = s;
                return true;
            }
        }
    }
    return false;
}

// A writer that truncates its log replaces the file of the segment it cuts. Our mapping keeps
// the old file, so at the end of the log the current file is mapped again and the last record
// this reader returned from it must still be there, byte for byte: then the new mapping
// carries on (records appended after a truncation above us); otherwise the log was cut below
// what this reader returned.
std::error_code reader_core::verify_current_file(bool& switched) {
    switched = false;
    std::shared_ptr<const segment_map> fresh;
    std::error_code ec = map_dir_segment(cur_.seg_id, fresh);
    if (ec == std::errc::no_such_file_or_directory) {
        // Deleted by the writer's garbage collection (later segments remain: our mapping
        // stays valid), or cut away by a truncation below it.
        if (auto lec = list_directory()) return lec;
        if (!dir_segments_.empty() && dir_segments_.back().id > cur_.seg_id) return {};
        cur_.sticky = errc::truncated;
        return cur_.sticky;
    }
    if (ec) return ec;
    const auto old_bytes = cur_.map->bytes();
    const auto new_bytes = fresh->bytes();
    const std::uint64_t from = cur_.last_offset >= segment_header_size ? cur_.last_offset : 0;
    const std::uint64_t len =
        cur_.last_offset >= segment_header_size ? record_header_size : segment_header_size;
    if (new_bytes.size() < from + len || old_bytes.size() < from + len ||
        !std::equal(old_bytes.begin() + from, old_bytes.begin() + from + len, new_bytes.begin() + from)) {
        cur_.sticky = errc::truncated;
        return cur_.sticky;
    }
    if (new_bytes.size() >= cur_.offset) {
        cur_.map = std::move(fresh);
        cur_.seg_end = cur_.map->bytes().size();
        switched = true;
    }
    return {};
}

std::error_code reader_core::enter_segment_dir() {
    for (int attempt = 0; attempt < 4; ++attempt) {
        if (dir_segments_.empty() || (cur_.at_start && cur_.expected < dir_segments_.front().base_lsn)) {
            if (auto ec = list_directory()) return ec;
        }
        if (dir_segments_.empty()) return errc::end_of_log;  // no segment yet
        if (cur_.expected == 0 || (cur_.at_start && cur_.expected < dir_segments_.front().base_lsn)) {
            cur_.expected = dir_segments_.front().base_lsn;
            cur_.last = cur_.expected - 1;
        }
        std::size_t i = dir_segments_.size();
        while (i > 0 && dir_segments_[i - 1].base_lsn > cur_.expected) --i;
        if (i == 0) {
            cur_.sticky = errc::not_found;  // deleted before this reader reached it
            return cur_.sticky;
        }
        const dir_segment seg = dir_segments_[i - 1];
        std::shared_ptr<const segment_map> m;
        const std::error_code ec = map_dir_segment(seg.id, m);
        if (ec == std::errc::no_such_file_or_directory) {  // removed since the listing
            if (auto lec = list_directory()) return lec;
            continue;
        }
        if (ec) return ec;
        const bool same_place = cur_.offset_known && cur_.seg_id == seg.id;
        cur_.map = std::move(m);
        cur_.seg_id = seg.id;
        cur_.seg_end = cur_.map->bytes().size();
        cur_.seg_sealed = i < dir_segments_.size();
        cur_.seg_next_base = cur_.seg_sealed ? dir_segments_[i].base_lsn : 0;
        if (!same_place) {
            cur_.last_offset = 0;
            cur_.offset = segment_header_size;
            cur_.offset_known = true;
            if (cur_.expected != seg.base_lsn) {
                const lsn_t at = walk_headers(cur_.map->bytes(), cur_.seg_id, decode_limit(), cur_.offset,
                                              seg.base_lsn, cur_.expected, cur_.seg_sealed, nullptr);
                if (at != cur_.expected) {
                    // Not (yet) in this segment: the reader waits at the end of its records.
                    cur_.expected = at;
                    cur_.last = at - 1;
                }
            }
        }
        return {};
    }
    return errc::not_found;
}

std::optional<entry> reader_core::try_next_dir(std::error_code& ec) {
    const std::uint64_t now = opts_.skip_expired ? system_now_ns() : 0;
    bool verified = false;  // at most once per call
    // Now and then (every poll_interval, looked at every 64 calls), and at the end of the
    // records, check that the file we read is still the segment's file (verify_current_file).
    if (cur_.map && (opts_.poll_interval.count() == 0 || ++calls_since_verify_ >= 64)) {
        calls_since_verify_ = 0;
        const auto t = std::chrono::steady_clock::now();
        if (t - last_verify_ >= opts_.poll_interval) {
            last_verify_ = t;
            verified = true;
            bool switched = false;
            if (auto e = verify_current_file(switched)) {
                ec = e;
                return std::nullopt;
            }
        }
    }
    for (int pass = 0; pass < 1'000'000; ++pass) {
        if (cur_.sticky) {
            ec = cur_.sticky;
            return std::nullopt;
        }
        if (!cur_.map) {
            if (auto e = enter_segment_dir()) {
                ec = e;
                return std::nullopt;
            }
        }
        const auto bytes = cur_.map->bytes();
        record_view rv;
        const decode_status st =
            cur_.offset < bytes.size()
                ? record_walker(bytes, cur_.seg_id, decode_limit(), cur_.offset).decode(rv)
                : decode_status::short_header;
        if (st == decode_status::ok && rv.lsn == cur_.expected) {
            const std::uint64_t at = cur_.offset;
            if (!pass_record(rv, now)) continue;
            entry e = make_entry(rv, cur_.map, cur_.seg_id, at, buf_, ec);
            if (ec) return std::nullopt;
            return e;
        }
        // No record with the expected LSN here. A file that grows (preallocation::none) may
        // hold it past our mapping.
        std::uint64_t size = 0;
        if (!cur_.map->f->size(size) && size > bytes.size()) {
            std::shared_ptr<const segment_map> m;
            if (auto e = map_segment(*fs_, cur_.map->slot, 0, m)) {
                ec = e;
                return std::nullopt;
            }
            cur_.map = std::move(m);
            cur_.seg_end = cur_.map->bytes().size();
            continue;
        }
        dir_segment next;
        if (!probe_next_segment(next)) {
            // The end of the log, for now. Now and then, check that the file is still the one
            // we read (see verify_current_file).
            const auto t = std::chrono::steady_clock::now();
            if (!verified && t - last_verify_ >= opts_.poll_interval) {
                last_verify_ = t;
                verified = true;
                bool switched = false;
                if (auto e = verify_current_file(switched)) {
                    ec = e;
                    return std::nullopt;
                }
                if (switched) continue;
            }
            ec = errc::end_of_log;
            return std::nullopt;
        }
        if (next.id != cur_.seg_id + 1) {
            // Segments are missing after ours: deleted (oldest first, after the one we hold
            // mapped) before this reader reached them.
            cur_.sticky = errc::not_found;
            continue;
        }
        if (next.base_lsn == cur_.expected) {  // this segment is finished
            drop_segment();
            cur_.offset_known = false;
            continue;
        }
        if (next.base_lsn > cur_.expected) {
            // The segment ends before the LSN the next one starts at: damage (a salvaged log),
            // stepped over to the next record that decodes, in this segment or the next.
            const std::uint64_t found =
                find_record_in_range(bytes, cur_.seg_id, decode_limit(), cur_.offset + record_alignment,
                                     cur_.expected, next.base_lsn - 1, rv);
            if (found < bytes.size()) {
                cur_.offset = found;
                cur_.expected = rv.lsn;
            } else {
                cur_.expected = next.base_lsn;
                drop_segment();
                cur_.offset_known = false;
            }
            continue;
        }
        // The next segment starts below what we expect: the log was cut and rewritten.
        cur_.sticky = errc::truncated;
    }
    ec = errc::corrupted;
    return std::nullopt;
}

std::error_code reader_core::seek_dir(lsn_t lsn, bool to_end) {
    cursor_state saved = save();
    if (auto ec = list_directory()) return ec;
    cur_.sticky.clear();
    drop_segment();
    cur_.offset_known = false;
    cur_.last_offset = 0;
    cur_.at_start = lsn == 0 && !to_end;
    if (dir_segments_.empty()) {
        cur_.expected = 0;  // the first segment to appear says where the log starts
        cur_.last = 0;
        return {};
    }
    if (cur_.at_start) {
        cur_.expected = dir_segments_.front().base_lsn;
        cur_.last = cur_.expected - 1;
        return {};
    }
    if (to_end) {
        // Walk the last segment to the end of its records.
        cur_.expected = dir_segments_.back().base_lsn;
        std::shared_ptr<const segment_map> m;
        if (auto ec = map_dir_segment(dir_segments_.back().id, m)) {
            restore(std::move(saved));
            return ec;
        }
        cur_.offset = segment_header_size;
        cur_.expected = walk_headers(m->bytes(), dir_segments_.back().id, decode_limit(), cur_.offset,
                                     cur_.expected, std::numeric_limits<lsn_t>::max(), false, nullptr);
        cur_.last = cur_.expected - 1;
        cur_.map = std::move(m);
        cur_.seg_id = dir_segments_.back().id;
        cur_.seg_end = cur_.map->bytes().size();
        cur_.offset_known = true;
        return {};
    }
    if (lsn < dir_segments_.front().base_lsn) {
        restore(std::move(saved));
        return errc::not_found;
    }
    cur_.expected = lsn;
    cur_.last = lsn - 1;
    if (auto ec = enter_segment_dir()) {
        restore(std::move(saved));
        return ec;
    }
    if (cur_.expected != lsn) {  // beyond the end
        restore(std::move(saved));
        return errc::invalid_argument;
    }
    return {};
}

}  // namespace noriwal::detail
