// The synchronous log engine. Layout and invariants in segment_log.hpp; what recovery decides
// in recovery_scanner.hpp; the durability argument in doc/durability.md.
#include "log/segment_log.hpp"

#include <noriwal/error.hpp>
#include <noriwal/meter.hpp>

#include "format/little_endian.hpp"
#include "log/recovery_scanner.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <chrono>
#include <cstring>
#include <limits>

namespace noriwal::detail {
namespace {

// Zeros written from here: make_spare's zero fill and the cut of a torn tail, in chunks of
// 256 KiB at multiples of 256 KiB. The page cache keeps a file in folios of the size it was
// written in, and that size is a trade: a mapping takes a larger folio with fewer faults
// (reading back is faster), but every later buffered write into a folio walks all of its
// blocks (ext4's write_begin/commit_write), so an append into a 2 MiB folio costs about three
// times what it costs into a 256 KiB one (doc/performance.md, "Where a scan and a recovery
// spend their time"). Appends come first. Not const: in .bss, never written, so that it costs
// neither file size nor memory.
constexpr std::size_t zero_chunk = 256u << 10;
std::array<std::byte, zero_chunk> zeros{};

// What truncate_after copies per read and write.
constexpr std::size_t copy_chunk = 256u << 10;

// Recycled files kept ready beyond which deleted segments are unlinked.
constexpr std::size_t max_spares = 2;

std::uint64_t system_now_ns() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

std::error_code write_zeros(file& f, std::uint64_t from, std::uint64_t to) {
    while (from < to) {
        const std::uint64_t chunk_end = (from / zero_chunk + 1) * zero_chunk;
        const std::size_t n = static_cast<std::size_t>(std::min(chunk_end, to) - from);
        if (auto ec = f.write_at(from, std::span<const std::byte>(zeros.data(), n))) return ec;
        from += n;
    }
    return {};
}

std::string describe(const std::error_code& ec) { return ec.message(); }

bool is_permission_error(const std::error_code& ec) {
    return ec == std::errc::permission_denied || ec == std::errc::operation_not_permitted ||
           ec == std::errc::read_only_file_system;
}

bool is_no_space(const std::error_code& ec) {
    return ec == errc::no_space || ec == std::errc::no_space_on_device;
}

// The number of a spare-<n>.tmp or spare-<n>.ready file (0: not one).
std::uint64_t spare_number(std::string_view name) {
    if (!name.starts_with(spare_prefix)) return 0;
    std::string_view rest = name.substr(spare_prefix.size());
    const auto dot = rest.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot > 19) return 0;
    std::uint64_t n = 0;
    for (const char c : rest.substr(0, dot)) {
        if (c < '0' || c > '9') return 0;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
}

// A leftover that vanished between the listing and its removal: the spare thread of a wal
// closed just before this open may still finish its spare (make_spare renames spare-<n>.tmp to
// spare-<n>.ready) after the lock is released.
bool is_gone(const std::error_code& ec) { return ec == std::errc::no_such_file_or_directory; }

bool is_engine_temp(std::string_view name) {
    return name.ends_with(temp_suffix) &&
           (name.starts_with(spare_prefix) || name.starts_with(truncate_prefix));
}

}  // namespace

bool parse_ready_spare_name(std::string_view name, std::uint64_t& n) noexcept {
    if (!name.ends_with(ready_suffix)) return false;
    n = spare_number(name);
    return n != 0 && name.size() == spare_prefix.size() + std::to_string(n).size() + ready_suffix.size();
}

namespace {

std::uint32_t body_len_of(const encoded_record& r) noexcept {
    return record_header_fields(r.bytes.data()).body_len();
}

}  // namespace

// One segment's state.
struct segment_log::segment {
    std::uint64_t id = 0;
    lsn_t base_lsn = 0;
    lsn_t first_lsn = 0;  // of its records (0: none)
    lsn_t last_lsn = 0;
    std::uint64_t records = 0;
    std::uint64_t last_offset = 0;
    std::uint64_t written = segment_header_size;  // end of the last record
    std::uint64_t created_ns = 0;
    std::filesystem::path path;
    std::shared_ptr<file> f;          // open while active, and while sealed with unsynced records
    lsn_t synced_lsn = 0;             // records up to this LSN are covered by a completed sync
    bool header_ok = true;            // false only after salvage (skip_corrupted): never appended to
    std::uint64_t prepared_size = 0;  // in its header: the preallocated size (0: none)
    std::uint64_t capacity = 0;       // the end offset records may reach (rotation point)
};

// ------------------------------------------------------------------------ free functions

std::error_code run_sync(sync_job& job) {
    const auto start = std::chrono::steady_clock::now();
    std::error_code ec;
    if (job.directory) ec = job.fs->sync_directory(job.dir);
    for (std::size_t i = 0; !ec && i < job.files.size(); ++i) ec = job.files[i]->sync();
    job.duration =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start);
    return ec;
}

std::error_code make_spare(const spare_request& req, spare_segment& out) {
    std::unique_ptr<file> f;
    if (auto ec = req.fs->open(req.path, open_mode::create_exclusive, f)) return ec;
    std::error_code ec;
    switch (req.prealloc) {
        case preallocation::zero_fill:
            // Written and synced now, so that an fdatasync after an append in this file has
            // only data to flush: its blocks and size are already on disk.
            ec = write_zeros(*f, 0, req.size);
            if (!ec) ec = f->sync();
            break;
        case preallocation::fallocate:
            ec = f->allocate(0, req.size);
            if (!ec) ec = f->sync();
            break;
        case preallocation::none:
            break;
    }
    // Complete: renamed to spare-<n>.ready, the name that tells the next open the file is all
    // zeros and durable (a spare-<n>.tmp may be cut short by a crash). The directory sync makes
    // both the creation and the rename durable.
    std::filesystem::path ready = req.path;
    ready.replace_extension(ready_suffix);
    if (!ec) ec = req.fs->rename(req.path, ready);
    if (ec) {
        f.reset();
        (void)req.fs->remove(req.path);  // best effort: open removes leftovers anyway
        return ec;
    }
    if ((ec = req.fs->sync_directory(req.dir))) {
        f.reset();
        (void)req.fs->remove(ready);
        return ec;
    }
    out.path = ready;
    out.f = std::shared_ptr<file>(std::move(f));
    out.size = req.prealloc == preallocation::none ? 0 : req.size;
    return {};
}

