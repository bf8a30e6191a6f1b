// Recipe: the log of a Raft follower (doc/recipes.md, "A Raft log").
//
// A Raft log entry has an index, a term and a command. Here the index is the record's LSN
// (both count from 1 and have no gaps), the term is the record's key and the command its
// value. A follower receiving AppendEntries from a new leader may hold a suffix that the
// leader does not (entries of a deposed leader that were never committed): Raft says to
// delete the conflicting entry and all that follow, then append the leader's. That is
// truncate_after(index - 1), which is crash-safe: after a crash at any point, the log holds
// either the old suffix or a prefix of the new one, never a removed entry brought back.
// A snapshot installed from the leader replaces the whole log: reset_to(index + 1), after
// which the log starts at the entry after the snapshot (first_lsn() says where, on reopen too).
//
//   recipe_raft_log [parent-directory]
#include "recipe.hpp"

#include <noriwal/reader.hpp>
#include <noriwal/wal.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace {

using noriwal::lsn_t;

struct log_entry {
    std::uint64_t term = 0;
    std::string command;
    friend bool operator==(const log_entry&, const log_entry&) = default;
};

class raft_log {
public:
    explicit raft_log(const std::filesystem::path& dir) {
        noriwal::wal_config cfg;
        cfg.dir = dir;
        cfg.max_segment_size = 8u << 10;  // small, so that a truncation removes whole segments
        cfg.max_record_size = 4u << 10;
        // Raft answers AppendEntries only once its entries are on stable storage: each step
        // below ends with a sync (one fdatasync for many appends) or a durable append.
        cfg.fsync = noriwal::fsync_policy::batch(std::chrono::milliseconds(5));
        log_ = noriwal::wal::open(std::move(cfg)).log;
        // The log starts after the last installed snapshot (at 1 if none was).
        base_ = log_.first_lsn() - 1;
        // The terms are kept in memory (8 bytes per entry) for the consistency checks; they
        // are rebuilt from the log on open.
        auto r = log_.make_reader();
        while (auto e = r.try_next()) terms_.push_back(std::stoull(std::string(e->key())));
    }

    std::uint64_t first_index() const noexcept { return base_ + 1; }
    std::uint64_t last_index() const noexcept { return base_ + terms_.size(); }
    /// The term of the entry at `index` (0 for index 0, the entry before the first; the
    /// snapshot's term for its last index). Throws std::out_of_range below that.
    std::uint64_t term_at(std::uint64_t index) const {
        return index == base_ ? base_term_ : terms_.at(index - base_ - 1);
    }

    /// InstallSnapshot (Raft, section 7): the snapshot covers every entry up to `index`, so
    /// the whole log goes and the next entry is index + 1. reset_to is crash-safe: a crash
    /// leaves the old log or the empty new one, and the snapshot (kept elsewhere, with its last
    /// index and term) is written durably before it.
    void install_snapshot(std::uint64_t index, std::uint64_t term) {
        log_.reset_to(index + 1);  // durable when it returns
        terms_.clear();
        base_ = index;
        base_term_ = term;
    }

    /// The leader's side: appends a new entry of its current term; returns its index.
    std::uint64_t append(std::uint64_t term, const std::string& command) {
        const auto key = std::to_string(term);
        const noriwal::position p =
            log_.append(noriwal::record::put(key, command), noriwal::durability::always());
        terms_.push_back(term);
        check_index(p.lsn);
        return p.lsn;
    }

    /// The follower's side of AppendEntries (Raft, section 5.3). `entries` go after
    /// `prev_index`, whose term must be `prev_term`. Returns false (and changes nothing) when
    /// the log does not hold that entry; the leader then retries with an earlier one.
    bool append_entries(std::uint64_t prev_index, std::uint64_t prev_term,
                        const std::vector<log_entry>& entries) {
        if (prev_index < base_ || prev_index > last_index() || term_at(prev_index) != prev_term) return false;
        std::size_t k = 0;
        // Entries the log holds already with the same term are the same entries: keep them
        // (a duplicate or late AppendEntries must not cut off what followed them).
        while (k < entries.size() && prev_index + 1 + k <= last_index() &&
               term_at(prev_index + 1 + k) == entries[k].term)
            ++k;
        if (k == entries.size()) return true;
        const std::uint64_t first_new = prev_index + 1 + k;
        if (first_new <= last_index()) {
            // A conflict: this entry and every one after it go. Durable when it returns.
            log_.truncate_after(first_new - 1);
            terms_.resize(first_new - 1 - base_);
            ++truncations_;
        }
        for (std::size_t i = k; i < entries.size(); ++i) {
            const auto key = std::to_string(entries[i].term);
            // Appends complete once written; the sync below makes them all durable at once.
            // (One atomic batch would do too, if the entries fit in one segment.)
            const noriwal::position p = log_.append(noriwal::record::put(key, entries[i].command));
            terms_.push_back(entries[i].term);
            check_index(p.lsn);
        }
        log_.sync();
        return true;
    }

    /// Entries [from, last_index()], read back from the log.
    std::vector<log_entry> entries_from(std::uint64_t from) const {
        std::vector<log_entry> out;
        auto r = log_.make_reader();
        if (auto ec = r.seek(from)) throw std::system_error(ec, "seek to index " + std::to_string(from));
        while (auto e = r.try_next())
            out.push_back({std::stoull(std::string(e->key())), std::string(e->value())});
        return out;
    }

