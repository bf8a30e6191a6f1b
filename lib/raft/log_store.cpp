// The raft log store (log_store.hpp has the contract and the files).
//
// Entries. One noriwal record per raft entry, raft index == LSN (a new log starts at 1; a
// snapshot install resets the log so that its next LSN is the snapshot's index + 1). The
// record's key is the entry's header, the value its data:
//   key = [u8 entry format (1)][u16 type][u64 term]   (little-endian)
//
// Term and vote: the file `metadata`, two slots of 40 bytes at offsets 0 and 512, written
// alternately (sequence 1, 3, 5... in the first, 2, 4... in the second) (each write fdatasync'd before
// set_term/set_vote returns); the valid slot with the higher sequence number wins, so a torn write leaves the
// previous value. The file is created (first slot) as metadata.tmp, synced, renamed and the directory synced:
// once it exists, one slot is valid unless the disk damaged it.
//   slot = [8 magic "NWRAFTMD"][u32 format (1)][u32 crc32c of the slot with this field 0]
//          [u64 sequence][u64 term][u64 vote]
//
// Snapshots: `snapshot-<term>-<index>` (16 hex digits each), written as `<name>.tmp`,
// fdatasync'd, renamed, directory fsync'd; older snapshot files are removed only after that.
//   header (64 bytes) = [8 magic "NWRAFTSN"][u32 format (1)][u32 crc32c of the header with this
//          field 0][u64 term][u64 index][u64 configuration index][u64 configuration bytes]
//          [u64 data bytes][u32 crc32c of configuration and data][u32 0]
//   configuration = [u32 servers] then per server [u64 id][u32 role][u32 address bytes][address]
//   then the data (the snapshot's buffers, concatenated).
//
// Ordering. Appends go to the wal as they come. truncate and an install-mode snapshot_put are
// barriers: they wait until every append accepted before them has completed (a truncate_after
// or reset_to of the wal would complete appends still waiting for their fdatasync with
// errc::truncated), and appends accepted after them wait until they are done.
#include "log_store.hpp"

#include <noriwal/detail/crc32c.hpp>
#include <noriwal/error.hpp>
#include <noriwal/wal.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <optional>
#include <tuple>
#include <vector>