std::optional<close_marker> read_close_marker(file_system& fs, const std::filesystem::path& dir) {
    const auto path = dir / close_marker_name;
    std::unique_ptr<file> f;
    std::array<std::byte, close_marker_size + 1> buf{};
    std::size_t got = 0;
    if (fs.open(path, open_mode::read_only, f) || f->read_at(0, buf, got)) return std::nullopt;
    close_marker m;
    if (!decode_close_marker(std::span<const std::byte>(buf.data(), got), m)) return std::nullopt;
    return m;
}

// ------------------------------------------------------------------------ open

segment_log::segment_log() : clock_(system_now_ns), may_recycle_([](std::uint64_t) { return true; }) {}

segment_log::~segment_log() = default;

namespace {

// A file that looks like a segment (".wal") but whose name is not one: the directory holds
// something that is not a noriwal log, which is refused rather than written into.
std::optional<std::string> foreign_segment_name(const std::vector<std::string>& names) {
    for (const std::string& name : names) {
        std::uint64_t id = 0;
        if (name.ends_with(".wal") && !parse_segment_file_name(name, id)) return name;
    }
    return std::nullopt;
}

std::string foreign_segment_why(const std::filesystem::path& dir, const std::string& name) {
    return "file " + (dir / name).string() +
           " looks like a segment but its name is not <20 digits>.wal; move it out of the log directory";
}

}  // namespace

