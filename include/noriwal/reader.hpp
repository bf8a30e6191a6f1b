// noriwal::reader — zero-copy iteration over the records of a log, with tailing.
//
// A reader maps segment files read-only and yields each record as an `entry`: its LSN, its
// position, and its key and value as views into the mapping (no copy; a compressed value is
// decompressed into a buffer that the entry shares). doc/readers.md has the whole story.
//
// Where readers come from:
// - wal::make_reader(options) / wal::read_from(position, options): a reader of a live wal in
//   this process. It sees records up to the wal's written watermark, or, with
//   visibility::durable, up to its durable watermark. Tailing readers are woken by the
//   wal's writer as soon as a group of records is written (or made durable).
// - reader::open_directory(dir, options): a read-only reader of a log directory, typically
//   one that a writer in another process appends to (the inspector). It takes no lock and
//   never writes. Its end is the last record that decodes with the expected LSN; following
//   the log means re-checking at options.poll_interval for new records and segment files.
//
// Guarantees:
// - Never a partially written record: reads stop at the watermark (wal readers), and every
//   record's CRCs are checked before it is returned. LSNs come out increasing and dense,
//   except across ranges that skip_corrupted recovery removed.
// - Pinning: a reader keeps the segment it stands on mapped, and an entry keeps the mapping of
//   its record. delete_segments_before, retention and truncate_after never invalidate that
//   memory (an unlinked or replaced file stays readable through its mapping; a mapped segment
//   is never recycled). A pinned file's space is reclaimed when the last reader or entry
//   lets go of it.
// - Truncation: a reader that already returned a record that truncate_after removed gets
//   errc::truncated from its next read (until it seeks); a reader whose next record is at or
//   below the truncation point continues with the records appended after it.
// - Deletion: a reader whose next record was deleted (delete_segments_before, retention)
//   before it mapped its segment gets errc::not_found (until it seeks).
//
// Thread safety: distinct readers may be used from distinct threads at once (one reader per
// thread, any number of readers). One reader is used by one thread at a time, and while an
// async_next is outstanding only cancel() and the destructor may be called on it. Entries
// are values: copy them, keep them, hand them to other threads.
#pragma once

#include <noriwal/bytes.hpp>
#include <noriwal/error.hpp>
#include <noriwal/position.hpp>
#include <noriwal/record.hpp>

#include <noriwal/detail/default_token.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>

namespace noriwal {

class file_system;
class entry;
template <class Executor>
class basic_reader;

namespace detail {
class reader_core;
struct entry_access;
struct reader_access;
}  // namespace detail

/// Which records a reader of a wal sees.
enum class visibility : std::uint8_t {
    written,  ///< every record written to the OS (what survives a crash of the process)
    durable,  ///< only records covered by a completed fdatasync (what a replica may ship)
};

/// Where a record stands in an atomic batch.
enum class batch_part : std::uint8_t {
    single = 1,  ///< appended on its own
    first = 2,   ///< the first record of a batch
    middle = 3,  ///< inside a batch
    last = 4,    ///< the last record of a batch: the batch is complete
};

/// One record, as a reader returns it. The key and value views stay valid as long as this
/// entry (or a copy of it) lives, whatever happens to the log meanwhile: the entry shares
/// ownership of the mapping (or of the decompressed value) it views. A default-constructed
/// entry is empty (LSN 0, no bytes).
class entry {
public:
    /// An empty entry.
    entry() noexcept = default;

