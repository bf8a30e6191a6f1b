// The TCP transport (lib/raft/transport.hpp) on 127.0.0.1 with ephemeral ports: messages both
// ways, the send queue's bound, reconnection after a peer closes, and a raw socket writing bad
// bytes or a bad handshake to the listening port, dropped while good peers keep working.
// Every wait is bounded by a deadline that fails the test; nothing asserts a duration.
#include "transport.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nr = noriwal::raft;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// Runs the context until pred holds; fails the test if it does not within the deadline.
void run_until(asio::io_context& io, const std::function<bool()>& pred, const char* what,
               std::chrono::seconds deadline = 30s) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (!pred()) {
        BOOST_REQUIRE_MESSAGE(std::chrono::steady_clock::now() < end, "timed out waiting for " << what);
        io.run_for(5ms);
    }
}

// What a receiver keeps of a message (its buffers are released at once, as the engine would).
struct received {
    unsigned short type;
    raft_id from;
    std::string from_address;
    raft_term term;
    std::vector<std::string> entries;
    std::string snapshot;
};

struct node {
    node(asio::io_context& io, raft_id id, nr::transport_options o = {}) : t(io.get_executor(), id, "", o) {
        t.listen("127.0.0.1:0");
        address = "127.0.0.1:" + std::to_string(t.local_endpoint().port());
        t.set_self_address(address);
        t.start([this](raft_message& m) {
            received r{m.type, m.server_id, m.server_address, 0, {}, {}};
            switch (m.type) {
                case RAFT_IO_APPEND_ENTRIES:
                    r.term = m.append_entries.term;
                    for (unsigned i = 0; i < m.append_entries.n_entries; ++i) {
                        const auto& b = m.append_entries.entries[i].buf;
                        r.entries.emplace_back(static_cast<const char*>(b.base), b.len);
                    }
                    break;
                case RAFT_IO_APPEND_ENTRIES_RESULT:
                    r.term = m.append_entries_result.term;
                    break;
                case RAFT_IO_REQUEST_VOTE:
                    r.term = m.request_vote.term;
                    break;
                case RAFT_IO_INSTALL_SNAPSHOT:
                    r.term = m.install_snapshot.term;
                    r.snapshot.assign(static_cast<const char*>(m.install_snapshot.data.base),
                                      m.install_snapshot.data.len);
                    break;
                default:
                    break;
            }
            nr::free_message(m);
            inbox.push_back(std::move(r));
        });
    }
    nr::transport t;
    std::string address;
    std::vector<received> inbox;
};

// The address must live until send returns (send copies it).
raft_message vote_to(const std::string& address, raft_id id, raft_term term) {
    raft_message m{};
    m.type = RAFT_IO_REQUEST_VOTE;
    m.server_id = id;
    m.server_address = address.c_str();
    m.request_vote.term = term;
    m.request_vote.candidate_id = 1;
    return m;
}

struct send_log {
    std::vector<int> statuses;
    std::function<void(int)> record() {
        return [this](int s) { statuses.push_back(s); };
    }
    std::size_t count(int status) const { return std::count(statuses.begin(), statuses.end(), status); }
};

// A port with nothing listening on it (bound, then released).
std::string dead_address(asio::io_context& io) {
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto port = a.local_endpoint().port();
    a.close();
    return "127.0.0.1:" + std::to_string(port);
}

// Writes bytes from a raw socket and waits for the server to hang up (EOF or reset).
void expect_hang_up_after(asio::io_context& io, const node& server, const std::vector<std::byte>& bytes) {
    tcp::socket raw(io);
    raw.connect(server.t.local_endpoint());
    asio::write(raw, asio::buffer(bytes));
    bool hung_up = false;
    std::array<char, 64> sink;
    std::function<void(boost::system::error_code, std::size_t)> on_read = [&](boost::system::error_code ec,
                                                                              std::size_t) {
        if (ec)
            hung_up = true;
        else
            raw.async_read_some(asio::buffer(sink), on_read);
    };
    raw.async_read_some(asio::buffer(sink), on_read);
    run_until(
        io, [&] { return hung_up; }, "the server to drop a connection that sent bad bytes");
}