std::error_code segment_log::open(const wal_config& cfg, std::unique_ptr<segment_log>& out,
                                  recovery_info& info, std::string& why) {
    out.reset();
    info = {};
    why.clear();
    if (std::string msg = validate(cfg); !msg.empty()) {
        why = std::move(msg);
        return errc::invalid_config;
    }
    std::unique_ptr<segment_log> log(new segment_log());
    log->cfg_ = cfg;
    log->fs_ = cfg.fs ? cfg.fs : posix_file_system();
    file_system& fs = *log->fs_;
    const std::filesystem::path& dir = cfg.dir;
    const bool ro = cfg.read_only;

    if (ro) {
        bool is_dir = false;
        if (auto ec = fs.is_directory(dir, is_dir); ec || !is_dir) {
            why = "log directory " + dir.string() + " does not exist (a read-only open never creates it)";
            return errc::not_found;
        }
    } else {
        // The directories open creates (the log's and missing parents, outermost first): each
        // is an entry in its parent, durable only once the parent is fsync'd. Without that a
        // power cut could take the whole directory, with every acknowledged record in it.
        std::vector<std::filesystem::path> created;
        for (std::filesystem::path d = dir.lexically_normal(); !d.empty() && d != d.root_path();
             d = d.parent_path()) {
            if (d.filename().empty()) continue;  // "a/b/" names "a/b"
            bool is_dir = false;
            if (auto ec = fs.is_directory(d, is_dir); ec || is_dir) break;
            created.insert(created.begin(), d);
        }
        if (auto ec = fs.create_directories(dir)) {
            why = "cannot create log directory " + dir.string() + ": " + describe(ec);
            return ec;
        }
        for (const auto& d : created) {
            const std::filesystem::path parent = d.has_parent_path() ? d.parent_path() : ".";
            if (auto ec = fs.sync_directory(parent)) {
                why = "cannot make the new log directory " + d.string() + " durable (fsync of " +
                      parent.string() + "): " + describe(ec);
                return ec;
            }
        }
        // A directory that is not a log is refused before the lock file is created in it. The
        // listing is taken again under the lock: only that one is authoritative.
        std::vector<std::string> before;
        if (auto ec = fs.list(dir, before)) {
            why = "cannot list log directory " + dir.string() + ": " + describe(ec);
            return ec;
        }
        if (auto name = foreign_segment_name(before)) {
            why = foreign_segment_why(dir, *name);
            return errc::not_a_log;
        }
        if (auto ec = fs.lock(dir, log->lock_)) {
            why = ec == errc::locked ? "log directory " + dir.string() +
                                           " is locked by another process or wal object; close that one first"
                                     : "cannot lock log directory " + dir.string() + ": " + describe(ec);
            return ec;
        }
    }

    std::vector<std::string> names;
    if (auto ec = fs.list(dir, names)) {
        why = "cannot list log directory " + dir.string() + ": " + describe(ec);
        return ec;
    }
    std::vector<std::uint64_t> ids;
    std::vector<std::string> temps;
    std::vector<std::string> ready;  // prepared spares of an earlier run, oldest first
    if (auto name = foreign_segment_name(names)) {
        why = foreign_segment_why(dir, *name);
        return errc::not_a_log;
    }
    for (const std::string& name : names) {
        std::uint64_t id = 0;
        if (parse_segment_file_name(name, id)) {
            ids.push_back(id);
        } else if (is_engine_temp(name)) {
            temps.push_back(name);
        } else if (std::uint64_t n = 0; parse_ready_spare_name(name, n)) {
            ready.push_back(name);
        }
        // Spare names never repeat within a directory's life: the next spare's number follows.
        log->spare_counter_ = std::max(log->spare_counter_, spare_number(name));
        // Anything else (the lock file, the user's own files) is not ours and is left alone.
    }
    std::sort(ids.begin(), ids.end());

    // Scan: one mapping at a time, released before the next.
    recovery_scanner scanner(cfg.recovery);
    // A clean close left a marker of where the log ended (doc/format.md). One that does not
    // decode (torn by a crash while it was written) says nothing: as if there were none.
    const bool has_marker = std::find(names.begin(), names.end(), close_marker_name) != names.end();
    if (has_marker) {
        if (auto m = read_close_marker(fs, dir)) scanner.set_clean_close(*m);
    }
    for (const std::uint64_t id : ids) {
        const auto path = dir / segment_file_name(id);
        std::unique_ptr<file> f;
        std::uint64_t size = 0;
        std::shared_ptr<const mapped_region> region;
        std::error_code ec = fs.open(path, ro ? open_mode::read_only : open_mode::read_write, f);
        if (ec && !ro && is_permission_error(ec)) {
            // Opened for reading and writing: it is writing that is refused (the file may well
            // be readable).
            why = "cannot open segment file " + path.string() + " for writing: " + describe(ec) +
                  "; a read-write open needs write access to every segment file (fix the file's owner "
                  "or mode, or open with wal_config::read_only to inspect the log)";
            return ec;
        }
        if (!ec) ec = f->size(size);
        if (!ec) ec = f->map(size, region);
        if (ec) {
            why = "cannot read segment file " + path.string() + ": " + describe(ec);
            return ec;
        }
        std::string scan_why;
        ec = scanner.add_segment(id, region->bytes(), scan_why);
        region.reset();
        if (ec) {
            why = dir.string() + ": " + scan_why;
            return ec;
        }
        // What a crashed process left in the page cache becomes durable before new records
        // claim (through their durable hint) that it is.
        if (!ro) {
            if (ec = f->sync(); ec) {
                why = "cannot sync segment file " + path.string() + ": " + describe(ec);
                return ec;
            }
        }
    }

    recovery_plan plan = scanner.finish();
    info = plan.info;
    if (plan.error) {
        why = dir.string() + ": " + plan.why;
        return plan.error;
    }

    const auto meter = cfg.metrics;
    if (!ro) {
        // Spare and truncation files of an earlier run: never part of the log.
        for (const std::string& name : temps) {
            if (auto ec = fs.remove(dir / name); ec && !is_gone(ec)) {
                why = "cannot remove leftover file " + (dir / name).string() + ": " + describe(ec);
                return ec;
            }
        }
        // Cut: later segments first, highest id first, each removal durable before the next,
        // so that a crash never leaves a hole; then the tail of the last kept segment.
        for (const std::uint64_t id : plan.removed) {
            const auto path = dir / segment_file_name(id);
            std::error_code ec = fs.remove(path);
            if (!ec) ec = fs.sync_directory(dir);
            if (ec) {
                why = "cannot remove damaged segment file " + path.string() + ": " + describe(ec);
                return ec;
            }
            if (meter) meter->on_segment_deleted(id);
        }
        if (plan.zero_to > plan.zero_from) {
            const auto path = dir / segment_file_name(plan.kept.back().id);
            std::unique_ptr<file> f;
            std::error_code ec = fs.open(path, open_mode::read_write, f);
            if (!ec) ec = write_zeros(*f, plan.zero_from, plan.zero_to);
            if (!ec) ec = f->sync();
            if (ec) {
                why = "cannot cut the torn tail of " + path.string() + ": " + describe(ec);
                return ec;
            }
        }
    }
    if (meter) {
        for (const damage& d : info.damages)
            if (d.kind != damage_kind::stale_record) meter->on_corruption(d);
    }

    for (const scanned_segment& s : plan.kept) {
        segment seg;
        seg.id = s.id;
        seg.base_lsn = s.base_lsn;
        seg.first_lsn = s.first_lsn;
        seg.last_lsn = s.last_lsn;
        seg.records = s.records;
        seg.last_offset = s.last_offset;
        seg.written = s.end;
        seg.created_ns = s.header_ok ? s.header.created_ns : 0;
        seg.path = dir / segment_file_name(s.id);
        seg.synced_lsn = s.last_lsn;
        seg.header_ok = s.header_ok;
        seg.prepared_size = s.prepared_size;
        seg.capacity = log->capacity_of(s.prepared_size);
        log->segments_.push_back(std::move(seg));
    }
    // A new log (no segment file at all) starts where the configuration says.
    log->next_lsn_ = ids.empty() ? cfg.first_lsn : plan.next_lsn;
    log->written_lsn_.store(log->next_lsn_ - 1, std::memory_order_release);
    log->durable_lsn_.store(log->next_lsn_ - 1, std::memory_order_release);
    log->skipped_ = std::move(plan.skipped);
    if (ro) {
        out = std::move(log);
        return {};
    }

    // Prepared spares of an earlier run are kept (no new zero fill) while they fit this
    // configuration; the rest are removed like temporaries. Only one whose first 64 bytes are
    // zeros: an activation writes and syncs the segment header into the spare before it
    // renames it and writes records, so a spare whose rename a crash undid, and which may hold
    // records of the segment it was becoming, has a header and is removed (adopted, it would
    // become that same segment again, with those records in it).
    std::sort(ready.begin(), ready.end(),
              [](const std::string& a, const std::string& b) { return spare_number(a) < spare_number(b); });
    for (const std::string& name : ready) {
        const auto path = dir / name;
        std::unique_ptr<file> f;
        std::uint64_t size = 0;
        std::error_code ec = fs.open(path, open_mode::read_write, f);
        if (!ec) ec = f->size(size);
        std::array<std::byte, segment_header_size> head{};
        std::size_t got = 0;
        if (!ec && size >= head.size()) ec = f->read_at(0, head, got);
        const bool blank = got == head.size() && std::all_of(head.begin(), head.end(),
                                                             [](std::byte b) { return b == std::byte{0}; });
        const bool fits = cfg.prealloc == preallocation::none
                              ? size == 0
                              : blank && size >= log->next_segment_size() && size <= cfg.max_segment_size;
        if (!ec && fits && log->spares_.size() < max_spares) {
            log->spares_.push_back({path, std::shared_ptr<file>(std::move(f)), size});
            continue;
        }
        f.reset();
        if (ec = fs.remove(path); ec && !is_gone(ec)) {
            why = "cannot remove leftover file " + path.string() + ": " + describe(ec);
            return ec;
        }
    }
    // The active segment: the last one where it can take records, else a new one.
    std::error_code ec;
    if (!log->segments_.empty() && plan.reset_last) {
        // An all-zero file (activated, never written): it gets its header again.
        segment& s = log->segments_.back();
        s.base_lsn = log->next_lsn_;
        s.created_ns = log->clock_();
        s.header_ok = true;
        std::unique_ptr<file> f;
        ec = fs.open(s.path, open_mode::read_write, f);
        if (!ec && cfg.prealloc != preallocation::none) ec = f->size(s.prepared_size);
        s.capacity = log->capacity_of(s.prepared_size);
        if (!ec) ec = log->write_header(*f, s);
        if (!ec) ec = f->sync();
        if (!ec) s.f = std::move(f);
    } else if (!log->segments_.empty() && log->segments_.back().header_ok) {
        segment& s = log->segments_.back();
        std::unique_ptr<file> f;
        ec = fs.open(s.path, open_mode::read_write, f);
        if (!ec) s.f = std::move(f);
    } else {
        std::uint64_t next_id = ids.empty() ? 1 : ids.back() + 1;
        if (!log->segments_.empty()) next_id = log->segments_.back().id + 1;
        ec = log->activate(next_id, 0);
    }
    // The marker describes the log as it was closed; from now on the log changes. Its removal
    // is made durable by the directory sync below, before open returns (and so before any new
    // record or truncation). An open that fails before this point leaves it in place.
    if (!ec && has_marker) {
        ec = fs.remove(dir / close_marker_name);
        if (ec) {
            why =
                "cannot remove the close marker " + (dir / close_marker_name).string() + ": " + describe(ec);
            return ec;
        }
    }
    // Always: the entries of the segments just read (a crashed writer's last rename may not
    // have reached the disk) must be durable before the durable watermark says their records are.
    if (!ec) {
        ec = fs.sync_directory(dir);
        log->dir_changes_synced_ = log->dir_changes_;
    }
    if (ec) {
        why = "cannot prepare the active segment in " + dir.string() + ": " + describe(ec);
        if (is_no_space(ec))
            why +=
                "; a new segment file takes up to max_segment_size (" + std::to_string(cfg.max_segment_size) +
                " bytes) of free space (the first one first_segment_size): free some space, or open with a "
                "smaller wal_config::max_segment_size";
        return ec;
    }
    out = std::move(log);
    return {};
}

