// The key index: from a key to the records of the log that carry it, in LSN order.
//
// Records enter in LSN order (add), and leave from either end of the log: the oldest when
// segments are deleted (trim_before), the newest when the log is truncated (trim_after). Both
// removals cost O(records removed), never a pass over every key, because a queue in LSN order
// remembers which key each record belongs to.
//
// Memory (64-bit, libstdc++; doc/readers.md states it for users):
// - per record: 16 bytes in its key's list (LSN, offset, tombstone bit) plus 8 bytes in the
//   LSN-ordered queue = 24 bytes, plus up to 2x slack of a growing std::vector;
// - per key: one hash node (next pointer, cached hash, std::string, the list: 8 + 8 + 32 + 32)
//   = 80 bytes, plus one bucket pointer (8), plus the key's bytes when longer than 15 (the
//   string's inline capacity), plus the allocator's rounding.
//
// Not thread-safe: the segment registry guards it.
#pragma once

#include <noriwal/bytes.hpp>
#include <noriwal/position.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace noriwal::detail {

class key_index {
public:
    /// One record of a key: its LSN and byte offset in its segment.
    struct hit {
        lsn_t lsn = 0;
        std::uint64_t offset = 0;
        bool tombstone = false;
        friend bool operator==(const hit&, const hit&) = default;
    };

    /// Adds a record. Its LSN must be above every LSN the index holds.
    void add(bytes_view key, lsn_t lsn, std::uint64_t offset, bool tombstone);
    /// Removes every record with an LSN below `first`.
    void trim_before(lsn_t first);
    /// Removes every record with an LSN above `last`.
    void trim_after(lsn_t last);
    void clear() noexcept;

    /// The records of `key`, oldest first.
    std::vector<hit> records_for(bytes_view key) const;
    /// The newest record of `key`, unless it is a tombstone (or there is none).
    std::optional<hit> latest(bytes_view key) const;
    /// Keys whose newest record is not a tombstone, in no particular order.
    std::vector<std::string> live_keys() const;

    std::size_t key_count() const noexcept { return keys_.size(); }
    std::size_t record_count() const noexcept { return order_.size(); }
    /// The LSN of the newest record held (0: none).
    lsn_t last_lsn() const noexcept;

private:
    static constexpr std::uint64_t tombstone_bit = std::uint64_t{1} << 63;

    struct packed {
        lsn_t lsn;
        std::uint64_t offset_and_tombstone;
    };
    struct key_records {
        std::vector<packed> recs;  // [head, size) are live, oldest first
        std::uint32_t head = 0;
        bool empty() const noexcept { return head == recs.size(); }
    };
    struct key_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    using map_type = std::unordered_map<std::string, key_records, key_hash, std::equal_to<>>;

    static hit unpack(const packed& p) noexcept {
        return {p.lsn, p.offset_and_tombstone & ~tombstone_bit,
                (p.offset_and_tombstone & tombstone_bit) != 0};
    }
    const key_records* find(bytes_view key) const;
    void drop_if_empty(map_type::value_type* node);

    map_type keys_;
    // One entry per record, in LSN order: the key it belongs to. Node pointers of an
    // unordered_map stay valid until the node is erased, which happens only once the key has
    // no record left (and so no entry here).
    std::deque<map_type::value_type*> order_;
};

}  // namespace noriwal::detail
