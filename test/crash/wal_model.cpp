#include "crash/wal_model.hpp"

#include <sstream>

namespace noriwal::test {

namespace {

// The atomic batch a stream's record n belongs to, as the range of n it covers: [n, n] for a
// single append.
struct batch_range {
    bool in_batch = false;
    std::uint64_t first = 0;
    std::uint64_t last = 0;
};

batch_range batch_of(const std::map<std::uint64_t, std::uint64_t>& batches, std::uint64_t n) {
    auto b = batches.upper_bound(n);
    if (b == batches.begin() || std::prev(b)->second < n) return {false, n, n};
    return {true, std::prev(b)->first, std::prev(b)->second};
}

// The type record n must carry given its place in its batch.
detail::record_type expected_type(const batch_range& b, std::uint64_t n) {
    return b.first == b.last ? detail::record_type::full
           : n == b.first    ? detail::record_type::first
           : n == b.last     ? detail::record_type::last
                             : detail::record_type::middle;
}

}  // namespace

record_content wal_model::next(const std::string& stream, std::size_t max_value) {
    std::lock_guard g(mutex_);
    auto& st = s_.streams[stream];
    st.max_value = max_value;
    return make_content(stream, st.initiated++, max_value);
}

std::vector<record_content> wal_model::next_batch(const std::string& stream, std::size_t k,
                                                  std::size_t max_value) {
    std::lock_guard g(mutex_);
    auto& st = s_.streams[stream];
    st.batch_max_value = max_value;
    std::vector<record_content> out;
    st.batches[st.initiated] = st.initiated + k - 1;
    for (std::size_t i = 0; i < k; ++i) out.push_back(make_content(stream, st.initiated++, max_value));
    return out;
}

void wal_model::allow_stream(const std::string& stream, std::uint64_t count, std::size_t max_value) {
    std::lock_guard g(mutex_);
    auto& st = s_.streams[stream];
    st.initiated = std::max(st.initiated, count);
    st.max_value = max_value;
}

void wal_model::acked(const record_content& c, lsn_t lsn, bool durable) {
    std::lock_guard g(mutex_);
    s_.acks[c.key] = ack{lsn, durable, s_.seq++};
    std::string stream;
    std::uint64_t n = 0;
    // While a truncation runs, an acknowledgement may be of a record it is removing.
    bool truncating = false;
    for (const auto& t : s_.truncations) truncating = truncating || !t.done;
    if (!truncating && parse_content_key(c.key, stream, n)) {
        if (!batch_of(s_.streams[stream].batches, n).in_batch) s_.last_single = lsn;
    }
}

lsn_t wal_model::last_single_acked() const {
    std::lock_guard g(mutex_);
    return s_.last_single;
}

std::uint64_t wal_model::sync_started() {
    std::lock_guard g(mutex_);
    return s_.seq++;
}

void wal_model::sync_done(std::uint64_t ticket) {
    std::lock_guard g(mutex_);
    for (auto& [key, a] : s_.acks)
        if (a.seq < ticket) a.durable = true;
}

void wal_model::truncated(const record_content& c) {
    std::lock_guard g(mutex_);
    s_.truncated_keys.insert(c.key);
    s_.truncated_seq[c.key] = s_.seq++;
}

void wal_model::gc(lsn_t lsn) {
    std::lock_guard g(mutex_);
    s_.gc_floor = std::max(s_.gc_floor, lsn);
    s_.events.push_back("gc(" + std::to_string(lsn) + ")");
}

std::size_t wal_model::truncate_started(lsn_t lsn) {
    std::lock_guard g(mutex_);
    s_.truncations.push_back({lsn, s_.seq++, 0, false});
    s_.events.push_back("truncate_after(" + std::to_string(lsn) + ") started");
    s_.last_single = std::min(s_.last_single, lsn);
    return s_.truncations.size() - 1;
}

void wal_model::truncate_done(std::size_t ticket) {
    std::lock_guard g(mutex_);
    s_.truncations[ticket].done = true;
    s_.events.push_back("truncate_after(" + std::to_string(s_.truncations[ticket].lsn) + ") done");
    s_.truncations[ticket].done_seq = s_.seq++;
    s_.last_single = std::min(s_.last_single, s_.truncations[ticket].lsn);
}

std::uint64_t wal_model::seq() const {
    std::lock_guard g(mutex_);
    return s_.seq;
}

std::pair<std::size_t, bool> wal_model::truncation_state() const {
    std::lock_guard g(mutex_);
    bool running = false;
    for (const auto& t : s_.truncations) running = running || !t.done;
    return {s_.truncations.size(), running};
}

lsn_t wal_model::gc_floor() const {
    std::lock_guard g(mutex_);
    return s_.gc_floor;
}

std::string wal_model::check_entry(const read_record& r) const {
    std::lock_guard g(mutex_);
    std::ostringstream why;
    const std::string key(as_string(r.key));
    std::string stream;
    std::uint64_t n = 0;
    const auto st = parse_content_key(key, stream, n) ? s_.streams.find(stream) : s_.streams.end();
    if (st == s_.streams.end() || n >= st->second.initiated) {
        why << "LSN " << r.lsn << " holds key '" << key << "', which no append initiated (a phantom record)";
        return why.str();
    }
    const batch_range batch = batch_of(st->second.batches, n);
    const std::uint64_t bf = batch.first;
    const std::uint64_t bl = batch.last;
    const std::size_t max_value = batch.in_batch ? st->second.batch_max_value : st->second.max_value;
    const record_content want = make_content(stream, n, max_value);
    if (!same_content(r, want)) {
        why << "LSN " << r.lsn << " (key '" << key << "') holds a value of " << r.value.size()
            << " bytes, tombstone " << r.tombstone << ", expiry " << r.has_expiry << "; its append wrote "
            << want.value.size() << " bytes, tombstone " << want.tombstone << ", expiry " << want.with_ttl
            << " (a torn or stale record)";
        return why.str();
    }
    const auto type = expected_type(batch, n);
    if (r.type != type) {
        why << "LSN " << r.lsn << " (" << key << ") has record type " << static_cast<int>(r.type)
            << ", expected " << static_cast<int>(type) << " (batch " << stream << "/" << bf << ".." << bl
            << ")";
        return why.str();
    }
    return {};
}

std::string wal_model::check_reads(const std::vector<observed_read>& reads,
                                   const std::vector<read_record>& final_log) const {
    std::lock_guard g(mutex_);
    std::ostringstream why;
    // The moment the last truncation completed: a read that began after it saw the final log
    // (appends and GC aside).
    bool all_done = true;
    std::uint64_t settled = 0;
    for (const auto& t : s_.truncations) {
        all_done = all_done && t.done;
        if (t.done) settled = std::max(settled, t.done_seq);
    }
    const lsn_t first = final_log.empty() ? 0 : final_log.front().lsn;
    for (const auto& rd : reads) {
        if (auto a = s_.acks.find(rd.key); a != s_.acks.end()) {
            if (a->second.lsn != rd.lsn) {
                why << "a reader returned " << rd.key << " at LSN " << rd.lsn
                    << " but its append reported LSN " << a->second.lsn;
                return why.str();
            }
            // Acknowledged before the truncation began: written before it, so removed by it.
            for (const auto& t : s_.truncations) {
                if (t.done && t.seq > a->second.seq && t.lsn < rd.lsn && t.done_seq < rd.after) {
                    why << "a reader returned " << rd.key << " at LSN " << rd.lsn
                        << " in a read that began after truncate_after(" << t.lsn << ") had removed it";
                    return why.str();
                }
            }
        }
        if (auto tk = s_.truncated_seq.find(rd.key); tk != s_.truncated_seq.end()) {
            // Its append completed with errc::truncated: a truncation initiated before that
            // removed it (truncations run one at a time here, so the latest such one had).
            const truncation* by = nullptr;
            for (const auto& t : s_.truncations)
                if (t.seq < tk->second) by = &t;
            if (by != nullptr && by->done && by->done_seq < rd.after) {
                why << "a reader returned " << rd.key << " at LSN " << rd.lsn
                    << " in a read that began after truncate_after(" << by->lsn
                    << ") had removed it (its append completed with errc::truncated)";
                return why.str();
            }
        }
        if (all_done && rd.after > settled && !final_log.empty() && rd.lsn >= first &&
            rd.lsn - first < final_log.size() && final_log[rd.lsn - first].lsn == rd.lsn &&
            as_string(final_log[rd.lsn - first].key) != rd.key) {
            why << "a reader returned " << rd.key << " at LSN " << rd.lsn
                << " after the last truncation, but the closed log holds "
                << as_string(final_log[rd.lsn - first].key) << " there";
            return why.str();
        }
    }
    return {};
}

std::uint64_t wal_model::acked_count() const {
    std::lock_guard g(mutex_);
    return s_.acks.size();
}

crash_explorer::log_check wal_model::check_around(lsn_t durable_watermark,
                                                  const std::function<void()>& snapshot) const {
    std::shared_ptr<const state> required;
    {
        std::lock_guard g(mutex_);
        required = std::make_shared<const state>(s_);
    }
    snapshot();
    std::shared_ptr<const state> allowed;
    {
        std::lock_guard g(mutex_);
        allowed = std::make_shared<const state>(s_);
    }
    return [required, allowed, durable_watermark](const std::vector<read_record>& r) {
        std::string why = check(*required, *allowed, r, durable_watermark);
        if (!why.empty() && !required->events.empty()) {
            why += " (last GC and truncations:";
            const auto& ev = required->events;
            for (std::size_t i = ev.size() > 8 ? ev.size() - 8 : 0; i < ev.size(); ++i) why += " " + ev[i];
            why += ")";
        }
        return why;
    };
}

std::string wal_model::check(const std::vector<read_record>& records, lsn_t durable_watermark) const {
    std::lock_guard g(mutex_);
    return check(s_, s_, records, durable_watermark);
}

std::string wal_model::check(const state& s, const state& allowed, const std::vector<read_record>& records,
                             lsn_t durable_watermark) {
    std::ostringstream why;
    // What the model promised before the disk snapshot (`s`: acknowledgements, completed
    // truncations) is required; what it started after (`allowed`: GC, truncations, appends)
    // may already show on the disk, so it relaxes the requirements.
    // Truncations in flight may still remove anything above their LSN; completed ones removed
    // what was acknowledged above it before they started.
    // The watermark was read before `s`: a truncation not completed by then lowers it.
    lsn_t required_to = durable_watermark;
    for (std::size_t i = 0; i < allowed.truncations.size(); ++i)
        if (i >= s.truncations.size() || !s.truncations[i].done)
            required_to = std::min(required_to, allowed.truncations[i].lsn);
    // A truncation removes what was written above its LSN before the writer processed it. An
    // append acknowledged before the truncation completed may have been (its handler can run
    // after the truncation was initiated, the write having come first); one acknowledged after
    // it completed was written after it (completions run in the order they are posted).
    auto removed_later = [&](const ack& a) {
        for (const auto& t : allowed.truncations)
            if (t.lsn < a.lsn && (!t.done || a.seq < t.done_seq)) return true;
        return false;
    };

    std::map<std::string, std::uint64_t> last_n;  // per stream, the last n seen
    std::set<std::string> seen;
    for (std::size_t i = 0; i < records.size(); ++i) {
        const read_record& r = records[i];
        const std::string key(as_string(r.key));
        if (i > 0 && r.lsn != records[i - 1].lsn + 1) {
            why << "LSN " << r.lsn << " follows LSN " << records[i - 1].lsn << " (a hole)";
            return why.str();
        }
        std::string stream;
        std::uint64_t n = 0;
        const auto st =
            parse_content_key(key, stream, n) ? allowed.streams.find(stream) : allowed.streams.end();
        if (st == allowed.streams.end() || n >= st->second.initiated) {
            why << "LSN " << r.lsn << " holds key '" << key
                << "', which no append wrote (a phantom or joined record)";
            return why.str();
        }
        // Batches: the whole range of a batch, in order, with its record types.
        const batch_range batch = batch_of(st->second.batches, n);
        const std::uint64_t bf = batch.first;
        const std::uint64_t bl = batch.last;
        const std::size_t max_value = batch.in_batch ? st->second.batch_max_value : st->second.max_value;
        if (!same_content(r, make_content(stream, n, max_value))) {
            why << "LSN " << r.lsn << " (key '" << key
                << "') does not hold the bytes appended (a torn or stale record)";
            return why.str();
        }
        if (!seen.insert(key).second) {
            why << "key '" << key << "' appears twice (again at LSN " << r.lsn << ")";
            return why.str();
        }
        if (auto it = last_n.find(stream); it != last_n.end() && it->second >= n) {
            why << "LSN " << r.lsn << " holds " << key << " after " << stream << "/" << it->second
                << " (out of the order the stream appended)";
            return why.str();
        }
        last_n[stream] = n;
        bool any_done = false;
        for (const auto& t : s.truncations) any_done = any_done || t.done;
        if (any_done && s.truncated_keys.count(key) != 0) {
            why << "LSN " << r.lsn << " holds " << key
                << ", which completed with errc::truncated (resurrected)";
            return why.str();
        }
        if (auto a = s.acks.find(key); a != s.acks.end()) {
            if (a->second.lsn != r.lsn) {
                why << key << " is at LSN " << r.lsn << " but its append reported LSN " << a->second.lsn;
                return why.str();
            }
            for (const auto& t : s.truncations) {
                if (t.done && t.seq > a->second.seq && t.lsn < r.lsn) {
                    why << key << " at LSN " << r.lsn << " came back after truncate_after(" << t.lsn
                        << ") removed it";
                    return why.str();
                }
            }
        }
        const auto want = expected_type(batch, n);
        if (r.type != want) {
            why << "LSN " << r.lsn << " (" << key << ") has record type " << static_cast<int>(r.type)
                << ", expected " << static_cast<int>(want);
            return why.str();
        }
        if (n == bf && bl > bf) {
            for (std::uint64_t k = 1; k <= bl - bf; ++k) {
                if (i + k >= records.size() ||
                    as_string(records[i + k].key) != stream + "/" + std::to_string(bf + k)) {
                    why << "the atomic batch " << stream << "/" << bf << ".." << bl << " starting at LSN "
                        << r.lsn << " is not whole";
                    return why.str();
                }
            }
        }
        if (i == 0 && n != bf) {
            why << "the log starts inside the batch " << stream << "/" << bf << ".." << bl;
            return why.str();
        }
    }
    // Required: the durable range, and every acknowledged record a truncation could not remove.
    const lsn_t first = records.empty() ? 0 : records.front().lsn;
    const lsn_t last = records.empty() ? 0 : records.back().lsn;
    if (required_to >= allowed.gc_floor && required_to != 0 &&
        (records.empty() || first > allowed.gc_floor || last < required_to)) {
        why << "the durable watermark was " << durable_watermark << " (GC floor " << allowed.gc_floor
            << ") but recovery holds " << describe(records);
        return why.str();
    }
    for (const auto& [key, a] : s.acks) {
        if (a.lsn < allowed.gc_floor || removed_later(a)) continue;
        if (!a.durable && a.lsn > durable_watermark) continue;
        if (a.lsn < first || a.lsn > last || as_string(records[a.lsn - first].key) != key) {
            why << key << ", acknowledged" << (a.durable ? " as durable" : "") << " at LSN " << a.lsn
                << ", is not there: recovery holds " << describe(records);
            return why.str();
        }
    }
    return {};
}

}  // namespace noriwal::test
