#include "fuzz/fuzz_properties.hpp"

#include <noriwal/detail/crc32c.hpp>
#include <noriwal/detail/format.hpp>
#include <noriwal/error.hpp>

#include "format/little_endian.hpp"
#include "log/recovery_scanner.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>

namespace noriwal::test {
namespace {

namespace nd = noriwal::detail;
namespace le = noriwal::detail::le;

// Decompression allocates up to max_record_size: the harness caps it, so that the fuzzer's
// malloc limit catches an allocation the decoder's checks should have refused, not a legal one.
constexpr std::uint32_t max_record_cap = 1u << 20;

std::string at(const char* what, std::size_t offset) {
    return std::string(what) + " at offset " + std::to_string(offset);
}

std::size_t first_difference(std::span<const std::byte> a, std::span<const std::byte> b) {
    const std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i)
        if (a[i] != b[i]) return i;
    return n;
}

bool within(std::span<const std::byte> inner, std::span<const std::byte> outer) {
    if (inner.empty()) return true;
    return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

// The record's bytes rebuilt from its decoded fields alone, following doc/format.md.
std::vector<std::byte> reframe(const nd::record_view& rv, std::uint64_t segment_id) {
    std::vector<std::byte> body(rv.key.begin(), rv.key.end());
    std::byte word[8];
    if (rv.has_expiry()) {
        le::store_u64(word, rv.expiry_ns);
        body.insert(body.end(), word, word + 8);
    }
    if (rv.compression() != compression::none) {
        le::store_u32(word, rv.raw_value_size);
        body.insert(body.end(), word, word + 4);
    }
    body.insert(body.end(), rv.stored_value.begin(), rv.stored_value.end());
    std::vector<std::byte> out(nd::align_up(nd::record_header_size + body.size()));
    std::byte* h = out.data();
    le::store_u32(h + 4, nd::mask_crc(nd::crc32c(body)));
    le::store_u64(h + 8, rv.lsn);
    le::store_u32(h + 16, static_cast<std::uint32_t>(body.size()));
    le::store_u32(h + 20, static_cast<std::uint32_t>(rv.key.size()));
    h[24] = static_cast<std::byte>(rv.type);
    h[25] = std::byte{rv.flags};
    le::store_u32(h + 28, rv.synced_gap);
    std::byte seed[8];
    le::store_u64(seed, segment_id);
    le::store_u32(
        h, nd::mask_crc(nd::crc32c_extend(nd::crc32c_extend(0, seed, 8), h + 4, nd::record_header_size - 4)));
    if (!body.empty()) std::memcpy(out.data() + nd::record_header_size, body.data(), body.size());
    return out;
}

bool same_view(const nd::record_view& a, const nd::record_view& b) {
    return a.lsn == b.lsn && a.type == b.type && a.flags == b.flags && a.raw_value_size == b.raw_value_size &&
           a.expiry_ns == b.expiry_ns && a.synced_gap == b.synced_gap && a.size == b.size &&
           std::equal(a.key.begin(), a.key.end(), b.key.begin(), b.key.end()) &&
           std::equal(a.stored_value.begin(), a.stored_value.end(), b.stored_value.begin(),
                      b.stored_value.end());
}

// ------------------------------------------------------------------------ scanner helpers

struct scanner_input {
    recovery_mode mode = recovery_mode::tolerate_corrupted_tail;
    std::vector<std::uint64_t> ids;
    std::vector<std::vector<std::byte>> files;
};

scanner_input parse_scanner_input(std::span<const std::byte> in) {
    scanner_input s;
    if (in.size() < 2) return s;
    s.mode = static_cast<recovery_mode>(std::to_integer<unsigned>(in[0]) % 4);
    std::uint64_t id = 1 + std::to_integer<unsigned>(in[1]);
    std::size_t off = 2;
    while (s.files.size() < 8 && off + 4 <= in.size()) {
        const std::uint32_t word = le::load_u32(in.data() + off);
        off += 4;
        const std::size_t len = std::min<std::size_t>(word & 0x0FFFFFFFu, in.size() - off);
        s.ids.push_back(id);
        s.files.emplace_back(in.begin() + static_cast<std::ptrdiff_t>(off),
                             in.begin() + static_cast<std::ptrdiff_t>(off + len));
        off += len;
        id += 1 + (word >> 28);  // the top bits skip ids: missing segments
    }
    return s;
}

struct scan_result {
    std::error_code add_error;  // add_segment refused a file
    nd::recovery_plan plan;
};

scan_result scan(recovery_mode mode, const std::vector<std::uint64_t>& ids,
                 const std::vector<std::vector<std::byte>>& files) {
    scan_result r;
    nd::recovery_scanner scanner(mode);
    for (std::size_t i = 0; i < files.size(); ++i) {
        std::string why;
        if ((r.add_error = scanner.add_segment(ids[i], files[i], why))) return r;
    }
    r.plan = scanner.finish();
    return r;
}

bool cutting(recovery_mode m) { return m != recovery_mode::skip_corrupted; }

// In a cutting mode, the kept bytes of each kept segment ([64, end)) are consecutive records.
std::string check_kept(const scanner_input& in, const nd::recovery_plan& plan) {
    if (plan.kept.size() > in.files.size()) return "more segments kept than scanned";
    for (std::size_t i = 0; i < plan.kept.size(); ++i)
        if (plan.kept[i].id != in.ids[i]) return "the kept segments are not a prefix of the scanned ones";
    if (plan.removed.size() != in.files.size() - plan.kept.size()) return "kept and removed do not add up";
    for (std::size_t i = 0; i < plan.removed.size(); ++i)
        if (plan.removed[i] != in.ids[in.files.size() - 1 - i])
            return "removed segments are not the rest, highest first";
    if (plan.zero_to > plan.zero_from) {
        if (plan.kept.empty()) return "a tail to zero without a kept segment";
        if (plan.zero_from < plan.kept.back().end || plan.zero_to > in.files[plan.kept.size() - 1].size())
            return "the tail to zero overlaps the kept records or runs past the file";
    }
    std::uint64_t total = 0;
    lsn_t expected = 0;
    for (std::size_t i = 0; i < plan.kept.size(); ++i) {
        const auto& k = plan.kept[i];
        const auto& bytes = in.files[i];
        total += k.records;
        if (!cutting(in.mode)) continue;
        if (k.end > bytes.size() && k.records != 0) return "a kept segment ends past its file";
        std::uint64_t off = nd::segment_header_size;
        std::uint64_t count = 0;
        bool open_batch = false;
        while (off < k.end) {
            nd::record_view rv;
            if (nd::decode_record(std::span<const std::byte>(bytes).subspan(off), k.id,
                                  std::numeric_limits<std::uint32_t>::max(), rv) != nd::decode_status::ok)
                return at("a kept record does not decode", off) + " in segment " + std::to_string(k.id);
            if (expected != 0 && rv.lsn != expected) return at("kept LSNs are not consecutive", off);
            const bool continues = rv.type == nd::record_type::middle || rv.type == nd::record_type::last;
            if (continues != open_batch) return at("a kept batch is broken", off);
            open_batch = rv.type == nd::record_type::first || rv.type == nd::record_type::middle;
            expected = rv.lsn + 1;
            off += rv.size;
            ++count;
        }
        if (off != k.end && k.records != 0) return "a kept segment's end is not a record boundary";
        if (open_batch) return "a kept segment ends inside a batch";
        if (count != k.records) return "a kept segment's record count is wrong";
    }
    if (total != plan.info.valid_records) return "valid_records does not count the kept records";
    if (plan.info.valid_records != 0 && cutting(in.mode)) {
        if (plan.info.last_lsn - plan.info.first_lsn + 1 != plan.info.valid_records)
            return "first_lsn..last_lsn does not match the number of records";
        if (plan.next_lsn != plan.info.last_lsn + 1) return "next_lsn does not follow the last record";
    }
    return {};
}

// The segment files as the engine leaves them after applying the plan.
std::vector<std::vector<std::byte>> apply(const scanner_input& in, const nd::recovery_plan& plan) {
    std::vector<std::vector<std::byte>> out(in.files.begin(),
                                            in.files.begin() + static_cast<std::ptrdiff_t>(plan.kept.size()));
    if (plan.zero_to > plan.zero_from && !out.empty())
        std::fill(out.back().begin() + static_cast<std::ptrdiff_t>(plan.zero_from),
                  out.back().begin() + static_cast<std::ptrdiff_t>(plan.zero_to), std::byte{0});
    return out;
}

std::string summary(const nd::recovery_plan& p) {
    return "LSN " + std::to_string(p.info.first_lsn) + ".." + std::to_string(p.info.last_lsn) + " (" +
           std::to_string(p.info.valid_records) + " records) in " + std::to_string(p.kept.size()) +
           " segments, next " + std::to_string(p.next_lsn);
}

bool same_records(const nd::recovery_plan& a, const nd::recovery_plan& b) {
    return a.info.first_lsn == b.info.first_lsn && a.info.last_lsn == b.info.last_lsn &&
           a.info.valid_records == b.info.valid_records && a.kept.size() == b.kept.size() &&
           a.next_lsn == b.next_lsn;
}

}  // namespace

// ------------------------------------------------------------------------ record decoder

std::string check_record_decoder(std::span<const std::byte> input) {
    if (input.size() < 12) return {};
    const std::uint64_t id = le::load_u64(input.data());
    const std::uint32_t max = std::min(le::load_u32(input.data() + 8), max_record_cap);
    const auto bytes = input.subspan(12);

    nd::record_view rv;
    nd::record_view hv;
    const auto st = nd::decode_record(bytes, id, max, rv);
    const auto hs = nd::decode_record_header(bytes, id, max, hv);
    if (hs != nd::decode_status::ok) {
        if (st != hs) return "decode_record and decode_record_header disagree on a bad header";
        return {};
    }
    if (st != nd::decode_status::ok) {
        // The body checks come on top of the header's: only they can fail now.
        if (st != nd::decode_status::bad_payload_crc && st != nd::decode_status::bad_header)
            return "decode_record failed with a header-only status although the header decodes";
        return {};
    }
    if (hv.lsn != rv.lsn || hv.size != rv.size || hv.type != rv.type || hv.flags != rv.flags ||
        hv.synced_gap != rv.synced_gap)
        return "decode_record_header reads other fields than decode_record";
    if (rv.size > bytes.size() || rv.size % nd::record_alignment != 0 || rv.size < nd::record_header_size)
        return "the record's size is out of the bytes or unaligned";
    const auto frame = bytes.first(rv.size);
    const auto body = frame.subspan(nd::record_header_size);
    if (!within(rv.key, body) || !within(rv.stored_value, body))
        return "key or value views lie outside the record";
    if (rv.key.data() != body.data() && !rv.key.empty()) return "the key does not start the body";
    if (rv.has_expiry() && rv.expiry_ns == 0) return "an expiry of 0 was accepted";

    // The valid record re-encodes byte for byte from its fields...
    const auto again = reframe(rv, id);
    if (!std::equal(again.begin(), again.end(), frame.begin(), frame.end()))
        return at("the record does not re-encode byte for byte; first difference",
                  first_difference(again, frame));
    // ... and through the library's encoder, where the encoder can express the record (an
    // uncompressed value; an expiry it can produce; a durable hint it can stamp).
    if (rv.compression() == compression::none &&
        (!rv.has_expiry() ||
         rv.expiry_ns <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) &&
        (rv.synced_gap == nd::synced_gap_unknown || rv.synced_gap <= rv.lsn)) {
        record r;
        r.key = rv.key;
        r.value = rv.stored_value;
        r.tombstone = rv.tombstone();
        r.compress = compression::none;
        if (rv.has_expiry()) r.ttl = std::chrono::nanoseconds(static_cast<std::int64_t>(rv.expiry_ns));
        nd::encode_options opts;
        opts.max_record_size = max;
        nd::encoded_record enc;
        if (nd::encode_record(r, opts, 0, enc)) return "the encoder refuses a record the decoder accepted";
        const lsn_t durable = rv.synced_gap == nd::synced_gap_unknown ? rv.lsn + 1 : rv.lsn - rv.synced_gap;
        nd::stamp_record(enc.header(), id, rv.lsn, rv.type, durable);
        if (!std::equal(enc.bytes.begin(), enc.bytes.end(), frame.begin(), frame.end()))
            return at("encode_record + stamp_record give other bytes; first difference",
                      first_difference(enc.bytes, frame));
    }
    // Bytes after the record change nothing: the record alone, and with another tail.
    nd::record_view alone;
    if (nd::decode_record(frame, id, max, alone) != nd::decode_status::ok || !same_view(alone, rv))
        return "the record alone decodes differently";
    std::vector<std::byte> other(bytes.begin(), bytes.end());
    for (std::size_t i = rv.size; i < other.size(); ++i) other[i] = ~other[i];
    other.resize(other.size() + 16, std::byte{0x5a});
    nd::record_view tail;
    if (nd::decode_record(other, id, max, tail) != nd::decode_status::ok || !same_view(tail, rv))
        return "bytes after the record change how it decodes";
    // Another segment id never decodes it.
    nd::record_view elsewhere;
    if (id < (1ull << 31) && nd::decode_record(frame, id + 1, max, elsewhere) == nd::decode_status::ok)
        return "the record also decodes as a record of the next segment";

    // Decompression: exactly raw_value_size bytes, or errc::corrupted.
    std::vector<std::byte> value;
    const auto ec = nd::decompress_value(rv, value);
    if (ec && ec != errc::corrupted) return "decompress_value failed with " + ec.message();
    if (!ec && value.size() != rv.raw_value_size) return "decompressed size differs from raw_value_size";
    if (ec && rv.compression() == compression::none) return "an uncompressed value failed to copy";
    if (!ec && rv.compression() != compression::none) {
        // What decompressed re-encodes (compressed again, or raw if it does not shrink) and
        // decodes to the same value.
        record r;
        r.key = rv.key;
        r.value = value;
        r.compress = rv.compression();
        nd::encode_options opts;
        opts.max_record_size = max;
        nd::encoded_record enc;
        if (!nd::encode_record(r, opts, 0, enc)) {
            nd::stamp_record(enc.header(), id, rv.lsn, nd::record_type::full, rv.lsn);
            nd::record_view round;
            std::vector<std::byte> value2;
            if (nd::decode_record(enc.bytes, id, max, round) != nd::decode_status::ok ||
                nd::decompress_value(round, value2) || value2 != value)
                return "a decompressed value does not round-trip through the encoder";
        }
    }
    return {};
}

// ------------------------------------------------------------------------ recovery scanner

std::vector<std::byte> frame_scanner_input(unsigned mode, unsigned first_id,
                                           const std::vector<std::vector<std::byte>>& segments) {
    std::vector<std::byte> out{static_cast<std::byte>(mode), static_cast<std::byte>(first_id - 1)};
    for (const auto& s : segments) {
        std::byte len[4];
        le::store_u32(len, static_cast<std::uint32_t>(s.size()));
        out.insert(out.end(), len, len + 4);
        out.insert(out.end(), s.begin(), s.end());
    }
    return out;
}

std::string check_recovery_scanner(std::span<const std::byte> input) {
    const scanner_input in = parse_scanner_input(input);
    if (in.files.empty()) return {};
    const scan_result first = scan(in.mode, in.ids, in.files);
    if (first.add_error) {
        if (first.add_error != errc::not_a_log && first.add_error != errc::unsupported_version)
            return "add_segment failed with " + first.add_error.message();
        return {};
    }
    const auto& plan = first.plan;
    if (plan.error) {
        if (plan.error != errc::corrupted) return "the plan failed with " + plan.error.message();
        if (in.mode != recovery_mode::absolute_consistency &&
            in.mode != recovery_mode::tolerate_corrupted_tail)
            return "point_in_time or skip_corrupted refused a log";
        return {};
    }
    if (auto err = check_kept(in, plan); !err.empty()) return err;
    // An emptied log or an all-zero last segment gets a new segment header from the engine
    // (at next_lsn), which the scanner's plan does not hold: nothing to rescan.
    if (!cutting(in.mode) || plan.reset_last || plan.kept.empty()) return {};

    // Applying the plan leaves a clean log with the same records.
    const auto applied = apply(in, plan);
    const std::vector<std::uint64_t> ids(in.ids.begin(),
                                         in.ids.begin() + static_cast<std::ptrdiff_t>(applied.size()));
    const scan_result second = scan(in.mode, ids, applied);
    if (second.add_error || second.plan.error) return "the repaired log does not scan again";
    if (second.plan.info.corruption_detected)
        return "the repaired log still holds damage: " +
               std::string(to_string(second.plan.info.damages[0].kind)) + " in segment " +
               std::to_string(second.plan.info.damages[0].segment_id) + " at offset " +
               std::to_string(second.plan.info.damages[0].offset);
    if (!same_records(plan, second.plan))
        return "scanning the repaired log finds other records: " + summary(second.plan) +
               ", before the repair " + summary(plan);
    if (second.plan.zero_to > second.plan.zero_from || !second.plan.removed.empty())
        return "the repaired log would be repaired again";

    // Bytes after the valid prefix never change the records before them: append to the last
    // kept segment what followed its end (inverted, so that it differs) and the input's head.
    if (applied.empty() || in.mode != recovery_mode::point_in_time) return {};
    auto grown = applied;
    auto& last = grown.back();
    const std::uint64_t end = std::max<std::uint64_t>(plan.kept.back().end, nd::segment_header_size);
    if (last.size() < end) return {};
    std::vector<std::byte> x(in.files[applied.size() - 1].begin() + static_cast<std::ptrdiff_t>(end),
                             in.files[applied.size() - 1].end());
    for (auto& b : x) b = ~b;
    x.insert(x.end(), input.begin(),
             input.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(input.size(), 256)));
    last.resize(end);
    last.insert(last.end(), x.begin(), x.end());
    const scan_result third = scan(in.mode, ids, grown);
    if (third.add_error || third.plan.error)
        return "appending bytes after the valid prefix made the log unreadable";
    const auto& p3 = third.plan;
    if (p3.kept.size() != plan.kept.size() || p3.kept.back().end < plan.kept.back().end ||
        p3.info.valid_records < plan.info.valid_records ||
        (plan.info.valid_records != 0 && p3.info.first_lsn != plan.info.first_lsn))
        return "bytes appended after the valid prefix changed the records before them";
    for (std::size_t i = 0; i + 1 < plan.kept.size(); ++i)
        if (p3.kept[i].records != plan.kept[i].records || p3.kept[i].end != plan.kept[i].end)
            return "bytes appended to the last segment changed an earlier segment";
    return {};
}

}  // namespace noriwal::test