namespace noriwal::raft {

namespace {

namespace asio = boost::asio;

constexpr std::uint8_t entry_format = 1;
constexpr std::size_t entry_key_size = 11;
constexpr std::size_t metadata_slot_size = 40;
constexpr std::uint64_t metadata_slot_offset[2] = {0, 512};
constexpr std::uint32_t file_format = 1;
constexpr std::size_t snapshot_header_size = 64;
constexpr char metadata_magic[8] = {'N', 'W', 'R', 'A', 'F', 'T', 'M', 'D'};
constexpr char snapshot_magic[8] = {'N', 'W', 'R', 'A', 'F', 'T', 'S', 'N'};
constexpr std::string_view snapshot_prefix = "snapshot-";
constexpr std::string_view temp_suffix = ".tmp";

void put_u16(std::byte* p, std::uint16_t v) {
    for (int i = 0; i < 2; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
void put_u32(std::byte* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
void put_u64(std::byte* p, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
std::uint16_t get_u16(const std::byte* p) {
    return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) | std::to_integer<unsigned>(p[1]) << 8);
}
std::uint32_t get_u32(const std::byte* p) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = v << 8 | std::to_integer<std::uint32_t>(p[i]);
    return v;
}
std::uint64_t get_u64(const std::byte* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | std::to_integer<std::uint64_t>(p[i]);
    return v;
}

std::string hex16(std::uint64_t v) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s(16, '0');
    for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = digits[v & 15];
    return s;
}

std::string snapshot_name(raft_term term, raft_index index) {
    return std::string(snapshot_prefix) + hex16(term) + "-" + hex16(index);
}

// "snapshot-<16 hex>-<16 hex>" -> (term, index).
std::optional<std::pair<raft_term, raft_index>> parse_snapshot_name(std::string_view name) {
    if (name.size() != snapshot_prefix.size() + 33 || !name.starts_with(snapshot_prefix)) return std::nullopt;
    name.remove_prefix(snapshot_prefix.size());
    if (name[16] != '-') return std::nullopt;
    auto parse = [](std::string_view h, std::uint64_t& out) {
        out = 0;
        for (const char c : h) {
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) return false;
            out = out << 4 | static_cast<std::uint64_t>(d);
        }
        return true;
    };
    std::uint64_t t = 0, i = 0;
    if (!parse(name.substr(0, 16), t) || !parse(name.substr(17), i)) return std::nullopt;
    return std::pair{t, i};
}

int raft_code(std::error_code ec) {
    if (ec == errc::no_space || ec == std::errc::no_space_on_device) return RAFT_NOSPACE;
    return RAFT_IOERR;
}

std::string describe(std::error_code ec) { return ec.message(); }

// Reads a whole file (bounded by `limit` bytes: more is an error, never an allocation).
std::error_code read_file(file_system& fs, const std::filesystem::path& p, std::uint64_t limit,
                          std::vector<std::byte>& out) {
    std::unique_ptr<file> f;
    if (auto ec = fs.open(p, open_mode::read_only, f)) return ec;
    std::uint64_t size = 0;
    if (auto ec = f->size(size)) return ec;
    if (size > limit) return make_error_code(errc::corrupted);
    out.resize(static_cast<std::size_t>(size));
    std::size_t got = 0;
    if (auto ec = f->read_at(0, out, got)) return ec;
    if (got != out.size()) return make_error_code(errc::io_failed);
    return {};
}

std::vector<std::byte> encode_configuration(const raft_configuration& conf) {
    std::size_t size = 4;
    for (unsigned i = 0; i < conf.n; ++i) size += 16 + std::strlen(conf.servers[i].address);
    std::vector<std::byte> out(size);
    std::byte* p = out.data();
    put_u32(p, conf.n);
    p += 4;
    for (unsigned i = 0; i < conf.n; ++i) {
        const raft_server& s = conf.servers[i];
        const std::size_t len = std::strlen(s.address);
        put_u64(p, s.id);
        put_u32(p + 8, static_cast<std::uint32_t>(s.role));
        put_u32(p + 12, static_cast<std::uint32_t>(len));
        std::memcpy(p + 16, s.address, len);
        p += 16 + len;
    }
    return out;
}

// Decodes into `conf` (initialised, raft_malloc'd as the engine frees it). False if malformed.
bool decode_configuration(std::span<const std::byte> in, raft_configuration& conf) {
    raft_configuration_init(&conf);
    if (in.size() < 4) return false;
    const std::uint32_t n = get_u32(in.data());
    std::size_t off = 4;
    for (std::uint32_t i = 0; i < n; ++i) {
        if (in.size() - off < 16) return false;
        const std::uint64_t id = get_u64(in.data() + off);
        const std::uint32_t role = get_u32(in.data() + off + 8);
        const std::uint32_t len = get_u32(in.data() + off + 12);
        off += 16;
        if (in.size() - off < len) return false;
        const std::string address(reinterpret_cast<const char*>(in.data() + off), len);
        off += len;
        if (raft_configuration_add(&conf, id, address.c_str(), static_cast<int>(role)) != 0) return false;
    }
    return off == in.size();
}

struct metadata {
    std::uint64_t sequence = 0;  // 0: never written
    raft_term term = 0;
    raft_id vote = 0;
};

std::array<std::byte, metadata_slot_size> encode_metadata(const metadata& m) {
    std::array<std::byte, metadata_slot_size> b{};
    std::memcpy(b.data(), metadata_magic, 8);
    put_u32(b.data() + 8, file_format);
    put_u64(b.data() + 16, m.sequence);
    put_u64(b.data() + 24, m.term);
    put_u64(b.data() + 32, m.vote);
    put_u32(b.data() + 12, detail::crc32c(b));
    return b;
}

// The slot at `p` (metadata_slot_size bytes), if valid.
std::optional<metadata> decode_metadata(const std::byte* p) {
    if (std::memcmp(p, metadata_magic, 8) != 0 || get_u32(p + 8) != file_format) return std::nullopt;
    std::array<std::byte, metadata_slot_size> b;
    std::memcpy(b.data(), p, b.size());
    const std::uint32_t crc = get_u32(p + 12);
    put_u32(b.data() + 12, 0);
    if (detail::crc32c(b) != crc) return std::nullopt;
    return metadata{get_u64(p + 16), get_u64(p + 24), get_u64(p + 32)};
}

// A snapshot as stored: its header fields and the configuration + data bytes.
struct stored_snapshot {
    raft_term term = 0;
    raft_index index = 0;
    raft_index configuration_index = 0;
    std::vector<std::byte> configuration;  // encoded
    std::vector<std::byte> data;
};

std::vector<std::byte> encode_snapshot_header(const stored_snapshot& s) {
    std::vector<std::byte> h(snapshot_header_size);
    std::memcpy(h.data(), snapshot_magic, 8);
    put_u32(h.data() + 8, file_format);
    put_u64(h.data() + 16, s.term);
    put_u64(h.data() + 24, s.index);
    put_u64(h.data() + 32, s.configuration_index);
    put_u64(h.data() + 40, s.configuration.size());
    put_u64(h.data() + 48, s.data.size());
    std::uint32_t body = detail::crc32c(s.configuration);
    body = detail::crc32c_extend(body, s.data.data(), s.data.size());
    put_u32(h.data() + 56, body);
    put_u32(h.data() + 12, detail::crc32c(h));
    return h;
}

// Parses a snapshot file's bytes; on failure returns why (for the message).
std::string decode_snapshot(std::span<const std::byte> in, stored_snapshot& out) {
    if (in.size() < snapshot_header_size) return "shorter than its 64-byte header";
    if (std::memcmp(in.data(), snapshot_magic, 8) != 0) return "not a noriwal raft snapshot (bad magic)";
    if (get_u32(in.data() + 8) != file_format)
        return "format " + std::to_string(get_u32(in.data() + 8)) + " is not 1 (written by a newer noriwal?)";
    std::array<std::byte, snapshot_header_size> h;
    std::memcpy(h.data(), in.data(), h.size());
    put_u32(h.data() + 12, 0);
    if (detail::crc32c(h) != get_u32(in.data() + 12)) return "its header fails its checksum";
    out.term = get_u64(in.data() + 16);
    out.index = get_u64(in.data() + 24);
    out.configuration_index = get_u64(in.data() + 32);
    const std::uint64_t conf_len = get_u64(in.data() + 40);
    const std::uint64_t data_len = get_u64(in.data() + 48);
    const std::uint64_t room = in.size() - snapshot_header_size;
    if (conf_len > room || data_len != room - conf_len)
        return "its size does not match its header (" + std::to_string(in.size()) + " bytes)";
    const auto body = in.subspan(snapshot_header_size);
    if (detail::crc32c(body) != get_u32(in.data() + 56)) return "its content fails its checksum";
    out.configuration.assign(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(conf_len));
    out.data.assign(body.begin() + static_cast<std::ptrdiff_t>(conf_len), body.end());
    return {};
}

// The engine's snapshot from a stored one: raft_malloc'd struct, configuration and one buffer.
int to_raft_snapshot(const stored_snapshot& s, raft_snapshot*& out, std::string& errmsg) {
    auto* snap = static_cast<raft_snapshot*>(raft_malloc(sizeof(raft_snapshot)));
    if (!snap) return RAFT_NOMEM;
    std::memset(snap, 0, sizeof(*snap));
    snap->term = s.term;
    snap->index = s.index;
    snap->configuration_index = s.configuration_index;
    if (!decode_configuration(s.configuration, snap->configuration)) {
        raft_configuration_close(&snap->configuration);
        raft_free(snap);
        errmsg = "the configuration stored in snapshot " + snapshot_name(s.term, s.index) + " is malformed";
        return RAFT_CORRUPT;
    }
    snap->bufs = static_cast<raft_buffer*>(raft_malloc(sizeof(raft_buffer)));
    void* base = raft_malloc(std::max<std::size_t>(s.data.size(), 1));
    if (!snap->bufs || !base) {
        raft_free(base);
        raft_free(snap->bufs);
        raft_configuration_close(&snap->configuration);
        raft_free(snap);
        return RAFT_NOMEM;
    }
    if (!s.data.empty()) std::memcpy(base, s.data.data(), s.data.size());
    snap->bufs[0].base = base;
    snap->bufs[0].len = s.data.size();
    snap->n_bufs = 1;
    out = snap;
    return 0;
}

}  // namespace

