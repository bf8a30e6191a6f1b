#include "log_dir.hpp"

#include "command.hpp"
#include "json.hpp"
#include "text.hpp"

#include <noriwal/error.hpp>
#include <noriwal/version.hpp>

#include <algorithm>
#include <array>

namespace noriwal::inspect {

namespace {

std::string verify_hint(const std::filesystem::path& dir) {
    return "; run `wal-inspect verify " + dir.string() +
           "` to see the damage, `wal-inspect repair` to cut it";
}

}  // namespace

std::vector<spare_file> list_spares(file_system& fs, const std::filesystem::path& dir) {
    std::vector<std::string> names;
    if (auto ec = fs.list(dir, names))
        throw failure(dir.string() + ": cannot list the directory: " + ec.message());
    std::sort(names.begin(), names.end());
    std::vector<spare_file> out;
    for (const std::string& name : names) {
        std::uint64_t n = 0;
        if (!detail::parse_ready_spare_name(name, n)) continue;
        spare_file s;
        s.path = dir / name;
        std::unique_ptr<file> f;
        if (fs.open(s.path, open_mode::read_only, f) || f->size(s.size)) continue;
        std::array<std::byte, detail::segment_header_size> head{};
        std::size_t got = 0;
        if (s.size >= head.size() && !f->read_at(0, head, got) && got == head.size())
            s.blank = std::all_of(head.begin(), head.end(), [](std::byte b) { return b == std::byte{0}; });
        out.push_back(std::move(s));
    }
    return out;
}

std::string spares_json(const std::vector<spare_file>& spares) {
    std::string items = "[";
    for (const spare_file& f : spares) {
        if (items.size() > 1) items += ',';
        json::object_writer w(items);
        w.string("file", f.path.filename().string()).number("file_bytes", f.size).boolean("blank", f.blank);
        w.end();
    }
    items += ']';
    return items;
}

std::vector<std::uint64_t> list_segment_ids(file_system& fs, const std::filesystem::path& dir) {
    bool is_dir = false;
    if (auto ec = fs.is_directory(dir, is_dir); ec || !is_dir) {
        std::error_code st;
        if (std::filesystem::exists(dir, st))
            throw failure(dir.string() + ": not a directory (give the log directory)");
        throw failure(dir.string() + ": no such directory");
    }
    std::vector<std::string> names;
    if (auto ec = fs.list(dir, names))
        throw failure(dir.string() + ": cannot list the directory: " + ec.message());
    std::vector<std::uint64_t> ids;
    for (const std::string& name : names) {
        std::uint64_t id = 0;
        if (detail::parse_segment_file_name(name, id)) {
            ids.push_back(id);
        } else if (name.ends_with(".wal")) {
            throw failure((dir / name).string() +
                          ": named like a segment but not <20 digits>.wal; it is not part of a noriwal log, "
                          "move it out of the directory");
        }
    }
    if (ids.empty())
        throw failure(dir.string() +
                      ": no segment file (<20 digits>.wal) here; not a noriwal log directory, " +
                      "or an empty one");
    std::sort(ids.begin(), ids.end());
    return ids;
}

std::vector<segment_file> read_segments(file_system& fs, const std::filesystem::path& dir) {
    const std::vector<std::uint64_t> ids = list_segment_ids(fs, dir);
    std::vector<segment_file> out;
    out.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        segment_file s;
        s.id = ids[i];
        s.path = dir / detail::segment_file_name(s.id);
        std::unique_ptr<file> f;
        std::error_code ec = fs.open(s.path, open_mode::read_only, f);
        if (ec == std::errc::no_such_file_or_directory) continue;  // deleted by the log's owner meanwhile
        if (!ec) ec = f->size(s.size);
        std::array<std::byte, detail::segment_header_size> head{};
        std::size_t got = 0;
        if (!ec) ec = f->read_at(0, head, got);
        if (ec) throw failure(s.path.string() + ": cannot read: " + ec.message());
        const std::span<const std::byte> bytes(head.data(), got);
        switch (detail::decode_segment_header(bytes, s.header)) {
            case detail::segment_header_status::ok:
                if (s.header.segment_id != s.id)
                    throw failure(s.path.string() + ": damaged segment header (it names segment " +
                                  std::to_string(s.header.segment_id) + ")" + verify_hint(dir));
                break;
            case detail::segment_header_status::zero:
            case detail::segment_header_status::short_file: {
                const bool zero =
                    std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
                if (zero && i + 1 == ids.size()) {
                    // The header of a fresh segment may still be in the writer's hands: the bytes
                    // after it are all zero too, or the file would not be fresh. Checked by the walk.
                    s.fresh = true;
                    break;
                }
                if (got < detail::segment_header_size && !zero)
                    throw failure(s.path.string() + ": damaged segment header (the file has only " +
                                  std::to_string(got) + " bytes)" + verify_hint(dir));
                throw failure(s.path.string() +
                              ": damaged segment header (all zero, and later segments follow)" +
                              verify_hint(dir));
            }
            case detail::segment_header_status::bad_magic:
                throw failure(s.path.string() +
                              ": not a noriwal segment (no NORIWAL magic at its start); move it out of the "
                              "log directory, or run `wal-inspect verify` if it is a segment whose start "
                              "was overwritten");
            case detail::segment_header_status::bad_crc:
                throw failure(s.path.string() + ": damaged segment header (CRC mismatch)" + verify_hint(dir));
            case detail::segment_header_status::unsupported_version: {
                const auto u16 = [&](std::size_t at) {
                    return std::to_integer<unsigned>(bytes[at]) | std::to_integer<unsigned>(bytes[at + 1])
                                                                      << 8;
                };
                throw failure(s.path.string() + ": written by format version " + std::to_string(u16(8)) +
                              "." + std::to_string(u16(10)) +
                              " (or with another header size); this wal-inspect reads " +
                              std::to_string(NORIWAL_FORMAT_VERSION_MAJOR) + ".x: use a newer one");
            }
        }
        out.push_back(std::move(s));
    }
    if (out.empty()) throw failure(dir.string() + ": every segment file vanished while it was read");
    return out;
}

