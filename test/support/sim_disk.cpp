#include "support/sim_disk.hpp"

#include <noriwal/error.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace noriwal::test {

// Types used by sim_disk::state live in a named namespace: an anonymous one would give the
// state (a class with external linkage) members of internal linkage.
namespace sim_internal {

// A file's bytes are held in memory; refusing absurd sizes keeps a bad offset from turning
// into an allocation of terabytes (a real file would just be sparse).
constexpr std::uint64_t max_file_size = std::uint64_t{4} << 30;

class region final : public mapped_region {
public:
    explicit region(std::size_t len) : bytes_(len) {}
    const std::byte* data() const noexcept override { return bytes_.data(); }
    std::size_t size() const noexcept override { return bytes_.size(); }
    std::vector<std::byte>& bytes() noexcept { return bytes_; }

private:
    std::vector<std::byte> bytes_;
};

struct inode {
    std::vector<std::byte> durable;
    std::vector<std::byte> current;
    std::vector<std::weak_ptr<region>> maps;
};

struct pending_write {
    std::shared_ptr<inode> node;
    unsynced_write::kind what = unsynced_write::kind::write;
    std::string path;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::vector<std::byte> bytes;  // kind::write only
};

struct dir_op {
    volatile_dir_op::kind what = volatile_dir_op::kind::create;
    std::string dir;
    std::string path;
    std::string target;
    std::shared_ptr<inode> node;
};

using entry_map = std::map<std::string, std::shared_ptr<inode>>;

}  // namespace sim_internal

using namespace sim_internal;

struct sim_disk::state {
    mutable std::mutex mutex;
    std::set<std::string> dirs;          // current directories
    std::set<std::string> durable_dirs;  // as of each parent's last sync
    entry_map entries;                   // current names
    entry_map durable_entries;           // names as of each directory's last sync
    std::vector<pending_write> writes;
    std::vector<dir_op> dir_ops;
    std::set<std::string> locks;
    std::optional<std::uint64_t> capacity;
    bool partial_writes = false;
    bool failed_sync_keeps_cache = true;
    std::shared_ptr<const fault_hook> fault;
    std::shared_ptr<const after_hook> after;
    std::uint64_t seq = 0;
};

