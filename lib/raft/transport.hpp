// TCP transport of noriwal::raft: carries canonical raft's messages between servers, on
// Boost.Asio, on the engine's executor (one thread; nothing here is thread-safe).
//
// Every outbound connection opens with a handshake (protocol magic and version, the sender's
// server id and address) that the receiver validates; then length-prefixed frames follow in
// one direction only (message_codec.hpp has the bytes). Each peer has a send queue and one
// outbound connection, re-established with a backoff after it fails. Every received frame is
// validated; a bad one drops its connection, while other connections keep working.
#pragma once

#include "message_codec.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace noriwal::raft {

struct transport_options {
    std::size_t max_frame_size = default_max_frame_size;  // larger frames are refused both ways
    // Bound of each peer's send queue: past either, the oldest queued sends fail with
    // RAFT_NOCONNECTION. A send larger than max_queued_bytes still gets queued alone.
    std::size_t max_queued_sends = 1024;
    std::size_t max_queued_bytes = std::size_t{64} << 20;
    // Reconnection delay after a failed connect or a lost connection: starts at backoff_min,
    // doubles up to backoff_max, resets once a connection is established.
    std::chrono::milliseconds backoff_min{50};
    std::chrono::milliseconds backoff_max{2000};
    // An inbound connection that has not completed its handshake by then is dropped.
    std::chrono::milliseconds handshake_timeout{5000};
    std::size_t max_inbound_connections = 64;  // further connections are closed at once
};

class transport {
public:
    transport(boost::asio::any_io_executor ex, raft_id self_id, std::string self_address);
    transport(boost::asio::any_io_executor ex, raft_id self_id, std::string self_address,
              transport_options options);
    // Closes every socket if close() was not called; no callback runs after destruction.
    ~transport();
    transport(const transport&) = delete;
    transport& operator=(const transport&) = delete;

    // "host:port" (port 0 picks an ephemeral one: see local_endpoint). Throws std::system_error.
    void listen(const std::string& address);
    boost::asio::ip::tcp::endpoint local_endpoint() const;
    // The address sent in the handshake (for a server whose port is only known after listen).
    void set_self_address(std::string address);

    // Every valid received message goes to on_message, on ex; the callee takes ownership of the
    // message's buffers (exactly as raft_io's recv_cb does). m.server_id and m.server_address
    // are the sender's, from its handshake; the address is valid during the call only.
    void start(std::function<void(raft_message& m)> on_message);

    // Encodes (copies) before returning; done(status) posted to ex once written to the socket
    // or failed (RAFT_NOCONNECTION: peer unreachable or queue overflow; RAFT_CANCELED: closed).
    // Never invoked inline. Returns 0, RAFT_TOOBIG (frame over max_frame_size), RAFT_MALFORMED
    // (unknown type, no address), RAFT_NOMEM or RAFT_CANCELED (after close); done is not called then.
    int send(const raft_message& m, std::function<void(int status)> done);

    // Closes every socket; every pending send completes with RAFT_CANCELED before done, and done
    // is posted once all sockets are closed. No on_message afterwards.
    void close(std::function<void()> done);

    // frames_in: valid messages received; frames_out: messages written; bad_frames: inbound
    // connections dropped for a bad frame, a bad handshake or no handshake in time; connects:
    // outbound connections established plus inbound ones accepted; disconnects: connections
    // lost or dropped (not those that close() ends).
    struct counters {
        std::uint64_t frames_in, frames_out, bad_frames, connects, disconnects;
    };
    counters stats() const;

private:
    struct state;
    std::shared_ptr<state> state_;  // shared with the pending operations' handlers
};

}  // namespace noriwal::raft