// ------------------------------------------------------------------ state

// Shared with the handlers of operations in flight, which may outlive the log_store.
struct store_core : std::enable_shared_from_this<store_core> {
    asio::any_io_executor ex;
    log_store_options opts;
    std::shared_ptr<file_system> fs;
    std::filesystem::path log_dir;
    noriwal::wal log;
    metadata meta;
    bool meta_exists = false;
    std::optional<std::pair<raft_term, raft_index>> snapshot;  // the newest one on disk

    raft_index next_index = 1;  // the index (LSN) the next append submitted to the wal gets
    std::error_code failed;
    std::string failed_why;
    bool closing = false;
    bool closed = false;
    std::function<void()> close_done;

    // Operations not started yet, in order, and what is in flight.
    struct pending {
        bool barrier = false;
        std::function<void()> start;     // runs it (counted in flight until it calls finish())
        std::function<void(int)> abort;  // the store failed before it started
    };
    std::deque<pending> queue;
    std::size_t in_flight = 0;
    bool barrier_in_flight = false;

    std::filesystem::path path(std::string_view name) const { return opts.dir / std::string(name); }

    int fail(std::error_code ec, std::string why) {
        if (!failed) {
            failed = ec ? ec : make_error_code(errc::io_failed);
            failed_why = std::move(why);
            // Nothing queued will run: complete it with the error (posted, as always).
            auto q = std::move(queue);
            queue.clear();
            for (auto& p : q)
                if (p.abort) p.abort(raft_code(failed));
        }
        maybe_close();
        return raft_code(failed);
    }

    int refuse(std::string& errmsg) const {
        if (closed || closing) {
            errmsg = "the log store is closed";
            return RAFT_IOERR;
        }
        errmsg = "the log store stopped after a storage error: " + failed_why;
        return raft_code(failed);
    }
    bool usable() const { return !failed && !closing && !closed; }

    void post(std::function<void()> f) { asio::post(ex, std::move(f)); }

    void submit(pending p) {
        queue.push_back(std::move(p));
        pump();
    }
    void pump() {
        while (!queue.empty() && !failed && !barrier_in_flight) {
            if (queue.front().barrier && in_flight > 0) return;
            pending p = std::move(queue.front());
            queue.pop_front();
            ++in_flight;
            if (p.barrier) barrier_in_flight = true;
            p.start();
        }
        maybe_close();
    }
    void finish(bool barrier) {
        --in_flight;
        if (barrier) barrier_in_flight = false;
        pump();
    }
    void maybe_close() {
        if (!closing || closed || in_flight > 0 || (!queue.empty() && !failed)) return;
        closed = true;
        auto self = shared_from_this();
        log.async_close(asio::bind_executor(ex, [self](boost::system::error_code) {
            if (auto done = std::move(self->close_done)) done();
        }));
    }