// ------------------------------------------------------------------------ segments

std::error_code segment_log::write_header(file& f, const segment& s) {
    segment_header h;
    h.segment_id = s.id;
    h.base_lsn = s.base_lsn;
    h.created_ns = s.created_ns;
    h.node_id = cfg_.node_id;
    h.prepared_size = s.prepared_size;
    std::array<std::byte, segment_header_size> bytes;
    encode_segment_header(h, bytes);
    return f.write_at(0, bytes);
}

spare_request segment_log::next_spare_request() {
    spare_request req;
    req.fs = fs_;
    req.dir = cfg_.dir;
    req.path =
        cfg_.dir / (std::string(spare_prefix) + std::to_string(++spare_counter_) + std::string(temp_suffix));
    req.size = next_segment_size();
    req.prealloc = cfg_.prealloc;
    return req;
}

// Segment files are prepared in steps (wal_config::first_segment_size): the first at that
// size, each next one twice the active one, up to max_segment_size. A file that grows with its
// records (preallocation::none) needs no step.
std::uint64_t segment_log::next_segment_size() const noexcept {
    const std::uint64_t max = cfg_.max_segment_size;
    const std::uint64_t first = cfg_.first_segment_size;
    if (cfg_.prealloc == preallocation::none || first == 0 || first >= max) return max;
    if (segments_.empty()) return first;
    const std::uint64_t active = segments_.back().capacity;
    return active >= max / 2 ? max : std::max(first, 2 * active);
}

// Where records in a segment prepared to `prepared_size` must stop: its prepared size (writes
// never grow a preallocated file), or max_segment_size for a file that grows with its records.
std::uint64_t segment_log::capacity_of(std::uint64_t prepared_size) const noexcept {
    if (prepared_size == 0) return cfg_.max_segment_size;
    return std::min(prepared_size & ~std::uint64_t{record_alignment - 1}, cfg_.max_segment_size);
}