namespace {

using state = sim_disk::state;

std::error_code sys(int e) noexcept { return {e, std::system_category()}; }

// Paths are compared lexically, without a trailing separator; "" stands for the current
// directory (and, like "/", always exists).
std::string key_of(const std::filesystem::path& p) {
    std::string s = p.lexically_normal().string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    if (s == ".") s.clear();
    return s;
}

std::string parent_of(const std::string& key) {
    const auto slash = key.rfind('/');
    if (slash == std::string::npos) return "";
    if (slash == 0) return "/";
    return key.substr(0, slash);
}

std::uint64_t next_random(std::uint64_t& x) noexcept {  // splitmix64: the same on every platform
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

bool dir_exists(const state& s, const std::string& key) {
    return key.empty() || key == "/" || s.dirs.count(key) != 0;
}

// The error open() or rename() gives for a path whose directory is missing or is a file.
std::error_code check_parent(const state& s, const std::string& key) {
    std::string dir = parent_of(key);
    if (dir_exists(s, dir)) return {};
    for (; !dir.empty() && dir != "/"; dir = parent_of(dir)) {
        if (s.entries.count(dir) != 0) return sys(ENOTDIR);
    }
    return sys(ENOENT);
}

// The error for a path that must be an existing directory.
std::error_code check_dir(const state& s, const std::string& key) {
    if (dir_exists(s, key)) return {};
    if (s.entries.count(key) != 0) return sys(ENOTDIR);
    const auto ec = check_parent(s, key);
    return ec ? ec : sys(ENOENT);
}

std::uint64_t used_bytes_locked(const state& s) {
    std::unordered_set<const inode*> seen;
    std::uint64_t sum = 0;
    for (const auto& [name, node] : s.entries) {
        if (seen.insert(node.get()).second) sum += node->current.size();
    }
    return sum;
}

// Bytes [offset, offset + n) of `c` become `data`, growing `c` if needed.
void put(std::vector<std::byte>& c, std::uint64_t offset, const std::byte* data, std::size_t n) {
    if (n == 0) return;
    const auto end = static_cast<std::size_t>(offset) + n;
    if (c.size() < end) c.resize(end);
    std::memcpy(c.data() + offset, data, n);
}

void replay(std::vector<std::byte>& c, const pending_write& w) {
    switch (w.what) {
        case unsynced_write::kind::write:
            put(c, w.offset, w.bytes.data(), w.bytes.size());
            break;
        case unsynced_write::kind::truncate:
            c.resize(static_cast<std::size_t>(w.offset));
            break;
        case unsynced_write::kind::allocate:
            if (c.size() < w.offset + w.length) c.resize(static_cast<std::size_t>(w.offset + w.length));
            break;
    }
}

void replay(entry_map& m, const dir_op& op) {
    switch (op.what) {
        case volatile_dir_op::kind::create:
            m[op.path] = op.node;
            break;
        case volatile_dir_op::kind::rename: {
            m[op.target] = op.node;
            const auto it = m.find(op.path);
            if (it != m.end() && it->second == op.node) m.erase(it);
            break;
        }
        case volatile_dir_op::kind::remove: {
            const auto it = m.find(op.path);
            if (it != m.end() && it->second == op.node) m.erase(it);
            break;
        }
        case volatile_dir_op::kind::mkdir:
            break;  // a directory, not a file entry: see replay_dirs
    }
}

void replay_dirs(std::set<std::string>& dirs, const dir_op& op) {
    if (op.what == volatile_dir_op::kind::mkdir) dirs.insert(op.path);
}

// Mappings see every change of the current content within their length.
void update_maps(inode& node, std::uint64_t from, std::uint64_t to) {
    std::erase_if(node.maps, [](const auto& w) { return w.expired(); });
    for (const auto& weak : node.maps) {
        const auto r = weak.lock();
        if (!r) continue;
        auto& bytes = r->bytes();
        const auto end = std::min<std::uint64_t>(to, bytes.size());
        // Only changed bytes are stored, so that a reader reading unchanged ones concurrently
        // (a cache drop rewrites the whole range) is not racing with this writer.
        for (std::uint64_t i = from; i < end; ++i) {
            const std::byte b = i < node.current.size() ? node.current[i] : std::byte{0};
            if (bytes[i] != b) bytes[i] = b;
        }
    }
}

struct sector_span {
    std::uint64_t first;  // index of the write's first sector in the file
    std::size_t count;
};

sector_span sectors_of(const pending_write& w, std::size_t sector_size) {
    if (w.what != unsynced_write::kind::write || w.bytes.empty()) return {0, 0};
    const std::uint64_t first = w.offset / sector_size;
    const std::uint64_t last = (w.offset + w.bytes.size() - 1) / sector_size;
    return {first, static_cast<std::size_t>(last - first + 1)};
}

// The bytes of write `w` that fall into its sector `j`: [begin, end) in file offsets.
std::pair<std::uint64_t, std::uint64_t> sector_range(const pending_write& w, std::size_t sector_size,
                                                     std::size_t j) {
    const std::uint64_t start = (w.offset / sector_size + j) * sector_size;
    return {std::max(w.offset, start), std::min(w.offset + w.bytes.size(), start + sector_size)};
}

void validate_sectors(const state& s, std::size_t index, std::size_t sector_size, const char* what) {
    if (index >= s.writes.size() || s.writes[index].what != unsynced_write::kind::write) {
        throw std::invalid_argument(std::string(what) + ": index " + std::to_string(index) +
                                    " is not an unsynced write");
    }
    if (sector_size == 0 || (sector_size & (sector_size - 1)) != 0) {
        throw std::invalid_argument(std::string(what) + ": sector size must be a power of two");
    }
}

// Runs one operation: numbers it, asks the fault hook, runs `body` under the mutex (or
// `on_fault` if a fault was injected), tells the after hook. The hooks run unlocked.
template <class Body, class OnFault>
std::error_code perform(state& s, sim_event ev, Body&& body, OnFault&& on_fault) {
    std::shared_ptr<const fault_hook> fault;
    std::shared_ptr<const after_hook> after;
    {
        std::lock_guard g(s.mutex);
        ev.seq = s.seq++;
        fault = s.fault;
        after = s.after;
    }
    std::error_code ec;
    if (fault) ec = (*fault)(ev);
    {
        std::lock_guard g(s.mutex);
        if (ec) {
            on_fault();
        } else {
            ec = body();
        }
    }
    if (after) (*after)(ev, ec);
    return ec;
}

template <class Body>
std::error_code perform(state& s, sim_event ev, Body&& body) {
    return perform(s, std::move(ev), std::forward<Body>(body), [] {});
}

sim_event event(sim_op op, const std::filesystem::path& p, std::uint64_t offset = 0,
                std::uint64_t length = 0) {
    sim_event e{op, p, {}, offset, length, 0};
    return e;
}

class sim_file final : public file {
public:
    sim_file(std::shared_ptr<state> s, std::shared_ptr<inode> node, std::string path, bool writable)
        : s_(std::move(s)), node_(std::move(node)), path_(std::move(path)), writable_(writable) {}

    std::error_code write_at(std::uint64_t offset, std::span<const std::byte> data) override {
        const std::span<const std::byte> one[] = {data};
        return write_at(offset, one);
    }

    std::error_code write_at(std::uint64_t offset,
                             std::span<const std::span<const std::byte>> buffers) override {
        std::uint64_t total = 0;
        for (const auto& b : buffers) total += b.size();
        return perform(*s_, event(sim_op::write, path_, offset, total), [&]() -> std::error_code {
            if (!writable_) return sys(EBADF);
            if (total == 0) return {};
            if (offset > max_file_size || total > max_file_size - offset) return sys(EFBIG);
            // Room left under the capacity decides how many bytes may be stored.
            std::uint64_t fit = total;
            if (s_->capacity) {
                const std::uint64_t used = used_bytes_locked(*s_);
                const std::uint64_t size = node_->current.size();
                const std::uint64_t room = *s_->capacity > used ? *s_->capacity - used : 0;
                if (offset + total > size + room) {
                    fit = s_->partial_writes && size + room > offset ? size + room - offset : 0;
                }
            }
            if (fit > 0) {
                pending_write w{node_, unsynced_write::kind::write, path_, offset, fit, {}};
                w.bytes.reserve(static_cast<std::size_t>(fit));
                for (const auto& b : buffers) {
                    const auto n = std::min<std::uint64_t>(b.size(), fit - w.bytes.size());
                    w.bytes.insert(w.bytes.end(), b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n));
                    if (w.bytes.size() == fit) break;
                }
                replay(node_->current, w);
                update_maps(*node_, offset, offset + fit);
                s_->writes.push_back(std::move(w));
            }
            return fit == total ? std::error_code{} : make_error_code(errc::no_space);
        });
    }

    std::error_code read_at(std::uint64_t offset, std::span<std::byte> out, std::size_t& got) override {
        got = 0;
        return perform(*s_, event(sim_op::read, path_, offset, out.size()), [&]() -> std::error_code {
            const auto& c = node_->current;
            if (offset >= c.size()) return {};
            got = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), c.size() - offset));
            if (got > 0) std::memcpy(out.data(), c.data() + offset, got);
            return {};
        });
    }

    std::error_code sync() override {
        const auto mine = [this](const pending_write& w) { return w.node == node_; };
        return perform(
            *s_, event(sim_op::sync, path_),
            [&]() -> std::error_code {
                for (const auto& w : s_->writes) {
                    if (mine(w)) replay(node_->durable, w);
                }
                std::erase_if(s_->writes, mine);
                return {};
            },
            [&] {
                // Linux after a failed write-back: the dirty pages are marked clean, so these
                // writes will never reach the disk and the next fsync has nothing to report.
                std::erase_if(s_->writes, mine);
                if (!s_->failed_sync_keeps_cache) {
                    const auto old_size = node_->current.size();
                    node_->current = node_->durable;
                    update_maps(*node_, 0, std::max(old_size, node_->current.size()));
                }
            });
    }

    std::error_code size(std::uint64_t& out) override {
        out = 0;
        return perform(*s_, event(sim_op::size, path_), [&]() -> std::error_code {
            out = node_->current.size();
            return {};
        });
    }

    std::error_code truncate(std::uint64_t size) override {
        return perform(*s_, event(sim_op::truncate, path_, size), [&]() -> std::error_code {
            if (!writable_) return sys(EBADF);
            if (size > max_file_size) return sys(EFBIG);
            return resize(unsynced_write::kind::truncate, size, 0, size);
        });
    }

    std::error_code allocate(std::uint64_t offset, std::uint64_t len) override {
        return perform(*s_, event(sim_op::allocate, path_, offset, len), [&]() -> std::error_code {
            if (!writable_) return sys(EBADF);
            if (offset > max_file_size || len > max_file_size - offset) return sys(EFBIG);
            if (offset + len <= node_->current.size()) return {};  // nothing to reserve
            return resize(unsynced_write::kind::allocate, offset, len, offset + len);
        });
    }

    std::error_code map(std::uint64_t len, std::shared_ptr<const mapped_region>& out) override {
        out.reset();
        return perform(*s_, event(sim_op::map, path_, 0, len), [&]() -> std::error_code {
            if (len > max_file_size) return sys(ENOMEM);
            auto r = std::make_shared<region>(static_cast<std::size_t>(len));
            const auto& c = node_->current;
            const auto n = std::min<std::size_t>(c.size(), r->size());
            if (n > 0) std::memcpy(r->bytes().data(), c.data(), n);
            std::erase_if(node_->maps, [](const auto& w) { return w.expired(); });
            node_->maps.push_back(r);
            out = std::move(r);
            return {};
        });
    }

