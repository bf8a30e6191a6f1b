// What an append writes: a key, a value, a tombstone flag, an optional TTL and a compression
// choice. A record is a view: it does not own its bytes. Appending copies them (into the
// encoded frame) before the initiating function returns, so the caller's buffers may be
// released as soon as async_append / append returns.
#pragma once

#include <noriwal/bytes.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace noriwal {

/// Compression of a record's value. A value that does not shrink is stored raw.
enum class compression : std::uint8_t { none = 0, lz4 = 1, zstd = 2 };

/// Per-append durability override.
enum class durability : std::uint8_t {
    policy,  ///< as the wal's fsync_policy says
    sync,    ///< fdatasync before the append completes, whatever the policy
};

/// One record to append: a view of its key and value plus its flags. Build it with put() or
/// erase() and the with_ functions; it must outlive only the initiation of the append.
struct record {
    /// Arbitrary bytes, empty allowed (the key index, if enabled, indexes records by it).
    bytes_view key;
    /// Arbitrary bytes, empty allowed (erase() leaves it empty).
    bytes_view value;
    /// A delete of `key`: readers see entry::tombstone(), and the key index's keys() and
    /// latest() leave the key out from this record on.
    bool tombstone = false;
    /// Time to live, counted from the moment the record is encoded (inside the append call).
    /// Stored as an absolute expiry time with nanosecond resolution.
    std::optional<std::chrono::nanoseconds> ttl;
    /// Compression for this record; unset means the wal_config default.
    std::optional<compression> compress;

    /// A put of `value` under `key` (views: no copy).
    static record put(bytes_view key, bytes_view value) noexcept {
        record r;
        r.key = key;
        r.value = value;
        return r;
    }
    /// A put of the characters of `value` under those of `key` (views: no copy).
    static record put(std::string_view key, std::string_view value) noexcept {
        return put(as_bytes(key), as_bytes(value));
    }
    /// A delete (tombstone) of key. Its value is empty.
    static record erase(bytes_view key) noexcept {
        record r;
        r.key = key;
        r.tombstone = true;
        return r;
    }
    /// A delete (tombstone) of the characters of `key`.
    static record erase(std::string_view key) noexcept { return erase(as_bytes(key)); }

    /// Sets the time to live (see `ttl`); returns *this for chaining.
    record& with_ttl(std::chrono::nanoseconds t) noexcept {
        ttl = t;
        return *this;
    }
    /// Chooses the value's compression (see `compress`); returns *this for chaining.
    record& with_compression(compression c) noexcept {
        compress = c;
        return *this;
    }
};

}  // namespace noriwal
