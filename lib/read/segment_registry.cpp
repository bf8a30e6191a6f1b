// The segment registry. The roles and the locking rules are in segment_registry.hpp.
#include "read/segment_registry.hpp"

#include <noriwal/error.hpp>

#include "format/little_endian.hpp"
#include "format/record_walk.hpp"

#include <algorithm>

namespace noriwal::detail {

// ------------------------------------------------------------------------ slots and mappings

void segment_slot::add_sample(lsn_t lsn, std::uint64_t offset) {
    std::lock_guard lk(m);
    auto it = std::upper_bound(samples.begin(), samples.end(), lsn,
                               [](lsn_t l, const sample& s) { return l < s.lsn; });
    if (it != samples.begin() && std::prev(it)->offset + sample_every > offset) return;  // one is close
    if (it != samples.end() && it->offset < offset + sample_every / 2) return;
    samples.insert(it, sample{lsn, offset});
}

std::optional<segment_slot::sample> segment_slot::sample_at_or_before(lsn_t lsn) const {
    std::lock_guard lk(m);
    auto it = std::upper_bound(samples.begin(), samples.end(), lsn,
                               [](lsn_t l, const sample& s) { return l < s.lsn; });
    if (it == samples.begin()) return std::nullopt;
    return *std::prev(it);
}

std::error_code map_segment(file_system& fs, const std::shared_ptr<segment_slot>& slot,
                            std::uint64_t min_length, std::shared_ptr<const segment_map>& out) {
    auto m = std::make_shared<segment_map>();
    m->slot = slot;
    std::unique_ptr<file> f;
    if (auto ec = fs.open(slot->path, open_mode::read_only, f)) return ec;
    std::uint64_t size = 0;
    if (auto ec = f->size(size)) return ec;
    m->f = std::move(f);
    if (auto ec = m->map(std::max(size, min_length))) return ec;
    out = std::move(m);
    return {};
}

std::error_code segment_map::map(std::uint64_t length) {
    if (auto ec = f->map(length, region)) return ec;
    mapped = region->bytes();
    return {};
}

// ------------------------------------------------------------------------ registry

segment_registry::segment_registry(const wal_config& cfg, std::shared_ptr<file_system> fs)
    : cfg_(cfg), fs_(std::move(fs)) {
    cfg_.metrics.reset();  // the registry reports nothing; do not keep the wal's meter alive
}

void segment_registry::take_watermarks(const segment_log& log, bool advance) {
    lsn_t written = log.written_lsn();
    lsn_t durable = log.durable_lsn();
    if (!advance) {
        written = std::min(written, written_.load(std::memory_order_relaxed));
        durable = std::min(durable, durable_.load(std::memory_order_relaxed));
    }
    written_.store(written, std::memory_order_release);
    durable_.store(durable, std::memory_order_release);
    first_ = log.first_lsn();
    const position next = log.next_position();
    next_lsn_ = next.lsn;
    if (!segments_.empty() && segments_.back().slot->id == next.segment_id)
        segments_.back().end = next.offset;
}

// Makes segments_ the engine's segments. Slots of segments that are gone are retired; the
// last segment gets a new slot (generation) when `replace_last` (truncate_after replaced its
// file); new segments get new slots.
void segment_registry::take_segments(const segment_log& log, bool replace_last) {
    const std::vector<segment_info> infos = log.segments();
    std::vector<segment_desc> next;
    next.reserve(infos.size());
    std::size_t j = 0;  // walks segments_ (both sorted by id)
    for (std::size_t i = 0; i < infos.size(); ++i) {
        const segment_info& s = infos[i];
        while (j < segments_.size() && segments_[j].slot->id < s.id) {
            segments_[j].slot->retired.store(true, std::memory_order_release);
            ++j;
        }
        const bool known = j < segments_.size() && segments_[j].slot->id == s.id;
        // truncate_after keeps a prefix of its last segment in a new file: a new generation.
        const bool replaced = replace_last && i + 1 == infos.size();
        segment_desc d;
        if (known && !replaced) {
            d.slot = segments_[j].slot;
        } else {
            if (known) segments_[j].slot->retired.store(true, std::memory_order_release);
            d.slot = std::make_shared<segment_slot>(s.id, ++generation_, s.base_lsn, s.path);
        }
        if (known) ++j;
        d.end = s.written_bytes;
        d.last_lsn = s.last_lsn;
        d.records = s.records;
        next.push_back(std::move(d));
    }
    for (; j < segments_.size(); ++j) segments_[j].slot->retired.store(true, std::memory_order_release);
    segments_ = std::move(next);
    const auto& sk = log.skipped();
    skipped_.assign(sk.begin(), sk.end());
}

std::error_code segment_registry::load(const segment_log& log) {
    {
        std::lock_guard lk(mutex_);
        take_segments(log, false);
        take_watermarks(log);
        ++version_;
    }
    if (!cfg_.index_keys) return {};
    std::unique_lock ilk(index_mutex_);
    index_.clear();
    std::vector<segment_desc> segs;
    {
        std::lock_guard lk(mutex_);
        segs = segments_;
    }
    for (const segment_desc& d : segs) {
        if (d.records == 0) continue;
        std::shared_ptr<const segment_map> m;
        if (auto ec = map_segment(*fs_, d.slot, d.end, m)) return ec;
        index_segment(d, m->bytes().first(std::min<std::uint64_t>(d.end, m->bytes().size())));
    }
    return {};
}

// Adds the records of one segment to the key index (and LSN samples to its slot). Recovery
// has checked every record already, so the headers' CRCs are enough here; ranges that
// skip_corrupted left damaged are stepped over.
void segment_registry::index_segment(const segment_desc& d, std::span<const std::byte> bytes) {
    record_walker w(bytes, d.slot->id);
    lsn_t expected = d.slot->base_lsn;
    std::uint64_t last_sample = 0;
    while (!w.at_end() && expected <= d.last_lsn) {
        record_view rv;
        if (w.decode_header(rv) != decode_status::ok || rv.lsn != expected) {
            if (!w.find_in_range(w.offset() + record_alignment, expected, d.last_lsn, rv)) break;
        }
        const std::uint64_t off = w.offset();
        index_.add(record_header_fields(bytes.data() + off).key(), rv.lsn, off, rv.tombstone());
        if (last_sample == 0 || off >= last_sample + segment_slot::sample_every) {
            d.slot->add_sample(rv.lsn, off);
            last_sample = off;
        }
        expected = rv.lsn + 1;
        w.advance(rv);
    }
}

void segment_registry::on_appended(const segment_log& log, std::span<const append_request> group,
                                   std::span<const std::error_code> results) {
    std::shared_ptr<segment_slot> active;
    {
        std::lock_guard lk(mutex_);
        // A rotation inside the group: learn the new segments now, their records follow.
        if (segments_.empty() || segments_.back().slot->id != log.next_position().segment_id) {
            take_segments(log, false);
            ++version_;
        }
    }
    std::unique_lock<std::shared_mutex> ilk;
    if (cfg_.index_keys) ilk = std::unique_lock(index_mutex_);
    std::shared_ptr<segment_slot> slot;
    for (std::size_t i = 0; i < group.size(); ++i) {
        if (results[i] || group[i].positions == nullptr) continue;
        const append_request& req = group[i];
        for (std::size_t j = 0; j < req.records.size(); ++j) {
            const position& p = req.positions[j];
            last_appended_ = std::max(last_appended_, p.lsn);
            const std::byte* h = req.records[j]->bytes.data();
            if (cfg_.index_keys) {
                const record_header_fields f(h);
                index_.add(f.key(), p.lsn, p.offset, f.tombstone());
            }
            if (p.offset >= sample_end_ || p.segment_id != sample_segment_) {
                if (!slot || slot->id != p.segment_id) {
                    std::lock_guard lk(mutex_);
                    slot.reset();
                    for (auto it = segments_.rbegin(); it != segments_.rend(); ++it)
                        if (it->slot->id == p.segment_id) {
                            slot = it->slot;
                            break;
                        }
                }
                if (slot) slot->add_sample(p.lsn, p.offset);
                sample_segment_ = p.segment_id;
                sample_end_ = p.offset + segment_slot::sample_every;
            }
        }
    }
}

void segment_registry::collect_wakeable(std::vector<std::shared_ptr<tail_waiter>>& out, bool all) {
    const lsn_t w = written_.load(std::memory_order_relaxed);
    const lsn_t d = durable_.load(std::memory_order_relaxed);
    std::size_t keep = 0;
    for (std::size_t i = 0; i < waiters_.size(); ++i) {
        waiter_entry& e = waiters_[i];
        if (all || e.need <= (e.durable ? d : w)) {
            out.push_back(std::move(e.w));
        } else {
            if (keep != i) waiters_[keep] = std::move(e);
            ++keep;
        }
    }
    waiters_.resize(keep);
}

void segment_registry::wake(std::vector<std::shared_ptr<tail_waiter>>& ws) {
    for (auto& w : ws) w->wake();
    ws.clear();
}

void segment_registry::refresh(const segment_log& log) {
    std::vector<std::shared_ptr<tail_waiter>> ready;
    {
        std::lock_guard lk(mutex_);
        const lsn_t w = written_.load(std::memory_order_relaxed);
        const lsn_t d = durable_.load(std::memory_order_relaxed);
        const std::uint64_t end = segments_.empty() ? 0 : segments_.back().end;
        bool changed = false;
        if (segments_.empty() || segments_.back().slot->id != log.next_position().segment_id) {
            take_segments(log, false);
            changed = true;
        }
        take_watermarks(log);
        changed = changed || w != log.written_lsn() || d != log.durable_lsn() ||
                  (!segments_.empty() && segments_.back().end != end);
        if (!changed) return;
        ++version_;
        if (!waiters_.empty()) collect_wakeable(ready, false);
        if (blocked_ > 0) changed_.notify_all();
    }
    wake(ready);
}

void segment_registry::on_segments_changed(const segment_log& log) {
    std::vector<std::shared_ptr<tail_waiter>> ready;
    {
        std::lock_guard lk(mutex_);
        take_segments(log, false);
        // Deletion moves no watermark; the engine's may be ahead of what the wal published
        // when a group was written earlier in this step. Readers wait for refresh().
        take_watermarks(log, false);
        ++version_;
        collect_wakeable(ready, true);
        if (blocked_ > 0) changed_.notify_all();
    }
    if (cfg_.index_keys) {
        std::unique_lock ilk(index_mutex_);
        index_.trim_before(log.first_lsn());
    }
    wake(ready);
}

void segment_registry::on_truncated(const segment_log& log, lsn_t lsn) {
    std::vector<std::shared_ptr<tail_waiter>> ready;
    {
        std::lock_guard lk(mutex_);
        // truncate_after(lsn) with lsn >= written is a no-op for the engine: nothing replaced.
        const bool real = lsn < std::max(written_.load(std::memory_order_relaxed), last_appended_);
        take_segments(log, real);
        // Down to the truncation point at once; up (everything to `lsn` is durable now) only
        // with refresh(), after the wal published its own watermarks.
        take_watermarks(log, false);
        if (real) {
            ++epoch_;
            epoch_atomic_.store(epoch_, std::memory_order_release);
            truncated_to_ = lsn;
        }
        ++version_;
        collect_wakeable(ready, true);
        if (blocked_ > 0) changed_.notify_all();
    }
    if (cfg_.index_keys) {
        std::unique_lock ilk(index_mutex_);
        index_.trim_after(lsn);
    }
    sample_end_ = 0;
    last_appended_ = std::min(last_appended_, lsn);
    wake(ready);
}

void segment_registry::on_closed() {
    std::vector<std::shared_ptr<tail_waiter>> ready;
    {
        std::lock_guard lk(mutex_);
        if (closed_) return;
        closed_ = true;
        ++version_;
        collect_wakeable(ready, true);
        if (blocked_ > 0) changed_.notify_all();
    }
    wake(ready);
}

bool segment_registry::may_recycle(std::uint64_t segment_id) const {
    std::lock_guard lk(mutex_);
    for (const segment_desc& d : segments_) {
        // New references to a slot are only made under mutex_ from this list, or copied from
        // an existing one: a count of 1 (this list) means no reader holds it or can get it.
        if (d.slot->id == segment_id) return d.slot.use_count() == 1;
    }
    return true;
}

// ------------------------------------------------------------------------ readers

registry_snapshot segment_registry::snapshot() const {
    std::lock_guard lk(mutex_);
    registry_snapshot s;
    s.written = written_.load(std::memory_order_relaxed);
    s.durable = durable_.load(std::memory_order_relaxed);
    s.first = first_;
    s.epoch = epoch_;
    s.truncated_to = truncated_to_;
    s.version = version_;
    s.closed = closed_;
    s.has_skipped = !skipped_.empty();
    return s;
}

std::size_t segment_registry::index_of(lsn_t lsn) const {
    auto it = std::upper_bound(segments_.begin(), segments_.end(), lsn,
                               [](lsn_t l, const segment_desc& d) { return l < d.slot->base_lsn; });
    if (it == segments_.begin()) return segments_.size();
    return static_cast<std::size_t>(std::prev(it) - segments_.begin());
}

segment_location segment_registry::location_at(std::size_t i) const {
    segment_location loc;
    if (i >= segments_.size()) return loc;
    loc.slot = segments_[i].slot;
    loc.end = segments_[i].end;
    loc.sealed = i + 1 < segments_.size();
    if (loc.sealed) loc.next_base = segments_[i + 1].slot->base_lsn;
    return loc;
}

segment_location segment_registry::locate(lsn_t lsn) const {
    std::lock_guard lk(mutex_);
    return location_at(index_of(lsn));
}

segment_location segment_registry::current(std::uint64_t id, std::uint64_t generation) const {
    std::lock_guard lk(mutex_);
    for (std::size_t i = 0; i < segments_.size(); ++i) {
        if (segments_[i].slot->id != id) continue;
        if (segments_[i].slot->generation != generation) return {};
        return location_at(i);
    }
    return {};
}

std::uint64_t segment_registry::current_generation(std::uint64_t id) const {
    std::lock_guard lk(mutex_);
    for (const segment_desc& d : segments_)
        if (d.slot->id == id) return d.slot->generation;
    return 0;
}

lsn_t segment_registry::next_present_lsn(lsn_t lsn) const {
    std::lock_guard lk(mutex_);
    lsn_t next = lsn + 1;
    for (const lsn_range& r : skipped_)
        if (r.first <= next && next <= r.last) next = r.last + 1;
    return next;
}

bool segment_registry::is_skipped(lsn_t lsn) const {
    std::lock_guard lk(mutex_);
    for (const lsn_range& r : skipped_)
        if (r.first <= lsn && lsn <= r.last) return true;
    return false;
}

std::error_code segment_registry::open_map(const std::shared_ptr<segment_slot>& slot,
                                           std::shared_ptr<const segment_map>& out) {
    // Lock order, everywhere: the files lock, then the index lock, then a slot's mutex (the
    // writer takes the files lock and then the index lock when segments change, and the index
    // lock and then a slot's mutex when it appends). Taking the slot's mutex first here would
    // close a cycle.
    std::shared_lock files(files_mutex_);
    std::lock_guard lk(slot->m);
    if (auto m = slot->mapping.lock()) {
        out = std::move(m);
        return {};
    }
    auto m = std::make_shared<segment_map>();
    m->slot = slot;
    std::uint64_t size = 0;
    {
        if (slot->retired.load(std::memory_order_acquire)) return errc::not_found;
        std::unique_ptr<file> f;
        if (auto ec = fs_->open(slot->path, open_mode::read_only, f)) return ec;
        m->f = std::move(f);
    }
    files.unlock();  // the file is open: the writer may delete or rename its path now
    if (auto ec = m->f->size(size)) return ec;
    // The whole segment as it may grow (a file prepared with preallocation::none grows as
    // records are appended): readers only touch bytes below the written end, which the file
    // always holds, so the pages past its current size are never read.
    if (auto ec = m->map(std::max(size, map_length()))) return ec;
    slot->mapping = m;
    out = std::move(m);
    return {};
}

bool segment_registry::add_waiter(const std::shared_ptr<tail_waiter>& w, std::uint64_t seen_version,
                                  lsn_t need, bool durable) {
    std::lock_guard lk(mutex_);
    if (version_ != seen_version || closed_) return false;
    waiters_.push_back({w, need, durable});
    return true;
}

bool segment_registry::remove_waiter(const tail_waiter* w) {
    std::lock_guard lk(mutex_);
    for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
        if (it->w.get() == w) {
            waiters_.erase(it);
            return true;
        }
    }
    return false;
}

