// A reader: one cursor over a wal source or a directory source. See reader_core.hpp; the rules
// readers promise are in include/noriwal/reader.hpp and doc/readers.md.
#include "read/reader_core.hpp"

#include <noriwal/error.hpp>
#include <noriwal/file_system.hpp>

#include <chrono>

namespace noriwal::detail {
namespace {

std::uint64_t system_now_ns() noexcept {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

bool is_expired(const record_view& rv, std::uint64_t now_ns) noexcept {
    return rv.expiry_ns != 0 && rv.expiry_ns <= now_ns;
}

}  // namespace

reader_core::reader_core(reader_options opts, boost::asio::any_io_executor ex, any_source source)
    : opts_(std::move(opts)), ex_(std::move(ex)), source_(std::move(source)) {}

reader_core::reader_core(std::shared_ptr<segment_registry> registry, reader_options opts,
                         boost::asio::any_io_executor ex)
    : reader_core(opts, std::move(ex), wal_source(std::move(registry), opts)) {
    (void)seek_start();  // lazy: cannot fail
}

std::error_code reader_core::open_directory(const std::filesystem::path& dir, reader_options opts,
                                            boost::asio::any_io_executor ex,
                                            std::shared_ptr<reader_core>& out) {
    out.reset();
    std::shared_ptr<file_system> fs = opts.fs ? opts.fs : posix_file_system();
    bool is_dir = false;
    if (auto ec = fs->is_directory(dir, is_dir); ec || !is_dir)
        return ec ? ec : make_error_code(errc::not_found);
    directory_source source(std::move(fs), dir, opts);
    std::shared_ptr<reader_core> core(new reader_core(std::move(opts), std::move(ex), std::move(source)));
    if (auto ec = core->seek_start()) return ec;
    out = std::move(core);
    return {};
}

std::error_code reader_core::seek_start() {
    return std::visit([&](auto& source) { return source.seek_edge(cur_, false); }, source_);
}

std::error_code reader_core::seek_end() {
    return std::visit([&](auto& source) { return source.seek_edge(cur_, true); }, source_);
}

std::error_code reader_core::seek(lsn_t lsn) {
    if (lsn == 0) return errc::invalid_argument;
    return std::visit([&](auto& source) { return source.seek(cur_, lsn); }, source_);
}

std::error_code reader_core::seek(const position& p) {
    if (p.lsn == 0) return seek_start();
    return std::visit([&](auto& source) { return source.seek(cur_, p); }, source_);
}

std::optional<entry> reader_core::try_next(std::error_code& ec) {
    return std::visit([&](auto& source) { return read_next(source, ec); }, source_);
}

template <class Source>
std::optional<entry> reader_core::read_next(Source& source, std::error_code& ec) {
    // One object, returned on every path: the entry is built where the caller receives it
    // (moving an entry that was just written field by field waits for those stores).
    std::optional<entry> e = read_once(source, ec);
    // Damage must come from one consistent view of the log: a truncate_after during the call
    // may have left the watermark read before it covering records that the segments found
    // after it no longer have. The next attempt starts from a new view; each one takes in at
    // least one more truncation.
    while (!e && ec == errc::corrupted && source.view_changed()) e = read_once(source, ec);
    return e;
}

template <class Source>
std::optional<entry> reader_core::read_once(Source& source, std::error_code& ec) {
    const std::uint64_t now = opts_.skip_expired ? system_now_ns() : 0;
    if ((ec = source.begin_read(cur_))) return std::nullopt;
    // Each pass either returns or moves the cursor; the bound only guards against a source
    // that contradicts the bytes forever.
    for (int pass = 0; pass < 1'000'000; ++pass) {
        if (cur_.sticky) {
            ec = cur_.sticky;
            return std::nullopt;
        }
        switch (source.find_record(cur_, ec)) {
            case read_step::again:
                continue;
            case read_step::stop:
                return std::nullopt;
            case read_step::ready:
                break;
        }
        record_view rv;
        const decode_status st = cur_.decode(source.decode_limit(), rv);
        if (st == decode_status::ok && rv.lsn == cur_.expected) {
            const std::uint64_t at = cur_.offset;
            cur_.pass(rv);
            if (opts_.skip_expired && is_expired(rv, now)) continue;
            return make_entry(rv, cur_.seg.map, cur_.seg.id, at, buf_, ec);
        }
        if (source.on_mismatch(cur_, st, rv, ec) == read_step::stop) return std::nullopt;
    }
    ec = errc::corrupted;
    return std::nullopt;
}

std::optional<entry> reader_core::next(std::error_code& ec) {
    for (;;) {
        auto e = try_next(ec);
        if (e || ec != errc::end_of_log) return e;
        std::visit([](auto& source) { source.wait_for_change(); }, source_);
    }
}

std::optional<entry> reader_core::read_at(const position& p, std::error_code& ec) {
    return std::visit(
        [&](auto& source) -> std::optional<entry> {
            std::shared_ptr<const segment_map> m;
            std::uint64_t end = 0;
            if ((ec = source.map_for_read_at(p, m, end))) return std::nullopt;
            record_view rv;
            if (!decode_at(m->bytes().first(end), p.segment_id, source.decode_limit(), p.offset, p.lsn, rv)) {
                ec = errc::not_found;
                return std::nullopt;
            }
            return make_entry(rv, m, p.segment_id, p.offset, at_buf_, ec);
        },
        source_);
}

bool reader_core::add_waiter(const std::shared_ptr<tail_waiter>& w) {
    return std::get<wal_source>(source_).add_waiter(cur_, w);
}

bool reader_core::remove_waiter(const tail_waiter* w) {
    return std::get<wal_source>(source_).remove_waiter(w);
}

}  // namespace noriwal::detail