private:
    // Truncation and allocation: the size becomes `new_size`, within the capacity.
    std::error_code resize(unsynced_write::kind what, std::uint64_t offset, std::uint64_t length,
                           std::uint64_t new_size) {
        const std::uint64_t old_size = node_->current.size();
        if (s_->capacity && new_size > old_size &&
            used_bytes_locked(*s_) + (new_size - old_size) > *s_->capacity) {
            return make_error_code(errc::no_space);
        }
        pending_write w{node_, what, path_, offset, length, {}};
        replay(node_->current, w);
        if (new_size > old_size) update_maps(*node_, old_size, new_size);
        s_->writes.push_back(std::move(w));
        return {};
    }

    std::shared_ptr<state> s_;
    std::shared_ptr<inode> node_;
    std::string path_;
    bool writable_;
};

class sim_lock final : public directory_lock {
public:
    sim_lock(std::shared_ptr<state> s, std::string dir) : s_(std::move(s)), dir_(std::move(dir)) {}
    ~sim_lock() override {
        std::lock_guard g(s_->mutex);
        s_->locks.erase(dir_);
    }
    sim_lock(const sim_lock&) = delete;
    sim_lock& operator=(const sim_lock&) = delete;

private:
    std::shared_ptr<state> s_;
    std::string dir_;
};

