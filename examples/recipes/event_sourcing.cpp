// Recipe: event sourcing (doc/recipes.md, "Event sourcing").
//
// Bank accounts are aggregates; what happens to them is stored as events, one record each,
// keyed by the account's id. The state of an account is never stored: it is rebuilt by
// replaying the account's events, which the key index (wal_config::index_keys) locates
// without reading the rest of the log. A transfer writes an event on each of two accounts in
// one atomic batch: after a crash, both or neither.
//
//   recipe_event_sourcing [parent-directory]
#include "recipe.hpp"

#include <noriwal/reader.hpp>
#include <noriwal/wal.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace {

using noriwal::as_string;

// ------------------------------------------------------------------ the domain

struct account {
    std::string owner;
    std::int64_t balance = 0;
    bool open = false;
    std::uint64_t version = 0;  // events applied

    friend bool operator==(const account&, const account&) = default;
};

// Events are short text records: "opened <owner>", "deposited <n>", "withdrew <n>", "closed".
void apply_event(account& a, std::string_view event) {
    const auto space = event.find(' ');
    const std::string_view kind = event.substr(0, space);
    const std::string arg(space == std::string_view::npos ? std::string_view{} : event.substr(space + 1));
    if (kind == "opened") {
        a.owner = arg;
        a.open = true;
    } else if (kind == "deposited") {
        a.balance += std::stoll(arg);
    } else if (kind == "withdrew") {
        a.balance -= std::stoll(arg);
    } else if (kind == "closed") {
        a.open = false;
    } else {
        throw recipe::mismatch("unknown event: " + std::string(event));
    }
    ++a.version;
}

// ------------------------------------------------------------------ the event store

class event_store {
public:
    explicit event_store(noriwal::wal_config cfg) {
        cfg.index_keys = true;  // records_for(key): where each aggregate's events are
        log_ = noriwal::wal::open(std::move(cfg)).log;
        reader_ = log_.make_reader();
    }

    /// Appends one event to an aggregate's stream; durable before it returns.
    void emit(const std::string& id, const std::string& event) {
        log_.append(noriwal::record::put(id, event), noriwal::durability::always());
    }
    /// Appends events to several streams atomically (all of them survive a crash, or none).
    void emit_together(const std::vector<std::pair<std::string, std::string>>& events) {
        std::vector<noriwal::record> batch;
        for (const auto& [id, event] : events) batch.push_back(noriwal::record::put(id, event));
        log_.append_batch(batch, noriwal::durability::always());
    }

    /// Rebuilds one aggregate from its own events only (the key index gives their positions).
    account load(const std::string& id) {
        account a;
        for (const noriwal::position& p : log_.records_for(id))
            apply_event(a, as_string(reader_.read_at(p).value()));
        return a;
    }

    /// Rebuilds every aggregate with one pass over the whole log (what a projection does).
    std::map<std::string, account> replay_all() const {
        std::map<std::string, account> all;
        auto r = log_.make_reader();
        while (auto e = r.try_next()) apply_event(all[std::string(e->key())], as_string(e->value()));
        return all;
    }

    /// How many segments hold the events of `id` (the index finds them wherever they are).
    std::size_t segments_of(const std::string& id) const {
        std::vector<std::uint64_t> ids;
        for (const noriwal::position& p : log_.records_for(id)) ids.push_back(p.segment_id);
        return static_cast<std::size_t>(std::unique(ids.begin(), ids.end()) - ids.begin());
    }

    std::vector<std::string> aggregates() const {
        auto ids = log_.keys();
        std::sort(ids.begin(), ids.end());
        return ids;
    }

private:
    noriwal::wal log_;
    noriwal::reader reader_;  // for read_at: random access by position
};

// ------------------------------------------------------------------ commands

// A command loads the aggregate, checks the rule against its current state, and emits events.
bool withdraw(event_store& store, const std::string& id, std::int64_t amount) {
    const account a = store.load(id);
    if (!a.open || a.balance < amount) return false;  // rejected: no event
    store.emit(id, "withdrew " + std::to_string(amount));
    return true;
}

bool transfer(event_store& store, const std::string& from, const std::string& to, std::int64_t amount) {
    const account a = store.load(from);
    const account b = store.load(to);
    if (!a.open || !b.open || a.balance < amount) return false;
    store.emit_together(
        {{from, "withdrew " + std::to_string(amount)}, {to, "deposited " + std::to_string(amount)}});
    return true;
}

noriwal::wal_config store_config(const std::filesystem::path& dir) {
    noriwal::wal_config cfg;
    cfg.dir = dir;
    cfg.max_segment_size = 4u << 10;  // small, so that streams interleave across many segments
    cfg.max_record_size = 2u << 10;
    cfg.fsync = noriwal::fsync_policy::batch(std::chrono::milliseconds(2));
    return cfg;
}

void compare_all(event_store& store, const std::map<std::string, account>& model, const char* when) {
    const std::string w(when);
    std::vector<std::string> ids;
    for (const auto& [id, a] : model) ids.push_back(id);
    recipe::check(store.aggregates() == ids, w + ": keys() lists every aggregate");
    for (const auto& [id, expected] : model) {
        recipe::check(store.load(id) == expected, w + ": " + id + " rebuilt from its own events");
    }
    recipe::check(store.replay_all() == model, w + ": a full replay gives the same aggregates");
}

}  // namespace

int main(int argc, char** argv) {
    return recipe::run(argc, argv, "recipe-event-sourcing", [](const std::filesystem::path& dir) {
        std::map<std::string, account> model;  // what the aggregates must be, kept by hand
        auto expect = [&model](const std::string& id, const std::string& event) {
            apply_event(model[id], event);
        };
        {
            event_store store(store_config(dir));
            for (int i = 0; i < 12; ++i) {
                const std::string id = "account-" + std::to_string(i);
                const std::string owner = "owner" + std::to_string(i);
                store.emit(id, "opened " + owner);
                expect(id, "opened " + owner);
            }
            int rejected = 0;
            for (int round = 0; round < 15; ++round) {
                for (int i = 0; i < 12; ++i) {
                    const std::string id = "account-" + std::to_string(i);
                    const std::string to = "account-" + std::to_string((i + round + 1) % 12);
                    const std::int64_t amount = (i * 7 + round * 13) % 50 + 1;
                    store.emit(id, "deposited " + std::to_string(amount));
                    expect(id, "deposited " + std::to_string(amount));
                    if (withdraw(store, id, amount * 2)) {
                        expect(id, "withdrew " + std::to_string(amount * 2));
                    } else {
                        ++rejected;
                    }
                    if (to != id && transfer(store, id, to, amount)) {
                        expect(id, "withdrew " + std::to_string(amount));
                        expect(to, "deposited " + std::to_string(amount));
                    }
                }
            }
            store.emit("account-3", "closed");
            expect("account-3", "closed");
            recipe::check(!withdraw(store, "account-3", 1), "a closed account refuses a withdrawal");
            recipe::check(rejected > 0, "some withdrawals were refused by the balance rule");
            compare_all(store, model, "while running");
        }
        // Reopen: the key index is rebuilt from the segments.
        event_store store(store_config(dir));
        compare_all(store, model, "after reopen");
        recipe::check(store.segments_of("account-0") > 3,
                      "an aggregate's events are spread over many segments");
        std::int64_t total = 0;
        for (const auto& [id, a] : model) total += a.balance;
        std::cout << model.size() << " accounts rebuilt; account-0 has " << store.load("account-0").version
                  << " events, total balance " << total << "\n";
    });
}