std::error_code map_segment(file_system& fs, const std::filesystem::path& path,
                            std::shared_ptr<const mapped_region>& out) {
    out.reset();
    std::unique_ptr<file> f;
    std::uint64_t size = 0;
    std::error_code ec = fs.open(path, open_mode::read_only, f);
    if (!ec) ec = f->size(size);
    if (!ec) ec = f->map(size, out);
    return ec;
}

std::vector<detail::recovery_plan> scan_log(
    file_system& fs, const std::filesystem::path& dir, const std::vector<std::uint64_t>& ids,
    std::span<const recovery_mode> modes, progress& prog,
    const std::function<void(std::uint64_t id, std::span<const std::byte> bytes)>& each) {
    std::vector<detail::recovery_scanner> scanners;
    for (const recovery_mode m : modes) scanners.emplace_back(m);
    // A clean close's marker, as an open reads it (doc/format.md).
    if (auto m = detail::read_close_marker(fs, dir))
        for (detail::recovery_scanner& s : scanners) s.set_clean_close(*m);
    std::uint64_t total = 0, done = 0;
    for (const std::uint64_t id : ids) {
        std::error_code ec;
        const auto size = std::filesystem::file_size(dir / detail::segment_file_name(id), ec);
        if (!ec) total += size;
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const auto path = dir / detail::segment_file_name(ids[i]);
        std::shared_ptr<const mapped_region> map;
        if (auto ec = map_segment(fs, path, map)) {
            if (ec == std::errc::no_such_file_or_directory) continue;
            throw failure(path.string() + ": cannot read: " + ec.message());
        }
        prog.update(done, total, "segment " + std::to_string(i + 1) + "/" + std::to_string(ids.size()));
        for (detail::recovery_scanner& s : scanners) {
            std::string why;
            if (auto ec = s.add_segment(ids[i], map->bytes(), why)) {
                if (ec == errc::not_a_log)
                    throw failure(
                        path.string() +
                        ": not a noriwal segment (no magic, no record); move it out of the log directory");
                throw failure(dir.string() + ": " + why);
            }
        }
        if (each) each(ids[i], map->bytes());
        done += map->size();
    }
    prog.clear();
    std::vector<detail::recovery_plan> plans;
    for (detail::recovery_scanner& s : scanners) plans.push_back(s.finish());
    return plans;
}

}  // namespace noriwal::inspect