// Starts segment `id` at the next LSN: its header goes into a spare file, is fdatasync'd, and
// the spare is renamed to the segment's name. The header is durable before the name exists,
// so a segment file never lacks its header after a crash; the rename itself becomes durable
// with the next directory sync, which every sync job performs before its files. `need`: the
// bytes (segment header included) the segment must hold for the request that rotates into it;
// a spare too small for it stays for a later rotation and a large enough one is made inline.
std::error_code segment_log::activate(std::uint64_t id, std::uint64_t need) {
    spare_segment spare;
    const bool fits =
        !spares_.empty() && (cfg_.prealloc == preallocation::none || spares_.front().size >= need);
    if (fits) {
        spare = std::move(spares_.front());
        spares_.erase(spares_.begin());
    } else {
        spare_request req = next_spare_request();
        if (cfg_.prealloc != preallocation::none && req.size < need)
            req.size = std::min(cfg_.max_segment_size, (need + 4095) & ~std::uint64_t{4095});
        if (auto ec = make_spare(req, spare)) return ec;
    }
    segment s;
    s.id = id;
    s.base_lsn = next_lsn_;
    s.created_ns = clock_();
    s.path = cfg_.dir / segment_file_name(id);
    s.synced_lsn = next_lsn_ - 1;
    // A preallocated spare's size is durable (make_spare synced it): the header records it, so
    // that recovery can tell a file cut short from a torn tail.
    if (cfg_.prealloc != preallocation::none)
        if (auto ec = spare.f->size(s.prepared_size)) return ec;
    s.capacity = capacity_of(s.prepared_size);
    if (auto ec = write_header(*spare.f, s)) return ec;
    if (auto ec = spare.f->sync()) return ec;
    if (auto ec = fs_->rename(spare.path, s.path)) return ec;
    ++dir_changes_;
    s.f = std::move(spare.f);
    segments_.push_back(std::move(s));
    return {};
}

std::error_code segment_log::rotate_now(std::uint64_t need) {
    segment& old = segments_.back();
    const std::uint64_t old_id = old.id;
    const std::uint64_t old_bytes = old.written;
    if (auto ec = activate(old_id + 1, need)) return poison(ec);
    segment& sealed = segments_[segments_.size() - 2];
    if (sealed.synced_lsn >= sealed.last_lsn) sealed.f.reset();  // nothing left to sync in it
    if (cfg_.metrics) cfg_.metrics->on_segment_rolled(old_id, old_bytes, old_id + 1);
    return {};
}

std::error_code segment_log::poison(std::error_code ec) {
    poisoned_ = true;
    return ec;
}

std::error_code segment_log::check_writable() const {
    if (closed_) return errc::closed;
    if (cfg_.read_only) return errc::read_only;
    if (poisoned_) return errc::poisoned;
    return {};
}

// ------------------------------------------------------------------------ append

bool segment_log::fits_active_segment(std::uint64_t bytes) const {
    if (check_writable() || segments_.empty()) return false;
    if (segments_.back().written + bytes > cfg_.max_segment_size) return false;
    if (cfg_.max_segment_age.count() == 0) return true;
    const auto due = rotation_due_ns();
    return !due || clock_() < *due;
}

std::error_code segment_log::append(std::span<append_request> group, std::span<std::error_code> results) {
    assert(results.size() >= group.size());
    if (auto ec = check_writable()) {
        for (std::size_t i = 0; i < group.size(); ++i) results[i] = ec;
        return ec;
    }
    if (cfg_.max_segment_age.count() > 0)
        if (auto ec = rotate_if_older_than(clock_())) {
            for (std::size_t i = 0; i < group.size(); ++i) results[i] = ec;
            return ec;
        }

    // For records in an empty segment of the largest size; the active segment may be smaller
    // (first_segment_size steps): `end` is where its records must stop.
    const std::uint64_t room = cfg_.max_segment_size - segment_header_size;
    auto end = [this] { return segments_.back().capacity; };
    const lsn_t durable = durable_lsn();
    iov_.clear();
    std::uint64_t write_from = segments_.back().written;  // offset of the pending write
    std::uint64_t pos = write_from;
    std::uint64_t pending_records = 0;
    std::size_t first_pending = group.size();  // first request with a record in the pending write

    // Writes what is pending in the active segment. On failure, the requests with records in
    // it and every later request get the error, and the log is poisoned.
    auto flush = [&](std::size_t upto) -> std::error_code {
        if (iov_.empty()) return {};
        segment& a = segments_.back();
        if (auto ec = a.f->write_at(write_from, std::span<const std::span<const std::byte>>(iov_))) {
            for (std::size_t k = first_pending; k < group.size(); ++k)
                if (!results[k] || k >= upto) results[k] = ec;
            return poison(ec);
        }
        a.written = pos;
        written_lsn_.store(next_lsn_ - 1, std::memory_order_release);
        unsynced_records_ += pending_records;
        if (cfg_.metrics) cfg_.metrics->on_write(pending_records, pos - write_from);
        iov_.clear();
        pending_records = 0;
        first_pending = group.size();
        return {};
    };
    // Rotates into a segment that holds `bytes` of records after its header.
    auto rotate_for = [&](std::size_t i, std::uint64_t bytes) -> std::error_code {
        if (auto ec = flush(i)) return ec;
        if (auto ec = rotate_now(segment_header_size + bytes)) {
            for (std::size_t k = i; k < group.size(); ++k) results[k] = ec;
            return ec;
        }
        write_from = pos = segments_.back().written;
        return {};
    };

    for (std::size_t i = 0; i < group.size(); ++i) {
        append_request& req = group[i];
        results[i] = {};
        if (req.records.empty()) {
            results[i] = errc::invalid_argument;
            continue;
        }
        std::uint64_t total = 0;
        bool too_large = false;
        for (const encoded_record* r : req.records) {
            if (r == nullptr || r->bytes.size() < record_header_size ||
                r->bytes.size() % record_alignment != 0) {
                results[i] = errc::invalid_argument;
                break;
            }
            too_large = too_large || body_len_of(*r) > cfg_.max_record_size || r->bytes.size() > room;
            total += r->bytes.size();
        }
        if (results[i]) continue;
        const bool atomic = req.atomic && req.records.size() > 1;
        if (too_large || (atomic && total > room)) {
            results[i] = errc::record_too_large;
            continue;
        }
        if (atomic && pos + total > end()) {
            if (auto ec = rotate_for(i, total)) return ec;
        }
        for (std::size_t j = 0; j < req.records.size(); ++j) {
            encoded_record& r = *req.records[j];
            const std::uint64_t size = r.bytes.size();
            if (pos + size > end()) {
                if (auto ec = rotate_for(i, size)) return ec;
            }
            segment& a = segments_.back();
            const record_type type = !atomic                       ? record_type::full
                                     : j == 0                      ? record_type::first
                                     : j + 1 == req.records.size() ? record_type::last
                                                                   : record_type::middle;
            const lsn_t lsn = next_lsn_++;
            stamp_record(r.header(), a.id, lsn, type, durable);
            if (req.positions != nullptr) req.positions[j] = {a.id, pos, lsn};
            if (a.records++ == 0) a.first_lsn = lsn;
            a.last_lsn = lsn;
            a.last_offset = pos;
            iov_.emplace_back(r.bytes.data(), size);
            pos += size;
            ++pending_records;
            if (first_pending == group.size()) first_pending = i;
        }
    }
    return flush(group.size());
}

