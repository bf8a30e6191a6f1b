// A reader's cursor and the steps both sources take with it. See cursor.hpp.
#include "read/cursor.hpp"

#include <noriwal/error.hpp>

namespace noriwal::detail {

std::optional<entry> make_entry(const record_view& rv, const std::shared_ptr<const segment_map>& map,
                                std::uint64_t segment_id, std::uint64_t offset,
                                std::shared_ptr<value_buffer>& buf, std::error_code& ec) {
    const position p{segment_id, offset, rv.lsn};
    std::optional<entry> e(std::in_place);  // the one object returned on every path
    if (rv.compression() == compression::none) {
        entry_access::set(*e, p, rv, rv.stored_value, map);
        return e;
    }
    // The buffer is reused while no entry holds it (the usual loop drops each entry before
    // asking for the next); otherwise the held one is left to its entries.
    if (!buf || buf.use_count() > 1) buf = std::make_shared<value_buffer>();
    buf->map = map;
    if (decompress_value(rv, buf->bytes)) {
        ec = errc::corrupted;
        e.reset();
        return e;
    }
    entry_access::set(*e, p, rv, buf->bytes, buf);
    return e;
}

lsn_t walk_headers(std::span<const std::byte> bytes, std::uint64_t id, std::uint32_t limit,
                   std::uint64_t& off, lsn_t cur, lsn_t target, bool resync, segment_slot* samples) {
    std::uint64_t last_sample = off;
    record_walker w(bytes, id, limit, off);
    while (cur < target && !w.at_end()) {
        record_view rv;
        const auto st = w.decode_header(rv);
        if (st != decode_status::ok || rv.lsn < cur || rv.lsn > target) {
            // `off` stays at the record that did not decode.
            if (!resync || !w.find_in_range(off + record_alignment, cur, target, rv)) return cur;
        }
        off = w.offset();
        if (rv.lsn == target) return target;
        if (samples != nullptr && off >= last_sample + segment_slot::sample_every) {
            samples->add_sample(rv.lsn, off);
            last_sample = off;
        }
        cur = rv.lsn + 1;
        w.advance(rv);
        off = w.offset();
    }
    return cur;
}

position cursor_state::tell() const noexcept {
    if (!offset_known) return {0, 0, expected};
    return {seg.id, offset, expected};
}

void cursor_state::drop_segment() noexcept {
    seg.map.reset();
    seg.sealed = false;
    seg.end = 0;
}

bool cursor_state::enter(segment_view s) noexcept {
    const bool same_place = offset_known && seg.id == s.id;
    seg = std::move(s);
    if (same_place) return false;
    last_offset = 0;
    offset = segment_header_size;
    return true;
}

void cursor_state::place(segment_view s, std::uint64_t at, lsn_t lsn) noexcept {
    sticky.clear();
    at_start = false;
    seg = std::move(s);
    offset = at;
    offset_known = true;
    expect(lsn);
    last_offset = 0;
}

decode_status cursor_state::decode(std::uint32_t limit, record_view& rv) const noexcept {
    if (!seg.map || offset >= seg.end) return decode_status::short_header;
    return record_walker(seg.map->bytes().first(seg.end), seg.id, limit, offset).decode(rv);
}

void cursor_state::pass(const record_view& rv) noexcept {
    last_offset = offset;
    offset += rv.size;
    last = rv.lsn;
    expected = rv.lsn + 1;
    at_start = false;
}

}  // namespace noriwal::detail
