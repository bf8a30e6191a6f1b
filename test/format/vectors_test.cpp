// The test vectors of doc/format.md. The bytes are read from the document itself (its ```hex
// blocks), so the document and the code cannot disagree: encoding the inputs the document
// states must give its bytes exactly, and decoding its bytes must give those inputs back.
#include <noriwal/detail/format.hpp>
#include <noriwal/version.hpp>

#include "print.hpp"

#include <boost/test/unit_test.hpp>

#include <array>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#ifndef NORIWAL_FORMAT_DOC
#error "NORIWAL_FORMAT_DOC must name doc/format.md"
#endif

namespace nd = noriwal::detail;
using noriwal::record;
using namespace std::chrono_literals;

namespace {

// Every block that opens with "```hex NAME": lines of an offset then up to 16 hex bytes. The
// offsets are checked, so that a line lost or doubled in an edit is caught.
std::map<std::string, std::vector<std::byte>> hex_blocks() {
    std::ifstream doc(NORIWAL_FORMAT_DOC);
    BOOST_REQUIRE_MESSAGE(doc, "cannot open " NORIWAL_FORMAT_DOC);
    std::map<std::string, std::vector<std::byte>> blocks;
    std::string line;
    std::vector<std::byte>* block = nullptr;
    while (std::getline(doc, line)) {
        if (block == nullptr) {
            if (line.starts_with("```hex ")) block = &blocks[line.substr(7)];
            continue;
        }
        if (line.starts_with("```")) {
            block = nullptr;
            continue;
        }
        std::istringstream in(line);
        std::string offset, byte;
        in >> offset;
        BOOST_REQUIRE_MESSAGE(std::stoul(offset, nullptr, 16) == block->size(),
                              "offset " << offset << " out of step");
        while (in >> byte) {
            BOOST_REQUIRE_MESSAGE(byte.size() == 2, "not a hex byte: " << byte);
            block->push_back(static_cast<std::byte>(std::stoul(byte, nullptr, 16)));
        }
    }
    BOOST_REQUIRE_MESSAGE(block == nullptr, "a hex block is not closed");
    return blocks;
}

// Bytes as hex, 16 to a line as in the document, so that a mismatch prints readably.
std::string hex(std::span<const std::byte> b) {
    std::string s;
    constexpr char digits[] = "0123456789abcdef";
    for (std::size_t i = 0; i < b.size(); ++i) {
        s += i % 16 == 0 ? '\n' : ' ';
        s += digits[std::to_integer<unsigned>(b[i]) >> 4];
        s += digits[std::to_integer<unsigned>(b[i]) & 15];
    }
    return s;
}

const std::vector<std::byte>& vector_named(const std::string& name) {
    static const auto blocks = hex_blocks();
    const auto it = blocks.find(name);
    BOOST_REQUIRE_MESSAGE(it != blocks.end(), "doc/format.md has no block ```hex " << name);
    return it->second;
}

// The inputs doc/format.md states for its vectors.
constexpr std::uint64_t segment_id = 1;
constexpr std::uint64_t now_ns = 1'700'000'000'000'000'000ull;

std::string lz4_value() {
    std::string v;
    for (int i = 0; i < 8; ++i) v += "abcdefgh";
    return v;
}

std::vector<std::byte> framed(const record& r, std::uint64_t lsn, nd::record_type type,
                              std::uint64_t durable) {
    nd::encoded_record e;
    BOOST_REQUIRE(!nd::encode_record(r, {}, now_ns, e));
    nd::stamp_record(e.header(), segment_id, lsn, type, durable);
    return e.bytes;
}

nd::record_view decoded(const std::vector<std::byte>& b) {
    nd::record_view rv;
    BOOST_TEST_REQUIRE(nd::decode_record(b, segment_id, 64u << 20, rv) == nd::decode_status::ok);
    BOOST_TEST(rv.size == b.size());
    return rv;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(format_doc_vectors)

BOOST_AUTO_TEST_CASE(segment_header) {
    const auto& doc = vector_named("segment-header");
    nd::segment_header h;
    h.segment_id = segment_id;
    h.base_lsn = 1;
    h.created_ns = now_ns;
    h.node_id = 42;
    h.prepared_size = 64u << 20;
    std::array<std::byte, 64> b;
    nd::encode_segment_header(h, b);
    BOOST_TEST(hex(b) == hex(doc));

    nd::segment_header d;
    BOOST_TEST_REQUIRE((nd::decode_segment_header(doc, d) == nd::segment_header_status::ok));
    BOOST_TEST(d.major == NORIWAL_FORMAT_VERSION_MAJOR);
    BOOST_TEST(d.minor == NORIWAL_FORMAT_VERSION_MINOR);
    BOOST_TEST(d.segment_id == segment_id);
    BOOST_TEST(d.base_lsn == 1u);
    BOOST_TEST(d.created_ns == now_ns);
    BOOST_TEST(d.node_id == 42u);
    BOOST_TEST(d.prepared_size == 64u << 20);
}

// Logs written by format 1.0 stay readable: the reserved bytes read as prepared_size 0.
BOOST_AUTO_TEST_CASE(segment_header_of_format_1_0) {
    const auto& doc = vector_named("segment-header-1.0");
    nd::segment_header d;
    BOOST_TEST_REQUIRE((nd::decode_segment_header(doc, d) == nd::segment_header_status::ok));
    BOOST_TEST(d.minor == 0u);
    BOOST_TEST(d.segment_id == segment_id);
    BOOST_TEST(d.node_id == 42u);
    BOOST_TEST(d.prepared_size == 0u);
}

BOOST_AUTO_TEST_CASE(close_marker) {
    const auto& doc = vector_named("close-marker");
    const nd::close_marker m{segment_id, 232, 3, 64u << 20};
    std::array<std::byte, nd::close_marker_size> b;
    nd::encode_close_marker(m, b);
    BOOST_TEST(hex(b) == hex(doc));
    nd::close_marker d;
    BOOST_TEST_REQUIRE(nd::decode_close_marker(doc, d));
    BOOST_TEST((d == m));
    // A marker torn by a crash is no marker.
    BOOST_TEST(!nd::decode_close_marker(std::span(doc).first(40), d));
    auto bad = doc;
    bad[20] ^= std::byte{1};
    BOOST_TEST(!nd::decode_close_marker(bad, d));
}

BOOST_AUTO_TEST_CASE(put_record) {
    const auto& doc = vector_named("record-put");
    BOOST_TEST(hex(framed(record::put("user:42", "alice@example.com"), 1, nd::record_type::full, 0)) ==
               hex(doc));
    const auto rv = decoded(doc);
    BOOST_TEST(rv.lsn == 1u);
    BOOST_TEST(rv.type == nd::record_type::full);
    BOOST_TEST(noriwal::as_string(rv.key) == "user:42");
    BOOST_TEST(noriwal::as_string(rv.stored_value) == "alice@example.com");
    BOOST_TEST(rv.synced_gap == 1u);
}

BOOST_AUTO_TEST_CASE(tombstone_with_expiry_first_of_a_batch) {
    const auto& doc = vector_named("record-tombstone");
    BOOST_TEST(hex(framed(record::put_tombstone("user:42").with_ttl(60s), 2, nd::record_type::first, 1)) ==
               hex(doc));
    const auto rv = decoded(doc);
    BOOST_TEST(rv.lsn == 2u);
    BOOST_TEST(rv.type == nd::record_type::first);
    BOOST_TEST(rv.tombstone());
    BOOST_TEST(rv.expiry_ns == now_ns + 60'000'000'000ull);
    BOOST_TEST(noriwal::as_string(rv.key) == "user:42");
    BOOST_TEST(rv.stored_value.empty());
}

// LZ4's block output for a given input has been stable across its releases; if a future
// liblz4 compressed this value differently, the decoding half of this test would still hold
// and only the document's example bytes would need regenerating.
BOOST_AUTO_TEST_CASE(lz4_record_last_of_a_batch) {
    const auto& doc = vector_named("record-lz4");
    const std::string value = lz4_value();
    BOOST_TEST(hex(framed(record::put("log", value).with_compression(noriwal::compression::lz4), 3,
                          nd::record_type::last, 1)) == hex(doc));
    const auto rv = decoded(doc);
    BOOST_TEST(rv.lsn == 3u);
    BOOST_TEST(rv.type == nd::record_type::last);
    BOOST_TEST((rv.compression() == noriwal::compression::lz4));
    BOOST_TEST(rv.raw_value_size == value.size());
    std::vector<std::byte> out;
    BOOST_TEST_REQUIRE(!nd::decompress_value(rv, out));
    BOOST_TEST(noriwal::as_string(out) == value);
}

// The four blocks laid end to end, then zeros, are a segment file as a writer leaves it in a
// preallocated file: three records, then the clean end.
BOOST_AUTO_TEST_CASE(vectors_form_a_segment) {
    std::vector<std::byte> file = vector_named("segment-header");
    for (const char* name : {"record-put", "record-tombstone", "record-lz4"}) {
        const auto& r = vector_named(name);
        file.insert(file.end(), r.begin(), r.end());
    }
    file.resize(file.size() + 256);
    std::size_t at = nd::segment_header_size;
    std::uint64_t expected_lsn = 1;
    for (;;) {
        nd::record_view rv;
        const auto s = nd::decode_record(std::span(file).subspan(at), segment_id, 64u << 20, rv);
        if (s == nd::decode_status::zero) break;
        BOOST_TEST_REQUIRE(s == nd::decode_status::ok);
        BOOST_TEST(rv.lsn == expected_lsn++);
        at += rv.size;
    }
    BOOST_TEST(expected_lsn == 4u);
    BOOST_TEST(at == nd::segment_header_size + 56 + 48 + 64);
}

BOOST_AUTO_TEST_SUITE_END()