    // ---------------------------------------------------------------- files

    std::error_code sync_dir() { return fs->sync_directory(opts.dir); }

    // Writes the next term/vote (durable when it returns).
    std::error_code store_metadata(metadata next, std::string& why) {
        next.sequence = meta.sequence + 1;
        const auto bytes = encode_metadata(next);
        std::error_code ec;
        if (!meta_exists) {
            const auto temp = path(std::string("metadata") + std::string(temp_suffix));
            (void)fs->remove(temp);
            std::unique_ptr<file> f;
            ec = fs->open(temp, open_mode::create_exclusive, f);
            if (!ec) ec = f->write_at(metadata_slot_offset[0], bytes);
            if (!ec) ec = f->sync();
            if (!ec) ec = fs->rename(temp, path("metadata"));
            if (!ec) ec = sync_dir();
        } else {
            std::unique_ptr<file> f;
            ec = fs->open(path("metadata"), open_mode::read_write, f);
            if (!ec) ec = f->write_at(metadata_slot_offset[(next.sequence + 1) % 2], bytes);
            if (!ec) ec = f->sync();
        }
        if (ec) {
            why = "cannot write " + path("metadata").string() + ": " + describe(ec);
            return ec;
        }
        meta = next;
        meta_exists = true;
        return {};
    }

    // Reads term and vote; false with `why` if the file is damaged.
    int load_metadata(std::string& why) {
        std::vector<std::byte> bytes;
        std::vector<std::string> names;
        if (auto ec = fs->list(opts.dir, names)) {
            why = "cannot list " + opts.dir.string() + ": " + describe(ec);
            return RAFT_IOERR;
        }
        if (std::find(names.begin(), names.end(), "metadata") == names.end()) {
            meta = {};
            meta_exists = false;
            return 0;
        }
        if (auto ec = read_file(*fs, path("metadata"), 4096, bytes)) {
            why = "cannot read " + path("metadata").string() + ": " +
                  (ec == errc::corrupted ? std::string("larger than 4 KiB, not a metadata file")
                                         : describe(ec));
            return ec == errc::corrupted ? RAFT_CORRUPT : RAFT_IOERR;
        }
        std::optional<metadata> best;
        for (const std::uint64_t off : metadata_slot_offset) {
            if (bytes.size() < off + metadata_slot_size) continue;
            const auto m = decode_metadata(bytes.data() + off);
            if (m && (!best || m->sequence > best->sequence)) best = m;
        }
        if (!best) {
            why = path("metadata").string() +
                  " is damaged: neither of its two copies of the term and vote is valid. The node "
                  "cannot safely vote or serve: restore its directory from a backup, or remove the "
                  "node from the cluster and add a new one (doc/replication.md)";
            return RAFT_CORRUPT;
        }
        meta = *best;
        meta_exists = true;
        return 0;
    }

    // The newest snapshot file, by name (index, then term).
    int find_snapshot(std::string& why) {
        std::vector<std::string> names;
        if (auto ec = fs->list(opts.dir, names)) {
            why = "cannot list " + opts.dir.string() + ": " + describe(ec);
            return RAFT_IOERR;
        }
        snapshot.reset();
        for (const std::string& n : names) {
            const auto id = parse_snapshot_name(n);
            if (id &&
                (!snapshot || std::tie(id->second, id->first) > std::tie(snapshot->second, snapshot->first)))
                snapshot = id;
        }
        return 0;
    }

    int read_snapshot(stored_snapshot& s, std::string& why) {
        const auto p = path(snapshot_name(snapshot->first, snapshot->second));
        std::vector<std::byte> bytes;
        if (auto ec = read_file(*fs, p, std::uint64_t{1} << 40, bytes)) {
            why = "cannot read snapshot " + p.string() + ": " + describe(ec);
            return RAFT_IOERR;
        }
        std::string bad = decode_snapshot(bytes, s);
        if (bad.empty() && (s.term != snapshot->first || s.index != snapshot->second))
            bad = "its header says term " + std::to_string(s.term) + " index " + std::to_string(s.index) +
                  ", not what its name says";
        if (!bad.empty()) {
            why = "snapshot " + p.string() + " is damaged: " + bad +
                  ". Remove the node's directory and let it catch up from the cluster, or restore it "
                  "from a backup (doc/replication.md)";
            return RAFT_CORRUPT;
        }
        return 0;
    }

