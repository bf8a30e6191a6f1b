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

/// Per-append durability override, spelled as fsync_policy is: `durability::always()` asks
/// for what fsync_policy::always() gives every append, for this one append.
/// A small value type: compare with ==, copy freely.
class durability {
public:
    /// Which override this is.
    enum class kind : std::uint8_t {
        as_configured,  ///< as the wal's fsync_policy says
        always,         ///< fdatasync before the append completes, whatever the policy
    };

    /// The append is made durable as the wal's fsync_policy says (the default).
    static constexpr durability as_configured() noexcept { return durability(kind::as_configured); }
    /// The append completes only after an fdatasync that covers it, whatever the policy (as
    /// under fsync_policy::always()).
    static constexpr durability always() noexcept { return durability(kind::always); }

    /// Deprecated spelling of as_configured() (kept for one release; removed in 0.2).
    [[deprecated("use durability::as_configured()")]] static const durability policy;
    /// Deprecated spelling of always() (kept for one release; removed in 0.2).
    [[deprecated("use durability::always()")]] static const durability sync;

    /// Which override this is.
    constexpr kind value() const noexcept { return kind_; }
    friend constexpr bool operator==(const durability&, const durability&) = default;

    /// As configured: `durability d{};` is durability::as_configured().
    constexpr durability() noexcept = default;

private:
    constexpr explicit durability(kind k) noexcept : kind_(k) {}
    kind kind_ = kind::as_configured;
};

inline constexpr durability durability::policy = durability::as_configured();
inline constexpr durability durability::sync = durability::always();

/// One record to append: a view of its key and value plus its flags. Build it with put() or
/// put_tombstone() and the with_ functions; it must outlive only the initiation of the append.
struct record {
    /// Arbitrary bytes, empty allowed (the key index, if enabled, indexes records by it).
    bytes_view key;
    /// Arbitrary bytes, empty allowed (put_tombstone() leaves it empty).
    bytes_view value;
    /// A delete of `key`: readers see entry::tombstone(), and the key index's keys() and
    /// latest() leave the key out from this record on.
    bool tombstone = false;
    /// Time to live, counted from the moment the record is encoded (inside the append call).
    /// Stored as an absolute expiry time with nanosecond resolution.
    std::optional<std::chrono::nanoseconds> ttl;
    /// Compression for this record; unset means the wal_config default.
    std::optional<compression> compress;

    /// A put of `value` under `key` (views: no copy). Each may be any contiguous byte range
    /// (std::string, std::string_view, std::vector<char | unsigned char | std::byte>,
    /// std::span<const std::byte>, an array, a string literal: see bytes_view).
    static record put(bytes_view key, bytes_view value) noexcept {
        record r;
        r.key = key;
        r.value = value;
        return r;
    }
    /// A tombstone: the delete of `key` (a view: no copy). Its value is empty; readers see
    /// entry::tombstone().
    static record put_tombstone(bytes_view key) noexcept {
        record r;
        r.key = key;
        r.tombstone = true;
        return r;
    }
    /// Deprecated spelling of put_tombstone() (kept for one release; removed in 0.2).
    [[deprecated("use record::put_tombstone(key)")]] static record erase(bytes_view key) noexcept {
        return put_tombstone(key);
    }

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
