// The key index. Layout and memory cost in key_index.hpp.
#include "read/key_index.hpp"

#include <cassert>

namespace noriwal::detail {

void key_index::add(bytes_view key, lsn_t lsn, std::uint64_t offset, bool tombstone) {
    assert(order_.empty() || lsn > last_lsn());
    auto it = keys_.find(as_string(key));
    if (it == keys_.end()) it = keys_.emplace(std::string(as_string(key)), key_records{}).first;
    it->second.recs.push_back({lsn, offset | (tombstone ? tombstone_bit : 0)});
    order_.push_back(&*it);
}

void key_index::drop_if_empty(map_type::value_type* node) {
    if (!node->second.empty()) return;
    keys_.erase(keys_.find(node->first));
}

void key_index::trim_before(lsn_t first) {
    while (!order_.empty()) {
        map_type::value_type* node = order_.front();
        key_records& k = node->second;
        // The oldest record of the whole index is the oldest live record of its key.
        if (k.recs[k.head].lsn >= first) break;
        order_.pop_front();
        ++k.head;
        if (k.empty()) {
            drop_if_empty(node);
        } else if (k.head > 32 && k.head * 2 > k.recs.size()) {
            // Compact once at least half of the list is dead, so that the list's memory follows
            // what it holds; each record moves O(1) times on average.
            k.recs.erase(k.recs.begin(), k.recs.begin() + k.head);
            k.head = 0;
        }
    }
}

void key_index::trim_after(lsn_t last) {
    while (!order_.empty()) {
        map_type::value_type* node = order_.back();
        key_records& k = node->second;
        if (k.recs.back().lsn <= last) break;
        order_.pop_back();
        k.recs.pop_back();
        drop_if_empty(node);
    }
}

void key_index::clear() noexcept {
    order_.clear();
    keys_.clear();
}

const key_index::key_records* key_index::find(bytes_view key) const {
    auto it = keys_.find(as_string(key));
    return it == keys_.end() ? nullptr : &it->second;
}

std::vector<key_index::hit> key_index::records_for(bytes_view key) const {
    std::vector<hit> out;
    if (const key_records* k = find(key)) {
        out.reserve(k->recs.size() - k->head);
        for (std::size_t i = k->head; i < k->recs.size(); ++i) out.push_back(unpack(k->recs[i]));
    }
    return out;
}

std::optional<key_index::hit> key_index::latest(bytes_view key) const {
    const key_records* k = find(key);
    if (k == nullptr || k->empty()) return std::nullopt;
    hit h = unpack(k->recs.back());
    if (h.tombstone) return std::nullopt;
    return h;
}

std::vector<std::string> key_index::live_keys() const {
    std::vector<std::string> out;
    for (const auto& [key, k] : keys_)
        if (!k.empty() && (k.recs.back().offset_and_tombstone & tombstone_bit) == 0) out.push_back(key);
    return out;
}

lsn_t key_index::last_lsn() const noexcept {
    if (order_.empty()) return 0;
    return order_.back()->second.recs.back().lsn;
}

}  // namespace noriwal::detail
