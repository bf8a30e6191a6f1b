// The recovery scanner on its own: segments built in memory, fed as byte spans, no files.
#include "log_support.hpp"

#include <noriwal/detail/crc32c.hpp>

#include <boost/test/unit_test.hpp>

#include <random>

using namespace noriwal;
using namespace noriwal::test;

namespace {

// A segment built record by record in memory.
class segment_bytes {
public:
    segment_bytes(std::uint64_t id, lsn_t base, std::size_t size = 4096) : id_(id), bytes_(size) {
        nd::segment_header h;
        h.segment_id = id;
        h.base_lsn = base;
        h.created_ns = 1;
        nd::encode_segment_header(h, std::span<std::byte, 64>(bytes_.data(), 64));
    }

    // Appends a record framed with durable watermark `durable`; returns its offset.
    std::uint64_t add(lsn_t lsn, lsn_t durable, nd::record_type type = nd::record_type::full,
                      const std::string& value = "value") {
        nd::encoded_record e = encode(record::put("key", value));
        nd::stamp_record(e.header(), id_, lsn, type, durable);
        const std::uint64_t at = end_;
        std::copy(e.bytes.begin(), e.bytes.end(), bytes_.begin() + static_cast<std::ptrdiff_t>(at));
        end_ += e.bytes.size();
        return at;
    }