// Creates an empty file at `key` (whose directory exists) as a volatile directory operation.
std::shared_ptr<inode> create_file(state& s, const std::string& key) {
    auto node = std::make_shared<inode>();
    s.entries[key] = node;
    s.dir_ops.push_back({volatile_dir_op::kind::create, parent_of(key), key, {}, node});
    return node;
}

}  // namespace

std::string_view to_string(sim_op op) noexcept {
    switch (op) {
        case sim_op::open:
            return "open";
        case sim_op::create:
            return "create";
        case sim_op::write:
            return "write";
        case sim_op::read:
            return "read";
        case sim_op::sync:
            return "sync";
        case sim_op::size:
            return "size";
        case sim_op::truncate:
            return "truncate";
        case sim_op::allocate:
            return "allocate";
        case sim_op::map:
            return "map";
        case sim_op::list:
            return "list";
        case sim_op::create_directories:
            return "create_directories";
        case sim_op::rename:
            return "rename";
        case sim_op::remove:
            return "remove";
        case sim_op::dir_sync:
            return "dir_sync";
        case sim_op::lock:
            return "lock";
    }
    return "unknown";
}

fault_hook fail_nth(sim_op op, std::uint64_t n, std::error_code ec) {
    auto seen = std::make_shared<std::atomic<std::uint64_t>>(0);
    return [=](const sim_event& e) -> std::error_code {
        if (e.op != op) return {};
        return seen->fetch_add(1) == n ? ec : std::error_code{};
    };
}

fault_hook fail_from(sim_op op, std::uint64_t n, std::error_code ec) {
    auto seen = std::make_shared<std::atomic<std::uint64_t>>(0);
    return [=](const sim_event& e) -> std::error_code {
        if (e.op != op) return {};
        return seen->fetch_add(1) >= n ? ec : std::error_code{};
    };
}

std::error_code eio() noexcept { return sys(EIO); }

power_cut_plan power_cut_plan::keep_all() {
    power_cut_plan p;
    p.keep_other_writes = true;
    p.keep_other_dir_ops = true;
    return p;
}

power_cut_plan power_cut_plan::from_bits(std::uint64_t writes, std::uint64_t dir_ops) {
    power_cut_plan p;
    for (unsigned i = 0; i < 64; ++i) {
        p.keep_writes.push_back(((writes >> i) & 1) != 0);
        p.keep_dir_ops.push_back(((dir_ops >> i) & 1) != 0);
    }
    return p;
}

power_cut_plan power_cut_plan::keep_prefix(std::size_t writes, bool keep_dir_ops) {
    power_cut_plan p;
    p.keep_writes.assign(writes, true);
    p.keep_other_dir_ops = keep_dir_ops;
    return p;
}

