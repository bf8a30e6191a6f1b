// The transport's wire codec (lib/raft/message_codec.hpp): round trips of every message type of
// canonical raft 0.15, field by field; the decoder fed byte by byte and in random splits; every
// kind of bad frame and bad handshake refused; a bounded, deterministic mutation loop.
#include "message_codec.hpp"

#include "frame_property.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace noriwal::raft {
// Boost.Test prints statuses by name.
inline std::ostream& operator<<(std::ostream& os, decode_status s) { return os << to_string(s); }
}  // namespace noriwal::raft

namespace nr = noriwal::raft;
using nr::decode_status;

namespace {

constexpr std::size_t max_frame = 1 << 20;

std::vector<std::byte> bytes_of(std::string_view s) {
    std::vector<std::byte> v(s.size());
    if (!s.empty()) std::memcpy(v.data(), s.data(), s.size());
    return v;
}

// ---- building raw frames, for the bad ones ----

void put_u16(std::vector<std::byte>& out, std::uint16_t v) {
    for (int i = 0; i < 2; ++i) out.push_back(std::byte(v >> (8 * i)));
}
void put_u32(std::vector<std::byte>& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(std::byte(v >> (8 * i)));
}
void put_u64(std::vector<std::byte>& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(std::byte(v >> (8 * i)));
}
void put_u8(std::vector<std::byte>& out, std::uint8_t v) { out.push_back(std::byte{v}); }

// A frame around `body` (which starts after the type), with its true length.
std::vector<std::byte> raw_frame(std::uint16_t type, const std::vector<std::byte>& body) {
    std::vector<std::byte> f;
    put_u32(f, static_cast<std::uint32_t>(body.size() + 2));
    put_u16(f, type);
    f.insert(f.end(), body.begin(), body.end());
    return f;
}

// ---- messages with a distinct value in every field ----

struct owned_entries {
    std::vector<std::string> data;
    std::vector<raft_entry> entries;
};

owned_entries make_entries() {
    owned_entries e;
    e.data = {"first command", "", std::string(3000, 'x'), "conf"};
    const unsigned short types[] = {RAFT_COMMAND, RAFT_BARRIER, RAFT_COMMAND, RAFT_CHANGE};
    for (std::size_t i = 0; i < e.data.size(); ++i) {
        raft_entry en{};
        en.term = 40 + i;
        en.type = types[i];
        en.buf.base = e.data[i].data();
        en.buf.len = e.data[i].size();
        e.entries.push_back(en);
    }
    return e;
}

raft_message append_entries(owned_entries& e) {
    raft_message m{};
    m.type = RAFT_IO_APPEND_ENTRIES;
    m.append_entries.term = 0x0102030405060708ull;
    m.append_entries.prev_log_index = 11;
    m.append_entries.prev_log_term = 12;
    m.append_entries.leader_commit = 13;
    m.append_entries.entries = e.entries.data();
    m.append_entries.n_entries = static_cast<unsigned>(e.entries.size());
    return m;
}

raft_message append_entries_result() {
    raft_message m{};
    m.type = RAFT_IO_APPEND_ENTRIES_RESULT;
    m.append_entries_result.term = 21;
    m.append_entries_result.rejected = 22;
    m.append_entries_result.last_log_index = 0xfffffffffffffffeull;
    return m;
}

raft_message request_vote(bool disrupt, bool pre) {
    raft_message m{};
    m.type = RAFT_IO_REQUEST_VOTE;
    m.request_vote.term = 31;
    m.request_vote.candidate_id = 32;
    m.request_vote.last_log_index = 33;
    m.request_vote.last_log_term = 34;
    m.request_vote.disrupt_leader = disrupt;
    m.request_vote.pre_vote = pre;
    return m;
}

raft_message request_vote_result(bool granted, raft_tribool pre) {
    raft_message m{};
    m.type = RAFT_IO_REQUEST_VOTE_RESULT;
    m.request_vote_result.term = 41;
    m.request_vote_result.vote_granted = granted;
    m.request_vote_result.pre_vote = pre;
    return m;
}

struct owned_snapshot {
    raft_configuration conf{};
    std::string data;
    owned_snapshot() { raft_configuration_init(&conf); }
    ~owned_snapshot() { raft_configuration_close(&conf); }
    owned_snapshot(const owned_snapshot&) = delete;
    owned_snapshot& operator=(const owned_snapshot&) = delete;
};

raft_message install_snapshot(owned_snapshot& s, std::size_t data_size, unsigned servers) {
    for (unsigned i = 1; i <= servers; ++i) {
        const std::string address = "10.0.0." + std::to_string(i) + ":900" + std::to_string(i);
        BOOST_REQUIRE_EQUAL(raft_configuration_add(&s.conf, i * 7, address.c_str(), static_cast<int>(i % 3)),
                            0);
    }
    s.data.resize(data_size);
    for (std::size_t i = 0; i < data_size; ++i) s.data[i] = static_cast<char>(i * 31);
    raft_message m{};
    m.type = RAFT_IO_INSTALL_SNAPSHOT;
    m.install_snapshot.term = 51;
    m.install_snapshot.last_index = 52;
    m.install_snapshot.last_term = 53;
    m.install_snapshot.conf = s.conf;
    m.install_snapshot.conf_index = 54;
    m.install_snapshot.data.base = s.data.data();
    m.install_snapshot.data.len = s.data.size();
    return m;
}

raft_message timeout_now() {
    raft_message m{};
    m.type = RAFT_IO_TIMEOUT_NOW;
    m.timeout_now.term = 61;
    m.timeout_now.last_log_index = 62;
    m.timeout_now.last_log_term = 63;
    return m;
}

std::string text_of(const raft_buffer& b) { return {static_cast<const char*>(b.base), b.len}; }

// Field-by-field comparison of a sent message and its decoded copy.
void check_same(const raft_message& a, const raft_message& b) {
    BOOST_REQUIRE_EQUAL(a.type, b.type);
    BOOST_TEST(b.server_id == 0u);  // from the handshake, not the frame
    BOOST_TEST(b.server_address == nullptr);
    switch (a.type) {
        case RAFT_IO_APPEND_ENTRIES: {
            const auto &x = a.append_entries, &y = b.append_entries;
            BOOST_TEST(x.term == y.term);
            BOOST_TEST(x.prev_log_index == y.prev_log_index);
            BOOST_TEST(x.prev_log_term == y.prev_log_term);
            BOOST_TEST(x.leader_commit == y.leader_commit);
            BOOST_REQUIRE_EQUAL(x.n_entries, y.n_entries);
            for (unsigned i = 0; i < x.n_entries; ++i) {
                BOOST_TEST(x.entries[i].term == y.entries[i].term);
                BOOST_TEST(x.entries[i].type == y.entries[i].type);
                BOOST_TEST(text_of(x.entries[i].buf) == text_of(y.entries[i].buf));
                // One batch holds every entry's data, as the engine expects of received entries.
                BOOST_TEST(y.entries[i].batch == y.entries[0].batch);
                BOOST_TEST(y.entries[i].batch != nullptr);
            }
            if (x.n_entries == 0) BOOST_TEST(y.entries == nullptr);
            break;
        }
        case RAFT_IO_APPEND_ENTRIES_RESULT:
            BOOST_TEST(a.append_entries_result.term == b.append_entries_result.term);
            BOOST_TEST(a.append_entries_result.rejected == b.append_entries_result.rejected);
            BOOST_TEST(a.append_entries_result.last_log_index == b.append_entries_result.last_log_index);
            break;
        case RAFT_IO_REQUEST_VOTE:
            BOOST_TEST(a.request_vote.term == b.request_vote.term);
            BOOST_TEST(a.request_vote.candidate_id == b.request_vote.candidate_id);
            BOOST_TEST(a.request_vote.last_log_index == b.request_vote.last_log_index);
            BOOST_TEST(a.request_vote.last_log_term == b.request_vote.last_log_term);
            BOOST_TEST(a.request_vote.disrupt_leader == b.request_vote.disrupt_leader);
            BOOST_TEST(a.request_vote.pre_vote == b.request_vote.pre_vote);
            break;
        case RAFT_IO_REQUEST_VOTE_RESULT:
            BOOST_TEST(a.request_vote_result.term == b.request_vote_result.term);
            BOOST_TEST(a.request_vote_result.vote_granted == b.request_vote_result.vote_granted);
            BOOST_TEST(a.request_vote_result.pre_vote == b.request_vote_result.pre_vote);
            break;
        case RAFT_IO_INSTALL_SNAPSHOT: {
            const auto &x = a.install_snapshot, &y = b.install_snapshot;
            BOOST_TEST(x.term == y.term);
            BOOST_TEST(x.last_index == y.last_index);
            BOOST_TEST(x.last_term == y.last_term);
            BOOST_TEST(x.conf_index == y.conf_index);
            BOOST_REQUIRE_EQUAL(x.conf.n, y.conf.n);
            for (unsigned i = 0; i < x.conf.n; ++i) {
                BOOST_TEST(x.conf.servers[i].id == y.conf.servers[i].id);
                BOOST_TEST(std::string(x.conf.servers[i].address) == std::string(y.conf.servers[i].address));
                BOOST_TEST(x.conf.servers[i].role == y.conf.servers[i].role);
            }
            BOOST_TEST(text_of(x.data) == text_of(y.data));
            break;
        }
        case RAFT_IO_TIMEOUT_NOW:
            BOOST_TEST(a.timeout_now.term == b.timeout_now.term);
            BOOST_TEST(a.timeout_now.last_log_index == b.timeout_now.last_log_index);
            BOOST_TEST(a.timeout_now.last_log_term == b.timeout_now.last_log_term);
            break;
        default:
            BOOST_FAIL("unexpected type");
    }
}

// Decodes exactly one message from a whole frame.
void round_trip(const raft_message& m) {
    std::vector<std::byte> wire;
    nr::encode_message(m, wire);
    nr::frame_decoder d(max_frame);
    raft_message out{};
    const auto r = d.feed(wire, out);
    BOOST_REQUIRE_MESSAGE(r.status == decode_status::message, nr::to_string(r.status));
    BOOST_TEST(r.consumed == wire.size());
    check_same(m, out);
    nr::free_message(out);
}

// The status of the first non-need_more result of feeding `wire` whole.
decode_status status_of(const std::vector<std::byte>& wire, std::size_t max = max_frame) {
    nr::frame_decoder d(max);
    raft_message out{};
    const auto r = d.feed(wire, out);
    if (r.status == decode_status::message) nr::free_message(out);
    return r.status;
}

// Every message type, several variants of some, as one list (kept alive by the owners).
struct all_messages {
    owned_entries entries = make_entries();
    owned_entries no_entries;
    owned_snapshot snapshot;
    owned_snapshot empty_snapshot;
    std::vector<raft_message> list;
    all_messages() {
        list.push_back(append_entries(entries));
        list.push_back(append_entries(no_entries));
        list.push_back(append_entries_result());
        for (bool d : {false, true})
            for (bool p : {false, true}) list.push_back(request_vote(d, p));
        for (bool g : {false, true})
            for (raft_tribool t : {raft_tribool_unknown, raft_tribool_true, raft_tribool_false})
                list.push_back(request_vote_result(g, t));
        list.push_back(install_snapshot(snapshot, 5000, 3));
        list.push_back(install_snapshot(empty_snapshot, 0, 0));
        list.push_back(timeout_now());
    }
};

std::vector<std::byte> stream_of(const std::vector<raft_message>& list) {
    std::vector<std::byte> wire;
    for (const auto& m : list) nr::encode_message(m, wire);
    return wire;
}

// Feeds `wire` in the pieces `split` chooses; checks every message against `list`.
template <class Split>
void feed_in_pieces(const std::vector<std::byte>& wire, const std::vector<raft_message>& list, Split split) {
    nr::frame_decoder d(max_frame);
    std::size_t next = 0, at = 0;
    while (at < wire.size()) {
        const std::size_t n = std::min(split(), wire.size() - at);
        std::span<const std::byte> piece(wire.data() + at, n);
        at += n;
        while (true) {
            raft_message out{};
            const auto r = d.feed(piece, out);
            if (r.status == decode_status::need_more) {
                BOOST_REQUIRE_EQUAL(r.consumed, piece.size());
                break;
            }
            BOOST_REQUIRE_MESSAGE(r.status == decode_status::message, nr::to_string(r.status));
            BOOST_REQUIRE_LT(next, list.size());
            check_same(list[next++], out);
            nr::free_message(out);
            piece = piece.subspan(r.consumed);
            if (piece.empty()) break;
        }
        BOOST_TEST(d.buffered() <= max_frame + nr::frame_length_size);
    }
    BOOST_TEST(next == list.size());
    BOOST_TEST(d.buffered() == 0u);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(raft_message_codec)

BOOST_AUTO_TEST_CASE(append_entries_round_trip_with_entries_of_every_type_and_size) {
    owned_entries e = make_entries();
    round_trip(append_entries(e));
}

BOOST_AUTO_TEST_CASE(append_entries_round_trip_without_entries_a_heartbeat) {
    owned_entries e;
    round_trip(append_entries(e));
}

BOOST_AUTO_TEST_CASE(append_entries_result_round_trip) { round_trip(append_entries_result()); }

BOOST_AUTO_TEST_CASE(request_vote_round_trip_with_every_flag_combination) {
    for (bool d : {false, true})
        for (bool p : {false, true}) round_trip(request_vote(d, p));
}

BOOST_AUTO_TEST_CASE(request_vote_result_round_trip_with_every_tribool) {
    for (bool g : {false, true})
        for (raft_tribool t : {raft_tribool_unknown, raft_tribool_true, raft_tribool_false})
            round_trip(request_vote_result(g, t));
}

BOOST_AUTO_TEST_CASE(install_snapshot_round_trip_with_configuration_and_data) {
    owned_snapshot s;
    round_trip(install_snapshot(s, 100000, 5));
}

BOOST_AUTO_TEST_CASE(install_snapshot_round_trip_empty_configuration_and_data) {
    owned_snapshot s;
    round_trip(install_snapshot(s, 0, 0));
}

BOOST_AUTO_TEST_CASE(timeout_now_round_trip) { round_trip(timeout_now()); }

BOOST_AUTO_TEST_CASE(frame_layout_is_the_documented_one) {
    // timeout_now: length 2 + 24, type 6, three little-endian u64 (doc/replication.md's vector).
    std::vector<std::byte> wire;
    nr::encode_message(timeout_now(), wire);
    std::vector<std::byte> expected;
    put_u32(expected, 26);
    put_u16(expected, RAFT_IO_TIMEOUT_NOW);
    put_u64(expected, 61);
    put_u64(expected, 62);
    put_u64(expected, 63);
    BOOST_TEST(wire == expected);
}

BOOST_AUTO_TEST_CASE(handshake_layout_is_the_documented_one) {
    // The test vector of doc/replication.md, "Wire format".
    std::vector<std::byte> wire;
    nr::encode_handshake(2, "127.0.0.1:9002", wire);
    const unsigned char expected[] = {0x4e, 0x57, 0x52, 0x46, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00, 0x00, 0x0e, 0x00, '1',  '2',  '7',  '.',
                                      '0',  '.',  '0',  '.',  '1',  ':',  '9',  '0',  '0',  '2'};
    BOOST_REQUIRE_EQUAL(wire.size(), sizeof expected);
    BOOST_TEST(std::memcmp(wire.data(), expected, sizeof expected) == 0);
}

BOOST_AUTO_TEST_CASE(encode_appends_to_what_is_there) {
    std::vector<std::byte> wire = bytes_of("prefix");
    nr::encode_message(timeout_now(), wire);
    BOOST_TEST(wire.size() == 6u + 30u);
    BOOST_TEST(std::string(reinterpret_cast<const char*>(wire.data()), 6) == "prefix");
}

BOOST_AUTO_TEST_CASE(encode_refuses_an_unknown_type) {
    raft_message m{};
    m.type = 99;
    std::vector<std::byte> wire = bytes_of("x");
    BOOST_CHECK_THROW(nr::encode_message(m, wire), std::invalid_argument);
    BOOST_TEST(wire.size() == 1u);  // nothing half-written is left behind
}

BOOST_AUTO_TEST_CASE(decoder_fed_byte_by_byte_yields_every_message) {
    all_messages all;
    feed_in_pieces(stream_of(all.list), all.list, [] { return std::size_t{1}; });
}

BOOST_AUTO_TEST_CASE(decoder_fed_in_random_splits_yields_every_message) {
    all_messages all;
    const auto wire = stream_of(all.list);
    for (std::uint32_t seed = 1; seed <= 50; ++seed) {
        std::mt19937 gen(seed);
        std::uniform_int_distribution<std::size_t> size(1, seed % 2 == 0 ? 40 : 9000);
        feed_in_pieces(wire, all.list, [&] { return size(gen); });
    }
}

BOOST_AUTO_TEST_CASE(decoder_fed_the_whole_stream_at_once_stops_after_each_frame) {
    all_messages all;
    const auto wire = stream_of(all.list);
    feed_in_pieces(wire, all.list, [&] { return wire.size(); });
}

BOOST_AUTO_TEST_CASE(empty_input_needs_more) {
    nr::frame_decoder d(max_frame);
    raft_message out{};
    const auto r = d.feed({}, out);
    BOOST_TEST(r.status == decode_status::need_more);
    BOOST_TEST(r.consumed == 0u);
}

// ---- bad frames ----

BOOST_AUTO_TEST_CASE(frame_length_zero_one_or_over_the_maximum_is_bad_length) {
    for (std::uint32_t length : {0u, 1u}) {
        std::vector<std::byte> f;
        put_u32(f, length);
        put_u16(f, RAFT_IO_TIMEOUT_NOW);
        BOOST_TEST(status_of(f) == decode_status::bad_length);
    }
    std::vector<std::byte> f;
    put_u32(f, 1001);
    BOOST_TEST(status_of(f, 1000) == decode_status::bad_length);  // judged on the prefix alone
    std::vector<std::byte> g;
    put_u32(g, 0xffffffff);
    BOOST_TEST(status_of(g) == decode_status::bad_length);
    // Exactly the maximum is fine.
    std::vector<std::byte> wire;
    nr::encode_message(timeout_now(), wire);
    BOOST_TEST(status_of(wire, 26) == decode_status::message);
    BOOST_TEST(status_of(wire, 25) == decode_status::bad_length);
}

BOOST_AUTO_TEST_CASE(unknown_message_type_is_bad_type) {
    for (std::uint16_t type : {0, 7, 100, 0xffff}) {
        std::vector<std::byte> body;
        put_u64(body, 1);
        put_u64(body, 2);
        put_u64(body, 3);
        BOOST_TEST(status_of(raw_frame(type, body)) == decode_status::bad_type);
    }
}

BOOST_AUTO_TEST_CASE(fixed_size_messages_short_by_a_byte_are_truncated_and_long_by_one_are_excess) {
    all_messages all;
    for (const auto& m : all.list) {
        std::vector<std::byte> wire;
        nr::encode_message(m, wire);
        // Shorten the frame by one byte (length and content).
        std::vector<std::byte> shorter(wire.begin(), wire.end() - 1);
        const std::uint32_t len = static_cast<std::uint32_t>(shorter.size() - 4);
        std::vector<std::byte> prefix;
        put_u32(prefix, len);
        std::copy(prefix.begin(), prefix.end(), shorter.begin());
        const auto s = status_of(shorter);
        // A message whose last field is variable may be read as data one byte shorter than
        // announced: truncated either way, never a message.
        BOOST_TEST((s == decode_status::truncated), "type " << m.type << ": " << nr::to_string(s));

        std::vector<std::byte> longer = wire;
        longer.push_back(std::byte{0});
        prefix.clear();
        put_u32(prefix, static_cast<std::uint32_t>(longer.size() - 4));
        std::copy(prefix.begin(), prefix.end(), longer.begin());
        const auto t = status_of(longer);
        BOOST_TEST((t == decode_status::excess), "type " << m.type << ": " << nr::to_string(t));
    }
}

BOOST_AUTO_TEST_CASE(a_frame_with_only_its_type_is_truncated) {
    for (std::uint16_t type = RAFT_IO_APPEND_ENTRIES; type <= RAFT_IO_TIMEOUT_NOW; ++type)
        BOOST_TEST(status_of(raw_frame(type, {})) == decode_status::truncated);
}

std::vector<std::byte> append_entries_head(std::uint32_t n_entries) {
    std::vector<std::byte> body;
    for (int i = 0; i < 4; ++i) put_u64(body, 1);
    put_u32(body, n_entries);
    return body;
}

BOOST_AUTO_TEST_CASE(append_entries_count_larger_than_the_frame_allows_is_truncated) {
    // 4 billion entries announced in a 38-byte frame: refused before any array is allocated.
    BOOST_TEST(status_of(raw_frame(RAFT_IO_APPEND_ENTRIES, append_entries_head(0xffffffff))) ==
               decode_status::truncated);
    auto body = append_entries_head(2);
    put_u64(body, 1);
    put_u16(body, RAFT_COMMAND);
    put_u64(body, 0);  // one entry header of two
    BOOST_TEST(status_of(raw_frame(RAFT_IO_APPEND_ENTRIES, body)) == decode_status::truncated);
}

BOOST_AUTO_TEST_CASE(append_entries_data_lengths_inconsistent_with_the_frame_are_refused) {
    auto entry = [](std::uint64_t len, std::uint16_t type = RAFT_COMMAND) {
        std::vector<std::byte> h;
        put_u64(h, 9);
        put_u16(h, type);
        put_u64(h, len);
        return h;
    };
    auto with = [&](std::vector<std::vector<std::byte>> headers, std::size_t data) {
        auto body = append_entries_head(static_cast<std::uint32_t>(headers.size()));
        for (auto& h : headers) body.insert(body.end(), h.begin(), h.end());
        body.resize(body.size() + data, std::byte{'d'});
        return raw_frame(RAFT_IO_APPEND_ENTRIES, body);
    };
    BOOST_TEST(status_of(with({entry(5), entry(5)}, 10)) == decode_status::message);
    BOOST_TEST(status_of(with({entry(5), entry(6)}, 10)) == decode_status::truncated);
    BOOST_TEST(status_of(with({entry(5), entry(4)}, 10)) == decode_status::excess);
    BOOST_TEST(status_of(with({entry(0xffffffffffffffffull)}, 10)) == decode_status::truncated);
    // Two lengths whose sum wraps around 2^64 must not pass for a small total.
    BOOST_TEST(status_of(with({entry(0x8000000000000000ull), entry(0x8000000000000000ull)}, 0)) ==
               decode_status::truncated);
    for (std::uint16_t type : {0, 4, 0xffff})
        BOOST_TEST(status_of(with({entry(1, type)}, 1)) == decode_status::bad_field);
}

BOOST_AUTO_TEST_CASE(request_vote_with_unknown_flag_bits_is_bad_field) {
    for (std::uint8_t flags : {4, 8, 0x80, 0xff}) {
        std::vector<std::byte> body;
        for (int i = 0; i < 4; ++i) put_u64(body, 1);
        put_u8(body, flags);
        BOOST_TEST(status_of(raw_frame(RAFT_IO_REQUEST_VOTE, body)) == decode_status::bad_field);
    }
}

BOOST_AUTO_TEST_CASE(request_vote_result_with_a_bool_or_tribool_out_of_range_is_bad_field) {
    auto with = [](std::uint8_t granted, std::uint8_t pre) {
        std::vector<std::byte> body;
        put_u64(body, 1);
        put_u8(body, granted);
        put_u8(body, pre);
        return raw_frame(RAFT_IO_REQUEST_VOTE_RESULT, body);
    };
    BOOST_TEST(status_of(with(1, 2)) == decode_status::message);
    BOOST_TEST(status_of(with(2, 0)) == decode_status::bad_field);
    BOOST_TEST(status_of(with(0, 3)) == decode_status::bad_field);
}

std::vector<std::byte> snapshot_frame(std::uint32_t n_servers, const std::vector<std::byte>& servers,
                                      std::uint64_t data_len, std::size_t data) {
    std::vector<std::byte> body;
    for (int i = 0; i < 4; ++i) put_u64(body, 1);
    put_u32(body, n_servers);
    body.insert(body.end(), servers.begin(), servers.end());
    put_u64(body, data_len);
    body.resize(body.size() + data, std::byte{'s'});
    return raw_frame(RAFT_IO_INSTALL_SNAPSHOT, body);
}

std::vector<std::byte> server(std::uint64_t id, std::uint8_t role, std::string_view address) {
    std::vector<std::byte> s;
    put_u64(s, id);
    put_u8(s, role);
    put_u16(s, static_cast<std::uint16_t>(address.size()));
    const auto a = bytes_of(address);
    s.insert(s.end(), a.begin(), a.end());
    return s;
}

BOOST_AUTO_TEST_CASE(install_snapshot_with_a_bad_server_or_data_length_is_refused) {
    const auto good = server(1, RAFT_VOTER, "127.0.0.1:1");
    BOOST_TEST(status_of(snapshot_frame(1, good, 3, 3)) == decode_status::message);
    BOOST_TEST(status_of(snapshot_frame(1, good, 4, 3)) == decode_status::truncated);
    BOOST_TEST(status_of(snapshot_frame(1, good, 2, 3)) == decode_status::excess);
    BOOST_TEST(status_of(snapshot_frame(1, good, 0xffffffffffffffffull, 3)) == decode_status::truncated);
    BOOST_TEST(status_of(snapshot_frame(0xffffffff, good, 0, 0)) == decode_status::truncated);
    BOOST_TEST(status_of(snapshot_frame(2, good, 0, 0)) == decode_status::truncated);
    BOOST_TEST(status_of(snapshot_frame(1, server(0, RAFT_VOTER, "a:1"), 0, 0)) == decode_status::bad_field);
    BOOST_TEST(status_of(snapshot_frame(1, server(1, 3, "a:1"), 0, 0)) == decode_status::bad_field);
    BOOST_TEST(status_of(snapshot_frame(1, server(1, RAFT_VOTER, ""), 0, 0)) == decode_status::bad_field);
    BOOST_TEST(status_of(snapshot_frame(1, server(1, RAFT_VOTER, "a b:1"), 0, 0)) ==
               decode_status::bad_field);
    BOOST_TEST(status_of(snapshot_frame(1, server(1, RAFT_VOTER, std::string("a\0:1", 4)), 0, 0)) ==
               decode_status::bad_field);
    auto two = server(1, RAFT_VOTER, "a:1");
    const auto dup = server(1, RAFT_VOTER, "b:1");
    two.insert(two.end(), dup.begin(), dup.end());
    BOOST_TEST(status_of(snapshot_frame(2, two, 0, 0)) == decode_status::bad_field);  // duplicate id
    auto addr_long = server(1, RAFT_VOTER, "a:1");
    addr_long[9] = std::byte{0xff};  // address length 0x00ff + ... past the frame
    addr_long[10] = std::byte{0xff};
    BOOST_TEST(status_of(snapshot_frame(1, addr_long, 0, 0)) == decode_status::truncated);
}

BOOST_AUTO_TEST_CASE(a_failed_decoder_stays_failed) {
    nr::frame_decoder d(max_frame);
    std::vector<std::byte> bad;
    put_u32(bad, 0);
    raft_message out{};
    BOOST_TEST(d.feed(bad, out).status == decode_status::bad_length);
    std::vector<std::byte> good;
    nr::encode_message(timeout_now(), good);
    const auto r = d.feed(good, out);
    BOOST_TEST(r.status == decode_status::bad_length);
    BOOST_TEST(r.consumed == 0u);
}

BOOST_AUTO_TEST_CASE(a_frame_announced_large_holds_only_the_bytes_that_arrived) {
    nr::frame_decoder d(max_frame);
    std::vector<std::byte> head;
    put_u32(head, static_cast<std::uint32_t>(max_frame));
    put_u16(head, RAFT_IO_INSTALL_SNAPSHOT);
    raft_message out{};
    BOOST_TEST(d.feed(head, out).status == decode_status::need_more);
    BOOST_TEST(d.buffered() == head.size());
}

// ---- handshake ----

BOOST_AUTO_TEST_CASE(handshake_round_trip_and_byte_by_byte) {
    std::vector<std::byte> wire;
    nr::encode_handshake(42, "127.0.0.1:9001", wire);
    BOOST_TEST(wire.size() == nr::handshake_fixed_size + 14);
    for (std::size_t n = 0; n < wire.size(); ++n) {
        nr::handshake h;
        const auto r = nr::decode_handshake(std::span(wire.data(), n), h);
        BOOST_TEST((r.status == decode_status::need_more), "prefix of " << n << " bytes");
    }
    wire.push_back(std::byte{0x55});  // the first byte of a frame after it
    nr::handshake h;
    const auto r = nr::decode_handshake(wire, h);
    BOOST_REQUIRE(r.status == decode_status::message);
    BOOST_TEST(r.consumed == wire.size() - 1);
    BOOST_TEST(h.id == 42u);
    BOOST_TEST(h.address == "127.0.0.1:9001");
}

BOOST_AUTO_TEST_CASE(bad_handshakes_are_refused) {
    auto hs = [](std::uint32_t magic, std::uint16_t version, std::uint16_t flags, std::uint64_t id,
                 std::string_view address, std::optional<std::uint16_t> len = {}) {
        std::vector<std::byte> w;
        put_u32(w, magic);
        put_u16(w, version);
        put_u16(w, flags);
        put_u64(w, id);
        put_u16(w, len.value_or(static_cast<std::uint16_t>(address.size())));
        const auto a = bytes_of(address);
        w.insert(w.end(), a.begin(), a.end());
        return w;
    };
    auto status = [](const std::vector<std::byte>& w) {
        nr::handshake h;
        return nr::decode_handshake(w, h).status;
    };
    const auto magic = nr::handshake_magic;
    BOOST_TEST(status(hs(magic, 1, 0, 7, "h:1")) == decode_status::message);
    BOOST_TEST(status(hs(magic + 1, 1, 0, 7, "h:1")) == decode_status::bad_handshake);
    BOOST_TEST(status(hs(magic, 2, 0, 7, "h:1")) == decode_status::bad_handshake);
    BOOST_TEST(status(hs(magic, 1, 1, 7, "h:1")) == decode_status::bad_handshake);
    BOOST_TEST(status(hs(magic, 1, 0, 0, "h:1")) == decode_status::bad_handshake);
    BOOST_TEST(status(hs(magic, 1, 0, 7, "")) == decode_status::bad_handshake);
    BOOST_TEST(status(hs(magic, 1, 0, 7, "h 1")) == decode_status::bad_handshake);
    BOOST_TEST(status(hs(magic, 1, 0, 7, "h:1\n")) == decode_status::bad_handshake);
    BOOST_TEST(status(hs(magic, 1, 0, 7, std::string(256, 'a'))) == decode_status::bad_handshake);
    BOOST_TEST(status(hs(magic, 1, 0, 7, "h:1", 0xffff)) == decode_status::bad_handshake);
    // A stranger speaking another protocol is refused on its first four bytes.
    BOOST_TEST(status(bytes_of("GET ")) == decode_status::bad_handshake);
    std::vector<std::byte> out;
    BOOST_CHECK_THROW(nr::encode_handshake(1, std::string(256, 'a'), out), std::invalid_argument);
}

// ---- mutation loop ----

// Frames of every type mutated at random (bytes flipped, cut, inserted, length rewritten), some
// followed by a good frame, each fed to a fresh decoder in random splits. Nothing may crash or
// leak (ASan runs this too), and frame_property.hpp's property holds: a decoder never holds more
// than one frame, and whatever decodes re-encodes to exactly its frame.
BOOST_AUTO_TEST_CASE(mutated_frames_never_crash_leak_or_overallocate) {
    all_messages all;
    std::vector<std::vector<std::byte>> seeds;
    for (const auto& m : all.list) {
        std::vector<std::byte> w;
        nr::encode_message(m, w);
        seeds.push_back(std::move(w));
    }
    std::mt19937 gen(20261206);
    std::size_t decoded = 0, refused = 0;
    constexpr std::size_t small_max = 8192;
    for (int iteration = 0; iteration < 20000; ++iteration) {
        std::vector<std::byte> w = seeds[gen() % seeds.size()];
        const int edits = 1 + static_cast<int>(gen() % 4);
        for (int e = 0; e < edits; ++e) {
            switch (gen() % 5) {
                case 0:
                    w[gen() % w.size()] ^= std::byte(1u << (gen() % 8));
                    break;
                case 1:
                    w[gen() % w.size()] = std::byte(gen());
                    break;
                case 2:
                    if (w.size() > 1) w.resize(gen() % w.size());
                    break;
                case 3:
                    w.insert(w.begin() + static_cast<std::ptrdiff_t>(gen() % (w.size() + 1)),
                             std::byte(gen()));
                    break;
                case 4:  // the length prefix made consistent with what is there, or not
                    if (w.size() >= 4) {
                        const auto len = gen() % 2 == 0 ? static_cast<std::uint32_t>(w.size() - 4)
                                                        : static_cast<std::uint32_t>(gen());
                        std::vector<std::byte> p;
                        put_u32(p, len);
                        std::copy(p.begin(), p.end(), w.begin());
                    }
                    break;
            }
            if (w.empty()) w.push_back(std::byte{0});
        }
        if (gen() % 4 == 0) {  // a good frame after it: decoded only if the first one was
            const auto& next = seeds[gen() % seeds.size()];
            w.insert(w.end(), next.begin(), next.end());
        }
        std::vector<std::uint8_t> splits(1 + gen() % 4);
        for (auto& s : splits) s = static_cast<std::uint8_t>(gen() % 64);
        const auto c = noriwal::test::check_frame_decoder(w, small_max, splits);
        BOOST_REQUIRE_MESSAGE(c.failed.empty(), "iteration " << iteration << ": " << c.failed);
        decoded += c.decoded;
        refused += c.refused ? 1 : 0;
    }
    // Both outcomes were exercised (the loop is not vacuous).
    BOOST_TEST(decoded > 0u);
    BOOST_TEST(refused > 0u);
    BOOST_TEST_MESSAGE("mutated frames: " << decoded << " decoded, " << refused << " refused");
}

// The libFuzzer target's seed corpus (test/fuzz/corpus/raft_frame_decoder) holds good inputs:
// each decodes at least one message or a handshake, refuses nothing, and keeps the property.
BOOST_AUTO_TEST_CASE(the_fuzz_seed_corpus_decodes_and_keeps_the_property) {
    std::size_t files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(NORIWAL_RAFT_FUZZ_CORPUS)) {
        std::ifstream in(entry.path(), std::ios::binary);
        const std::vector<char> raw{std::istreambuf_iterator<char>(in), {}};
        BOOST_TEST_CONTEXT(entry.path().filename()) {
            BOOST_REQUIRE(!raw.empty());
            const std::size_t n =
                std::min<std::size_t>(static_cast<unsigned char>(raw[0]) % 8, raw.size() - 1);
            std::vector<std::uint8_t> splits(raw.begin() + 1,
                                             raw.begin() + 1 + static_cast<std::ptrdiff_t>(n));
            std::vector<std::byte> stream(raw.size() - 1 - n);
            std::memcpy(stream.data(), raw.data() + 1 + n, stream.size());
            const auto c = noriwal::test::check_frame_decoder(stream, 64 * 1024, splits);
            BOOST_TEST(c.failed.empty(), c.failed);
            nr::handshake h;
            const bool is_handshake = nr::decode_handshake(stream, h).status == decode_status::message;
            BOOST_TEST((c.decoded > 0 || is_handshake));
            BOOST_TEST((!c.refused || is_handshake));
        }
        ++files;
    }
    BOOST_TEST(files >= 8u);
}

BOOST_AUTO_TEST_SUITE_END()