    int truncations() const noexcept { return truncations_; }

private:
    void check_index(lsn_t lsn) const {
        recipe::check(lsn == last_index(), "the log's LSN is the Raft index (" + std::to_string(lsn) + ")");
    }

    noriwal::wal log_;
    std::uint64_t base_ = 0;       // the index before the first entry held (a snapshot's last)
    std::uint64_t base_term_ = 0;  // its term (a real server keeps it with the snapshot)
    std::vector<std::uint64_t> terms_;
    int truncations_ = 0;
};

std::vector<log_entry> make_entries(std::uint64_t term, std::uint64_t first_index, std::uint64_t count) {
    std::vector<log_entry> out;
    for (std::uint64_t i = first_index; i < first_index + count; ++i)
        out.push_back({term, "set x=" + std::to_string(i) + " (term " + std::to_string(term) + ")"});
    return out;
}

// What a leader does: find the last entry both logs agree on by walking back, then send the
// rest of its own log from there.
void replicate(raft_log& follower, const std::vector<log_entry>& leader_log) {
    std::uint64_t prev = leader_log.size();
    for (;;) {
        const std::uint64_t prev_term = prev == 0 ? 0 : leader_log[prev - 1].term;
        const std::vector<log_entry> rest(leader_log.begin() + static_cast<std::ptrdiff_t>(prev),
                                          leader_log.end());
        if (follower.append_entries(prev, prev_term, rest)) return;
        recipe::check(prev > 0, "the empty prefix always matches");
        --prev;
    }
}

}  // namespace

int main(int argc, char** argv) {
    return recipe::run(argc, argv, "recipe-raft-log", [](const std::filesystem::path& dir) {
        // The leader of term 1 replicates 300 entries; they are committed.
        std::vector<log_entry> committed = make_entries(1, 1, 300);
        std::vector<log_entry> expected;
        {
            raft_log follower(dir);
            recipe::check(follower.append_entries(0, 0, committed), "the first entries are accepted");

            // The leader of term 2 gets 200 entries to this follower only, then is deposed.
            recipe::check(follower.append_entries(300, 1, make_entries(2, 301, 200)),
                          "term 2 entries accepted");
            recipe::check(follower.last_index() == 500, "the follower holds 500 entries");

            // An AppendEntries whose previous entry is beyond the log, or of another term, is refused.
            recipe::check(!follower.append_entries(600, 2, make_entries(2, 601, 1)), "a gap is refused");
            recipe::check(!follower.append_entries(400, 3, {}), "a term mismatch is refused");

            // The leader of term 3 never saw term 2's entries: its log is the committed 300
            // plus 50 of its own. The follower's entries 301..500 conflict and are truncated.
            std::vector<log_entry> leader3 = committed;
            for (auto& e : make_entries(3, 301, 50)) leader3.push_back(e);
            replicate(follower, leader3);
            recipe::check(follower.truncations() == 1, "one truncation");
            recipe::check(follower.last_index() == 350, "the follower now holds 350 entries");

            // A duplicate of an earlier AppendEntries (delayed by the network) changes nothing.
            recipe::check(follower.append_entries(300, 1, make_entries(3, 301, 10)),
                          "a duplicate is accepted");
            recipe::check(follower.last_index() == 350, "a duplicate does not cut off later entries");

            // The leader of term 4 shares the first 340 entries, then writes its own.
            std::vector<log_entry> leader4(leader3.begin(), leader3.begin() + 340);
            for (auto& e : make_entries(4, 341, 5)) leader4.push_back(e);
            replicate(follower, leader4);
            recipe::check(follower.truncations() == 2, "a second truncation, inside a segment");
            expected = leader4;
            recipe::check(follower.entries_from(1) == expected, "the follower's log is the leader's");
        }

        {
            // After a restart (or a crash: each step was durable when it returned), no
            // truncated entry comes back and the next index follows the last entry.
            raft_log follower(dir);
            recipe::check(follower.last_index() == expected.size(), "the log reopens with 345 entries");
            recipe::check(follower.entries_from(1) == expected,
                          "every entry, term and command survives reopening");
            recipe::check(
                follower.entries_from(341) == std::vector<log_entry>(expected.begin() + 340, expected.end()),
                "reading from an index in the middle");
            recipe::check(follower.append(4, "set y=1") == expected.size() + 1,
                          "the next index follows the last entry");
            std::cout << "follower log: " << follower.last_index() << " entries, last term "
                      << follower.term_at(follower.last_index()) << "\n";

            // A leader far ahead sends a snapshot up to index 1000 (term 5): the whole log goes,
            // and the leader's next entries follow index 1000, after a reopen too.
            follower.install_snapshot(1000, 5);
            recipe::check(follower.first_index() == 1001 && follower.last_index() == 1000,
                          "after a snapshot install the log is empty and continues at 1001");
            recipe::check(follower.append_entries(1000, 5, make_entries(5, 1001, 3)),
                          "the leader's entries after the snapshot are accepted");
        }
        raft_log follower(dir);
        recipe::check(follower.first_index() == 1001 && follower.last_index() == 1003,
                      "the log reopens at the snapshot's next index");
        recipe::check(follower.entries_from(1001) == make_entries(5, 1001, 3),
                      "the entries after the snapshot survive reopening");
        std::cout << "after a snapshot install: entries " << follower.first_index() << ".."
                  << follower.last_index() << "\n";
    });
}
