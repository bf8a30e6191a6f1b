// The replicated key-value state of noriwal-kvd: a sorted map of keys to values behind canonical
// raft's `struct raft_fsm` (version 1). A RAFT_COMMAND entry carries one SET (encode_set), or a
// server's announcement of its client address (encode_client_address: a leader announces itself
// so that followers can answer REDIRECT with it); a snapshot is the whole state in one buffer. state_hash
// digests the whole map (keys in order, each length-prefixed), so that two nodes with the same hash hold the
// same state.
#pragma once

// libraft 0.15's headers have no extern "C" of their own.
extern "C" {
#include <raft.h>
}

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace noriwal::kvd {

/// A key or value the protocol accepts: non-empty, no space, no control character (so no newline).
bool valid_token(std::string_view s) noexcept;

/// The payload of a RAFT_COMMAND entry that sets `key` to `value`, allocated with raft_malloc
/// (raft_apply takes it over).
raft_buffer encode_set(std::string_view key, std::string_view value);
/// The payload of a RAFT_COMMAND entry that records `address` as the client address of `id`.
raft_buffer encode_client_address(raft_id id, std::string_view address);

class kv_fsm {
public:
    kv_fsm();
    kv_fsm(const kv_fsm&) = delete;
    kv_fsm& operator=(const kv_fsm&) = delete;

    /// The engine's view of this state machine; its `data` points here.
    raft_fsm* fsm() noexcept { return &fsm_; }

    std::optional<std::string> get(const std::string& key) const;
    std::size_t size() const noexcept { return map_.size(); }
    const std::map<std::string, std::string>& entries() const noexcept { return map_; }
    /// FNV-1a (64 bits) over every key and value in key order, each preceded by its length.
    std::uint64_t state_hash() const noexcept;
    /// The client address that server `id` announced, if any (not part of keys or state_hash).
    std::optional<std::string> client_address(raft_id id) const;
    /// Entries applied since start (commands only; a restore does not count).
    std::uint64_t applied_commands() const noexcept { return applied_; }
    /// Snapshots restored since start (the one loaded at start, and every one installed by a
    /// leader).
    std::uint64_t restores() const noexcept { return restores_; }

private:
    static int apply(raft_fsm* fsm, const raft_buffer* buf, void** result);
    static int snapshot(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs);
    static int restore(raft_fsm* fsm, raft_buffer* buf);

    raft_fsm fsm_{};
    std::map<std::string, std::string> map_;
    std::map<raft_id, std::string> clients_;
    std::uint64_t applied_ = 0;
    std::uint64_t restores_ = 0;
};

}  // namespace noriwal::kvd