// ------------------------------------------------------------------------ sync

sync_job segment_log::prepare_sync() {
    sync_job job;
    job.fs = fs_;
    job.dir = cfg_.dir;
    job.epoch = epoch_;
    if (closed_ || cfg_.read_only || poisoned_) return job;
    job.lsn = written_lsn();
    for (const segment& s : segments_)
        if (s.f && s.synced_lsn < s.last_lsn) job.files.push_back(s.f);
    job.directory = dir_changes_ > dir_changes_synced_;
    job.dir_change = dir_changes_;
    job.records = unsynced_records_;
    unsynced_records_ = 0;
    return job;
}

void segment_log::sync_done(const sync_job& job, std::error_code ec) {
    if (ec) {
        // The page cache may have dropped the dirty pages: a later fsync that succeeds
        // proves nothing about them. Only a reopen (recovery) knows what is on disk.
        poisoned_ = true;
        return;
    }
    if (cfg_.metrics) cfg_.metrics->on_fsync(job.duration, job.records);
    if (job.epoch != epoch_ || closed_) return;  // built before a truncate_after: covers a replaced file
    dir_changes_synced_ = std::max(dir_changes_synced_, job.dir_change);
    if (job.lsn > durable_lsn()) durable_lsn_.store(job.lsn, std::memory_order_release);
    for (std::size_t i = 0; i < segments_.size(); ++i) {
        segment& s = segments_[i];
        s.synced_lsn = std::max(s.synced_lsn, std::min(job.lsn, s.last_lsn));
        if (i + 1 < segments_.size() && s.synced_lsn >= s.last_lsn) s.f.reset();
    }
}

std::error_code segment_log::sync() {
    if (closed_) return errc::closed;
    if (cfg_.read_only) return errc::read_only;
    if (poisoned_) return errc::poisoned;
    sync_job job = prepare_sync();
    const std::error_code ec = run_sync(job);
    sync_done(job, ec);
    return ec;
}

// ------------------------------------------------------------------------ watermarks

lsn_t segment_log::first_lsn() const noexcept {
    for (const segment& s : segments_)
        if (s.records != 0) return s.first_lsn;
    return next_lsn_;
}

position segment_log::next_position() const noexcept {
    if (segments_.empty()) return {0, segment_header_size, next_lsn_};
    return {segments_.back().id, segments_.back().written, next_lsn_};
}

// ------------------------------------------------------------------------ management

// Removes the oldest segment: recycled into a spare file when allowed, else unlinked.
std::error_code segment_log::drop_oldest() {
    segment s = std::move(segments_.front());
    segments_.erase(segments_.begin());
    std::error_code ec;
    // A file smaller than the next segment (an early one of first_segment_size's steps) is not
    // worth keeping: it would make a short segment.
    const bool big_enough = cfg_.prealloc == preallocation::none || s.capacity >= next_segment_size();
    if (cfg_.recycle_segments && big_enough && spares_.size() < max_spares && may_recycle_(s.id)) {
        // Its records stay in the file, bound to this segment id: when the file becomes a
        // later segment they fail their CRC there (they read as stale bytes, never records).
        spare_request req = next_spare_request();
        std::unique_ptr<file> f;
        ec = fs_->rename(s.path, req.path);
        std::uint64_t size = 0;
        if (!ec) ec = fs_->open(req.path, open_mode::read_write, f);
        if (!ec) ec = f->size(size);
        if (!ec) spares_.push_back({req.path, std::shared_ptr<file>(std::move(f)), size});
    } else {
        ec = fs_->remove(s.path);
    }
    ++dir_changes_;
    if (ec) return poison(ec);
    // Durable before the next removal: unsynced directory operations may reach the disk in any
    // order, and a later removal kept with an earlier one undone would leave a hole after the
    // oldest segment, which recovery cannot tell from lost records.
    if (auto sync_ec = sync_directory_now()) return sync_ec;
    if (cfg_.metrics) cfg_.metrics->on_segment_deleted(s.id);
    return {};
}

void segment_log::forget_skipped_before(lsn_t lsn) {
    std::erase_if(skipped_, [lsn](const lsn_range& r) { return r.last < lsn; });
}

std::error_code segment_log::delete_segments_before(const position& p, std::uint64_t& deleted) {
    deleted = 0;
    if (auto ec = check_writable()) return ec;
    // The oldest segment's records all precede its successor's base_lsn.
    while (segments_.size() > 1 && segments_[1].base_lsn <= p.lsn) {
        if (auto ec = drop_oldest()) return ec;
        ++deleted;
    }
    if (deleted == 0) return {};
    forget_skipped_before(segments_.front().base_lsn);
    return {};  // each removal was made durable by drop_oldest
}

std::error_code segment_log::sync_directory_now() {
    const std::uint64_t change = dir_changes_;
    if (auto ec = fs_->sync_directory(cfg_.dir)) return poison(ec);
    dir_changes_synced_ = std::max(dir_changes_synced_, change);
    return {};
}

