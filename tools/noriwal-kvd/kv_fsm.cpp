#include "kv_fsm.hpp"

#include <cstring>
#include <new>

namespace noriwal::kvd {

namespace {

// Command:  u8 kind; set: u32 key length (little endian), key, value (the rest);
//           client address: u64 server id, address (the rest).
// Snapshot: u64 count, then per entry u32 key length, key, u32 value length, value; then u64
//           count of client addresses, per address u64 id, u32 length, address.
enum : unsigned char { command_set = 1, command_client_address = 2 };
void put32(unsigned char*& p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) *p++ = static_cast<unsigned char>(v >> (8 * i));
}
void put64(unsigned char*& p, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) *p++ = static_cast<unsigned char>(v >> (8 * i));
}
bool get32(const unsigned char*& p, const unsigned char* end, std::uint32_t& v) {
    if (end - p < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t{*p++} << (8 * i);
    return true;
}
bool get64(const unsigned char*& p, const unsigned char* end, std::uint64_t& v) {
    if (end - p < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t{*p++} << (8 * i);
    return true;
}
bool get_string(const unsigned char*& p, const unsigned char* end, std::size_t n, std::string& s) {
    if (static_cast<std::size_t>(end - p) < n) return false;
    s.assign(reinterpret_cast<const char*>(p), n);
    p += n;
    return true;
}

}  // namespace

bool valid_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) return false;
    }
    return true;
}

raft_buffer encode_set(std::string_view key, std::string_view value) {
    raft_buffer b{};
    b.len = 1 + 4 + key.size() + value.size();
    b.base = raft_malloc(b.len);
    if (b.base == nullptr) throw std::bad_alloc();
    auto* p = static_cast<unsigned char*>(b.base);
    *p++ = command_set;
    put32(p, static_cast<std::uint32_t>(key.size()));
    std::memcpy(p, key.data(), key.size());
    std::memcpy(p + key.size(), value.data(), value.size());
    return b;
}

raft_buffer encode_client_address(raft_id id, std::string_view address) {
    raft_buffer b{};
    b.len = 1 + 8 + address.size();
    b.base = raft_malloc(b.len);
    if (b.base == nullptr) throw std::bad_alloc();
    auto* p = static_cast<unsigned char*>(b.base);
    *p++ = command_client_address;
    put64(p, id);
    std::memcpy(p, address.data(), address.size());
    return b;
}

kv_fsm::kv_fsm() {
    fsm_.version = 1;
    fsm_.data = this;
    fsm_.apply = &kv_fsm::apply;
    fsm_.snapshot = &kv_fsm::snapshot;
    fsm_.restore = &kv_fsm::restore;
}

std::optional<std::string> kv_fsm::get(const std::string& key) const {
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    return it->second;
}

std::optional<std::string> kv_fsm::client_address(raft_id id) const {
    auto it = clients_.find(id);
    if (it == clients_.end()) return std::nullopt;
    return it->second;
}

std::uint64_t kv_fsm::state_hash() const noexcept {
    std::uint64_t h = 0xcbf29ce484222325ull;
    auto mix = [&h](const void* data, std::size_t n) {
        const auto* p = static_cast<const unsigned char*>(data);
        for (std::size_t i = 0; i < n; ++i) {
            h ^= p[i];
            h *= 0x100000001b3ull;
        }
    };
    for (const auto& [k, v] : map_) {
        std::uint64_t kl = k.size(), vl = v.size();
        mix(&kl, sizeof kl);
        mix(k.data(), k.size());
        mix(&vl, sizeof vl);
        mix(v.data(), v.size());
    }
    return h;
}