    std::vector<std::byte>& bytes() { return bytes_; }
    std::uint64_t end() const { return end_; }

private:
    std::uint64_t id_;
    std::vector<std::byte> bytes_;
    std::uint64_t end_ = nd::segment_header_size;
};

nd::recovery_plan scan(recovery_mode mode,
                       std::vector<std::pair<std::uint64_t, std::vector<std::byte>*>> segs) {
    nd::recovery_scanner s(mode);
    std::string why;
    for (auto& [id, bytes] : segs) BOOST_TEST_REQUIRE(!s.add_segment(id, *bytes, why));
    return s.finish();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(recovery_scanner_suite)

BOOST_AUTO_TEST_CASE(a_record_header_of_an_older_segment_is_recognised_as_stale) {
    nd::encoded_record e = encode(record::put("k", "v"));
    nd::stamp_record(e.header(), 3, 17, nd::record_type::full, 16);
    const std::span<const std::byte> h(e.bytes.data(), 32);
    BOOST_TEST(nd::is_stale_record_header(h, 9, 100));   // framed for segment 3, LSN 17 < 100
    BOOST_TEST(nd::is_stale_record_header(h, 4, 0));     // LSN not checked
    BOOST_TEST(!nd::is_stale_record_header(h, 3, 100));  // its own segment: not stale, valid
    BOOST_TEST(!nd::is_stale_record_header(h, 2, 100));  // an older segment cannot hold a newer one's bytes
    BOOST_TEST(!nd::is_stale_record_header(h, 9, 17));   // an LSN not below the segment's base
    nd::stamp_record(e.header(), 3'000'000'000ull, 17, nd::record_type::full, 16);
    BOOST_TEST(nd::is_stale_record_header(h, 3'000'000'001ull, 100));  // large ids solve as well

    // Header-shaped garbage (right type, flags and LSN, random CRCs) is not stale.
    std::mt19937_64 gen(5);
    int stale = 0;
    for (int i = 0; i < 20000; ++i) {
        std::vector<std::byte> g(32);
        for (auto& b : g) b = static_cast<std::byte>(gen());
        g[24] = std::byte{1};
        g[25] = std::byte{0};
        g[26] = g[27] = std::byte{0};
        g[16] = std::byte{8};
        for (int k = 17; k < 24; ++k) g[static_cast<std::size_t>(k)] = std::byte{0};
        stale += nd::is_stale_record_header(g, 1000, 0) ? 1 : 0;
    }
    BOOST_TEST(stale == 0);
}

BOOST_AUTO_TEST_CASE(a_clean_log_of_two_segments) {
    segment_bytes a(1, 1), b(2, 4);
    a.add(1, 0);
    a.add(2, 1);
    a.add(3, 2);
    b.add(4, 3);
    const auto plan = scan(recovery_mode::absolute_consistency, {{1, &a.bytes()}, {2, &b.bytes()}});
    BOOST_TEST(!plan.error);
    BOOST_TEST(plan.info.valid_records == 4u);
    BOOST_TEST(plan.info.last_lsn == 4u);
    BOOST_TEST(plan.next_lsn == 5u);
    BOOST_TEST_REQUIRE(plan.kept.size() == 2u);
    BOOST_TEST(plan.kept[1].end == b.end());
    BOOST_TEST(plan.removed.empty());
    BOOST_TEST(plan.zero_to == plan.zero_from);
}

BOOST_AUTO_TEST_CASE(the_durable_hint_tells_a_torn_tail_from_mid_log_damage) {
    for (lsn_t hint : {lsn_t{1}, lsn_t{2}}) {
        segment_bytes a(1, 1);
        a.add(1, 0);
        const std::uint64_t damaged = a.add(2, 1);
        a.add(3, hint);                           // its writer knew LSN `hint` was durable
        a.bytes()[damaged + 36] ^= std::byte{1};  // in its body (records here are 40 bytes)
        const auto plan = scan(recovery_mode::point_in_time, {{1, &a.bytes()}});
        BOOST_TEST_REQUIRE(plan.info.damages.size() == 1u);
        BOOST_TEST(plan.info.damages[0].offset == damaged);
        BOOST_TEST(plan.info.damages[0].mid_log == (hint >= 2));
        BOOST_TEST(plan.info.valid_records == 1u);
        BOOST_TEST(plan.zero_from == damaged);
        const auto tolerant = scan(recovery_mode::tolerate_corrupted_tail, {{1, &a.bytes()}});
        BOOST_TEST((tolerant.error == errc::corrupted) == (hint >= 2));
    }
}

BOOST_AUTO_TEST_CASE(stale_records_after_the_end_are_the_clean_end) {
    // A recycled file: segment 2's records, then (at 64) segment 5 wrote fewer bytes over them.
    segment_bytes old(2, 10);
    for (lsn_t l = 10; l < 20; ++l) old.add(l, l - 1, nd::record_type::full, std::string(100, 'o'));
    segment_bytes fresh(5, 50);
    fresh.add(50, 49);
    fresh.add(51, 50);
    auto bytes = old.bytes();
    std::copy(fresh.bytes().begin(), fresh.bytes().begin() + static_cast<std::ptrdiff_t>(fresh.end()),
              bytes.begin());
    for (recovery_mode mode : {recovery_mode::absolute_consistency, recovery_mode::skip_corrupted}) {
        const auto plan = scan(mode, {{5, &bytes}});
        BOOST_TEST(!plan.error);
        BOOST_TEST(plan.info.valid_records == 2u);
        BOOST_TEST(!plan.info.corruption_detected);
        BOOST_TEST_REQUIRE(plan.info.damages.size() == 1u);
        BOOST_TEST(to_string(plan.info.damages[0].kind) == "stale_record");
        BOOST_TEST(plan.info.damages[0].offset == fresh.end());
        BOOST_TEST(plan.zero_to == plan.zero_from);  // nothing to cut
    }
}

BOOST_AUTO_TEST_CASE(an_incomplete_batch_is_dropped_whole) {
    segment_bytes a(1, 1);
    a.add(1, 0);
    const std::uint64_t start = a.add(2, 1, nd::record_type::first);
    a.add(3, 1, nd::record_type::middle);
    const auto plan = scan(recovery_mode::tolerate_corrupted_tail, {{1, &a.bytes()}});
    BOOST_TEST(!plan.error);
    BOOST_TEST(plan.info.valid_records == 1u);
    BOOST_TEST_REQUIRE(plan.info.damages.size() == 1u);
    BOOST_TEST(to_string(plan.info.damages[0].kind) == "incomplete_batch");
    BOOST_TEST(plan.info.damages[0].offset == start);
    BOOST_TEST(plan.info.damages[0].length == a.end() - start);
    BOOST_TEST(plan.zero_from == start);
    BOOST_TEST(plan.next_lsn == 2u);
    // With its last record the batch is whole.
    a.add(4, 1, nd::record_type::last);
    const auto whole = scan(recovery_mode::absolute_consistency, {{1, &a.bytes()}});
    BOOST_TEST(!whole.error);
    BOOST_TEST(whole.info.valid_records == 4u);
}

BOOST_AUTO_TEST_CASE(salvage_skips_a_damaged_record_and_lists_the_gap) {
    segment_bytes a(1, 1);
    for (lsn_t l = 1; l <= 5; ++l) a.add(l, l - 1);
    const std::uint64_t third = nd::segment_header_size + 2 * (a.end() - nd::segment_header_size) / 5;
    a.bytes()[third] ^= std::byte{0x80};  // header CRC of record 3
    const auto plan = scan(recovery_mode::skip_corrupted, {{1, &a.bytes()}});
    BOOST_TEST(!plan.error);
    BOOST_TEST(plan.info.valid_records == 4u);
    BOOST_TEST((plan.skipped == std::vector<nd::lsn_range>{{3, 3}}));
    BOOST_TEST_REQUIRE(plan.info.damages.size() == 2u);
    BOOST_TEST(to_string(plan.info.damages[0].kind) == "bad_checksum");
    BOOST_TEST(to_string(plan.info.damages[1].kind) == "lsn_gap");
    BOOST_TEST(plan.info.damages[0].mid_log);
    BOOST_TEST(nd::find_next_record(a.bytes(), 1, third) > third);
}

BOOST_AUTO_TEST_CASE(an_unknown_major_version_stops_the_scan) {
    segment_bytes a(1, 1);
    a.bytes()[8] = std::byte{7};
    const std::uint32_t crc = nd::mask_crc(nd::crc32c(std::span<const std::byte>(a.bytes().data(), 60)));
    for (int i = 0; i < 4; ++i)
        a.bytes()[static_cast<std::size_t>(60 + i)] = static_cast<std::byte>(crc >> (8 * i));
    nd::recovery_scanner s(recovery_mode::skip_corrupted);
    std::string why;
    BOOST_TEST(s.add_segment(1, a.bytes(), why) == errc::unsupported_version);
    BOOST_TEST(why.find(nd::segment_file_name(1)) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_lone_byte_or_a_record_after_a_long_zero_run_is_found_where_it_is) {
    // The survey steps over zeros 64 bytes at a time: what lies at any offset after a run of
    // zeros, or in the last bytes of the segment, must still be reported exactly.
    segment_bytes a(1, 1, 8192);
    a.add(1, 0);
    const std::uint64_t from = a.end();
    const std::uint64_t size = a.bytes().size();
    std::vector<std::uint64_t> places;
    for (std::uint64_t at = from + 600; at < from + 700; ++at) places.push_back(at);
    for (std::uint64_t at = size - 100; at < size; ++at) places.push_back(at);
    for (const std::uint64_t at : places) {
        std::vector<std::byte> b = a.bytes();
        b[at] = std::byte{0x5a};
        const nd::gap_survey g = nd::survey_gap(b, 1, 1, from);
        BOOST_TEST(g.nonzero, "byte at " << at);
        BOOST_TEST(g.first_nonzero == at);
        BOOST_TEST(g.nonzero_end == at + 1);
        BOOST_TEST(g.next == size);
    }
    nd::encoded_record e = encode(record::put("key", "value"));
    nd::stamp_record(e.header(), 1, 2, nd::record_type::full, 1);
    for (std::uint64_t at = from + 600; at < from + 700; at += nd::record_alignment) {
        std::vector<std::byte> b = a.bytes();
        std::copy(e.bytes.begin(), e.bytes.end(), b.begin() + static_cast<std::ptrdiff_t>(at));
        BOOST_TEST(nd::find_next_record(b, 1, from) == at, "record at " << at);
        BOOST_TEST(nd::survey_gap(b, 1, 1, from).nonzero == false);
    }
    BOOST_TEST(nd::survey_gap(a.bytes(), 1, 1, from).nonzero == false);
    BOOST_TEST(nd::find_next_record(a.bytes(), 1, from) == size);
}

BOOST_AUTO_TEST_SUITE_END()
