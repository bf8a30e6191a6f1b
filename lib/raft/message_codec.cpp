// The wire codec: message_codec.hpp has the byte layout.
#include "message_codec.hpp"

#include "format/little_endian.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

namespace noriwal::raft {
namespace le = noriwal::detail::le;

namespace {

constexpr std::size_t entry_header_size = 8 + 2 + 8;    // term, type, length
constexpr std::size_t server_min_size = 8 + 1 + 2 + 1;  // id, role, address length, 1 byte
constexpr std::uint8_t request_vote_disrupt_leader = 1;
constexpr std::uint8_t request_vote_pre_vote = 2;

// Appends integers and bytes to a frame under construction.
class frame_writer {
public:
    explicit frame_writer(std::vector<std::byte>& out) : out_(out) {}
    void u8(std::uint8_t v) { out_.push_back(std::byte{v}); }
    void u16(std::uint16_t v) { le::store_u16(grow(2), v); }
    void u32(std::uint32_t v) { le::store_u32(grow(4), v); }
    void u64(std::uint64_t v) { le::store_u64(grow(8), v); }
    void bytes(const void* p, std::size_t n) {
        if (n != 0) std::memcpy(grow(n), p, n);
    }

private:
    std::byte* grow(std::size_t n) {
        out_.resize(out_.size() + n);
        return out_.data() + out_.size() - n;
    }
    std::vector<std::byte>& out_;
};

// Reads a frame's fields; every read checks the bytes that remain first. A failed read leaves
// the reader exhausted (ok() false), so a decoder checks once after a group of fields.
class frame_reader {
public:
    explicit frame_reader(std::span<const std::byte> in) : in_(in) {}
    bool ok() const noexcept { return ok_; }
    std::size_t remaining() const noexcept { return in_.size(); }
    std::uint8_t u8() { return take(1) ? std::to_integer<std::uint8_t>(p_[0]) : 0; }
    std::uint16_t u16() { return take(2) ? le::load_u16(p_) : 0; }
    std::uint32_t u32() { return take(4) ? le::load_u32(p_) : 0; }
    std::uint64_t u64() { return take(8) ? le::load_u64(p_) : 0; }
    const std::byte* bytes(std::size_t n) { return take(n) ? p_ : nullptr; }

private:
    bool take(std::size_t n) {
        if (!ok_ || n > in_.size()) {
            ok_ = false;
            in_ = {};
            return false;
        }
        p_ = in_.data();
        in_ = in_.subspan(n);
        return true;
    }
    std::span<const std::byte> in_;
    const std::byte* p_ = nullptr;
    bool ok_ = true;
};

bool valid_address(std::span<const std::byte> a) {
    if (a.empty() || a.size() > max_address_size) return false;
    return std::all_of(a.begin(), a.end(), [](std::byte b) {
        const auto c = std::to_integer<unsigned>(b);
        return c > 0x20 && c < 0x7f;  // printable, no space: "host:port"
    });
}

void encode_configuration(const raft_configuration& conf, frame_writer& w) {
    w.u32(conf.n);
    for (unsigned i = 0; i < conf.n; ++i) {
        const raft_server& s = conf.servers[i];
        const std::size_t len = s.address == nullptr ? 0 : std::strlen(s.address);
        if (len > max_address_size) throw std::invalid_argument("raft server address over 255 bytes");
        w.u64(s.id);
        w.u8(static_cast<std::uint8_t>(s.role));
        w.u16(static_cast<std::uint16_t>(len));
        w.bytes(s.address, len);
    }
}

decode_status decode_append_entries(frame_reader& r, raft_append_entries& m) {
    m.term = r.u64();
    m.prev_log_index = r.u64();
    m.prev_log_term = r.u64();
    m.leader_commit = r.u64();
    const std::uint32_t n = r.u32();
    if (!r.ok()) return decode_status::truncated;
    // The count is checked against the bytes left before the array is allocated.
    if (n > r.remaining() / entry_header_size) return decode_status::truncated;
    const std::byte* headers = r.bytes(std::size_t{n} * entry_header_size);
    std::uint64_t total = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
        const std::byte* h = headers + std::size_t{i} * entry_header_size;
        const std::uint16_t type = le::load_u16(h + 8);
        const std::uint64_t len = le::load_u64(h + 10);
        if (type < RAFT_COMMAND || type > RAFT_CHANGE) return decode_status::bad_field;
        if (len > r.remaining() - total) return decode_status::truncated;
        total += len;
    }
    if (total < r.remaining()) return decode_status::excess;
    m.entries = nullptr;
    m.n_entries = 0;
    if (n == 0) return decode_status::message;