    /// The record's LSN.
    lsn_t lsn() const noexcept { return pos_.lsn; }
    /// Its segment, byte offset and LSN: reader::read_at(pos()) returns it again.
    position pos() const noexcept { return pos_; }
    /// The key, a view valid as long as this entry (or a copy) lives.
    bytes_view key() const noexcept { return key_; }
    /// The value, uncompressed; a view valid as long as this entry (or a copy) lives.
    bytes_view value() const noexcept { return value_; }
    /// True for a tombstone: the delete of key() (record::put_tombstone).
    bool tombstone() const noexcept { return tombstone_; }
    /// When the record expires (from its TTL), if it has one.
    std::optional<std::chrono::sys_time<std::chrono::nanoseconds>> expiry() const noexcept {
        if (expiry_ns_ == 0) return std::nullopt;
        return std::chrono::sys_time<std::chrono::nanoseconds>(
            std::chrono::nanoseconds(static_cast<std::int64_t>(expiry_ns_ > max_ns ? max_ns : expiry_ns_)));
    }
    /// True if the record has an expiry time at or before `now`.
    bool expired(
        std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const noexcept {
        const auto e = expiry();
        return e && *e <= now;
    }
    /// How the value was stored (it is returned uncompressed either way).
    compression stored_compression() const noexcept { return stored_; }
    /// Where the record stands in an atomic batch.
    batch_part batch() const noexcept { return batch_; }

private:
    friend struct detail::entry_access;
    static constexpr std::uint64_t max_ns = 0x7FFFFFFFFFFFFFFFull;

    position pos_{};
    bytes_view key_{};
    bytes_view value_{};
    std::uint64_t expiry_ns_ = 0;
    bool tombstone_ = false;
    compression stored_ = compression::none;
    batch_part batch_ = batch_part::single;
    std::shared_ptr<const void> pin_;  // keeps key_ and value_ alive
};

/// How a reader reads. Given to wal::make_reader, wal::read_from and reader::open_directory.
struct reader_options {
    /// Which watermark bounds a wal reader. Directory readers have no watermark: they read
    /// every record that decodes (see the top of this header).
    visibility visible = visibility::written;
    /// Skip records whose expiry time has passed (checked with the system clock as each
    /// record is read). The skipped records are still counted by the log's LSNs.
    bool skip_expired = false;
    /// Directory readers: how often a reader at the end of the log checks for new records and
    /// segment files while it waits (next, async_next).
    std::chrono::milliseconds poll_interval{20};
    /// Directory readers: the file system (null: POSIX).
    std::shared_ptr<file_system> fs;
    /// Directory readers: records with a body longer than this are taken for damage
    /// (0: the format's limit; a wal reader uses the wal's max_record_size).
    std::uint32_t max_record_size = 0;
};

/// A cursor over the records of a log. Movable, not copyable. Created by wal::make_reader,
/// wal::read_from or reader::open_directory, positioned at the first record of the log.
class reader {
public:
    /// The default executor of async_next's handler (and of a directory reader's poll timer).
    using executor_type = boost::asio::any_io_executor;

    /// The same reader with handlers that default to another executor type (Asio's
    /// convention, used by asio::use_awaitable_t<>::as_default_on): basic_reader<E>.
    template <class Executor>
    struct rebind_executor {
        using other = basic_reader<Executor>;
    };

    /// An empty reader: every operation fails with errc::closed.
    reader() noexcept;
    /// Cancels an outstanding async_next (it completes with operation_aborted).
    ~reader();
    /// Takes `other`'s position and outstanding async_next, if any; `other` becomes empty.
    reader(reader&& other) noexcept;
    /// Cancels this reader's outstanding async_next, then takes `other`'s; `other` becomes empty.
    reader& operator=(reader&& other) noexcept;
    reader(const reader&) = delete;
    reader& operator=(const reader&) = delete;

    // ------------------------------------------------------------------ opening a directory

    /// Opens a read-only reader of the log in `dir`, positioned at its first record. Takes no
    /// lock and never writes: another process may own and append to the log meanwhile.
    /// Handlers of async_next run on `ex` unless they have an executor of their own; the
    /// overloads without `ex` use asio's system executor. Errors: errc::not_found (no such
    /// directory), errc::not_a_log (a file named like a segment that is not one),
    /// errc::unsupported_version, or a system error. Throws std::system_error.
    static reader open_directory(executor_type ex, const std::filesystem::path& dir,
                                 reader_options opts = {});
    static reader open_directory(const std::filesystem::path& dir, reader_options opts = {});
    /// As above, reporting failure through `ec` (the reader is then empty).
    static reader open_directory(const std::filesystem::path& dir, const reader_options& opts,
                                 std::error_code& ec);

    // ------------------------------------------------------------------ positioning
    // Each returns an error and leaves the reader where it was, or positions it so that the
    // next record returned is the one named. Each clears a sticky errc::truncated/not_found.

    /// Before the first record the log holds (after deletions: the oldest retained one).
    std::error_code seek_start();
    /// After the last visible record: the next record returned is the next one appended.
    std::error_code seek_end();
    /// At the record with this LSN. O(log segments) to find its segment, then a short scan
    /// (see doc/readers.md). `lsn` may be the next LSN to be appended (the end). Errors:
    /// errc::not_found (deleted, or in a range skip_corrupted removed: the reader is then
    /// placed at the next record after it and the error says so; use the reader),
    /// errc::invalid_argument (beyond the end).
    std::error_code seek(lsn_t lsn);
    /// At the record at `p` (as returned by an append or entry::pos()), checked: a record
    /// with p's LSN must start at p's segment and offset, else errc::not_found. The end
    /// position (wal::current_position()) is accepted too.
    std::error_code seek(const position& p);
    /// Where the reader stands: the position of the next record it will return (when known
    /// exactly; its lsn is always the next LSN it expects).
    position tell() const noexcept;

    // ------------------------------------------------------------------ reading