std::error_code segment_log::apply_retention(std::uint64_t now_ns, std::uint64_t& deleted) {
    deleted = 0;
    if (auto ec = check_writable()) return ec;
    const auto retention = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.retention).count());
    if (retention == 0) return {};
    // A sealed segment's newest record was written before its successor was created.
    while (segments_.size() > 1 && segments_[1].created_ns != 0 && segments_[1].created_ns <= now_ns &&
           now_ns - segments_[1].created_ns >= retention) {
        if (auto ec = drop_oldest()) return ec;
        ++deleted;
    }
    if (deleted == 0) return {};
    forget_skipped_before(segments_.front().base_lsn);
    return {};  // each removal was made durable by drop_oldest
}

std::optional<std::uint64_t> segment_log::rotation_due_ns() const noexcept {
    const auto age = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.max_segment_age).count());
    if (age == 0 || segments_.empty() || segments_.back().records == 0) return std::nullopt;
    return segments_.back().created_ns + age;
}

std::error_code segment_log::rotate_if_older_than(std::uint64_t now_ns) {
    if (auto ec = check_writable()) return ec;
    const auto due = rotation_due_ns();
    if (!due || now_ns < *due) return {};
    return rotate_now(0);
}

std::error_code segment_log::rotate() {
    if (auto ec = check_writable()) return ec;
    if (segments_.back().records == 0) return {};
    return rotate_now(0);
}

// truncate_after, step by step (each step leaves a log whose recovery is a contiguous prefix):
// 1. Segments after the one that keeps `lsn` are unlinked, highest id first, each removal made
//    durable before the next: a crash leaves the log ending at some segment, never a hole.
// 2. That segment is replaced by a copy of its prefix (header and records up to `lsn`), written
//    to a temporary file, fdatasync'd, renamed over it and the directory fsync'd: a crash
//    leaves the old file (the log then ends at its last record, later ones already gone) or the
//    new one. Zeroing records in place instead could leave a later record intact after an
//    earlier one was zeroed, which recovery would read as mid-log damage or, when salvaging,
//    resurrect.
// reset_to(n) is the same with nothing kept: every segment after the first is removed, then the
// first is replaced by an empty one whose base_lsn is n.
std::error_code segment_log::truncate_after(lsn_t lsn) {
    if (auto ec = check_writable()) return ec;
    if (lsn >= written_lsn()) return {};
    return cut_after(lsn, lsn < segments_.front().base_lsn);
}

std::error_code segment_log::reset_to(lsn_t next_lsn) {
    if (auto ec = check_writable()) return ec;
    if (next_lsn < 1 || next_lsn >= (1ull << 63)) return make_error_code(errc::invalid_argument);
    return cut_after(next_lsn - 1, true);
}

std::error_code segment_log::cut_after(lsn_t lsn, bool empties) {
    // The segment that keeps `lsn` (the last whose base_lsn <= lsn), or the first one (emptied).
    std::size_t k = 0;
    for (std::size_t i = 0; !empties && i < segments_.size(); ++i)
        if (segments_[i].base_lsn <= lsn) k = i;

    const segment& holder = segments_[k];
    // Where the kept prefix ends: after the last record with an LSN <= lsn.
    std::uint64_t keep_end = segment_header_size;
    std::uint64_t kept_records = 0;
    lsn_t kept_first = 0;
    lsn_t kept_last = 0;
    std::uint64_t kept_last_offset = 0;
    record_type kept_last_type = record_type::full;
    std::uint64_t file_size = 0;
    {
        std::unique_ptr<file> rf;
        std::shared_ptr<const mapped_region> region;
        std::error_code ec = fs_->open(holder.path, open_mode::read_only, rf);
        if (!ec) ec = rf->size(file_size);
        if (!ec) ec = rf->map(std::min(file_size, holder.written), region);
        if (ec) return ec;  // nothing changed yet: the log stays usable
        const auto bytes = region->bytes();
        record_walker w(bytes, holder.id);  // salvaged damage stays: the walk steps over it
        record_view rv;
        while (!empties && w.next_salvaged(rv)) {
            if (rv.lsn > lsn) break;
            ++kept_records;
            if (kept_first == 0) kept_first = rv.lsn;
            kept_last = rv.lsn;
            kept_last_offset = w.offset();
            kept_last_type = rv.type;
            w.advance(rv);
            keep_end = w.offset();
        }
    }

    // An atomic batch is returned whole or not at all: a cut inside one would keep half of it,
    // which recovery then drops (and a later append would follow a hole). Refused before
    // anything is changed.
    if (!empties && (kept_last_type == record_type::first || kept_last_type == record_type::middle))
        return make_error_code(errc::invalid_argument);
    ++epoch_;  // sync jobs built before cover files that are about to be replaced

    // Everything up to `lsn` is reported durable when this returns. The kept prefix of segment k
    // is copied and synced below; records of earlier segments that no sync covered yet
    // (fsync_policy os or batch) must reach the disk too.
    for (std::size_t i = 0; i < k; ++i) {
        segment& s = segments_[i];
        if (!s.f || s.synced_lsn >= s.last_lsn) continue;
        if (auto ec = s.f->sync()) return poison(ec);
        s.synced_lsn = s.last_lsn;
        s.f.reset();  // sealed and synced: nothing more to write or sync in it
    }

    while (segments_.size() > k + 1) {
        segment& s = segments_.back();
        std::error_code ec = fs_->remove(s.path);
        ++dir_changes_;
        if (!ec) ec = sync_directory_now();
        if (ec) return poison(ec);
        if (cfg_.metrics) cfg_.metrics->on_segment_deleted(s.id);
        segments_.pop_back();
    }

    segment& p = segments_.back();
    segment fresh;
    fresh.id = p.id;
    fresh.base_lsn = empties ? lsn + 1 : p.base_lsn;
    fresh.created_ns = p.created_ns != 0 ? p.created_ns : clock_();
    fresh.path = p.path;
    // The replacement keeps the preparation (and the size) of the file it replaces.
    fresh.prepared_size = cfg_.prealloc != preallocation::none ? file_size : 0;
    fresh.capacity = capacity_of(fresh.prepared_size);
    const auto temp =
        cfg_.dir / (std::string(truncate_prefix) + std::to_string(p.id) + std::string(temp_suffix));
    std::unique_ptr<file> nf;
    {
        (void)fs_->remove(temp);  // a leftover of a failed attempt in this run
        std::unique_ptr<file> rf;
        std::error_code ec = fs_->open(temp, open_mode::create_exclusive, nf);
        if (!ec) ec = write_header(*nf, fresh);
        if (!ec) ec = fs_->open(p.path, open_mode::read_only, rf);
        std::vector<std::byte> buf;
        for (std::uint64_t off = segment_header_size; !ec && off < keep_end;) {
            buf.resize(static_cast<std::size_t>(std::min<std::uint64_t>(copy_chunk, keep_end - off)));
            std::size_t got = 0;
            ec = rf->read_at(off, buf, got);
            if (!ec && got != buf.size()) ec = make_error_code(errc::io_failed);
            if (!ec) ec = nf->write_at(off, buf);
            off += buf.size();
        }
        // The replacement keeps the preparation of the file it replaces.
        if (!ec && cfg_.prealloc == preallocation::zero_fill) ec = write_zeros(*nf, keep_end, file_size);
        if (!ec && cfg_.prealloc == preallocation::fallocate && file_size > keep_end)
            ec = nf->allocate(keep_end, file_size - keep_end);
        if (!ec) ec = nf->sync();
        if (!ec) ec = fs_->rename(temp, p.path);
        if (!ec) {
            ++dir_changes_;
            ec = sync_directory_now();
        }
        if (ec) return poison(ec);
    }
    fresh.f = std::shared_ptr<file>(std::move(nf));
    fresh.records = kept_records;
    fresh.first_lsn = kept_first;
    fresh.last_lsn = kept_last;
    fresh.last_offset = kept_last_offset;
    fresh.written = keep_end;
    fresh.synced_lsn = kept_last;
    p = std::move(fresh);

    next_lsn_ = lsn + 1;
    written_lsn_.store(lsn, std::memory_order_release);
    durable_lsn_.store(lsn, std::memory_order_release);
    unsynced_records_ = 0;
    if (empties) skipped_.clear();
    std::erase_if(skipped_, [lsn](const lsn_range& r) { return r.first > lsn; });
    for (lsn_range& r : skipped_) r.last = std::min(r.last, lsn);
    return {};
}