void segment_registry::wait_change(std::uint64_t seen_version) {
    std::unique_lock lk(mutex_);
    ++blocked_;
    changed_.wait(lk, [&] { return version_ != seen_version || closed_; });
    --blocked_;
}

// ------------------------------------------------------------------------ key index

position segment_registry::position_of(lsn_t lsn, std::uint64_t offset) const {
    const std::size_t i = index_of(lsn);
    return {i < segments_.size() ? segments_[i].slot->id : 0, offset, lsn};
}

std::vector<std::string> segment_registry::keys() const {
    std::shared_lock ilk(index_mutex_);
    return index_.live_keys();
}

std::vector<position> segment_registry::records_for(bytes_view key) const {
    std::vector<key_index::hit> hits;
    {
        std::shared_lock ilk(index_mutex_);
        hits = index_.records_for(key);
    }
    std::vector<position> out;
    out.reserve(hits.size());
    std::lock_guard lk(mutex_);
    for (const auto& h : hits) out.push_back(position_of(h.lsn, h.offset));
    return out;
}

std::optional<position> segment_registry::latest(bytes_view key) const {
    std::optional<key_index::hit> h;
    {
        std::shared_lock ilk(index_mutex_);
        h = index_.latest(key);
    }
    if (!h) return std::nullopt;
    std::lock_guard lk(mutex_);
    return position_of(h->lsn, h->offset);
}

std::size_t segment_registry::indexed_records() const {
    std::shared_lock ilk(index_mutex_);
    return index_.record_count();
}

}  // namespace noriwal::detail