int kv_fsm::apply(raft_fsm* fsm, const raft_buffer* buf, void** result) {
    auto* self = static_cast<kv_fsm*>(fsm->data);
    const auto* p = static_cast<const unsigned char*>(buf->base);
    const auto* end = p + buf->len;
    *result = nullptr;
    // A command this code did not write is a bug elsewhere; the engine stops on RAFT_MALFORMED.
    if (p == end) return RAFT_MALFORMED;
    unsigned char kind = *p++;
    if (kind == command_set) {
        std::uint32_t klen = 0;
        std::string key, value;
        if (!get32(p, end, klen) || !get_string(p, end, klen, key)) return RAFT_MALFORMED;
        value.assign(reinterpret_cast<const char*>(p), static_cast<std::size_t>(end - p));
        self->map_.insert_or_assign(std::move(key), std::move(value));
        ++self->applied_;
        return 0;
    }
    if (kind == command_client_address) {
        std::uint64_t id = 0;
        if (!get64(p, end, id)) return RAFT_MALFORMED;
        self->clients_[id].assign(reinterpret_cast<const char*>(p), static_cast<std::size_t>(end - p));
        return 0;
    }
    return RAFT_MALFORMED;
}

int kv_fsm::snapshot(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) {
    auto* self = static_cast<kv_fsm*>(fsm->data);
    std::size_t len = 8;
    for (const auto& [k, v] : self->map_) len += 8 + k.size() + v.size();
    len += 8;
    for (const auto& [id, a] : self->clients_) len += 12 + a.size();
    auto* array = static_cast<raft_buffer*>(raft_malloc(sizeof(raft_buffer)));
    if (array == nullptr) return RAFT_NOMEM;
    array->len = len;
    array->base = raft_malloc(len);
    if (array->base == nullptr) {
        raft_free(array);
        return RAFT_NOMEM;
    }
    auto* p = static_cast<unsigned char*>(array->base);
    put64(p, self->map_.size());
    for (const auto& [k, v] : self->map_) {
        put32(p, static_cast<std::uint32_t>(k.size()));
        std::memcpy(p, k.data(), k.size());
        p += k.size();
        put32(p, static_cast<std::uint32_t>(v.size()));
        std::memcpy(p, v.data(), v.size());
        p += v.size();
    }
    put64(p, self->clients_.size());
    for (const auto& [id, a] : self->clients_) {
        put64(p, id);
        put32(p, static_cast<std::uint32_t>(a.size()));
        std::memcpy(p, a.data(), a.size());
        p += a.size();
    }
    *bufs = array;
    *n_bufs = 1;
    return 0;
}

int kv_fsm::restore(raft_fsm* fsm, raft_buffer* buf) {
    auto* self = static_cast<kv_fsm*>(fsm->data);
    const auto* p = static_cast<const unsigned char*>(buf->base);
    const auto* end = p + buf->len;
    std::uint64_t count = 0;
    std::map<std::string, std::string> map;
    if (!get64(p, end, count)) return RAFT_MALFORMED;
    for (std::uint64_t i = 0; i < count; ++i) {
        std::uint32_t kl = 0, vl = 0;
        std::string k, v;
        if (!get32(p, end, kl) || !get_string(p, end, kl, k) || !get32(p, end, vl) ||
            !get_string(p, end, vl, v))
            return RAFT_MALFORMED;
        map.emplace_hint(map.end(), std::move(k), std::move(v));
    }
    std::map<raft_id, std::string> clients;
    if (!get64(p, end, count)) return RAFT_MALFORMED;
    for (std::uint64_t i = 0; i < count; ++i) {
        std::uint64_t id = 0;
        std::uint32_t len = 0;
        std::string a;
        if (!get64(p, end, id) || !get32(p, end, len) || !get_string(p, end, len, a)) return RAFT_MALFORMED;
        clients.emplace(id, std::move(a));
    }
    if (p != end) return RAFT_MALFORMED;
    self->map_ = std::move(map);
    self->clients_ = std::move(clients);
    ++self->restores_;
    // On success the state machine owns the buffer's memory (as the engine's own test FSM does).
    raft_free(buf->base);
    return 0;
}

}  // namespace noriwal::kvd