bool power_cut_plan::keeps_write(std::size_t i) const noexcept {
    return i < keep_writes.size() ? static_cast<bool>(keep_writes[i]) : keep_other_writes;
}

bool power_cut_plan::keeps_dir_op(std::size_t i) const noexcept {
    return i < keep_dir_ops.size() ? static_cast<bool>(keep_dir_ops[i]) : keep_other_dir_ops;
}

sim_disk::sim_disk() : state_(std::make_shared<state>()) {}
sim_disk::sim_disk(std::shared_ptr<state> s) : state_(std::move(s)) {}
sim_disk::~sim_disk() = default;

std::error_code sim_disk::open(const std::filesystem::path& p, open_mode mode, std::unique_ptr<file>& out) {
    out.reset();
    const auto key = key_of(p);
    const bool create = mode == open_mode::create_exclusive;
    return perform(*state_, event(create ? sim_op::create : sim_op::open, p), [&]() -> std::error_code {
        auto& s = *state_;
        if (auto ec = check_parent(s, key)) return ec;
        if (dir_exists(s, key)) return sys(create ? EEXIST : EISDIR);
        const auto it = s.entries.find(key);
        std::shared_ptr<inode> node;
        if (create) {
            if (it != s.entries.end()) return sys(EEXIST);
            node = create_file(s, key);
        } else {
            if (it == s.entries.end()) return sys(ENOENT);
            node = it->second;
        }
        out = std::make_unique<sim_file>(state_, std::move(node), key, mode != open_mode::read_only);
        return {};
    });
}

std::error_code sim_disk::list(const std::filesystem::path& dir, std::vector<std::string>& names) {
    names.clear();
    const auto key = key_of(dir);
    return perform(*state_, event(sim_op::list, dir), [&]() -> std::error_code {
        if (auto ec = check_dir(*state_, key)) return ec;
        for (const auto& [path, node] : state_->entries) {
            if (parent_of(path) == key) names.push_back(std::filesystem::path(path).filename().string());
        }
        return {};
    });
}

std::error_code sim_disk::create_directories(const std::filesystem::path& dir) {
    const auto key = key_of(dir);
    return perform(*state_, event(sim_op::create_directories, dir), [&]() -> std::error_code {
        auto& s = *state_;
        std::vector<std::string> chain;  // key and its ancestors, innermost first
        for (std::string d = key; !d.empty() && d != "/"; d = parent_of(d)) chain.push_back(d);
        for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
            if (s.entries.count(*it) != 0) return sys(ENOTDIR);
        }
        // Each new directory is an entry of its parent, durable once the parent is synced.
        for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
            if (!s.dirs.insert(*it).second) continue;
            s.dir_ops.push_back({volatile_dir_op::kind::mkdir, parent_of(*it), *it, {}, nullptr});
        }
        return {};
    });
}

std::error_code sim_disk::is_directory(const std::filesystem::path& dir, bool& out) {
    out = false;
    const auto key = key_of(dir);
    return perform(*state_, event(sim_op::list, dir), [&]() -> std::error_code {
        out = dir_exists(*state_, key);
        return {};
    });
}

std::error_code sim_disk::rename(const std::filesystem::path& from, const std::filesystem::path& to) {
    const auto kf = key_of(from);
    const auto kt = key_of(to);
    sim_event ev = event(sim_op::rename, from);
    ev.target = to;
    return perform(*state_, std::move(ev), [&]() -> std::error_code {
        auto& s = *state_;
        if (auto ec = check_parent(s, kf)) return ec;
        if (dir_exists(s, kf)) return sys(ENOTSUP);  // directories are not renamed by noriwal
        const auto it = s.entries.find(kf);
        if (it == s.entries.end()) return sys(ENOENT);
        if (auto ec = check_parent(s, kt)) return ec;
        if (dir_exists(s, kt)) return sys(EISDIR);
        if (kf == kt) return {};
        auto node = it->second;
        s.entries.erase(it);
        s.entries[kt] = node;
        const auto df = parent_of(kf);
        const auto dt = parent_of(kt);
        if (df == dt) {
            s.dir_ops.push_back({volatile_dir_op::kind::rename, df, kf, kt, node});
        } else {
            s.dir_ops.push_back({volatile_dir_op::kind::remove, df, kf, {}, node});
            s.dir_ops.push_back({volatile_dir_op::kind::create, dt, kt, {}, node});
        }
        return {};
    });
}

