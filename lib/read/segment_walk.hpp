// Walking the records of one segment's bytes, shared by readers and the key index rebuild.
#pragma once

#include <noriwal/detail/format.hpp>
#include <noriwal/position.hpp>

#include "format/record_walk.hpp"

#include <cstdint>
#include <span>

namespace noriwal::detail {

/// The first record at or after `from` (a multiple of 8) in `bytes` that decodes under
/// `segment_id` (CRCs checked) with an LSN in [lo, hi]; its offset, with `rv` filled, or
/// bytes.size() if there is none. Used to step over damage that skip_corrupted recovery left
/// in place: the bytes between are not records of this log.
inline std::uint64_t find_record_in_range(std::span<const std::byte> bytes, std::uint64_t segment_id,
                                          std::uint32_t max_record_size, std::uint64_t from, lsn_t lo,
                                          lsn_t hi, record_view& rv) noexcept {
    record_walker w(bytes, segment_id, max_record_size);
    w.find_in_range(from, lo, hi, rv);
    return w.offset();
}

}  // namespace noriwal::detail