    // Writes a snapshot file durably and removes the older ones (durably).
    std::error_code write_snapshot(const stored_snapshot& s, std::string& why) {
        const std::string name = snapshot_name(s.term, s.index);
        const auto final_path = path(name);
        const auto temp = path(name + std::string(temp_suffix));
        const auto header = encode_snapshot_header(s);
        std::error_code ec;
        (void)fs->remove(temp);
        {
            std::unique_ptr<file> f;
            ec = fs->open(temp, open_mode::create_exclusive, f);
            const std::span<const std::byte> parts[] = {header, s.configuration, s.data};
            if (!ec) ec = f->write_at(0, parts);
            if (!ec) ec = f->sync();
        }
        if (!ec) ec = fs->rename(temp, final_path);
        if (!ec) ec = sync_dir();
        if (ec) {
            why = "cannot write snapshot " + final_path.string() + ": " + describe(ec);
            return ec;
        }
        snapshot = std::pair{s.term, s.index};
        // Older snapshots go once the new one is durable; a crash before leaves them, and load
        // takes the newest.
        std::vector<std::string> names;
        ec = fs->list(opts.dir, names);
        bool removed = false;
        for (const std::string& n : names) {
            if (ec) break;
            const auto id = parse_snapshot_name(n);
            if (!id || *id == *snapshot) continue;
            ec = fs->remove(path(n));
            removed = true;
        }
        if (!ec && removed) ec = sync_dir();
        if (ec) why = "cannot remove an older snapshot in " + opts.dir.string() + ": " + describe(ec);
        return ec;
    }
};

struct log_store::state {
    std::shared_ptr<store_core> core;
};

log_store::log_store(std::unique_ptr<state> s) : s_(std::move(s)) {}

log_store::~log_store() {
    // Handlers in flight keep the core; the wal closes when its last handle goes.
    if (s_ && s_->core) s_->core->closing = true;
}

std::unique_ptr<log_store> log_store::open(asio::any_io_executor ex, log_store_options opts) {
    auto core = std::make_shared<store_core>();
    core->ex = std::move(ex);
    core->opts = opts;
    core->fs = opts.fs ? std::shared_ptr<file_system>(std::shared_ptr<void>{}, opts.fs) : posix_file_system();
    core->log_dir = opts.dir / "log";
    auto fail = [&](std::error_code ec, const std::string& what) {
        throw std::system_error(ec ? ec : make_error_code(errc::io_failed),
                                "cannot open the raft log store in " + opts.dir.string() + ": " + what);
    };
    if (opts.dir.empty()) fail(make_error_code(errc::invalid_config), "log_store_options::dir is empty");

    wal_config cfg;
    cfg.dir = core->log_dir;
    cfg.fs = core->fs;
    cfg.fsync = opts.fsync;
    cfg.max_segment_size = opts.max_segment_size;
    // The largest entry that fits in a segment (with its 32-byte record header and the
    // 64-byte segment header, records aligned on 8 bytes).
    const std::uint64_t room =
        ((opts.max_segment_size > 96 ? opts.max_segment_size - 64 : 0) & ~std::uint64_t{7});
    cfg.max_record_size =
        static_cast<std::uint32_t>(std::min<std::uint64_t>(room > 32 ? room - 32 : 1, 64u << 20));
    cfg.prealloc = preallocation::zero_fill;
    // Several raft servers may share a machine: the wal's threads sleep at once rather than
    // poll (an append here always waits for an fdatasync, which dwarfs the wake-up).
    cfg.idle_spin = std::chrono::microseconds{0};
    if (const std::string bad = validate(cfg); !bad.empty()) fail(make_error_code(errc::invalid_config), bad);
    std::error_code ec;
    std::string why;
    auto opened = wal::open(cfg, ec, &why);
    if (ec)
        fail(ec, why + (ec == errc::locked ? " (another server uses this directory: stop it first)" : ""));
    core->log = std::move(opened.log);
    // The wal created the directories; make the store's own directory entry durable too.
    if ((ec = core->fs->sync_directory(opts.dir))) fail(ec, "cannot sync the directory: " + ec.message());
    if (!opts.dir.parent_path().empty()) (void)core->fs->sync_directory(opts.dir.parent_path());

    // Leftovers of an interrupted write: never part of the state.
    std::vector<std::string> names;
    if ((ec = core->fs->list(opts.dir, names))) fail(ec, "cannot list the directory: " + ec.message());
    bool removed = false;
    for (const std::string& n : names) {
        if (!n.ends_with(temp_suffix)) continue;
        if ((ec = core->fs->remove(opts.dir / n)))
            fail(ec, "cannot remove the leftover " + n + ": " + ec.message());
        removed = true;
    }
    if (removed && (ec = core->fs->sync_directory(opts.dir)))
        fail(ec, "cannot sync the directory: " + ec.message());
    if (int rv = core->load_metadata(why); rv != 0)
        fail(make_error_code(rv == RAFT_CORRUPT ? errc::corrupted : errc::io_failed), why);
    if (int rv = core->find_snapshot(why); rv != 0) fail(make_error_code(errc::io_failed), why);
    core->next_index = core->log.current_position().lsn;
    auto s = std::make_unique<state>();
    s->core = std::move(core);
    return std::unique_ptr<log_store>(new log_store(std::move(s)));
}

std::error_code log_store::failure() const { return s_->core->failed; }

// ------------------------------------------------------------------ load