std::error_code segment_log::close() {
    if (closed_) return errc::closed;
    std::error_code ec;
    if (!cfg_.read_only && !poisoned_) ec = sync();
    if (!cfg_.read_only && !poisoned_ && !ec) ec = write_close_marker();
    closed_ = true;
    // A prepared spare stays for the next open (no zero fill then); a recycled one would be
    // removed by it.
    for (const spare_segment& s : spares_)
        if (s.path.extension() != ready_suffix) (void)fs_->remove(s.path);
    spares_.clear();
    for (segment& s : segments_) s.f.reset();
    lock_.reset();
    return ec;
}

// Evidence of a clean close: everything is durable and the log ends where the marker says.
// Written after the final sync, synced, and its directory entry synced; a crash while writing
// it leaves no marker or one that does not decode, both read as "no clean close".
std::error_code segment_log::write_close_marker() {
    if (segments_.empty()) return {};
    const segment& a = segments_.back();
    close_marker m;
    m.segment_id = a.id;
    m.end_offset = a.written;
    m.last_lsn = written_lsn();
    std::array<std::byte, close_marker_size> bytes;
    const auto path = cfg_.dir / close_marker_name;
    std::unique_ptr<file> f;
    std::error_code ec;
    if (a.f) ec = a.f->size(m.file_size);
    encode_close_marker(m, bytes);
    // A read-write open removed any earlier marker: one found here is not ours (EEXIST).
    if (!ec) ec = fs_->open(path, open_mode::create_exclusive, f);
    if (!ec) ec = f->write_at(0, bytes);
    if (!ec) ec = f->sync();
    if (!ec) ec = fs_->sync_directory(cfg_.dir);
    return ec;
}

// ------------------------------------------------------------------------ spares

std::optional<spare_request> segment_log::spare_needed() {
    if (closed_ || cfg_.read_only || poisoned_ || spare_in_flight_ || !spares_.empty()) return std::nullopt;
    spare_in_flight_ = true;
    return next_spare_request();
}

void segment_log::spare_ready(spare_segment spare, std::error_code ec) {
    spare_in_flight_ = false;
    if (ec || !spare.f) return;
    if (closed_ || spares_.size() >= max_spares) {
        spare.f.reset();
        (void)fs_->remove(spare.path);
        return;
    }
    spares_.push_back(std::move(spare));
}

// ------------------------------------------------------------------------ inspection

std::vector<segment_info> segment_log::segments() const {
    std::vector<segment_info> out;
    out.reserve(segments_.size());
    for (std::size_t i = 0; i < segments_.size(); ++i) {
        const segment& s = segments_[i];
        out.push_back({s.id, s.base_lsn, s.last_lsn, s.records, s.written, s.created_ns,
                       i + 1 < segments_.size(), s.path});
    }
    return out;
}

void segment_log::set_clock(std::function<std::uint64_t()> now_ns) { clock_ = std::move(now_ns); }

void segment_log::set_recycle_filter(std::function<bool(std::uint64_t)> may_recycle) {
    may_recycle_ = std::move(may_recycle);
}

}  // namespace noriwal::detail