    auto* entries = static_cast<raft_entry*>(raft_malloc(sizeof(raft_entry) * n));
    // One batch holds every entry's data; at least one byte, so that `batch` is never null.
    void* batch = raft_malloc(std::max<std::size_t>(static_cast<std::size_t>(total), 1));
    if (entries == nullptr || batch == nullptr) {
        raft_free(entries);
        raft_free(batch);
        throw std::bad_alloc();
    }
    const std::byte* data = r.bytes(static_cast<std::size_t>(total));
    if (total != 0) std::memcpy(batch, data, static_cast<std::size_t>(total));
    std::size_t offset = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
        const std::byte* h = headers + std::size_t{i} * entry_header_size;
        const auto len = static_cast<std::size_t>(le::load_u64(h + 10));
        entries[i].term = le::load_u64(h);
        entries[i].type = le::load_u16(h + 8);
        entries[i].buf.base = static_cast<char*>(batch) + offset;
        entries[i].buf.len = len;
        entries[i].batch = batch;
        offset += len;
    }
    m.entries = entries;
    m.n_entries = n;
    return decode_status::message;
}

decode_status decode_install_snapshot(frame_reader& r, raft_install_snapshot& m) {
    m.term = r.u64();
    m.last_index = r.u64();
    m.last_term = r.u64();
    m.conf_index = r.u64();
    const std::uint32_t n = r.u32();
    if (!r.ok()) return decode_status::truncated;
    if (n > r.remaining() / server_min_size) return decode_status::truncated;
    raft_configuration_init(&m.conf);
    m.data = {nullptr, 0};
    auto fail = [&](decode_status s) {
        raft_configuration_close(&m.conf);
        raft_configuration_init(&m.conf);
        return s;
    };
    std::string address;
    for (std::uint32_t i = 0; i < n; ++i) {
        const std::uint64_t id = r.u64();
        const std::uint8_t role = r.u8();
        const std::uint16_t len = r.u16();
        const std::byte* a = r.bytes(len);
        if (!r.ok()) return fail(decode_status::truncated);
        if (id == 0 || role > RAFT_SPARE || !valid_address({a, len})) return fail(decode_status::bad_field);
        address.assign(reinterpret_cast<const char*>(a), len);
        const int rv = raft_configuration_add(&m.conf, id, address.c_str(), role);
        if (rv == RAFT_NOMEM) {
            fail(decode_status::bad_field);
            throw std::bad_alloc();
        }
        if (rv != 0) return fail(decode_status::bad_field);  // a duplicate id or address
    }
    const std::uint64_t len = r.u64();
    if (!r.ok() || len > r.remaining()) return fail(decode_status::truncated);
    if (len < r.remaining()) return fail(decode_status::excess);
    if (len != 0) {
        m.data.base = raft_malloc(static_cast<std::size_t>(len));
        if (m.data.base == nullptr) {
            fail(decode_status::bad_field);
            throw std::bad_alloc();
        }
        std::memcpy(m.data.base, r.bytes(static_cast<std::size_t>(len)), static_cast<std::size_t>(len));
        m.data.len = static_cast<std::size_t>(len);
    }
    return decode_status::message;
}

// The fixed-size messages: every field read, then the frame must be used up exactly.
decode_status end_of_fixed(const frame_reader& r) {
    if (!r.ok()) return decode_status::truncated;
    return r.remaining() == 0 ? decode_status::message : decode_status::excess;
}

}  // namespace

const char* to_string(decode_status s) noexcept {
    switch (s) {
        case decode_status::need_more:
            return "need more bytes";
        case decode_status::message:
            return "message";
        case decode_status::bad_length:
            return "bad frame length";
        case decode_status::bad_type:
            return "unknown message type";
        case decode_status::truncated:
            return "field runs past the end of the frame";
        case decode_status::excess:
            return "bytes left after the last field of the frame";
        case decode_status::bad_field:
            return "field holds an invalid value";
        case decode_status::bad_handshake:
            return "bad handshake";
    }
    return "unknown decode status";
}