int log_store::load(raft_term* term, raft_id* voted_for, raft_snapshot** snapshot, raft_index* start_index,
                    raft_entry** entries, std::size_t* n_entries, std::string& errmsg) {
    store_core& c = *s_->core;
    if (!c.usable()) return c.refuse(errmsg);
    *snapshot = nullptr;
    *entries = nullptr;
    *n_entries = 0;

    stored_snapshot snap;
    if (c.snapshot) {
        if (int rv = c.read_snapshot(snap, errmsg)) return rv;
    }

    // The entries, checked: consecutive LSNs, each a well-formed entry record.
    struct loaded {
        raft_term term;
        unsigned short type;
        std::size_t offset, len;
    };
    std::vector<loaded> es;
    std::vector<std::byte> data;
    raft_index first = c.log.first_lsn();
    try {
        auto rd = c.log.make_reader();
        std::error_code ec;
        while (auto e = rd.try_next(ec)) {
            const auto key = e->key();
            if (e->lsn() != first + es.size() || key.size() != entry_key_size ||
                std::to_integer<std::uint8_t>(key[0]) != entry_format) {
                errmsg = "entry " + std::to_string(e->lsn()) + " in " + c.log_dir.string() +
                         " is not a raft entry of this store (or the log has a hole). Restore the node's "
                         "directory from a backup or let it catch up from the cluster (doc/replication.md)";
                return RAFT_CORRUPT;
            }
            es.push_back({get_u64(key.data() + 3), get_u16(key.data() + 1), data.size(), e->value().size()});
            data.insert(data.end(), e->value().begin(), e->value().end());
        }
        if (ec && ec != errc::end_of_log) {
            errmsg = "cannot read the log in " + c.log_dir.string() + ": " + ec.message();
            return ec == errc::corrupted ? RAFT_CORRUPT : RAFT_IOERR;
        }
    } catch (const std::system_error& e) {
        errmsg = "cannot read the log in " + c.log_dir.string() + ": " + e.what();
        return RAFT_IOERR;
    }

    // With a snapshot, the log must join it: it holds the snapshot's last entry (same term) or
    // starts right after it. Otherwise (a crash between the snapshot install and the reset of
    // the log, or a log behind the snapshot) the entries are stale: the log restarts after it.
    if (c.snapshot) {
        const raft_index s = snap.index;
        const raft_index last = first + es.size() - 1;
        const bool holds_it = !es.empty() && first <= s && s <= last && es[s - first].term == snap.term;
        const bool follows_it = first == s + 1;
        if (!holds_it && !follows_it) {
            try {
                c.log.reset_to(s + 1);
            } catch (const std::system_error& e) {
                return c.fail(e.code(), std::string("cannot reset the log after snapshot ") +
                                            std::to_string(s) + ": " + e.what());
            }
            es.clear();
            first = s + 1;
            c.next_index = s + 1;
        }
    } else if (first != 1 && !es.empty()) {
        errmsg = "the log in " + c.log_dir.string() + " starts at index " + std::to_string(first) +
                 " but no snapshot covers the entries before it (a snapshot file was lost). Restore the "
                 "node's directory from a backup or let it catch up from the cluster";
        return RAFT_CORRUPT;
    }

    // The term is at least every entry's (bootstrap and the engine write the term first).
    for (const loaded& l : es) {
        if (l.term > c.meta.term) {
            errmsg = "entry term " + std::to_string(l.term) + " is above the stored term " +
                     std::to_string(c.meta.term) + ": " + c.path("metadata").string() +
                     " is stale or damaged";
            return RAFT_CORRUPT;
        }
    }

    raft_entry* out = nullptr;
    if (!es.empty()) {
        out = static_cast<raft_entry*>(raft_malloc(es.size() * sizeof(raft_entry)));
        auto* batch = static_cast<std::byte*>(raft_malloc(std::max<std::size_t>(data.size(), 1)));
        if (!out || !batch) {
            raft_free(out);
            raft_free(batch);
            errmsg = "out of memory loading " + std::to_string(es.size()) + " entries";
            return RAFT_NOMEM;
        }
        if (!data.empty()) std::memcpy(batch, data.data(), data.size());
        for (std::size_t i = 0; i < es.size(); ++i) {
            out[i].term = es[i].term;
            out[i].type = es[i].type;
            out[i].buf.base = batch + es[i].offset;
            out[i].buf.len = es[i].len;
            out[i].batch = batch;
        }
    }
    raft_snapshot* rs = nullptr;
    if (c.snapshot) {
        if (int rv = to_raft_snapshot(snap, rs, errmsg)) {
            if (out) {
                raft_free(out[0].batch);
                raft_free(out);
            }
            return rv;
        }
    }
    *term = c.meta.term;
    *voted_for = c.meta.vote;
    *snapshot = rs;
    *start_index = first;
    *entries = out;
    *n_entries = es.size();
    return 0;
}

// ------------------------------------------------------------------ term, vote, bootstrap

int log_store::set_term(raft_term term, std::string& errmsg) {
    store_core& c = *s_->core;
    if (!c.usable()) return c.refuse(errmsg);
    std::string why;
    if (auto ec = c.store_metadata({0, term, 0}, why)) {
        errmsg = why;
        return c.fail(ec, why);
    }
    return 0;
}

int log_store::set_vote(raft_id id, std::string& errmsg) {
    store_core& c = *s_->core;
    if (!c.usable()) return c.refuse(errmsg);
    std::string why;
    if (auto ec = c.store_metadata({0, c.meta.term, id}, why)) {
        errmsg = why;
        return c.fail(ec, why);
    }
    return 0;
}