std::error_code sim_disk::remove(const std::filesystem::path& p) {
    const auto key = key_of(p);
    return perform(*state_, event(sim_op::remove, p), [&]() -> std::error_code {
        auto& s = *state_;
        if (auto ec = check_parent(s, key)) return ec;
        if (dir_exists(s, key)) return sys(EISDIR);
        const auto it = s.entries.find(key);
        if (it == s.entries.end()) return sys(ENOENT);
        s.dir_ops.push_back({volatile_dir_op::kind::remove, parent_of(key), key, {}, it->second});
        s.entries.erase(it);
        return {};
    });
}

std::error_code sim_disk::sync_directory(const std::filesystem::path& dir) {
    const auto key = key_of(dir);
    return perform(*state_, event(sim_op::dir_sync, dir), [&]() -> std::error_code {
        auto& s = *state_;
        if (auto ec = check_dir(s, key)) return ec;
        for (const auto& op : s.dir_ops) {
            if (op.dir != key) continue;
            replay(s.durable_entries, op);
            replay_dirs(s.durable_dirs, op);
        }
        std::erase_if(s.dir_ops, [&](const dir_op& op) { return op.dir == key; });
        return {};
    });
}

std::error_code sim_disk::lock(const std::filesystem::path& dir, std::unique_ptr<directory_lock>& out) {
    out.reset();
    const auto key = key_of(dir);
    return perform(*state_, event(sim_op::lock, dir), [&]() -> std::error_code {
        auto& s = *state_;
        if (auto ec = check_dir(s, key)) return ec;
        // Like the real one, the lock is a file in the directory, which list() shows.
        const auto lock_file = key_of(std::filesystem::path(key) / "LOCK");
        if (s.entries.count(lock_file) == 0) create_file(s, lock_file);
        if (!s.locks.insert(key).second) return make_error_code(errc::locked);
        out = std::make_unique<sim_lock>(state_, key);
        return {};
    });
}

void sim_disk::set_fault_hook(fault_hook hook) {
    auto p = hook ? std::make_shared<const fault_hook>(std::move(hook)) : nullptr;
    std::lock_guard g(state_->mutex);
    state_->fault = std::move(p);
}

void sim_disk::set_after_hook(after_hook hook) {
    auto p = hook ? std::make_shared<const after_hook>(std::move(hook)) : nullptr;
    std::lock_guard g(state_->mutex);
    state_->after = std::move(p);
}

void sim_disk::set_capacity(std::optional<std::uint64_t> bytes, bool partial_writes) {
    std::lock_guard g(state_->mutex);
    state_->capacity = bytes;
    state_->partial_writes = partial_writes;
}

std::uint64_t sim_disk::used_bytes() const {
    std::lock_guard g(state_->mutex);
    return used_bytes_locked(*state_);
}

void sim_disk::set_failed_sync_keeps_cache(bool keep) {
    std::lock_guard g(state_->mutex);
    state_->failed_sync_keeps_cache = keep;
}

std::vector<unsynced_write> sim_disk::unsynced_writes() const {
    std::lock_guard g(state_->mutex);
    std::vector<unsynced_write> out;
    out.reserve(state_->writes.size());
    for (const auto& w : state_->writes) out.push_back({w.what, w.path, w.offset, w.length});
    return out;
}

std::size_t sim_disk::unsynced_write_count() const {
    std::lock_guard g(state_->mutex);
    return state_->writes.size();
}

std::vector<volatile_dir_op> sim_disk::volatile_dir_ops() const {
    std::lock_guard g(state_->mutex);
    std::vector<volatile_dir_op> out;
    out.reserve(state_->dir_ops.size());
    for (const auto& op : state_->dir_ops) out.push_back({op.what, op.dir, op.path, op.target});
    return out;
}

std::size_t sim_disk::volatile_dir_op_count() const {
    std::lock_guard g(state_->mutex);
    return state_->dir_ops.size();
}

std::uint64_t sim_disk::operation_count() const {
    std::lock_guard g(state_->mutex);
    return state_->seq;
}

