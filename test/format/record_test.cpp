// The record codec: round trips of every kind of record, and every kind of damage.
#include <noriwal/detail/crc32c.hpp>
#include <noriwal/detail/format.hpp>
#include <noriwal/error.hpp>

#include "print.hpp"

#include <boost/endian/conversion.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace nd = noriwal::detail;
using nd::decode_status;
using noriwal::compression;
using noriwal::record;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t segment = 7;
constexpr std::uint32_t max_size = 64u << 20;
constexpr std::uint64_t now = 1'700'000'000'000'000'000ull;

std::vector<std::byte> bytes_of(std::string_view s) {
    const auto b = noriwal::as_bytes(s);
    return {b.begin(), b.end()};
}

std::vector<std::byte> random_bytes(std::size_t n, std::uint32_t seed) {
    std::mt19937 gen(seed);
    std::vector<std::byte> v(n);
    for (auto& b : v) b = static_cast<std::byte>(gen());
    return v;
}

// Text that compresses well but is not a single repeated byte.
std::vector<std::byte> compressible(std::size_t n) {
    std::string s;
    for (std::size_t i = 0; s.size() < n; ++i) s += "record " + std::to_string(i % 50) + " of the log; ";
    s.resize(n);
    return bytes_of(s);
}

std::vector<std::byte> frame(const record& r, const nd::encode_options& opts = {}, std::uint64_t lsn = 100,
                             nd::record_type type = nd::record_type::full, std::uint64_t durable = 90,
                             std::uint64_t seg = segment) {
    nd::encoded_record e;
    const std::error_code ec = nd::encode_record(r, opts, now, e);
    BOOST_REQUIRE(!ec);
    BOOST_REQUIRE(e.bytes.size() % nd::record_alignment == 0);
    nd::stamp_record(e.header(), seg, lsn, type, durable);
    return e.bytes;
}

std::string value_of(const nd::record_view& rv) {
    std::vector<std::byte> v;
    BOOST_REQUIRE(!nd::decompress_value(rv, v));
    return std::string(noriwal::as_string(v));
}

// The test's own statement of the two CRCs (format.hpp): used to forge headers whose CRC holds
// but whose fields are impossible.
void reseal(std::vector<std::byte>& b, std::uint64_t seg = segment) {
    auto* p = reinterpret_cast<unsigned char*>(b.data());
    const std::uint32_t body_len = boost::endian::load_little_u32(p + 16);
    if (32 + std::size_t{body_len} <= b.size())
        boost::endian::store_little_u32(p + 4, nd::mask_crc(nd::crc32c_extend(0, p + 32, body_len)));
    unsigned char id[8];
    boost::endian::store_little_u64(id, seg);
    boost::endian::store_little_u32(p,
                                    nd::mask_crc(nd::crc32c_extend(nd::crc32c_extend(0, id, 8), p + 4, 28)));
}

decode_status decode(std::span<const std::byte> b, nd::record_view& rv, std::uint64_t seg = segment,
                     std::uint32_t max = max_size) {
    return nd::decode_record(b, seg, max, rv);
}