namespace {

// The record of an entry: key = its header, value = its data (views into `key`'s storage
// and the entry's buffer).
std::array<std::byte, entry_key_size> entry_key(raft_term term, unsigned short type) {
    std::array<std::byte, entry_key_size> k{};
    k[0] = static_cast<std::byte>(entry_format);
    put_u16(k.data() + 1, type);
    put_u64(k.data() + 3, term);
    return k;
}

}  // namespace

namespace {

// Appends one entry now and waits for it (bootstrap, recover: the engine is not running).
int append_now(store_core& c, raft_term term, unsigned short type, const raft_buffer& buf,
               std::string& errmsg) {
    const auto key = entry_key(term, type);
    record r;
    r.key = key;
    r.value = bytes_view(static_cast<const std::byte*>(buf.base), buf.len);
    try {
        const position p = c.log.append(r, durability::always());
        if (p.lsn != c.next_index) {
            errmsg = "the log gave index " + std::to_string(p.lsn) + " where " +
                     std::to_string(c.next_index) + " was expected";
            return c.fail(make_error_code(errc::corrupted), errmsg);
        }
        ++c.next_index;
    } catch (const std::system_error& e) {
        errmsg = std::string("cannot append to the log: ") + e.what();
        return c.fail(e.code(), errmsg);
    }
    return 0;
}

}  // namespace

int log_store::bootstrap(const raft_configuration& conf, std::string& errmsg) {
    store_core& c = *s_->core;
    if (!c.usable()) return c.refuse(errmsg);
    if (c.meta.term != 0 || c.meta.vote != 0 || c.snapshot || c.log.current_position().lsn != 1) {
        errmsg =
            "the server in " + c.opts.dir.string() + " has state already (term, vote, entries or a snapshot)";
        return RAFT_CANTBOOTSTRAP;
    }
    raft_buffer buf{};
    if (int rv = raft_configuration_encode(&conf, &buf); rv != 0) {
        errmsg = "cannot encode the configuration";
        return rv;
    }
    // The term first: a crash in between leaves term 1 and no entry, which refuses a second
    // bootstrap rather than leave an entry whose term is above the stored one.
    int rv = set_term(1, errmsg);
    if (rv == 0) rv = append_now(c, 1, RAFT_CHANGE, buf, errmsg);
    raft_free(buf.base);
    return rv;
}

int log_store::recover(const raft_configuration& conf, std::string& errmsg) {
    store_core& c = *s_->core;
    if (!c.usable()) return c.refuse(errmsg);
    raft_buffer buf{};
    if (int rv = raft_configuration_encode(&conf, &buf); rv != 0) {
        errmsg = "cannot encode the configuration";
        return rv;
    }
    // At the current term (at least 1, stored first: no entry's term is above the stored one).
    int rv = c.meta.term == 0 ? set_term(1, errmsg) : 0;
    if (rv == 0) rv = append_now(c, c.meta.term, RAFT_CHANGE, buf, errmsg);
    raft_free(buf.base);
    return rv;
}

// ------------------------------------------------------------------ append, truncate

int log_store::append(const raft_entry entries[], unsigned n, std::function<void(int status)> done) {
    store_core& c = *s_->core;
    std::string ignored;
    if (!c.usable()) return c.refuse(ignored);
    // Copies of the entries (a barrier may hold them back until after this call returns).
    struct copy {
        std::array<std::byte, entry_key_size> key;
        std::vector<std::byte> value;
    };
    auto copies = std::make_shared<std::vector<copy>>(n);
    for (unsigned i = 0; i < n; ++i) {
        (*copies)[i].key = entry_key(entries[i].term, entries[i].type);
        const auto* b = static_cast<const std::byte*>(entries[i].buf.base);
        (*copies)[i].value.assign(b, b + entries[i].buf.len);
    }
    auto shared_done = std::make_shared<std::function<void(int)>>(std::move(done));
    std::weak_ptr<store_core> weak = c.shared_from_this();
    store_core::pending p;
    p.abort = [weak, shared_done](int status) {
        if (auto core = weak.lock()) core->post([shared_done, status] { (*shared_done)(status); });
    };
    p.start = [weak, copies, shared_done, n] {
        auto core = weak.lock();
        if (!core) return;
        struct progress {
            unsigned left;
            int status = 0;
        };
        auto prog = std::make_shared<progress>(progress{n});
        auto complete = [core, shared_done, prog] {
            core->finish(false);
            const int status = core->failed ? raft_code(core->failed) : prog->status;
            core->post([shared_done, status] { (*shared_done)(status); });
        };
        if (n == 0) {
            complete();
            return;
        }
        for (unsigned i = 0; i < n; ++i) {
            const raft_index expected = core->next_index++;
            record r;
            r.key = (*copies)[i].key;
            r.value = (*copies)[i].value;
            core->log.async_append(
                r, asio::bind_executor(core->ex, [core, prog, complete, expected](
                                                     boost::system::error_code ec, position pos) {
                    if (!ec && pos.lsn != expected)
                        core->fail(make_error_code(errc::corrupted),
                                   "the log gave index " + std::to_string(pos.lsn) + " where " +
                                       std::to_string(expected) + " was expected");
                    if (ec && prog->status == 0) {
                        prog->status = raft_code(ec);
                        core->fail(ec, "cannot append to the log in " + core->log_dir.string() + ": " +
                                           ec.message());
                    }
                    if (--prog->left == 0) complete();
                }));
        }
    };
    c.submit(std::move(p));
    return 0;
}