std::shared_ptr<sim_disk> sim_disk::snapshot() const {
    std::lock_guard g(state_->mutex);
    const auto& s = *state_;
    auto copy = std::make_shared<state>();
    copy->dirs = s.dirs;
    copy->durable_dirs = s.durable_dirs;
    copy->capacity = s.capacity;
    copy->partial_writes = s.partial_writes;
    copy->failed_sync_keeps_cache = s.failed_sync_keeps_cache;
    // Inodes are shared between names, operations and writes: copy each once.
    std::unordered_map<const inode*, std::shared_ptr<inode>> copies;
    const auto twin = [&](const std::shared_ptr<inode>& n) {
        auto& c = copies[n.get()];
        if (!c) {
            c = std::make_shared<inode>();
            c->durable = n->durable;
            c->current = n->current;
        }
        return c;
    };
    for (const auto& [k, n] : s.entries) copy->entries[k] = twin(n);
    for (const auto& [k, n] : s.durable_entries) copy->durable_entries[k] = twin(n);
    for (const auto& w : s.writes) {
        copy->writes.push_back(w);
        copy->writes.back().node = twin(w.node);
    }
    for (const auto& op : s.dir_ops) {
        copy->dir_ops.push_back(op);
        if (op.node) copy->dir_ops.back().node = twin(op.node);
    }
    return std::shared_ptr<sim_disk>(new sim_disk(std::move(copy)));
}

std::shared_ptr<sim_disk> sim_disk::power_cut(const power_cut_plan& plan) const {
    std::lock_guard g(state_->mutex);
    const auto& s = *state_;
    if (plan.tear) {
        const auto& t = *plan.tear;
        validate_sectors(s, t.write, t.sector_size, "sector_tear");
        const auto n = sectors_of(s.writes[t.write], t.sector_size).count;
        if (t.sectors.empty() ? t.prefix > n : t.sectors.size() > n) {
            throw std::invalid_argument("sector_tear: write " + std::to_string(t.write) + " has only " +
                                        std::to_string(n) + " sectors");
        }
    }
    if (plan.garbage) {
        const auto& gb = *plan.garbage;
        validate_sectors(s, gb.write, gb.sector_size, "sector_garbage");
        if (gb.sector >= sectors_of(s.writes[gb.write], gb.sector_size).count) {
            throw std::invalid_argument("sector_garbage: no sector " + std::to_string(gb.sector) +
                                        " in write " + std::to_string(gb.write));
        }
    }

    // The names a reboot finds: durable entries, then the kept directory operations in order.
    entry_map names = s.durable_entries;
    std::set<std::string> dirs = s.durable_dirs;
    for (std::size_t i = 0; i < s.dir_ops.size(); ++i) {
        if (!plan.keeps_dir_op(i)) continue;
        replay(names, s.dir_ops[i]);
        replay_dirs(dirs, s.dir_ops[i]);
    }
    // A directory whose own entry was lost takes everything under it along. The set is in
    // lexical order, so a parent comes before its children.
    std::set<std::string> reachable;
    for (const auto& d : dirs) {
        const auto parent = parent_of(d);
        if (parent.empty() || parent == "/" || reachable.count(parent) != 0) reachable.insert(d);
    }
    std::erase_if(names, [&](const auto& kv) {
        const auto parent = parent_of(kv.first);
        return !(parent.empty() || parent == "/" || reachable.count(parent) != 0);
    });
    // The content of each file that kept a name: durable, then the kept writes in order.
    std::unordered_map<const inode*, std::shared_ptr<inode>> files;
    for (const auto& [k, n] : names) {
        auto& f = files[n.get()];
        if (!f) {
            f = std::make_shared<inode>();
            f->current = n->durable;
        }
    }
    for (std::size_t i = 0; i < s.writes.size(); ++i) {
        const auto& w = s.writes[i];
        const auto it = files.find(w.node.get());
        if (it == files.end()) continue;
        auto& c = it->second->current;
        if (plan.tear && plan.tear->write == i) {
            const auto& t = *plan.tear;
            const auto n = sectors_of(w, t.sector_size).count;
            for (std::size_t j = 0; j < n; ++j) {
                const bool keep = t.sectors.empty() ? j < t.prefix : j < t.sectors.size() && t.sectors[j];
                if (!keep) continue;
                const auto [b, e] = sector_range(w, t.sector_size, j);
                put(c, b, w.bytes.data() + (b - w.offset), static_cast<std::size_t>(e - b));
            }
        } else if (plan.keeps_write(i)) {
            replay(c, w);
        }
        if (plan.garbage && plan.garbage->write == i) {
            const auto& gb = *plan.garbage;
            auto [b, e] = sector_range(w, gb.sector_size, gb.sector);
            e = std::min<std::uint64_t>(e, c.size());
            std::uint64_t x = gb.seed;
            for (std::uint64_t o = b; o < e; ++o)
                c[o] = std::byte(static_cast<unsigned char>(next_random(x)));
        }
    }

    auto after = std::make_shared<state>();
    after->dirs = reachable;
    after->durable_dirs = reachable;
    after->capacity = s.capacity;
    after->partial_writes = s.partial_writes;
    after->failed_sync_keeps_cache = s.failed_sync_keeps_cache;
    for (auto& [ptr, f] : files) f->durable = f->current;
    for (const auto& [k, n] : names) after->entries[k] = files.at(n.get());
    after->durable_entries = after->entries;
    return std::shared_ptr<sim_disk>(new sim_disk(std::move(after)));
}