void encode_message(const raft_message& m, std::vector<std::byte>& out) {
    const std::size_t start = out.size();
    frame_writer w(out);
    w.u32(0);  // the length, filled in at the end
    w.u16(m.type);
    switch (m.type) {
        case RAFT_IO_APPEND_ENTRIES: {
            const raft_append_entries& a = m.append_entries;
            w.u64(a.term);
            w.u64(a.prev_log_index);
            w.u64(a.prev_log_term);
            w.u64(a.leader_commit);
            w.u32(a.n_entries);
            for (unsigned i = 0; i < a.n_entries; ++i) {
                w.u64(a.entries[i].term);
                w.u16(a.entries[i].type);
                w.u64(a.entries[i].buf.len);
            }
            for (unsigned i = 0; i < a.n_entries; ++i) w.bytes(a.entries[i].buf.base, a.entries[i].buf.len);
            break;
        }
        case RAFT_IO_APPEND_ENTRIES_RESULT:
            w.u64(m.append_entries_result.term);
            w.u64(m.append_entries_result.rejected);
            w.u64(m.append_entries_result.last_log_index);
            break;
        case RAFT_IO_REQUEST_VOTE: {
            const raft_request_vote& v = m.request_vote;
            w.u64(v.term);
            w.u64(v.candidate_id);
            w.u64(v.last_log_index);
            w.u64(v.last_log_term);
            w.u8(static_cast<std::uint8_t>((v.disrupt_leader ? request_vote_disrupt_leader : 0) |
                                           (v.pre_vote ? request_vote_pre_vote : 0)));
            break;
        }
        case RAFT_IO_REQUEST_VOTE_RESULT:
            w.u64(m.request_vote_result.term);
            w.u8(m.request_vote_result.vote_granted ? 1 : 0);
            w.u8(static_cast<std::uint8_t>(m.request_vote_result.pre_vote));
            break;
        case RAFT_IO_INSTALL_SNAPSHOT: {
            const raft_install_snapshot& s = m.install_snapshot;
            w.u64(s.term);
            w.u64(s.last_index);
            w.u64(s.last_term);
            w.u64(s.conf_index);
            encode_configuration(s.conf, w);
            w.u64(s.data.len);
            w.bytes(s.data.base, s.data.len);
            break;
        }
        case RAFT_IO_TIMEOUT_NOW:
            w.u64(m.timeout_now.term);
            w.u64(m.timeout_now.last_log_index);
            w.u64(m.timeout_now.last_log_term);
            break;
        default:
            out.resize(start);
            throw std::invalid_argument("raft message of unknown type " + std::to_string(m.type));
    }
    const std::size_t length = out.size() - start - frame_length_size;
    if (length > std::numeric_limits<std::uint32_t>::max()) {
        out.resize(start);
        throw std::length_error("raft message over 4 GiB");
    }
    le::store_u32(out.data() + start, static_cast<std::uint32_t>(length));
}

void encode_handshake(raft_id id, std::string_view address, std::vector<std::byte>& out) {
    if (address.size() > max_address_size) throw std::invalid_argument("raft server address over 255 bytes");
    frame_writer w(out);
    w.u32(handshake_magic);
    w.u16(protocol_version);
    w.u16(0);
    w.u64(id);
    w.u16(static_cast<std::uint16_t>(address.size()));
    w.bytes(address.data(), address.size());
}

decode_result decode_handshake(std::span<const std::byte> in, handshake& out) {
    const decode_result bad{decode_status::bad_handshake, 0};
    // Each fixed field is judged as soon as its bytes are in, so that garbage is refused early.
    if (in.size() >= 4 && le::load_u32(in.data()) != handshake_magic) return bad;
    if (in.size() >= 6 && le::load_u16(in.data() + 4) != protocol_version) return bad;
    if (in.size() >= 8 && le::load_u16(in.data() + 6) != 0) return bad;
    if (in.size() < handshake_fixed_size) return {decode_status::need_more, 0};
    const raft_id id = le::load_u64(in.data() + 8);
    const std::size_t len = le::load_u16(in.data() + 16);
    if (id == 0 || len == 0 || len > max_address_size) return bad;
    if (in.size() < handshake_fixed_size + len) return {decode_status::need_more, 0};
    const auto address = in.subspan(handshake_fixed_size, len);
    if (!valid_address(address)) return bad;
    out.id = id;
    out.address.assign(reinterpret_cast<const char*>(address.data()), len);
    return {decode_status::message, handshake_fixed_size + len};
}

frame_decoder::frame_decoder(std::size_t max_frame_size) : max_frame_size_(max_frame_size) {}

