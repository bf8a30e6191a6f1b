#include "support/log_check.hpp"

#include "support/temp_dir.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

namespace noriwal::test {
namespace {

using detail::record_type;

std::string hex_prefix(const std::vector<std::byte>& b) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < b.size() && i < 12; ++i) {
        const auto v = std::to_integer<unsigned>(b[i]);
        s += digits[v >> 4];
        s += digits[v & 15];
    }
    if (b.size() > 12) s += "...";
    return s;
}

std::uint64_t mix(std::uint64_t x) noexcept {  // splitmix64 finaliser
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

record_type type_in_batch(lsn_t lsn, lsn_t first, lsn_t last) noexcept {
    if (first == last) return record_type::full;
    if (lsn == first) return record_type::first;
    if (lsn == last) return record_type::last;
    return record_type::middle;
}

}  // namespace

// ------------------------------------------------------------------------ reader

std::string read_log(file_system& fs, const std::filesystem::path& dir, std::vector<read_record>& out) {
    out.clear();
    std::vector<std::string> names;
    if (auto ec = fs.list(dir, names)) return "cannot list " + dir.string() + ": " + ec.message();
    std::vector<std::uint64_t> ids;
    for (const auto& n : names) {
        std::uint64_t id = 0;
        if (detail::parse_segment_file_name(n, id)) ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());

    lsn_t expected = 0;  // 0: not known before the first segment header
    std::size_t batch_start = 0;
    bool in_batch = false;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const std::uint64_t id = ids[i];
        const std::string name = detail::segment_file_name(id);
        if (i > 0 && id != ids[i - 1] + 1) return "segment id gap before " + name;
        std::vector<std::byte> bytes;
        try {
            bytes = read_file(fs, dir / name);
        } catch (const std::exception& e) {
            return e.what();
        }
        detail::segment_header h;
        const auto hs = detail::decode_segment_header(bytes, h);
        if (hs != detail::segment_header_status::ok)
            return name + ": segment header does not decode (status " + std::to_string(static_cast<int>(hs)) +
                   ")";
        if (h.segment_id != id) return name + ": header names segment " + std::to_string(h.segment_id);
        if (expected != 0 && h.base_lsn != expected)
            return name + ": base_lsn " + std::to_string(h.base_lsn) + ", the previous segment ends before " +
                   std::to_string(expected);
        expected = h.base_lsn;
        std::uint64_t off = detail::segment_header_size;
        while (off < bytes.size()) {
            detail::record_view rv;
            const auto st = detail::decode_record(std::span<const std::byte>(bytes).subspan(off), id,
                                                  std::numeric_limits<std::uint32_t>::max(), rv);
            if (st != detail::decode_status::ok || rv.lsn != expected) break;
            read_record r;
            r.lsn = rv.lsn;
            r.segment_id = id;
            r.offset = off;
            r.type = rv.type;
            r.tombstone = rv.tombstone();
            r.has_expiry = rv.has_expiry();
            r.key.assign(rv.key.begin(), rv.key.end());
            if (auto ec = detail::decompress_value(rv, r.value))
                return name + " offset " + std::to_string(off) + ": value of LSN " + std::to_string(rv.lsn) +
                       " does not decompress: " + ec.message();
            const bool opens = rv.type == record_type::first;
            const bool continues = rv.type == record_type::middle || rv.type == record_type::last;
            if (continues != in_batch)
                return name + " offset " + std::to_string(off) + ": LSN " + std::to_string(rv.lsn) +
                       (in_batch ? " interrupts an open batch" : " continues a batch that was never opened");
            if (opens) {
                in_batch = true;
                batch_start = out.size();
            }
            if (rv.type == record_type::last) in_batch = false;
            out.push_back(std::move(r));
            off += rv.size;
            ++expected;
        }
        if (in_batch)
            return name + ": the batch starting at LSN " + std::to_string(out[batch_start].lsn) +
                   " has no last record in this segment";
    }
    return {};
}

// ------------------------------------------------------------------------ contents

record record_content::as_record() const {
    record r = tombstone ? record::put_tombstone(as_bytes(key)) : record::put(as_bytes(key), value);
    if (with_ttl) r.with_ttl(std::chrono::hours(1));
    r.compress = compress;
    return r;
}

record_content make_content(std::string_view stream, std::uint64_t n, std::size_t max_value) {
    // Lengths that cross the 8-byte alignment, 512-byte and 4 KiB sectors in every way.
    static constexpr std::size_t sizes[] = {0,    1,    7,  9,    100,  503,  512, 777, 1000,
                                            1500, 1200, 64, 2100, 3000, 4000, 24,  700, 1024};
    const std::uint64_t h = mix(n * 131 + std::hash<std::string_view>{}(stream));
    record_content c;
    c.key = std::string(stream) + "/" + std::to_string(n);
    std::size_t len = sizes[n % std::size(sizes)];
    if (len > max_value) len = len % (max_value + 1);
    c.tombstone = (h % 17) == 3;
    if (c.tombstone) len = 0;
    c.with_ttl = (h % 11) == 5;
    const bool compressible = (h % 5) == 0;
    if (compressible && len > 64) c.compress = (h & 8) != 0 ? compression::lz4 : compression::zstd;
    c.value.resize(len);
    std::uint64_t x = h;
    for (std::size_t i = 0; i < len; ++i) {
        if (compressible) {
            c.value[i] = static_cast<std::byte>('a' + (i / 16 + n) % 7);
        } else {
            if (i % 8 == 0) x = mix(x);
            c.value[i] = static_cast<std::byte>(x >> (8 * (i % 8)));
        }
    }
    return c;
}