power_cut_plan sim_disk::random_power_cut(std::uint64_t seed) const {
    std::lock_guard g(state_->mutex);
    const auto& s = *state_;
    std::uint64_t x = seed;
    const auto below = [&](std::uint64_t n) { return n == 0 ? 0 : next_random(x) % n; };
    power_cut_plan p;
    const std::size_t n = s.writes.size();
    switch (below(4)) {
        case 0:
        case 1:  // in order: a prefix of the writes reached the disk
            p.keep_writes.assign(static_cast<std::size_t>(below(n + 1)), true);
            break;
        case 2:  // any subset
            for (std::size_t i = 0; i < n; ++i) p.keep_writes.push_back(below(2) == 0);
            break;
        default:  // most writes made it, a few did not
            for (std::size_t i = 0; i < n; ++i) p.keep_writes.push_back(below(8) != 0);
            break;
    }
    for (std::size_t i = 0; i < s.dir_ops.size(); ++i) p.keep_dir_ops.push_back(below(2) == 0);

    std::vector<std::size_t> data_writes;
    for (std::size_t i = 0; i < n; ++i) {
        if (sectors_of(s.writes[i], 512).count > 0) data_writes.push_back(i);
    }
    if (!data_writes.empty() && below(3) == 0) {
        sector_tear t;
        t.write = data_writes[below(data_writes.size())];
        t.sector_size = below(2) == 0 ? 512 : 4096;
        const auto count = sectors_of(s.writes[t.write], t.sector_size).count;
        if (below(2) == 0) {
            t.prefix = static_cast<std::size_t>(below(count + 1));
        } else {
            for (std::size_t j = 0; j < count; ++j) t.sectors.push_back(below(2) == 0);
        }
        p.tear = std::move(t);
    }
    if (!data_writes.empty() && below(4) == 0) {
        sector_garbage gb;
        gb.write = data_writes[below(data_writes.size())];
        gb.sector_size = below(2) == 0 ? 512 : 4096;
        gb.sector = static_cast<std::size_t>(below(sectors_of(s.writes[gb.write], gb.sector_size).count));
        gb.seed = next_random(x);
        p.garbage = gb;
    }
    return p;
}

std::size_t sim_disk::sector_count(std::size_t index, std::size_t sector_size) const {
    std::lock_guard g(state_->mutex);
    if (index >= state_->writes.size() || sector_size == 0) return 0;
    return sectors_of(state_->writes[index], sector_size).count;
}

std::size_t for_each_power_cut(const sim_disk& disk, const std::function<void(const power_cut_plan&)>& fn,
                               const power_cut_enumeration& options) {
    const auto writes = disk.unsynced_writes();
    const std::size_t n = writes.size();
    const std::size_t d = disk.volatile_dir_op_count();
    std::size_t tried = 0;
    if (n + d <= options.max_exhaustive && n + d < 64) {
        for (std::uint64_t mask = 0; mask < (std::uint64_t{1} << (n + d)); ++mask) {
            power_cut_plan p;
            for (std::size_t i = 0; i < n; ++i) p.keep_writes.push_back(((mask >> i) & 1) != 0);
            for (std::size_t i = 0; i < d; ++i) p.keep_dir_ops.push_back(((mask >> (n + i)) & 1) != 0);
            fn(p);
            ++tried;
        }
    } else {
        std::uint64_t x = options.seed;
        for (std::size_t i = 0; i < options.samples; ++i) {
            fn(disk.random_power_cut(next_random(x)));
            ++tried;
        }
    }
    if (options.max_tears_per_write > 0) {
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t sectors = disk.sector_count(i, 512);
            if (sectors == 0) continue;
            // Prefixes 0 .. sectors-1 (all sectors would be the untorn write), evenly thinned.
            const std::size_t step =
                (sectors + options.max_tears_per_write - 1) / options.max_tears_per_write;
            for (std::size_t prefix = 0; prefix < sectors; prefix += step) {
                auto p = power_cut_plan::keep_prefix(i, true);
                p.tear = sector_tear{i, 512, prefix, {}};
                fn(p);
                ++tried;
            }
        }
    }
    return tried;
}

}  // namespace noriwal::test