decode_result frame_decoder::feed(std::span<const std::byte> in, raft_message& out) {
    if (failed_ != decode_status::need_more) return {failed_, 0};
    std::size_t used = 0;
    if (frame_.size() < frame_length_size) {
        const std::size_t n = std::min(frame_length_size - frame_.size(), in.size());
        frame_.insert(frame_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
        used = n;
        if (frame_.size() < frame_length_size) return {decode_status::need_more, used};
        frame_length_ = le::load_u32(frame_.data());
        if (frame_length_ < frame_type_size || frame_length_ > max_frame_size_) {
            failed_ = decode_status::bad_length;
            return {failed_, 0};
        }
    }
    // The frame grows only as its bytes arrive: a length prefix alone reserves nothing.
    const std::size_t wanted = frame_length_size + frame_length_ - frame_.size();
    const std::size_t n = std::min(wanted, in.size() - used);
    frame_.insert(frame_.end(), in.begin() + static_cast<std::ptrdiff_t>(used),
                  in.begin() + static_cast<std::ptrdiff_t>(used + n));
    used += n;
    if (n < wanted) return {decode_status::need_more, used};

    const decode_status s = decode_frame(out);
    frame_.clear();
    frame_length_ = 0;
    if (frame_.capacity() > (std::size_t{1} << 20)) frame_.shrink_to_fit();  // after a large frame
    if (s != decode_status::message) {
        failed_ = s;
        return {s, 0};
    }
    return {s, used};
}

decode_status frame_decoder::decode_frame(raft_message& out) {
    frame_reader r(std::span<const std::byte>(frame_).subspan(frame_length_size));
    raft_message m{};
    m.type = r.u16();
    decode_status s = decode_status::bad_type;
    switch (m.type) {
        case RAFT_IO_APPEND_ENTRIES:
            s = decode_append_entries(r, m.append_entries);
            break;
        case RAFT_IO_APPEND_ENTRIES_RESULT:
            m.append_entries_result.term = r.u64();
            m.append_entries_result.rejected = r.u64();
            m.append_entries_result.last_log_index = r.u64();
            s = end_of_fixed(r);
            break;
        case RAFT_IO_REQUEST_VOTE: {
            raft_request_vote& v = m.request_vote;
            v.term = r.u64();
            v.candidate_id = r.u64();
            v.last_log_index = r.u64();
            v.last_log_term = r.u64();
            const std::uint8_t flags = r.u8();
            v.disrupt_leader = (flags & request_vote_disrupt_leader) != 0;
            v.pre_vote = (flags & request_vote_pre_vote) != 0;
            s = end_of_fixed(r);
            if (s == decode_status::message &&
                (flags & ~(request_vote_disrupt_leader | request_vote_pre_vote)) != 0)
                s = decode_status::bad_field;
            break;
        }
        case RAFT_IO_REQUEST_VOTE_RESULT: {
            m.request_vote_result.term = r.u64();
            const std::uint8_t granted = r.u8();
            const std::uint8_t pre_vote = r.u8();
            s = end_of_fixed(r);
            if (s == decode_status::message && (granted > 1 || pre_vote > raft_tribool_false))
                s = decode_status::bad_field;
            m.request_vote_result.vote_granted = granted == 1;
            m.request_vote_result.pre_vote = static_cast<raft_tribool>(pre_vote);
            break;
        }
        case RAFT_IO_INSTALL_SNAPSHOT:
            s = decode_install_snapshot(r, m.install_snapshot);
            break;
        case RAFT_IO_TIMEOUT_NOW:
            m.timeout_now.term = r.u64();
            m.timeout_now.last_log_index = r.u64();
            m.timeout_now.last_log_term = r.u64();
            s = end_of_fixed(r);
            break;
        default:
            break;
    }
    if (s == decode_status::message) out = m;
    return s;
}

void free_message(raft_message& m) noexcept {
    switch (m.type) {
        case RAFT_IO_APPEND_ENTRIES: {
            raft_append_entries& a = m.append_entries;
            // Every decoded entry shares one batch; entries built otherwise may each own theirs.
            void* freed = nullptr;
            for (unsigned i = 0; i < a.n_entries; ++i) {
                if (a.entries[i].batch != nullptr && a.entries[i].batch != freed) {
                    freed = a.entries[i].batch;
                    raft_free(freed);
                }
            }
            raft_free(a.entries);
            a.entries = nullptr;
            a.n_entries = 0;
            break;
        }
        case RAFT_IO_INSTALL_SNAPSHOT:
            raft_configuration_close(&m.install_snapshot.conf);
            raft_configuration_init(&m.install_snapshot.conf);
            raft_free(m.install_snapshot.data.base);
            m.install_snapshot.data = {nullptr, 0};
            break;
        default:
            break;
    }
}

}  // namespace noriwal::raft
