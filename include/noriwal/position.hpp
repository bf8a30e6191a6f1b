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
    /// The segment file (its name is this id, zero-padded).
    std::uint64_t segment_id = 0;
    /// Byte offset of the record in the segment file.
    std::uint64_t offset = 0;
    /// The record's LSN. The only member that comparisons, delete_segments_before and
    /// reader::seek(lsn_t) look at; read_from and reader::seek(position) check all three.
    lsn_t lsn = 0;

    /// The position before the first record of any log.
    static constexpr position start() noexcept { return {}; }

    /// Orders by LSN.
    friend constexpr std::strong_ordering operator<=>(const position& a, const position& b) noexcept {
        return a.lsn <=> b.lsn;
    }
    /// Equal LSNs.
    friend constexpr bool operator==(const position& a, const position& b) noexcept { return a.lsn == b.lsn; }
};

}  // namespace noriwal