bool parse_content_key(std::string_view key, std::string& stream, std::uint64_t& n) {
    const auto slash = key.rfind('/');
    if (slash == std::string_view::npos) return false;
    const auto digits = key.substr(slash + 1);
    const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec != std::errc{} || p != digits.data() + digits.size()) return false;
    stream = std::string(key.substr(0, slash));
    return true;
}

bool same_content(const read_record& r, const record_content& c) {
    return as_string(r.key) == c.key && r.value == c.value && r.tombstone == c.tombstone &&
           r.has_expiry == c.with_ttl;
}

// ------------------------------------------------------------------------ expectation

void log_expectation::allow(lsn_t lsn, record_content c, lsn_t batch_first, lsn_t batch_last) {
    if (allowed.size() <= lsn) allowed.resize(lsn + 1);
    allowed[lsn] = entry{std::move(c), batch_first, batch_last};
}

void log_expectation::forget_after(lsn_t lsn) {
    if (allowed.size() > lsn + 1) allowed.resize(lsn + 1);
}

std::string describe(const std::vector<read_record>& records) {
    if (records.empty()) return "an empty log";
    return "LSN " + std::to_string(records.front().lsn) + ".." + std::to_string(records.back().lsn) + " (" +
           std::to_string(records.size()) + " records)";
}

std::string check_log(const std::vector<read_record>& records, const log_expectation& e) {
    std::ostringstream why;
    for (std::size_t i = 0; i < records.size(); ++i) {
        const read_record& r = records[i];
        if (i > 0 && r.lsn != records[i - 1].lsn + 1) {
            why << "LSN " << r.lsn << " follows LSN " << records[i - 1].lsn << " (a hole)";
            return why.str();
        }
        if (r.lsn > e.last_allowed() || !e.allowed[r.lsn]) {
            why << "phantom record at LSN " << r.lsn << " (key '" << as_string(r.key)
                << "'): no append could have written it (highest possible LSN " << e.last_allowed() << ")";
            return why.str();
        }
        const auto& want = *e.allowed[r.lsn];
        if (!same_content(r, want.content)) {
            why << "LSN " << r.lsn << " holds key '" << as_string(r.key) << "' value " << r.value.size()
                << " bytes [" << hex_prefix(r.value) << "] tombstone " << r.tombstone << " expiry "
                << r.has_expiry << "; expected key '" << want.content.key << "' value "
                << want.content.value.size() << " bytes [" << hex_prefix(want.content.value) << "] tombstone "
                << want.content.tombstone << " expiry " << want.content.with_ttl
                << " (a stale, torn or joined record)";
            return why.str();
        }
        const auto type = type_in_batch(r.lsn, want.batch_first, want.batch_last);
        if (r.type != type) {
            why << "LSN " << r.lsn << " has record type " << static_cast<int>(r.type) << ", expected "
                << static_cast<int>(type) << " (batch " << want.batch_first << ".." << want.batch_last << ")";
            return why.str();
        }
    }
    if (!records.empty()) {
        const lsn_t first = records.front().lsn;
        const lsn_t last = records.back().lsn;
        if (first < e.floor) {
            why << "the log starts at LSN " << first << " but segments before LSN " << e.floor
                << " were deleted (a deleted segment came back)";
            return why.str();
        }
        // Batches whole: the ends of the recovered range must not cut one.
        const auto& head = *e.allowed[first];
        if (head.batch_first != first) {
            why << "the log starts at LSN " << first << " inside the atomic batch " << head.batch_first
                << ".." << head.batch_last;
            return why.str();
        }
        const auto& tail = *e.allowed[last];
        if (tail.batch_last != last) {
            why << "the log ends at LSN " << last << " inside the atomic batch " << tail.batch_first << ".."
                << tail.batch_last << " (a partial batch)";
            return why.str();
        }
    }
    if (e.required_to >= e.required_from && e.required_to != 0) {
        const bool covers =
            !records.empty() && records.front().lsn <= e.required_from && records.back().lsn >= e.required_to;
        if (!covers) {
            why << "acknowledged durable LSNs " << e.required_from << ".." << e.required_to
                << " are not all there: recovered " << describe(records);
            return why.str();
        }
    }
    return {};
}

bool same_records(const std::vector<read_record>& a, const std::vector<read_record>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].lsn != b[i].lsn || a[i].type != b[i].type || a[i].key != b[i].key ||
            a[i].value != b[i].value || a[i].tombstone != b[i].tombstone ||
            a[i].has_expiry != b[i].has_expiry)
            return false;
    }
    return true;
}

// ------------------------------------------------------------------------ scale

double test_scale() {
    if (const char* s = std::getenv("NORIWAL_TEST_SCALE"); s != nullptr && *s != '\0') {
        char* end = nullptr;
        const double v = std::strtod(s, &end);
        if (end != s && v > 0) return v;
    }
    // Sanitizers slow these tests down 3 to 15 times: the CI runs them there for the checks the
    // sanitizers add, with fewer states.
#if defined(__SANITIZE_THREAD__)
    return 0.1;
#elif defined(__SANITIZE_ADDRESS__)
    return 0.2;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
    return 0.1;
#elif __has_feature(address_sanitizer)
    return 0.2;
#else
    return 1.0;
#endif
#else
    return 1.0;
#endif
}

std::size_t scaled(std::size_t n, std::size_t at_least) {
    const double v = static_cast<double>(n) * test_scale();
    const auto r = static_cast<std::size_t>(v + 0.5);
    return std::max(r, at_least);
}

}  // namespace noriwal::test
