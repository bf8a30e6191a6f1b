// The state of one reader: a cursor (cursor.hpp) and the source it reads, either a live wal's
// segment registry (wal_source.hpp) or a log directory read from outside, typically another
// process's log (directory_source.hpp).
//
// try_next is one loop for both: the source puts the cursor on the record expected
// (find_record), the cursor decodes it, and a record with the expected LSN is returned;
// anything else there is for the source to judge (on_mismatch). The seeks and read_at are the
// source's; what they do to the cursor are the cursor's own steps.
#pragma once

#include <noriwal/reader.hpp>

#include "read/cursor.hpp"
#include "read/directory_source.hpp"
#include "read/segment_registry.hpp"
#include "read/wal_source.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <concepts>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <variant>

namespace noriwal::detail {

class next_op;

/// What reader_core asks of a source (wal_source, directory_source).
template <class S>
concept record_source = requires(S& s, cursor_state& cur, std::error_code& ec, const record_view& rv,
                                 const position& p, std::shared_ptr<const segment_map>& m,
                                 std::uint64_t& end) {
    { s.decode_limit() } -> std::same_as<std::uint32_t>;
    { s.begin_read(cur) } -> std::same_as<std::error_code>;
    { s.find_record(cur, ec) } -> std::same_as<read_step>;
    { s.on_mismatch(cur, decode_status::ok, rv, ec) } -> std::same_as<read_step>;
    { s.view_changed() } -> std::same_as<bool>;
    { s.seek_edge(cur, true) } -> std::same_as<std::error_code>;
    { s.seek(cur, lsn_t{1}) } -> std::same_as<std::error_code>;
    { s.seek(cur, p) } -> std::same_as<std::error_code>;
    { s.map_for_read_at(p, m, end) } -> std::same_as<std::error_code>;
    s.wait_for_change();
};
static_assert(record_source<wal_source> && record_source<directory_source>);

class reader_core {
public:
    /// A reader of a wal, positioned at the log's first record.
    reader_core(std::shared_ptr<segment_registry> registry, reader_options opts,
                boost::asio::any_io_executor ex);
    /// A reader of a log directory, positioned at its first record.
    static std::error_code open_directory(const std::filesystem::path& dir, reader_options opts,
                                          boost::asio::any_io_executor ex, std::shared_ptr<reader_core>& out);
    reader_core(const reader_core&) = delete;
    reader_core& operator=(const reader_core&) = delete;

    std::error_code seek_start();
    std::error_code seek_end();
    std::error_code seek(lsn_t lsn);
    std::error_code seek(const position& p);
    position tell() const noexcept { return cur_.tell(); }

    std::optional<entry> try_next(std::error_code& ec);
    std::optional<entry> next(std::error_code& ec);
    std::optional<entry> read_at(const position& p, std::error_code& ec);

    const reader_options& options() const noexcept { return opts_; }
    const boost::asio::any_io_executor& executor() const noexcept { return ex_; }
    /// A directory reader waits on a poll timer; a wal reader in the registry's tail waiters.
    bool is_directory() const noexcept { return std::holds_alternative<directory_source>(source_); }

    // For async_next (reader.cpp).
    /// Registers `w` to be woken when the registry changes after the last try_next that
    /// returned end_of_log; false if it already has (try again now). Wal readers only.
    bool add_waiter(const std::shared_ptr<tail_waiter>& w);
    bool remove_waiter(const tail_waiter* w);
    std::mutex& op_mutex() noexcept { return op_mutex_; }
    std::weak_ptr<next_op> pending;  // the outstanding async_next (under op_mutex_)

private:
    using any_source = std::variant<wal_source, directory_source>;

    reader_core(reader_options opts, boost::asio::any_io_executor ex, any_source source);

    /// try_next, with a source: read_once, again while the damage it finds may come from a
    /// view of the log that changed meanwhile.
    template <class Source>
    std::optional<entry> read_next(Source& source, std::error_code& ec);
    template <class Source>
    std::optional<entry> read_once(Source& source, std::error_code& ec);

    reader_options opts_;
    boost::asio::any_io_executor ex_;
    any_source source_;
    cursor_state cur_;

    std::shared_ptr<value_buffer> buf_;     // decompressed values of try_next
    std::shared_ptr<value_buffer> at_buf_;  // ... of read_at

    std::mutex op_mutex_;
};

}  // namespace noriwal::detail