std::vector<std::byte> handshake_bytes(raft_id id, std::string_view address) {
    std::vector<std::byte> w;
    nr::encode_handshake(id, address, w);
    return w;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(raft_transport)

BOOST_AUTO_TEST_CASE(two_transports_exchange_every_kind_of_message_both_ways) {
    asio::io_context io;
    node a(io, 1), b(io, 2);
    send_log sent;

    std::string data[] = {"put x 1", "", std::string(200000, 'e')};  // one entry spans many reads
    raft_entry entries[3]{};
    for (int i = 0; i < 3; ++i) {
        entries[i].term = 7;
        entries[i].type = RAFT_COMMAND;
        entries[i].buf = {data[i].data(), data[i].size()};
    }
    raft_message ae{};
    ae.type = RAFT_IO_APPEND_ENTRIES;
    ae.server_id = 2;
    ae.server_address = b.address.c_str();
    ae.append_entries.term = 7;
    ae.append_entries.entries = entries;
    ae.append_entries.n_entries = 3;
    BOOST_REQUIRE_EQUAL(a.t.send(ae, sent.record()), 0);

    raft_message result{};
    result.type = RAFT_IO_APPEND_ENTRIES_RESULT;
    result.server_id = 1;
    result.server_address = a.address.c_str();
    result.append_entries_result.term = 8;
    BOOST_REQUIRE_EQUAL(b.t.send(result, sent.record()), 0);

    std::string snapshot(1 << 20, 's');
    raft_message is{};
    is.type = RAFT_IO_INSTALL_SNAPSHOT;
    is.server_id = 1;
    is.server_address = a.address.c_str();
    is.install_snapshot.term = 9;
    raft_configuration_init(&is.install_snapshot.conf);
    BOOST_REQUIRE_EQUAL(raft_configuration_add(&is.install_snapshot.conf, 2, b.address.c_str(), RAFT_VOTER),
                        0);
    is.install_snapshot.data = {snapshot.data(), snapshot.size()};
    BOOST_REQUIRE_EQUAL(b.t.send(is, sent.record()), 0);
    raft_configuration_close(&is.install_snapshot.conf);
    snapshot.assign(snapshot.size(), 'z');  // send copied it: changing ours changes nothing

    run_until(
        io, [&] { return b.inbox.size() == 1 && a.inbox.size() == 2 && sent.statuses.size() == 3; },
        "three messages");
    BOOST_TEST(sent.count(0) == 3u);
    BOOST_TEST(b.inbox[0].type == RAFT_IO_APPEND_ENTRIES);
    BOOST_TEST(b.inbox[0].from == 1u);
    BOOST_TEST(b.inbox[0].from_address == a.address);
    BOOST_TEST(b.inbox[0].term == 7u);
    BOOST_REQUIRE_EQUAL(b.inbox[0].entries.size(), 3u);
    for (int i = 0; i < 3; ++i) BOOST_TEST(b.inbox[0].entries[i] == data[i]);
    BOOST_TEST(a.inbox[0].type == RAFT_IO_APPEND_ENTRIES_RESULT);
    BOOST_TEST(a.inbox[0].from == 2u);
    BOOST_TEST(a.inbox[0].from_address == b.address);
    BOOST_TEST(a.inbox[0].term == 8u);
    BOOST_TEST(a.inbox[1].type == RAFT_IO_INSTALL_SNAPSHOT);
    BOOST_TEST(a.inbox[1].snapshot == std::string(1 << 20, 's'));
    BOOST_TEST(a.t.stats().frames_in == 2u);
    BOOST_TEST(b.t.stats().frames_out == 2u);
    BOOST_TEST(a.t.stats().bad_frames == 0u);
}

BOOST_AUTO_TEST_CASE(many_messages_arrive_in_order_and_done_is_never_inline) {
    asio::io_context io;
    nr::transport_options o;
    o.max_queued_sends = 2000;  // all are sent before the connection is up
    node a(io, 1, o), b(io, 2);
    std::vector<int> statuses;
    bool returned = false;
    for (raft_term term = 1; term <= 2000; ++term) {
        returned = false;
        BOOST_REQUIRE_EQUAL(a.t.send(vote_to(b.address, 2, term),
                                     [&](int s) {
                                         BOOST_CHECK(returned || statuses.size() + 1 < term);
                                         statuses.push_back(s);
                                     }),
                            0);
        returned = true;
    }
    run_until(
        io, [&] { return b.inbox.size() == 2000 && statuses.size() == 2000; }, "2000 messages");
    for (std::size_t i = 0; i < 2000; ++i) BOOST_REQUIRE_EQUAL(b.inbox[i].term, i + 1);
    BOOST_TEST(std::count(statuses.begin(), statuses.end(), 0) == 2000);
    BOOST_TEST(a.t.stats().connects == 1u);  // one connection carried them all
}

BOOST_AUTO_TEST_CASE(send_refuses_what_it_cannot_encode_without_calling_done) {
    asio::io_context io;
    nr::transport_options o;
    o.max_frame_size = 1000;
    node a(io, 1, o), b(io, 2);
    bool called = false;
    raft_message m = vote_to(b.address, 2, 1);
    m.type = 42;
    BOOST_TEST(a.t.send(m, [&](int) { called = true; }) == RAFT_MALFORMED);
    m = vote_to(b.address, 2, 1);
    m.server_address = nullptr;
    BOOST_TEST(a.t.send(m, [&](int) { called = true; }) == RAFT_MALFORMED);
    std::string big(2000, 'b');
    raft_message is{};
    is.type = RAFT_IO_INSTALL_SNAPSHOT;
    is.server_id = 2;
    is.server_address = b.address.c_str();
    is.install_snapshot.data = {big.data(), big.size()};
    BOOST_TEST(a.t.send(is, [&](int) { called = true; }) == RAFT_TOOBIG);
    io.run_for(50ms);
    BOOST_TEST(!called);
}

BOOST_AUTO_TEST_CASE(an_unreachable_peer_fails_sends_and_the_queue_drops_the_oldest_first) {
    asio::io_context io;
    nr::transport_options o;
    o.max_queued_sends = 4;
    nr::transport a(io.get_executor(), 1, "127.0.0.1:1", o);
    a.start([](raft_message& m) { nr::free_message(m); });
    const std::string nowhere = dead_address(io);
    std::vector<std::pair<int, int>> done;  // (send number, status)
    for (int i = 0; i < 10; ++i) {
        raft_message m{};
        m.type = RAFT_IO_TIMEOUT_NOW;
        m.server_id = 9;
        m.server_address = nowhere.c_str();
        BOOST_REQUIRE_EQUAL(a.send(m, [&, i](int s) { done.emplace_back(i, s); }), 0);
    }
    run_until(
        io, [&] { return done.size() == 10; }, "every send to an unreachable peer to fail");
    for (int i = 0; i < 10; ++i) {
        BOOST_TEST(done[i].first == i);  // the oldest fail first: overflow, then the failed connect
        BOOST_TEST(done[i].second == RAFT_NOCONNECTION);
    }
    BOOST_TEST(a.stats().connects == 0u);
}

BOOST_AUTO_TEST_CASE(the_queue_is_bounded_in_bytes_for_a_peer_that_never_reads) {
    asio::io_context io;
    nr::transport_options o;
    o.max_queued_bytes = 4 << 20;
    nr::transport a(io.get_executor(), 1, "127.0.0.1:1", o);
    // A peer that accepts and then never reads a byte.
    tcp::acceptor stalled(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const std::string address = "127.0.0.1:" + std::to_string(stalled.local_endpoint().port());
    tcp::socket accepted(io);
    stalled.async_accept(accepted, [](boost::system::error_code) {});
    std::string data(1 << 20, 'd');
    std::vector<std::pair<int, int>> done;
    for (int i = 0; i < 50; ++i) {
        raft_message m{};
        m.type = RAFT_IO_INSTALL_SNAPSHOT;
        m.server_id = 2;
        m.server_address = address.c_str();
        m.install_snapshot.data = {data.data(), data.size()};
        BOOST_REQUIRE_EQUAL(a.send(m, [&, i](int s) { done.emplace_back(i, s); }), 0);
    }
    // Three 1 MiB frames fit in 4 MiB: the 47 oldest give way, in order, before anything else.
    run_until(
        io, [&] { return done.size() >= 47; }, "the overflowing sends to fail");
    for (int i = 0; i < 47; ++i) {
        BOOST_TEST(done[i].first == i);
        BOOST_TEST(done[i].second == RAFT_NOCONNECTION);
    }
}

BOOST_AUTO_TEST_CASE(a_sender_reconnects_after_the_receiver_closes_and_comes_back) {
    asio::io_context io;
    nr::transport_options fast;
    fast.backoff_min = 10ms;
    fast.backoff_max = 100ms;
    node a(io, 1, fast);
    auto b = std::make_unique<node>(io, 2);
    const std::string b_address = b->address;
    send_log sent;
    BOOST_REQUIRE_EQUAL(a.t.send(vote_to(b->address, 2, 1), sent.record()), 0);
    run_until(
        io, [&] { return b->inbox.size() == 1; }, "the first message");

    bool closed = false;
    b->t.close([&] { closed = true; });
    run_until(
        io, [&] { return closed; }, "close");
    b.reset();
    // While nobody listens, sends fail with RAFT_NOCONNECTION (never hang, never succeed).
    raft_term term = 2;
    run_until(
        io,
        [&] {
            if (sent.count(RAFT_NOCONNECTION) > 0) return true;
            BOOST_REQUIRE_EQUAL(a.t.send(vote_to(b_address, 2, term++), sent.record()), 0);
            return false;
        },
        "a send to the closed peer to fail");

    // The peer restarts on the same port; the sender's next attempts reach it.
    nr::transport b2(io.get_executor(), 2, b_address);
    b2.listen(b_address);
    std::vector<raft_term> inbox;
    b2.start([&](raft_message& m) {
        BOOST_CHECK_EQUAL(m.server_id, 1u);
        inbox.push_back(m.request_vote.term);
        nr::free_message(m);
    });
    run_until(
        io,
        [&] {
            if (!inbox.empty()) return true;
            BOOST_REQUIRE_EQUAL(a.t.send(vote_to(b_address, 2, term++), sent.record()), 0);
            return false;
        },
        "a message to the restarted peer");
    // Sends still queued when the connection came back may arrive too: in order, none twice,
    // and not the one the old peer had received.
    BOOST_TEST(inbox.front() > 1u);
    BOOST_TEST(std::is_sorted(inbox.begin(), inbox.end()));
    BOOST_TEST((std::adjacent_find(inbox.begin(), inbox.end()) == inbox.end()));
    BOOST_TEST(a.t.stats().connects >= 2u);
    BOOST_TEST(a.t.stats().disconnects >= 1u);
}

std::vector<std::byte> operator+(std::vector<std::byte> a, const std::vector<std::byte>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

std::vector<std::byte> le_bytes(std::uint64_t v, int n) {
    std::vector<std::byte> out;
    for (int i = 0; i < n; ++i) out.push_back(i < 8 ? std::byte(v >> (8 * i)) : std::byte{0});
    return out;
}

// Each bad opening gets its connection dropped; a good peer's connection, made before and
// used after, keeps working throughout.
BOOST_AUTO_TEST_CASE(
    bad_bytes_and_bad_handshakes_from_a_raw_socket_are_dropped_while_good_peers_keep_working) {
    asio::io_context io;
    node a(io, 1), b(io, 2);
    send_log sent;
    BOOST_REQUIRE_EQUAL(a.t.send(vote_to(b.address, 2, 1), sent.record()), 0);
    run_until(
        io, [&] { return b.inbox.size() == 1; }, "the good peer's first message");

    const auto hello = handshake_bytes(3, "127.0.0.1:3");
    std::vector<std::byte> http(14);
    std::memcpy(http.data(), "GET / HTTP/1.0", 14);
    const std::vector<std::pair<const char*, std::vector<std::byte>>> cases = {
        {"another protocol", http},
        {"a handshake of another version", le_bytes(nr::handshake_magic, 4) + le_bytes(2, 2) +
                                               le_bytes(0, 2) + le_bytes(3, 8) + le_bytes(3, 2) +
                                               std::vector<std::byte>(3, std::byte{'a'})},
        {"a handshake with server id 0", handshake_bytes(0, "x:1")},
        {"a handshake claiming the receiver's own id", handshake_bytes(2, "127.0.0.1:3")},
        {"a frame of length 0", hello + le_bytes(0, 4)},
        {"a frame over the maximum", hello + le_bytes(0xffffffff, 4)},
        {"an unknown message type", hello + le_bytes(2 + 24, 4) + le_bytes(77, 2) + le_bytes(0, 24)},
        {"a truncated timeout_now",
         hello + le_bytes(2 + 8, 4) + le_bytes(RAFT_IO_TIMEOUT_NOW, 2) + le_bytes(1, 8)},
        {"4 billion entries in a small frame", hello + le_bytes(2 + 36, 4) +
                                                   le_bytes(RAFT_IO_APPEND_ENTRIES, 2) + le_bytes(0, 32) +
                                                   le_bytes(0xffffffff, 4)},
    };
    std::uint64_t bad_before = b.t.stats().bad_frames;
    raft_term term = 2;
    for (const auto& [what, bytes] : cases) {
        BOOST_TEST_CONTEXT(what) {
            expect_hang_up_after(io, b, bytes);
            BOOST_TEST(b.t.stats().bad_frames == bad_before + 1);
            bad_before = b.t.stats().bad_frames;
            // The good peer is still heard, on the connection it already had.
            BOOST_REQUIRE_EQUAL(a.t.send(vote_to(b.address, 2, term), sent.record()), 0);
            run_until(
                io, [&] { return b.inbox.size() == term; }, "the good peer's next message");
            ++term;
        }
    }
    BOOST_TEST(a.t.stats().connects == 1u);
    BOOST_TEST(sent.count(0) == sent.statuses.size());
}

BOOST_AUTO_TEST_CASE(a_connection_that_never_completes_its_handshake_is_dropped) {
    asio::io_context io;
    nr::transport_options o;
    o.handshake_timeout = 100ms;
    node b(io, 2, o);
    const auto hello = handshake_bytes(3, "127.0.0.1:3");
    expect_hang_up_after(io, b, std::vector<std::byte>(hello.begin(), hello.begin() + 10));
    BOOST_TEST(b.t.stats().bad_frames == 1u);
}

BOOST_AUTO_TEST_CASE(connections_past_the_inbound_limit_are_closed_at_once) {
    asio::io_context io;
    nr::transport_options o;
    o.max_inbound_connections = 2;
    node b(io, 2, o);
    tcp::socket s1(io), s2(io);
    s1.connect(b.t.local_endpoint());
    s2.connect(b.t.local_endpoint());
    run_until(
        io, [&] { return b.t.stats().connects == 2; }, "two accepted connections");
    expect_hang_up_after(io, b, handshake_bytes(3, "127.0.0.1:3"));
    BOOST_TEST(b.t.stats().connects == 2u);
}

BOOST_AUTO_TEST_CASE(close_cancels_pending_sends_before_its_done_and_delivers_nothing_after) {
    asio::io_context io;
    node a(io, 1), b(io, 2);
    std::vector<std::string> events;
    for (int i = 0; i < 3; ++i)
        BOOST_REQUIRE_EQUAL(
            a.t.send(vote_to(b.address, 2, 1), [&](int s) { events.push_back("send " + std::to_string(s)); }),
            0);
    a.t.close([&] { events.push_back("closed"); });
    b.t.close([&] { events.push_back("b closed"); });
    BOOST_TEST(events.empty());  // nothing inline
    BOOST_TEST(a.t.send(vote_to(b.address, 2, 1), [&](int) { events.push_back("late"); }) == RAFT_CANCELED);
    io.run_for(200ms);
    const std::string canceled = "send " + std::to_string(RAFT_CANCELED);
    BOOST_TEST((events == std::vector<std::string>{canceled, canceled, canceled, "closed", "b closed"}));
    BOOST_TEST(b.inbox.empty());
}

BOOST_AUTO_TEST_CASE(close_from_inside_on_message_stops_delivery_at_once) {
    asio::io_context io;
    node a(io, 1);
    nr::transport b(io.get_executor(), 2, "127.0.0.1:2");
    b.listen("127.0.0.1:0");
    const std::string b_address = "127.0.0.1:" + std::to_string(b.local_endpoint().port());
    int delivered = 0;
    bool closed = false;
    b.start([&](raft_message& m) {
        nr::free_message(m);
        ++delivered;
        b.close([&] { closed = true; });
    });
    // One write carries the three frames, so they reach b in one read.
    for (raft_term term = 1; term <= 3; ++term)
        BOOST_REQUIRE_EQUAL(a.t.send(vote_to(b_address, 2, term), [](int) {}), 0);
    run_until(
        io, [&] { return closed; }, "b to close");
    io.run_for(100ms);
    BOOST_TEST(delivered == 1);
}

BOOST_AUTO_TEST_CASE(no_callback_runs_after_the_transport_is_destroyed) {
    asio::io_context io;
    auto b = std::make_unique<node>(io, 2);
    int calls = 0;
    {
        nr::transport a(io.get_executor(), 1, "127.0.0.1:1");
        a.start([](raft_message& m) { nr::free_message(m); });
        for (int i = 0; i < 3; ++i)
            BOOST_REQUIRE_EQUAL(a.send(vote_to(b->address, 2, 1), [&](int) { ++calls; }), 0);
    }
    io.run_for(200ms);
    BOOST_TEST(calls == 0);
}

BOOST_AUTO_TEST_CASE(listen_on_a_bad_or_busy_address_throws_system_error) {
    asio::io_context io;
    node b(io, 2);
    nr::transport t(io.get_executor(), 3, "x:1");
    BOOST_CHECK_THROW(t.listen("no-port"), std::system_error);
    BOOST_CHECK_THROW(t.listen("127.0.0.1:99999"), std::system_error);
    BOOST_CHECK_THROW(t.listen(b.address), std::system_error);
}

BOOST_AUTO_TEST_SUITE_END()
