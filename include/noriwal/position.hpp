// Where a record lives: its segment, its byte offset in the segment file, and its LSN.
#pragma once

#include <compare>
#include <cstdint>

namespace noriwal {

/// Log sequence number: 1 for the first record of a new log, dense and increasing.
using lsn_t = std::uint64_t;

/// A record's place in the log. Positions order like their LSNs; two positions are equal
/// when their LSNs are. A default position (lsn 0) stands before every record.
struct position {
    std::uint64_t segment_id = 0;
    std::uint64_t offset = 0;
    lsn_t lsn = 0;

    /// The position before the first record of any log.
    static constexpr position start() noexcept { return {}; }

    friend constexpr std::strong_ordering operator<=>(const position& a, const position& b) noexcept {
        return a.lsn <=> b.lsn;
    }
    friend constexpr bool operator==(const position& a, const position& b) noexcept {
        return a.lsn == b.lsn;
    }
};

}  // namespace noriwal