    /// The next visible record, without waiting: errc::end_of_log when there is none yet.
    /// Other errors: errc::truncated, errc::not_found (see the top of this header),
    /// errc::corrupted (a record fails its CRC where the log says one is: damage after open),
    /// errc::closed (a wal reader at the end of a closed wal), a system error.
    std::optional<entry> try_next(std::error_code& ec);
    /// As above; returns nullopt at the end of the log and throws std::system_error on any
    /// other error. For loops over what the log holds now: `while (auto e = r.try_next())`.
    std::optional<entry> try_next();

    /// The next record, waiting for one to be appended if the reader is at the end. A wal
    /// reader returns errc::closed when the wal closes while it waits; a directory reader
    /// waits until a record comes (it checks every poll_interval). Never call it from a
    /// handler that runs on the wal's own writer thread.
    std::optional<entry> next(std::error_code& ec);
    /// As above; returns nullopt when the wal is closed (the end of a tailing loop:
    /// `while (auto e = r.next())`) and throws std::system_error on any other error.
    std::optional<entry> next();

    /// Completes with the next record, waiting for one to be appended if the reader is at
    /// the end (tailing).
    ///
    /// Completion signature: `void(boost::system::error_code, entry)`. Errors as next(ec),
    /// plus asio::error::operation_aborted when cancelled; the entry is then empty.
    /// Executor: the handler's associated executor, by default the reader's (a wal reader's
    /// is the wal's executor). Never invoked inside this function; outstanding work is kept
    /// on the executor while waiting.
    /// Lifetime: the reader may be destroyed while the operation is outstanding (it is then
    /// cancelled). One async_next at a time per reader; call nothing else on the reader
    /// until it completes, except cancel().
    /// Cancellation (terminal, partial, total): a waiting operation completes with
    /// operation_aborted; the reader stays where it was.
    /// Durability: a reader with visibility::durable only completes with records that are
    /// fdatasync'd.
    /// Without a token: the executor's default completion token (asio::deferred for
    /// any_io_executor; see wal.hpp).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, entry))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_next(CompletionToken&& token = CompletionToken());

    /// Cancels an outstanding async_next (no effect if there is none).
    void cancel();

    /// The record at `p`, checked: a record with p's LSN must start at p's segment and offset,
    /// and be visible to this reader. Does not move the reader. errc::not_found otherwise.
    std::optional<entry> read_at(const position& p, std::error_code& ec);
    /// As above; throws std::system_error.
    entry read_at(const position& p);

    /// The default executor of async_next's handlers (the system executor for an empty reader).
    executor_type get_executor() const noexcept;
    /// The options the reader was made with (the defaults for an empty reader).
    const reader_options& options() const noexcept;
    /// False for an empty (default-constructed or moved-from) reader.
    bool is_open() const noexcept { return core_ != nullptr; }

private:
    friend struct detail::reader_access;
    template <class Executor>
    friend class basic_reader;
    explicit reader(std::shared_ptr<detail::reader_core> core) noexcept;

    std::shared_ptr<detail::reader_core> core_;
};

/// A reader whose async_next handlers default to `Executor` (and whose completion token
/// defaults to the one Executor names), as basic_wal is a wal. Made from a reader
/// (`basic_reader<E> r2(std::move(r))`, taking it over) or by
/// asio::use_awaitable_t<>::as_default_on(std::move(r)) and its kin; everything but async_next
/// and the executor is inherited from reader.
template <class Executor>
class basic_reader : public reader {
public:
    /// The default executor of async_next's handlers.
    using executor_type = Executor;

    /// The same reader with handlers that default to another executor type.
    template <class OtherExecutor>
    struct rebind_executor {
        using other = basic_reader<OtherExecutor>;
    };

    /// An empty reader (a default-constructed executor).
    basic_reader() = default;
    /// Takes `r` over; handlers default to Executor(r.get_executor()).
    explicit basic_reader(reader&& r) requires std::is_constructible_v<Executor, const reader::executor_type&>
        : reader(std::move(r)), ex_(reader::get_executor()) {}
    /// Takes `other` over; handlers default to Executor(other.get_executor()).
    template <class OtherExecutor>
    requires std::is_constructible_v<Executor, const OtherExecutor&>
    explicit basic_reader(basic_reader<OtherExecutor>&& other)
        : reader(std::move(other)), ex_(other.get_executor()) {}

    /// The default executor of async_next's handlers.
    executor_type get_executor() const noexcept { return ex_; }

    /// reader::async_next.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, entry))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_next(CompletionToken&& token = CompletionToken());

private:
    executor_type ex_{};
};

}  // namespace noriwal

#include <noriwal/impl/reader.hpp>
