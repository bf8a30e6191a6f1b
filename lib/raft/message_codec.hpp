// The wire format of noriwal::raft's transport: a handshake, then length-prefixed frames, one
// per message of canonical raft 0.15 (raft.h's struct raft_message). Pure functions and a state
// machine over bytes (sans-I/O): no sockets here, so every rule is tested directly.
//
// All integers are little-endian.
//
//   handshake := magic u32 "NWRF" (0x4652574E) | version u16 (1) | flags u16 (0)
//                | server id u64 (not 0) | address length u16 (1..255) | address bytes
//                (printable ASCII, no NUL)
//
//   frame := length u32 (bytes that follow it: 2..max_frame_size) | type u16 | body
//
//   type 1  append_entries         term u64 | prev_log_index u64 | prev_log_term u64
//                                  | leader_commit u64 | n_entries u32
//                                  | n_entries x (term u64 | type u16 | length u64)
//                                  | the entries' data, one after the other
//   type 2  append_entries_result  term u64 | rejected u64 | last_log_index u64
//   type 3  request_vote           term u64 | candidate_id u64 | last_log_index u64
//                                  | last_log_term u64 | flags u8 (bit 0 disrupt_leader,
//                                  bit 1 pre_vote, other bits 0)
//   type 4  request_vote_result    term u64 | vote_granted u8 (0, 1) | pre_vote u8 (raft_tribool)
//   type 5  install_snapshot       term u64 | last_index u64 | last_term u64 | conf_index u64
//                                  | n_servers u32 | n_servers x (id u64 | role u8
//                                  | address length u16 | address) | data length u64 | data
//   type 6  timeout_now            term u64 | last_log_index u64 | last_log_term u64
//
// A frame's body must be consumed exactly: a field that runs past the frame is `truncated`, bytes
// left after the last field are `excess`. Every count and length is checked against the bytes
// that remain in the frame before anything is allocated, so a frame never costs more memory than
// its own (bounded) length. doc/replication.md ("Wire format") has the same layout for operators.
#pragma once

extern "C" {
#include <raft.h>
}

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace noriwal::raft {

inline constexpr std::uint32_t handshake_magic = 0x4652574E;  // "NWRF" in little-endian order
inline constexpr std::uint16_t protocol_version = 1;
inline constexpr std::size_t handshake_fixed_size = 4 + 2 + 2 + 8 + 2;
inline constexpr std::size_t max_address_size = 255;
inline constexpr std::size_t frame_length_size = 4;  // the u32 length prefix
inline constexpr std::size_t frame_type_size = 2;
inline constexpr std::size_t default_max_frame_size = std::size_t{64} << 20;  // 64 MiB

// What a decoder reports. Every status after `message` rejects the bytes: the connection that
// sent them is dropped.
enum class decode_status {
    need_more,      // no complete frame yet: feed more bytes
    message,        // one message decoded into `out`
    bad_length,     // frame length 0, shorter than its type, or over the maximum
    bad_type,       // unknown message type
    truncated,      // a field or an entry's data runs past the end of the frame
    excess,         // bytes left in the frame after its last field
    bad_field,      // a field holds a value no sender writes (flags, tribool, entry type, server...)
    bad_handshake,  // wrong magic, version, flags, server id 0, bad address
};
const char* to_string(decode_status s) noexcept;

struct decode_result {
    decode_status status;
    std::size_t consumed;  // bytes of the input used (0 on an error)
};

// Appends one complete frame (length prefix, type, fields, entry data) for m to out. m must be
// one of the six types of raft.h (anything else is a programming error: std::invalid_argument).
// m.server_id and m.server_address are not encoded: the receiver takes them from the handshake.
void encode_message(const raft_message& m, std::vector<std::byte>& out);

// Appends the handshake that opens every outbound connection.
void encode_handshake(raft_id id, std::string_view address, std::vector<std::byte>& out);

struct handshake {
    raft_id id = 0;
    std::string address;
};
// Parses the handshake at the start of `in` (stateless: call again with more bytes after
// need_more). Returns need_more, message (out filled, `consumed` bytes used) or bad_handshake.
decode_result decode_handshake(std::span<const std::byte> in, handshake& out);

// Feed bytes as they arrive, in any split; it yields messages one at a time and rejects bad
// frames. A decoded message's buffers are allocated with raft_malloc and owned by the caller, as
// raft_io's recv_cb expects: append_entries' `entries` array and one batch holding every entry's
// data (each entry's `batch` points to it); install_snapshot's configuration (release with
// raft_configuration_close) and `data.base`. free_message releases them all. server_id and
// server_address are left 0 and null (the transport fills them from the handshake).
class frame_decoder {
public:
    explicit frame_decoder(std::size_t max_frame_size);
    frame_decoder(const frame_decoder&) = delete;
    frame_decoder& operator=(const frame_decoder&) = delete;

    // Consumes bytes of `in` up to the end of the first complete frame. On `message`, out holds
    // it and `consumed` says how much of `in` was used: call again with the rest. On need_more,
    // every byte was consumed. After an error the decoder stays failed: every later call
    // returns the same error (the connection is to be dropped).
    decode_result feed(std::span<const std::byte> in, raft_message& out);

    std::size_t max_frame_size() const noexcept { return max_frame_size_; }
    // Bytes of an incomplete frame held (never more than max_frame_size + the length prefix).
    std::size_t buffered() const noexcept { return frame_.size(); }

private:
    decode_status decode_frame(raft_message& out);

    std::size_t max_frame_size_;
    std::vector<std::byte> frame_;  // the length prefix, then the frame's bytes so far
    std::size_t frame_length_ = 0;  // from the prefix, once all four bytes are in
    decode_status failed_ = decode_status::need_more;
};

// Releases every buffer a decoded message owns (what the engine does with a received message).
void free_message(raft_message& m) noexcept;

}  // namespace noriwal::raft
