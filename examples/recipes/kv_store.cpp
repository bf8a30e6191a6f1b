// Recipe: a key-value store whose only storage is the log (doc/recipes.md, "A key-value store
// rebuilt by replay").
//
// Every put, delete and put-with-TTL is a record. The in-memory map is a function of the log:
// it is built by reading the whole log, across every segment, from its first record, and it
// is kept current by the same code reading the records this process appends. Reopening the
// store after a crash or a restart therefore gives the state of the last completed write.
//
//   recipe_kv_store [parent-directory]
#include "recipe.hpp"

#include <noriwal/reader.hpp>
#include <noriwal/wal.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace {

using noriwal::as_bytes;
using sys_clock = std::chrono::system_clock;

class kv_store {
public:
    /// Opens (or creates) the store in cfg.dir and rebuilds its state from the whole log.
    explicit kv_store(noriwal::wal_config cfg) {
        auto opened = noriwal::wal::open(std::move(cfg));  // recovery happens here
        log_ = std::move(opened.log);
        recovered_segments_ = opened.recovery.segments_scanned;
        // Not reader_options::skip_expired: an expired put must still hide the older value
        // of its key, so every record is applied and expiry is checked on lookup.
        reader_ = log_.make_reader();
        catch_up();
    }

    void put(std::string_view key, std::string_view value) { write(noriwal::record::put(key, value)); }
    /// The key reads as absent once `ttl` has passed (counted from now).
    void put(std::string_view key, std::string_view value, std::chrono::nanoseconds ttl) {
        write(noriwal::record::put(key, value).with_ttl(ttl));
    }
    void erase(std::string_view key) { write(noriwal::record::put_tombstone(key)); }

    /// The value of `key` at time `now` (a key whose TTL has run out by then is absent).
    std::optional<std::string> get(std::string_view key, sys_clock::time_point now = sys_clock::now()) const {
        const auto it = state_.find(std::string(key));
        if (it == state_.end()) return std::nullopt;
        if (it->second.expiry && *it->second.expiry <= now) return std::nullopt;
        return it->second.value;
    }

    std::uint64_t records_applied() const noexcept { return applied_; }
    std::uint64_t recovered_segments() const noexcept { return recovered_segments_; }
    std::uint64_t segments_rolled() const { return log_.stats().segments_rolled; }

private:
    struct slot {
        std::string value;
        std::optional<std::chrono::sys_time<std::chrono::nanoseconds>> expiry;
    };

    // The record goes to the log first; the map changes only by reading it back, so the map
    // never holds anything the log does not (and gets the exact expiry the log stored).
    void write(const noriwal::record& r) {
        log_.append(r);  // completes once the record is in the OS: it survives a process crash
        catch_up();
    }

    void catch_up() {
        while (auto e = reader_.try_next()) apply(*e);  // nullopt: the end of the log for now
    }

    void apply(const noriwal::entry& e) {
        std::string key(e.key());
        if (e.tombstone()) {
            state_.erase(key);
        } else {
            state_[std::move(key)] = slot{std::string(e.value()), e.expiry()};
        }
        ++applied_;
    }

    noriwal::wal log_;
    noriwal::reader reader_;
    std::unordered_map<std::string, slot> state_;
    std::uint64_t applied_ = 0;
    std::uint64_t recovered_segments_ = 0;
};

noriwal::wal_config store_config(const std::filesystem::path& dir) {
    noriwal::wal_config cfg;
    cfg.dir = dir;
    // Small segments, so that this short run spreads over many of them (the default is 128 MiB).
    cfg.max_segment_size = 16u << 10;
    cfg.max_record_size = 8u << 10;  // must fit in a segment
    cfg.fsync = noriwal::fsync_policy::batch(std::chrono::milliseconds(2));
    return cfg;
}

// What the store must hold: the value of each live key, and whether it has a one-hour TTL.
struct expected {
    std::string value;
    bool expires = false;
};

void compare(const kv_store& store, const std::map<std::string, expected>& model, int keys,
             const char* when) {
    const auto now = sys_clock::now();
    const auto later = now + std::chrono::hours(2);  // every one-hour TTL has run out by then
    for (int k = 0; k < keys; ++k) {
        const std::string key = "key:" + std::to_string(k);
        const auto it = model.find(key);
        const auto got_now = store.get(key, now);
        const auto got_later = store.get(key, later);
        const std::string where = std::string(when) + ", " + key;
        if (it == model.end()) {
            recipe::check(!got_now && !got_later, where + " should be absent");
            continue;
        }
        recipe::check(got_now == it->second.value, where + " should be " + it->second.value);
        if (it->second.expires) {
            recipe::check(!got_later, where + " should have expired two hours from now");
        } else {
            recipe::check(got_later == it->second.value, where + " has no TTL and should stay");
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    return recipe::run(argc, argv, "recipe-kv-store", [](const std::filesystem::path& dir) {
        constexpr int keys = 300;
        constexpr int writes = 6000;
        std::map<std::string, expected> model;
        std::uint64_t written = 0;
        {
            kv_store store(store_config(dir));
            std::uint32_t seed = 12345;
            auto next_random = [&seed] {  // deterministic, so that a failure can be replayed
                seed = seed * 1103515245u + 12345u;
                return (seed >> 16) & 0x7fffu;
            };
            for (int i = 0; i < writes; ++i) {
                const std::string key = "key:" + std::to_string(next_random() % keys);
                const std::string value = "value " + std::to_string(i) + std::string(next_random() % 64, '.');
                const auto dice = next_random() % 100;
                if (dice < 70) {
                    store.put(key, value);
                    model[key] = {value, false};
                } else if (dice < 85) {
                    store.erase(key);
                    model.erase(key);
                } else if (dice < 95) {
                    store.put(key, value, std::chrono::hours(1));
                    model[key] = {value, true};
                } else {
                    // Already expired when read: the key is absent, and so is its older value.
                    store.put(key, value, std::chrono::nanoseconds(1));
                    model.erase(key);
                }
                ++written;
            }
            compare(store, model, keys, "while writing");
            recipe::check(store.records_applied() == written, "every write applied once");
            recipe::check(
                store.segments_rolled() >= 10,
                "the log spans many segments (" + std::to_string(store.segments_rolled()) + " sealed)");
        }  // the store (its wal) is closed here

        kv_store reopened(store_config(dir));
        std::cout << "replayed " << reopened.records_applied() << " records from "
                  << reopened.recovered_segments() << " segments\n";
        recipe::check(reopened.records_applied() == written, "replay reads every record of every segment");
        recipe::check(reopened.recovered_segments() >= 10, "recovery scanned every segment");
        compare(reopened, model, keys, "after reopen");

        // The reopened store keeps going where the log ended.
        reopened.put("key:0", "after reopen");
        reopened.erase("key:1");
        recipe::check(reopened.get("key:0") == "after reopen", "a put after reopen is visible");
        recipe::check(!reopened.get("key:1"), "a delete after reopen is visible");
    });
}