decode_status decode(std::span<const std::byte> b) {
    nd::record_view rv;
    return decode(b, rv);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(record_codec)

BOOST_AUTO_TEST_CASE(put_round_trips) {
    const auto b = frame(record::put("user:42", "alice@example.com"), {}, 100, nd::record_type::full, 90);
    nd::record_view rv;
    BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
    BOOST_TEST(rv.lsn == 100u);
    BOOST_TEST((rv.type == nd::record_type::full));
    BOOST_TEST(noriwal::as_string(rv.key) == "user:42");
    BOOST_TEST(noriwal::as_string(rv.stored_value) == "alice@example.com");
    BOOST_TEST(rv.raw_value_size == 17u);
    BOOST_TEST(!rv.tombstone());
    BOOST_TEST(!rv.has_expiry());
    BOOST_TEST(rv.expiry_ns == 0u);
    BOOST_TEST((rv.compression() == compression::none));
    BOOST_TEST(rv.size == b.size());
    BOOST_TEST(rv.size == nd::align_up(32 + 7 + 17));
    BOOST_TEST(rv.synced_gap == 10u);
    BOOST_TEST(rv.durable_hint() == 90u);
    BOOST_TEST(value_of(rv) == "alice@example.com");
}

BOOST_AUTO_TEST_CASE(empty_key_and_empty_value_round_trip) {
    for (auto [k, v] : {std::pair{"", "value"}, std::pair{"key", ""}, std::pair{"", ""}}) {
        const auto b = frame(record::put(k, v));
        nd::record_view rv;
        BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
        BOOST_TEST(noriwal::as_string(rv.key) == k);
        BOOST_TEST(noriwal::as_string(rv.stored_value) == v);
        BOOST_TEST(rv.size == nd::align_up(32 + std::strlen(k) + std::strlen(v)));
    }
    // A record with no key and no value is a bare 32-byte header, and still not all zeros.
    const auto empty = frame(record::put("", ""), {}, 1, nd::record_type::full, 0);
    BOOST_TEST(empty.size() == 32u);
    BOOST_TEST(decode(empty) == decode_status::ok);
}

BOOST_AUTO_TEST_CASE(tombstone_round_trips) {
    const auto b = frame(record::put_tombstone("user:42"));
    nd::record_view rv;
    BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
    BOOST_TEST(rv.tombstone());
    BOOST_TEST(noriwal::as_string(rv.key) == "user:42");
    BOOST_TEST(rv.stored_value.empty());
}

BOOST_AUTO_TEST_CASE(ttl_is_stored_as_absolute_expiry) {
    nd::record_view rv;
    auto b = frame(record::put("k", "v").with_ttl(60s));
    BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
    BOOST_TEST(rv.has_expiry());
    BOOST_TEST(rv.expiry_ns == now + 60'000'000'000ull);
    BOOST_TEST(noriwal::as_string(rv.key) == "k");
    BOOST_TEST(noriwal::as_string(rv.stored_value) == "v");

    auto t = record::put_tombstone("gone");
    t.with_ttl(1ns);
    b = frame(t);
    BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
    BOOST_TEST(rv.tombstone());
    BOOST_TEST(rv.expiry_ns == now + 1);

    // Out-of-range TTLs saturate rather than wrap, and never store 0 ("no expiry").
    b = frame(record::put("k", "v").with_ttl(std::chrono::nanoseconds::max()));
    BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
    BOOST_TEST(rv.expiry_ns == now + static_cast<std::uint64_t>(INT64_MAX));
    nd::encoded_record e;
    BOOST_REQUIRE(!nd::encode_record(record::put("k", "v").with_ttl(1ns), {}, UINT64_MAX, e));
    nd::stamp_record(e.header(), segment, 1, nd::record_type::full, 0);
    BOOST_TEST_REQUIRE(decode(e.bytes, rv) == decode_status::ok);
    BOOST_TEST(rv.expiry_ns == UINT64_MAX);
    b = frame(record::put("k", "v").with_ttl(std::chrono::nanoseconds::min()));
    BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
    BOOST_TEST(rv.expiry_ns == 1u);
    b = frame(record::put("k", "v").with_ttl(-1s));
    BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
    BOOST_TEST(rv.expiry_ns == now - 1'000'000'000ull);
}

BOOST_AUTO_TEST_CASE(encode_without_clock_uses_system_time) {
    nd::encoded_record e;
    const auto before = std::chrono::system_clock::now().time_since_epoch();
    BOOST_REQUIRE(!nd::encode_record(record::put("k", "v").with_ttl(10s), {}, e));
    const auto after = std::chrono::system_clock::now().time_since_epoch();
    nd::stamp_record(e.header(), segment, 1, nd::record_type::full, 0);
    nd::record_view rv;
    BOOST_TEST_REQUIRE(decode(e.bytes, rv) == decode_status::ok);
    BOOST_TEST(rv.expiry_ns >= static_cast<std::uint64_t>(std::chrono::nanoseconds(before + 10s).count()));
    BOOST_TEST(rv.expiry_ns <= static_cast<std::uint64_t>(std::chrono::nanoseconds(after + 10s).count()));
}

BOOST_AUTO_TEST_CASE(lz4_and_zstd_values_round_trip_compressed) {
    const auto value = compressible(4000);
    for (compression c : {compression::lz4, compression::zstd}) {
        BOOST_TEST_CONTEXT("compression " << static_cast<int>(c)) {
            auto r = record::put(noriwal::as_bytes("key"), value);
            r.with_compression(c).with_ttl(5s);
            const auto b = frame(r);
            nd::record_view rv;
            BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
            BOOST_TEST((rv.compression() == c));
            BOOST_TEST(rv.raw_value_size == value.size());
            BOOST_TEST(rv.stored_value.size() < value.size() / 4);
            BOOST_TEST(b.size() < value.size() / 4);
            BOOST_TEST(rv.expiry_ns == now + 5'000'000'000ull);
            BOOST_TEST(noriwal::as_string(rv.key) == "key");
            std::vector<std::byte> out;
            BOOST_TEST_REQUIRE(!nd::decompress_value(rv, out));
            BOOST_TEST((out == value));
        }
    }
}

BOOST_AUTO_TEST_CASE(default_compression_applies_from_the_minimum_size) {
    nd::encode_options opts;
    opts.default_compression = compression::zstd;
    opts.compression_min_size = 1000;
    nd::record_view rv;
    auto small = compressible(999);
    auto b = frame(record::put(noriwal::as_bytes("k"), small), opts);
    BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
    BOOST_TEST((rv.compression() == compression::none));

    auto big = compressible(1000);
    b = frame(record::put(noriwal::as_bytes("k"), big), opts);
    BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
    BOOST_TEST((rv.compression() == compression::zstd));

    // A record's own choice wins both ways: none over the default, lz4 below the minimum.
    b = frame(record::put(noriwal::as_bytes("k"), big).with_compression(compression::none), opts);
    BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
    BOOST_TEST((rv.compression() == compression::none));
    b = frame(record::put(noriwal::as_bytes("k"), small).with_compression(compression::lz4), opts);
    BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
    BOOST_TEST((rv.compression() == compression::lz4));
    BOOST_TEST(value_of(rv) == noriwal::as_string(small));
}

BOOST_AUTO_TEST_CASE(a_value_that_does_not_shrink_is_stored_raw) {
    const auto value = random_bytes(2000, 11);
    for (compression c : {compression::lz4, compression::zstd}) {
        nd::encoded_record e;
        BOOST_REQUIRE(
            !nd::encode_record(record::put(noriwal::as_bytes("k"), value).with_compression(c), {}, now, e));
        nd::stamp_record(e.header(), segment, 1, nd::record_type::full, 0);
        nd::record_view rv;
        BOOST_TEST_REQUIRE(decode(e.bytes, rv) == decode_status::ok);
        BOOST_TEST((rv.compression() == compression::none));
        BOOST_TEST(std::ranges::equal(rv.stored_value, value));
        BOOST_TEST(e.raw_value_size == value.size());
    }
    // Tiny values never shrink either.
    const auto b = frame(record::put("k", "abc").with_compression(compression::zstd));
    nd::record_view rv;
    BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
    BOOST_TEST((rv.compression() == compression::none));
    BOOST_TEST(noriwal::as_string(rv.stored_value) == "abc");
}

BOOST_AUTO_TEST_CASE(large_values_round_trip) {
    const auto raw = random_bytes(3u << 20, 12);
    auto b = frame(record::put(noriwal::as_bytes("big"), raw));
    nd::record_view rv;
    BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
    BOOST_TEST(std::ranges::equal(rv.stored_value, raw));

    const auto text = compressible(8u << 20);
    for (compression c : {compression::lz4, compression::zstd}) {
        b = frame(record::put(noriwal::as_bytes("big"), text).with_compression(c));
        BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
        BOOST_TEST((rv.compression() == c));
        std::vector<std::byte> out;
        BOOST_TEST_REQUIRE(!nd::decompress_value(rv, out));
        BOOST_TEST((out == text));
    }
}

BOOST_AUTO_TEST_CASE(encoding_reuses_the_buffer) {
    nd::encoded_record e;
    const auto big = compressible(100000);
    BOOST_REQUIRE(
        !nd::encode_record(record::put(noriwal::as_bytes("a"), random_bytes(200000, 14)), {}, now, e));
    const auto* data = e.bytes.data();
    const auto capacity = e.bytes.capacity();
    // Smaller records of every kind after a bigger one: same buffer, no trace of the old bytes.
    const record smaller[] = {record::put("key", "value"), record::put_tombstone("key"), record::put("", ""),
                              record::put("k", "v").with_ttl(1s),
                              record::put(noriwal::as_bytes("z"), big).with_compression(compression::zstd)};
    for (const record& r : smaller) {
        BOOST_REQUIRE(!nd::encode_record(r, {}, now, e));
        BOOST_TEST(e.bytes.data() == data);
        BOOST_TEST(e.bytes.capacity() == capacity);
        nd::stamp_record(e.header(), segment, 5, nd::record_type::full, 4);
        nd::encoded_record fresh;
        BOOST_REQUIRE(!nd::encode_record(r, {}, now, fresh));
        nd::stamp_record(fresh.header(), segment, 5, nd::record_type::full, 4);
        BOOST_TEST((e.bytes == fresh.bytes));
    }
}

BOOST_AUTO_TEST_CASE(batch_types_and_lsn_are_stamped) {
    const nd::record_type types[] = {nd::record_type::full, nd::record_type::first, nd::record_type::middle,
                                     nd::record_type::last};
    for (auto t : types) {
        const auto b = frame(record::put("k", "v"), {}, 0x0102030405060708ull, t, 0);
        nd::record_view rv;
        BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
        BOOST_TEST((rv.type == t));
        BOOST_TEST(rv.lsn == 0x0102030405060708ull);
    }
}

BOOST_AUTO_TEST_CASE(synced_gap_records_the_durable_watermark) {
    struct {
        std::uint64_t lsn, durable;
        std::uint32_t gap;
        std::uint64_t hint;
    } const cases[] = {
        {100, 90, 10, 90},
        {100, 0, 100, 0},
        {1, 0, 1, 0},
        {100, 100, 0, 100},
        {100, 101, nd::synced_gap_unknown, 0},             // watermark ahead: unknown
        {0x1'0000'0000ull, 0, nd::synced_gap_unknown, 0},  // gap does not fit
        {0x1'0000'0000ull, 1, 0xFFFFFFFFu, 0},             // 0xFFFFFFFF is reserved
        {0x1'0000'0000ull, 2, 0xFFFFFFFEu, 2},
    };
    for (const auto& c : cases) {
        const auto b = frame(record::put("k", "v"), {}, c.lsn, nd::record_type::full, c.durable);
        nd::record_view rv;
        BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
        BOOST_TEST(rv.synced_gap == c.gap);
        BOOST_TEST(rv.durable_hint() == c.hint);
    }
}

BOOST_AUTO_TEST_CASE(record_too_large_is_refused_before_allocating) {
    nd::encode_options opts;
    opts.max_record_size = 1000;
    nd::encoded_record e;
    const auto value = random_bytes(996, 13);
    // key (4) + value (996) = 1000: fits exactly.
    BOOST_TEST(!nd::encode_record(record::put(noriwal::as_bytes("abcd"), value), opts, now, e));
    // One more byte, or an expiry, does not.
    nd::encoded_record untouched;
    BOOST_TEST((nd::encode_record(record::put(noriwal::as_bytes("abcde"), value), opts, now, untouched) ==
                noriwal::errc::record_too_large));
    BOOST_TEST((nd::encode_record(record::put(noriwal::as_bytes("abcd"), value).with_ttl(1s), opts, now,
                                  untouched) == noriwal::errc::record_too_large));
    // The limit is on the value before compression, so a reader never inflates past it.
    const auto text = compressible(2000);
    BOOST_TEST(
        (nd::encode_record(record::put(noriwal::as_bytes("k"), text).with_compression(compression::zstd),
                           opts, now, untouched) == noriwal::errc::record_too_large));
    BOOST_TEST(untouched.bytes.capacity() == 0u);
    // A value whose size alone exceeds what the format can hold is refused without reading it.
    const noriwal::bytes_view huge{value.data(), std::size_t{1} << 40};
    opts.max_record_size = UINT32_MAX;
    BOOST_TEST((nd::encode_record(record::put(noriwal::as_bytes("k"), huge), opts, now, untouched) ==
                noriwal::errc::record_too_large));
    BOOST_TEST(untouched.bytes.capacity() == 0u);
}

BOOST_AUTO_TEST_CASE(every_single_bit_flip_is_detected) {
    const auto text = compressible(300);  // records are views: the value must outlive them
    const record records[] = {
        record::put("user:42", "alice@example.com"),
        record::put_tombstone("user:42").with_ttl(60s),
        record::put(noriwal::as_bytes("c"), text).with_compression(compression::lz4),
        record::put(noriwal::as_bytes("z"), text).with_compression(compression::zstd).with_ttl(1s),
        record::put("", ""),
    };
    for (const record& r : records) {
        auto b = frame(r, {}, 1000, nd::record_type::middle, 999);
        BOOST_TEST_REQUIRE(decode(b) == decode_status::ok);
        for (std::size_t bit = 0; bit < b.size() * 8; ++bit) {
            b[bit / 8] ^= std::byte{static_cast<unsigned char>(1u << (bit % 8))};
            const decode_status s = decode(b);
            if (s == decode_status::ok) BOOST_FAIL("a flip of bit " << bit << " was not detected");
            // Damage in the header is caught by its CRC; damage after it by the payload CRC.
            BOOST_TEST(
                (s == (bit < 32 * 8 ? decode_status::bad_header_crc : decode_status::bad_payload_crc)));
            b[bit / 8] ^= std::byte{static_cast<unsigned char>(1u << (bit % 8))};
        }
        BOOST_TEST(decode(b) == decode_status::ok);
    }
}

// The padding that aligns a record to 8 bytes (0 to 7 bytes, not covered by a CRC) must be
// zeros: every bit set in it, for every padding length, is damage.
BOOST_AUTO_TEST_CASE(every_padding_length_is_checked_to_the_last_bit) {
    std::vector<std::size_t> seen;
    for (std::size_t value = 0; value < 8; ++value) {
        auto b = frame(record::put("", std::string(value, 'v')));
        const std::size_t used = 32 + value;  // header, empty key, value: no TTL, no compression
        BOOST_TEST_REQUIRE(b.size() == (used + 7) / 8 * 8);
        seen.push_back(b.size() - used);
        nd::record_view rv;
        BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
        BOOST_TEST(rv.size == b.size());
        for (std::size_t at = used; at < b.size(); ++at) {
            for (int bit = 0; bit < 8; ++bit) {
                b[at] ^= std::byte{static_cast<unsigned char>(1u << bit)};
                BOOST_TEST((decode(b) == decode_status::bad_payload_crc),
                           "value " << value << ", byte " << at << ", bit " << bit);
                b[at] ^= std::byte{static_cast<unsigned char>(1u << bit)};
            }
        }
        BOOST_TEST(decode(b) == decode_status::ok);
    }
    std::sort(seen.begin(), seen.end());
    BOOST_TEST(seen == (std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(every_truncation_is_short) {
    const auto b = frame(record::put(noriwal::as_bytes("key"), compressible(200)).with_ttl(1s));
    for (std::size_t n = 0; n < b.size(); ++n) {
        const decode_status s = decode(std::span(b).first(n));
        BOOST_TEST((s == (n < 32 ? decode_status::short_header : decode_status::short_body)), "length " << n);
        nd::record_view rv;
        const decode_status h = nd::decode_record_header(std::span(b).first(n), segment, max_size, rv);
        BOOST_TEST((h == s));
    }
}

BOOST_AUTO_TEST_CASE(all_zero_header_is_the_clean_end) {
    std::vector<std::byte> zeros(4096);
    nd::record_view rv;
    BOOST_TEST(decode(zeros, rv) == decode_status::zero);
    BOOST_TEST(nd::decode_record_header(zeros, segment, max_size, rv) == decode_status::zero);
    BOOST_TEST(decode(std::span(zeros).first(32)) == decode_status::zero);
    BOOST_TEST(decode(std::span(zeros).first(31)) == decode_status::short_header);
    // The same for segment 0, whose id seeds the CRC with zeros too.
    BOOST_TEST(decode(zeros, rv, 0) == decode_status::zero);
}

BOOST_AUTO_TEST_CASE(a_record_is_bound_to_its_segment_and_place) {
    const auto b = frame(record::put("user:42", "alice@example.com"), {}, 10, nd::record_type::full, 9, 5);
    nd::record_view rv;
    BOOST_TEST(decode(b, rv, 5) == decode_status::ok);
    for (std::uint64_t other : {0ull, 4ull, 6ull, 5ull | (1ull << 63)})
        BOOST_TEST(decode(b, rv, other) == decode_status::bad_header_crc);

    // Reading at an offset that is not a record start (in a run of records) finds no record.
    std::vector<std::byte> run;
    for (std::uint64_t lsn = 1; lsn <= 3; ++lsn) {
        const auto r =
            frame(record::put("key", "value-" + std::to_string(lsn)), {}, lsn, nd::record_type::full, 0, 5);
        run.insert(run.end(), r.begin(), r.end());
    }
    const std::size_t each = run.size() / 3;  // the three records have the same size
    std::size_t records = 0;
    for (std::size_t at = 0; at + 32 <= run.size(); at += 8) {
        const decode_status s = decode(std::span(run).subspan(at), rv, 5);
        if (s == decode_status::ok) {
            ++records;
            BOOST_TEST(at % each == 0u);
            BOOST_TEST(rv.lsn == at / each + 1);
        } else {
            BOOST_TEST(s == decode_status::bad_header_crc);
        }
    }
    BOOST_TEST(records == 3u);
}

BOOST_AUTO_TEST_CASE(random_headers_never_decode) {
    std::mt19937_64 gen(42);
    std::vector<std::byte> buf(32 + 64);
    nd::record_view rv;
    for (int i = 0; i < 300000; ++i) {
        for (std::size_t w = 0; w < buf.size(); w += 8) {
            const std::uint64_t x = gen();
            std::memcpy(buf.data() + w, &x, 8);
        }
        if (decode(buf, rv, static_cast<std::uint64_t>(i)) == decode_status::ok)
            BOOST_FAIL("random bytes decoded as a record at trial " << i);
    }
}

// Random headers whose CRCs are made to hold: the codec must still refuse whatever is
// inconsistent, never read outside the given bytes (the sanitizers watch), and any record it
// accepts must lie inside them.
BOOST_AUTO_TEST_CASE(forged_headers_with_valid_crc_stay_in_bounds) {
    std::mt19937_64 gen(43);
    nd::record_view rv;
    int accepted = 0;
    for (int i = 0; i < 100000; ++i) {
        std::vector<std::byte> b(32 + gen() % 64);
        for (auto& x : b) x = static_cast<std::byte>(gen());
        auto* p = reinterpret_cast<unsigned char*>(b.data());
        // Keep lengths small often enough that some records fit; keep fields plausible half the time.
        if (gen() % 2) boost::endian::store_little_u32(p + 16, static_cast<std::uint32_t>(gen() % 72));
        if (gen() % 2) boost::endian::store_little_u32(p + 20, static_cast<std::uint32_t>(gen() % 16));
        if (gen() % 2) {
            p[24] = static_cast<unsigned char>(1 + gen() % 4);
            p[25] &= 0x0F;
            p[26] = p[27] = 0;
        }
        reseal(b);
        const decode_status s = decode(b, rv);
        if (s == decode_status::ok) {
            ++accepted;
            BOOST_TEST(rv.size <= b.size());
            BOOST_TEST(rv.key.data() >= b.data());
            BOOST_TEST(rv.stored_value.data() + rv.stored_value.size() <= b.data() + b.size());
            std::vector<std::byte> out;
            (void)nd::decompress_value(rv, out);  // must not crash; any result is fine
            BOOST_TEST(out.size() <= std::size_t{max_size});
        }
    }
    BOOST_TEST(accepted > 0);  // the forgery does reach the body checks
}

BOOST_AUTO_TEST_CASE(length_fields_near_two_to_the_32) {
    for (std::uint32_t max : {max_size, UINT32_MAX}) {
        for (std::uint32_t body_len :
             {0xFFFFFFFFu, 0xFFFFFFF8u, static_cast<std::uint32_t>(nd::format_max_body),
              static_cast<std::uint32_t>(nd::format_max_body + 1), max_size + 1}) {
            auto b = frame(record::put("k", "v"));
            auto* p = reinterpret_cast<unsigned char*>(b.data());
            boost::endian::store_little_u32(p + 16, body_len);
            reseal(b);
            nd::record_view rv;
            const decode_status s = decode(b, rv, segment, max);
            BOOST_TEST_CONTEXT("body_len " << body_len << ", max " << max) {
                if (body_len > std::min<std::uint64_t>(max, nd::format_max_body))
                    BOOST_TEST(s == decode_status::bad_length);
                else
                    BOOST_TEST(s == decode_status::short_body);
            }
        }
    }
    // key_len beyond body_len.
    auto b = frame(record::put("k", "v"));
    boost::endian::store_little_u32(reinterpret_cast<unsigned char*>(b.data()) + 20, 0xFFFFFFFFu);
    reseal(b);
    BOOST_TEST(decode(b) == decode_status::bad_header);
}

BOOST_AUTO_TEST_CASE(impossible_fields_are_bad_headers) {
    const auto good = frame(record::put("key", "value").with_ttl(1s));
    BOOST_TEST_REQUIRE(decode(good) == decode_status::ok);
    auto forged = [&](auto change) {
        auto b = good;
        change(reinterpret_cast<unsigned char*>(b.data()));
        reseal(b);
        return decode(b);
    };
    BOOST_TEST(forged([](unsigned char* p) { p[24] = 0; }) == decode_status::bad_header);      // type 0
    BOOST_TEST(forged([](unsigned char* p) { p[24] = 5; }) == decode_status::bad_header);      // type 5
    BOOST_TEST(forged([](unsigned char* p) { p[25] |= 0x10; }) == decode_status::bad_header);  // unknown flag
    BOOST_TEST(forged([](unsigned char* p) { p[25] |= 0x80; }) == decode_status::bad_header);
    BOOST_TEST(forged([](unsigned char* p) { p[25] |= 0x0C; }) ==
               decode_status::bad_header);                                                 // compression 3
    BOOST_TEST(forged([](unsigned char* p) { p[26] = 1; }) == decode_status::bad_header);  // reserved
    BOOST_TEST(forged([](unsigned char* p) { p[27] = 0x80; }) == decode_status::bad_header);
    BOOST_TEST(forged([](unsigned char* p) { p[20] = 9; }) ==
               decode_status::bad_header);  // key_len > body_len
    // key (3) + expiry (8) + value (5) = 16: a key of 9 leaves no room for the expiry.
    BOOST_TEST(forged([](unsigned char* p) {
                   p[20] = 9;
                   p[25] &= ~nd::flag::expiry;
               }) == decode_status::ok);
    BOOST_TEST(forged([](unsigned char* p) { p[20] = 9; }) == decode_status::bad_header);
    // An expiry of 0 would read as "no expiry".
    BOOST_TEST(forged([](unsigned char* p) { std::memset(p + 32 + 3, 0, 8); }) == decode_status::bad_header);
    // Compressed: raw_len must be larger than what is stored and within max_record_size; the
    // raw_len field itself must fit in the body.
    BOOST_TEST(forged([](unsigned char* p) {
                   p[25] |= 1u << nd::flag::compression_shift;
                   boost::endian::store_little_u32(p + 32 + 11, 2);  // stored value is 1 byte
               }) == decode_status::ok);
    BOOST_TEST(forged([](unsigned char* p) {
                   p[25] |= 1u << nd::flag::compression_shift;
                   boost::endian::store_little_u32(p + 32 + 11, 1);
               }) == decode_status::bad_header);
    BOOST_TEST(forged([](unsigned char* p) {
                   p[25] |= 2u << nd::flag::compression_shift;
                   boost::endian::store_little_u32(p + 32 + 11, max_size + 1);
               }) == decode_status::bad_header);
    BOOST_TEST(forged([](unsigned char* p) {
                   p[25] |= 2u << nd::flag::compression_shift;
                   boost::endian::store_little_u32(p + 16, 3 + 8 + 3);  // no room for raw_len
               }) == decode_status::bad_header);
}

BOOST_AUTO_TEST_CASE(header_only_decoding_learns_lsn_and_size) {
    const auto b = frame(record::put(noriwal::as_bytes("key"), compressible(500)).with_ttl(1s), {}, 77,
                         nd::record_type::last, 70);
    nd::record_view rv;
    BOOST_TEST_REQUIRE(nd::decode_record_header(b, segment, max_size, rv) == decode_status::ok);
    BOOST_TEST(rv.lsn == 77u);
    BOOST_TEST(rv.size == b.size());
    BOOST_TEST((rv.type == nd::record_type::last));
    BOOST_TEST(rv.has_expiry());
    BOOST_TEST(rv.synced_gap == 7u);
    BOOST_TEST(rv.key.empty());
    BOOST_TEST(rv.stored_value.empty());
    // It does not read the body: damage there is found only by decode_record.
    auto damaged = b;
    damaged[40] ^= std::byte{1};
    BOOST_TEST(nd::decode_record_header(damaged, segment, max_size, rv) == decode_status::ok);
    BOOST_TEST(decode(damaged) == decode_status::bad_payload_crc);
}

BOOST_AUTO_TEST_CASE(damaged_compressed_values_are_corrupted) {
    const auto text = compressible(5000);
    for (compression c : {compression::lz4, compression::zstd}) {
        BOOST_TEST_CONTEXT("compression " << static_cast<int>(c)) {
            const auto b = frame(record::put(noriwal::as_bytes("k"), text).with_compression(c));
            nd::record_view rv;
            BOOST_TEST_REQUIRE(decode(b, rv) == decode_status::ok);
            std::vector<std::byte> out;

            // A raw size that is off by one either way.
            for (std::uint32_t raw : {rv.raw_value_size - 1, rv.raw_value_size + 1}) {
                auto wrong = rv;
                wrong.raw_value_size = raw;
                BOOST_TEST((nd::decompress_value(wrong, out) == noriwal::errc::corrupted));
            }
            // A claim no compressed value of this size can honour is refused without allocating.
            auto bomb = rv;
            bomb.raw_value_size = 0xFFFFFFFFu;
            std::vector<std::byte> empty;
            BOOST_TEST((nd::decompress_value(bomb, empty) == noriwal::errc::corrupted));
            BOOST_TEST(empty.capacity() == 0u);
            // Damaged stored bytes (a writer bug or a CRC collision): an error, not garbage.
            std::vector<std::byte> stored(rv.stored_value.begin(), rv.stored_value.end());
            for (std::size_t i = 0; i < stored.size(); i += 7) stored[i] ^= std::byte{0x5A};
            auto damaged = rv;
            damaged.stored_value = stored;
            const std::error_code ec = nd::decompress_value(damaged, out);
            BOOST_TEST((ec == noriwal::errc::corrupted || out == text));
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