int log_store::truncate(raft_index index) {
    store_core& c = *s_->core;
    std::string ignored;
    if (!c.usable()) return c.refuse(ignored);
    if (index == 0) return RAFT_INVALID;
    std::weak_ptr<store_core> weak = c.shared_from_this();
    store_core::pending p;
    p.barrier = true;
    p.start = [weak, index] {
        auto core = weak.lock();
        if (!core) return;
        core->log.async_truncate_after(
            index - 1, asio::bind_executor(core->ex, [core, index](boost::system::error_code ec) {
                if (ec) {
                    core->fail(ec, "cannot truncate the log in " + core->log_dir.string() + " from index " +
                                       std::to_string(index) + ": " + ec.message());
                } else {
                    core->next_index = std::min(core->next_index, index);
                }
                core->finish(true);
            }));
    };
    c.submit(std::move(p));
    return 0;
}

// ------------------------------------------------------------------ snapshots

int log_store::snapshot_put(unsigned trailing, const raft_snapshot& snapshot,
                            std::function<void(int status)> done) {
    store_core& c = *s_->core;
    std::string ignored;
    if (!c.usable()) return c.refuse(ignored);
    auto s = std::make_shared<stored_snapshot>();
    s->term = snapshot.term;
    s->index = snapshot.index;
    s->configuration_index = snapshot.configuration_index;
    s->configuration = encode_configuration(snapshot.configuration);
    for (unsigned i = 0; i < snapshot.n_bufs; ++i) {
        const auto* b = static_cast<const std::byte*>(snapshot.bufs[i].base);
        s->data.insert(s->data.end(), b, b + snapshot.bufs[i].len);
    }
    auto shared_done = std::make_shared<std::function<void(int)>>(std::move(done));
    std::weak_ptr<store_core> weak = c.shared_from_this();
    store_core::pending p;
    // Install mode replaces the log: ordered after the appends before it, before those after.
    p.barrier = trailing == 0;
    p.abort = [weak, shared_done](int status) {
        if (auto core = weak.lock()) core->post([shared_done, status] { (*shared_done)(status); });
    };
    p.start = [weak, s, trailing, shared_done] {
        auto core = weak.lock();
        if (!core) return;
        const bool barrier = trailing == 0;
        auto complete = [core, shared_done, barrier](int status) {
            core->finish(barrier);
            core->post([shared_done, status] { (*shared_done)(status); });
        };
        // The file first, durably (written here, on the engine's thread).
        std::string why;
        if (auto ec = core->write_snapshot(*s, why)) {
            complete(core->fail(ec, why));
            return;
        }
        auto after = [core, complete, s](boost::system::error_code ec, const char* what) {
            if (ec) {
                complete(core->fail(ec, std::string("cannot ") + what + " in " + core->log_dir.string() +
                                            " after snapshot " + std::to_string(s->index) + ": " +
                                            ec.message()));
                return;
            }
            complete(0);
        };
        if (barrier) {
            core->log.async_reset_to(
                s->index + 1, asio::bind_executor(core->ex, [core, s, after](boost::system::error_code ec) {
                    if (!ec) core->next_index = s->index + 1;
                    after(ec, "reset the log");
                }));
        } else if (s->index > trailing) {
            core->log.async_delete_segments_before(
                position{.lsn = s->index - trailing + 1},
                asio::bind_executor(core->ex, [after](boost::system::error_code ec, std::uint64_t) {
                    after(ec, "delete old entries");
                }));
        } else {
            core->post([after] { after({}, ""); });
        }
    };
    c.submit(std::move(p));
    return 0;
}

int log_store::snapshot_get(std::function<void(int status, raft_snapshot* snapshot)> done) {
    store_core& c = *s_->core;
    std::string ignored;
    if (!c.usable()) return c.refuse(ignored);
    int rv = 0;
    raft_snapshot* out = nullptr;
    if (!c.snapshot) {
        rv = RAFT_NOTFOUND;
    } else {
        stored_snapshot s;
        std::string why;
        rv = c.read_snapshot(s, why);
        if (rv == RAFT_IOERR) rv = c.fail(make_error_code(errc::io_failed), why);
        if (rv == 0) rv = to_raft_snapshot(s, out, why);
    }
    c.post([done = std::move(done), rv, out] { done(rv, out); });
    return 0;
}

void log_store::close(std::function<void()> done) {
    store_core& c = *s_->core;
    if (c.closing || c.closed) {
        c.post(std::move(done));
        return;
    }
    c.closing = true;
    c.close_done = std::move(done);
    c.maybe_close();
}

}  // namespace noriwal::raft
