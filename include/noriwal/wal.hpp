// noriwal::wal — the write-ahead log, asynchronous on Boost.Asio.
//
// Every asynchronous function takes any completion token: a callback, asio::use_future,
// asio::use_awaitable (co_await), asio::deferred, asio::as_tuple(...), or your own. Without
// one it uses the default completion token of the handle's executor type, as Asio's I/O
// objects do: the executor's default_completion_token_type when it names one (a wal adapted
// with asio::use_awaitable_t<>::as_default_on(log) or asio::as_tuple_t<...>::as_default_on),
// else asio::deferred, so that `co_await log.async_append(r)` works in any coroutine and
// `log.async_append(r)(handler)` launches it. basic_wal<Executor> is a wal whose handlers
// default to another executor type (rebind_executor gives one). The rules they share, stated
// once here and repeated briefly on each function:
//
// - The handler is never invoked from inside the initiating function. It runs on its
//   associated executor (asio::get_associated_executor), which defaults to the wal's
//   executor: the one given to open, or, if none was, the wal's own writer thread. The wal
//   keeps outstanding work on that executor until the handler has run, so an io_context's
//   run() does not return while an operation of the wal is pending.
// - Order: the handlers of appends that succeed and wait for the same event (the write to
//   the OS, or an fdatasync) are handed to their executors in LSN order. Handlers that share
//   an executor running functions in the order they are submitted (an io_context run by one
//   thread, a strand) therefore run in LSN order, among appends that wait for the same
//   event: under fsync_policy::always every append waits for an fdatasync; under batch and os
//   an append waits for its write, except one with durability::always(), which waits for an
//   fdatasync and so may complete after appends with higher LSNs. Handlers on other
//   executors, or on a pool of threads, run in no particular order; an append that fails
//   before it gets an LSN (record_too_large, closed, cancelled) completes in no particular
//   order.
// - Thread safety: a wal is a handle; copies share one log. Every member function may be
//   called from any thread, concurrently. Operations are processed in the order their
//   initiating functions returned (for lazy tokens: the order they were launched).
// - Lifetimes: a record only views its bytes. They are encoded (copied, checksummed,
//   compressed) inside the initiation, so they must stay valid until the operation is
//   initiated: for eager tokens (callbacks, use_future) until async_append returns; for lazy
//   tokens (deferred, use_awaitable) until the returned operation is launched or co_awaited.
// - Blocking functions wait for the same operations; never call them from a handler that runs
//   on the wal's own threads (a handler without an executor of its own, on a wal opened
//   without one), which would wait for itself.
//
// Error codes: completion handlers receive a boost::system::error_code, the error type Asio's
// tokens understand (use_future and use_awaitable throw it, as_tuple returns it,
// operation_aborted compares equal to it). It holds the same values as std::error_code:
// compare it with noriwal::errc (`ec == noriwal::errc::closed`) and convert it to a
// std::error_code implicitly. Blocking functions throw std::system_error.
//
// Durability (doc/durability.md has the full contract): under fsync_policy::always an append
// completes after an fdatasync covering it; under batch(w) and os it completes once the
// record was handed to the OS (it survives a crash of the process), and batch syncs it within
// w. durability::always() forces an fdatasync before that append completes, whatever the
// policy.
#pragma once

#include <noriwal/config.hpp>
#include <noriwal/detail/default_token.hpp>
#include <noriwal/error.hpp>
#include <noriwal/position.hpp>
#include <noriwal/reader.hpp>
#include <noriwal/record.hpp>
#include <noriwal/recovery_info.hpp>
#include <noriwal/stats.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <vector>

namespace noriwal {

class wal;
template <class Executor>
class basic_wal;

namespace detail {
class wal_core;
}  // namespace detail

/// The write-ahead log. A copyable handle: copies share one open log, which is closed when
/// the last handle and the last pending operation are gone (see ~wal). A default-constructed
/// wal is empty: every operation on it completes with errc::closed.
class wal {
public:
    /// The default executor of completion handlers.
    using executor_type = boost::asio::any_io_executor;

    /// The same log with handlers that default to another executor type (Asio's convention,
    /// used by asio::use_awaitable_t<>::as_default_on): `rebind_executor<E>::other` is
    /// basic_wal<E>, constructible from a wal.
    template <class Executor>
    struct rebind_executor {
        using other = basic_wal<Executor>;
    };

    /// What open returns: the log and what recovery found.
    struct opened;

    /// An empty wal: is_open() is false and every operation completes with errc::closed.
    wal() noexcept = default;
    /// Another handle to the same log.
    wal(const wal&) = default;
    /// Takes the handle; `other` becomes empty.
    wal(wal&&) noexcept = default;
    /// This handle now shares `other`'s log (dropping its own, as ~wal does).
    wal& operator=(const wal&) = default;
    /// Takes the handle (dropping its own, as ~wal does); `other` becomes empty.
    wal& operator=(wal&&) noexcept = default;
    /// Dropping the last handle closes the log as async_close would: operations initiated
    /// before complete normally (queued appends are written and synced), later ones cannot
    /// exist. The destructor of the last handle waits at most 10 seconds for that and for
    /// the wal's threads to end; if the disk hangs longer, the threads are left to finish on
    /// their own. An operation not yet launched (a lazy token) holds a handle.
    ~wal() = default;

    // ------------------------------------------------------------------ opening

    /// Opens (creating if needed) the log in cfg.dir and recovers it.
    ///
    /// Completion signature: `void(boost::system::error_code, wal, recovery_info)`: the same
    /// pair that open returns as `opened{log, recovery}` (a coroutine's
    /// `co_await wal::async_open(ex, cfg)` gives a std::tuple<wal, recovery_info>, which
    /// converts to wal::opened).
    /// Recovery runs on the new wal's spare thread (one of its own), never on `ex` nor on the
    /// io_executor. Errors:
    /// errc::invalid_config (validate(cfg) names the field), errc::locked (another wal owns
    /// the directory), errc::corrupted (damage the recovery mode does not repair),
    /// errc::unsupported_version, or a system error; the wal is then empty, and the
    /// recovery_info's `error_message` holds the one line the blocking open would throw (the
    /// file, the offset, the damage, and the recovery mode or fix to use).
    /// Executor: the handler's associated executor, by default `ex`, which also becomes the
    /// default executor of the wal's handlers.
    /// Lifetime: `cfg` is taken by value; nothing given needs to outlive the call.
    /// Thread safety: may be called from any thread.
    /// Cancellation: not supported (the open always runs to its end).
    /// Durability: what recovery cut off is removed from the disk, durably, before the
    /// handler runs (read-write open); the log then holds a contiguous prefix of LSNs.
    /// doc/durability.md says which records a crash or power loss can have taken.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, wal, recovery_info))
                  CompletionToken = detail::default_token_t<executor_type>>
    static auto async_open(executor_type ex, wal_config cfg, CompletionToken&& token = CompletionToken());

    /// Blocking open on the calling thread. Handlers of the wal's operations then run on `ex`
    /// unless they have an executor of their own. Throws std::system_error whose what() has
    /// one line saying what was wrong (for errc::invalid_config: validate(cfg)'s line).
    static opened open(executor_type ex, wal_config cfg);
    /// Blocking open; handlers without an executor of their own run on the wal's writer
    /// thread (they must not block). Throws std::system_error as above.
    static opened open(wal_config cfg);
    /// Blocking open reporting failure through `ec` (and `why`, if given: one line naming the
    /// file, field or offset) instead of throwing. Returns an empty wal on failure.
    static opened open(wal_config cfg, std::error_code& ec, std::string* why = nullptr);

    // ------------------------------------------------------------------ appending

    /// Appends one record.
    ///
    /// Completion signature: `void(boost::system::error_code, position)`: where the record was written
    /// (its LSN counts from 1 and is dense).
    /// Durability on success: the fsync_policy's (always: the record and every lower LSN are
    /// fdatasync'd; batch/os: handed to the OS). Errors: errc::record_too_large (nothing
    /// written), errc::io_failed or errc::no_space (the write or fsync failed; the log is now
    /// poisoned), errc::poisoned (an earlier failure), errc::closed (async_close was called
    /// before), asio::error::operation_aborted (cancelled).
    /// Executor: the handler's associated executor, by default the wal's.
    /// Lifetime: the record's bytes until initiation (see the top of this header).
    /// Cancellation (terminal, partial, total): an append still queued when cancelled
    /// completes with operation_aborted and writes nothing (it gets no LSN). Once its group is
    /// being written, cancelling has no effect: it completes as if not cancelled.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, position))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_append(const record& r, CompletionToken&& token = CompletionToken());

    /// Appends one record; durability::always() makes it complete only after an fdatasync that
    /// covers it, whatever the policy. Otherwise as async_append(r, token).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, position))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_append(const record& r, durability d, CompletionToken&& token = CompletionToken());

    /// Appends records atomically: after a crash recovery returns all of them or none. They
    /// get consecutive LSNs and are written into one segment.
    ///
    /// Completion signature: `void(boost::system::error_code, std::vector<position>)`: one position per
    /// record, in order (empty on error). Errors as async_append, plus errc::invalid_argument
    /// for an empty batch and errc::record_too_large if the batch does not fit in a segment.
    /// Durability, executor, lifetime (of the span and the bytes it views) and cancellation as
    /// async_append.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, std::vector<position>))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_append_batch(std::span<const record> records, CompletionToken&& token = CompletionToken());

    /// async_append_batch with a durability override.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, std::vector<position>))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_append_batch(std::span<const record> records, durability d,
                            CompletionToken&& token = CompletionToken());

    // ------------------------------------------------------------------ durability

    /// Completes when every append initiated before it has been written to the OS (its
    /// records survive a crash of the process; not necessarily a power loss).
    ///
    /// Completion signature: `void(boost::system::error_code)`. Errors: errc::poisoned, errc::closed.
    /// Executor: the handler's associated executor, by default the wal's.
    /// Cancellation: not supported (it completes as soon as the appends before it are written).
    /// Durability: none beyond the policy's; use async_sync for power-loss durability.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_flush(CompletionToken&& token = CompletionToken());

    /// Completes when every append initiated before it is durable (fdatasync'd), whatever the
    /// policy. Shares the fdatasync with concurrent appends and syncs (group commit).
    ///
    /// Completion signature: `void(boost::system::error_code)`. Errors: errc::io_failed /
    /// errc::no_space (this fdatasync failed; the log is poisoned), errc::poisoned,
    /// errc::closed. A failed fdatasync is never followed by a successful sync.
    /// errc::truncated when a concurrent truncate_after overtakes it (up to its LSN is then durable).
    /// Executor: the handler's associated executor, by default the wal's.
    /// Cancellation: not supported.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_sync(CompletionToken&& token = CompletionToken());

    /// Closes the log: appends initiated before it are written and synced, then the files
    /// and the directory lock are released. Every operation initiated afterwards completes
    /// with errc::closed. Closing a closed wal completes without error.
    ///
    /// Completion signature: `void(boost::system::error_code)`: an error if the final sync failed (the
    /// appends it covered completed with that error too). Executor: the handler's associated
    /// executor, by default the wal's. Cancellation: not supported.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_close(CompletionToken&& token = CompletionToken());

    // ------------------------------------------------------------------ management

    /// Deletes every sealed segment all of whose records have an LSN below p.lsn (never the
    /// active segment), oldest first; the deletion is made durable (directory fsync) before
    /// it completes. Runs on the writer strand, in order with appends. Only p.lsn is used
    /// (`position{.lsn = n}` will do). Readers that have a deleted segment mapped keep
    /// reading it; a reader that had not reached it gets errc::not_found.
    ///
    /// Completion signature: `void(boost::system::error_code, std::uint64_t deleted)`: how
    /// many segments were deleted (or recycled). Errors: errc::closed, errc::read_only,
    /// errc::poisoned, errc::io_failed (a removal or the directory fsync failed; the log is
    /// now poisoned).
    /// Executor: the handler's associated executor, by default the wal's.
    /// Cancellation: not supported.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, std::uint64_t))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_delete_segments_before(position p, CompletionToken&& token = CompletionToken());

    /// Removes every record with an LSN above `lsn`, crash-safely; afterwards everything up
    /// to `lsn` is durable and the next append gets lsn + 1. Waits for an fdatasync in flight
    /// to return first. Appends initiated before it that wait for durability and lie above
    /// `lsn` complete with errc::truncated.
    ///
    /// `lsn` at or above the last written LSN changes nothing. An `lsn` inside an atomic
    /// batch (any record of it but the last) is refused with errc::invalid_argument and
    /// changes nothing: a batch is kept whole or removed whole. Readers that already returned
    /// a removed record get errc::truncated from their next read.
    ///
    /// Completion signature: `void(boost::system::error_code)`. Errors: errc::closed,
    /// errc::read_only, errc::poisoned, errc::io_failed / errc::no_space (the log is now
    /// poisoned; reopening recovers either the old log or the truncated one).
    /// Executor: the handler's associated executor, by default the wal's. Cancellation: not
    /// supported. Durability: when it completes, the removal and every record up to `lsn`
    /// are durable.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_truncate_after(lsn_t lsn, CompletionToken&& token = CompletionToken());

    /// Replaces the whole log by an empty one whose next append gets `next_lsn`, crash-safely:
    /// what a raft log needs when an installed snapshot replaces every entry. `next_lsn` may be
    /// below, inside or above the LSNs held. Afterwards first_lsn() and current_position().lsn
    /// are `next_lsn`, and a reopen finds the empty log starting there. Waits for an fdatasync
    /// in flight to return first. Appends initiated before it that wait for durability
    /// complete with errc::truncated; readers that returned a record get errc::truncated.
    ///
    /// Completion signature: `void(boost::system::error_code)`. Errors: errc::invalid_argument
    /// (`next_lsn` is 0 or not below 2^63; nothing changed), errc::closed, errc::read_only,
    /// errc::poisoned, errc::io_failed / errc::no_space (the log is now poisoned; reopening
    /// recovers a prefix of the old log, or the empty new one).
    /// Executor: the handler's associated executor, by default the wal's. Cancellation: not
    /// supported. Durability: when it completes, the empty log and its next LSN are durable.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_reset_to(lsn_t next_lsn, CompletionToken&& token = CompletionToken());

    // ------------------------------------------------------------------ blocking conveniences
    // Each waits for the asynchronous operation of the same name and throws std::system_error
    // on error. Same rules; never call them from a handler running on the wal's threads.

    /// async_append: returns the record's position once the policy (or `d`) is satisfied.
    position append(const record& r, durability d = durability::as_configured());
    /// async_append_batch: returns the records' positions (atomic: all or none after a crash).
    std::vector<position> append_batch(std::span<const record> records,
                                       durability d = durability::as_configured());
    /// async_flush: returns when every append initiated before it is written to the OS.
    void flush();
    /// async_sync: returns when every append initiated before it is fdatasync'd.
    void sync();
    /// Does not throw for an empty wal; otherwise throws as async_close reports.
    void close();
    /// async_delete_segments_before: returns how many segments were deleted, durably.
    std::uint64_t delete_segments_before(position p);
    /// async_truncate_after: returns when every record above `lsn` is gone, durably.
    void truncate_after(lsn_t lsn);
    /// async_reset_to: returns when the log is empty and its next LSN is `next_lsn`, durably.
    void reset_to(lsn_t next_lsn);

    // ------------------------------------------------------------------ reading (any thread)
    // Readers and the key index; doc/readers.md has the whole story.

    /// A reader of this log, positioned at its first record. It reads up to the written
    /// watermark, or the durable one with opts.visible = visibility::durable; async_next's
    /// handlers run on this wal's executor unless they have their own. The reader stays
    /// usable after the wal is closed (up to the end, then errc::closed). Throws
    /// std::system_error (errc::closed) for an empty wal.
    reader make_reader(reader_options opts = {}) const;
    /// A reader positioned at `p` (as reader::seek(p): a record with p's LSN must start there,
    /// or p is the end). Throws std::system_error (errc::not_found, errc::closed).
    reader read_from(const position& p, reader_options opts = {}) const;

    /// With wal_config::index_keys: every key whose newest record is not a tombstone, in no
    /// particular order. Throws std::system_error (errc::invalid_argument) without the index.
    std::vector<std::string> keys() const;
    /// With wal_config::index_keys: where the records of `key` are, oldest first (tombstones
    /// included). Read them with a reader's read_at.
    std::vector<position> records_for(bytes_view key) const;
    /// With wal_config::index_keys: the newest record of `key`, unless it is a tombstone.
    std::optional<position> latest(bytes_view key) const;

    // ------------------------------------------------------------------ observation (any thread)

    /// The end of the log: where the next record goes if it fits in the active segment (its
    /// lsn is the next LSN). Every record before it was written to the OS.
    position current_position() const;
    /// The end of the durable prefix: every record before it (lsn < durable_position().lsn)
    /// is known to be fdatasync'd. Its segment and offset are 0 when not known exactly (after
    /// an open that found unsynced records).
    position durable_position() const;
    /// The last LSN written to the OS (0: none). An atomic read.
    lsn_t written_lsn() const noexcept;
    /// The last LSN known to be durable (0: none). An atomic read; it only grows, except that
    /// truncate_after lowers it to its argument.
    lsn_t durable_lsn() const noexcept;
    /// The LSN of the oldest record the log holds (what delete_segments_before, retention,
    /// truncate_after or reset_to left), or, when it holds none, the LSN the next append gets;
    /// 0 for an empty wal. An atomic read, updated when those operations complete.
    lsn_t first_lsn() const noexcept;
    /// The configuration the wal was opened with (with its file_system filled in); the
    /// defaults for an empty wal.
    const wal_config& config() const noexcept;
    /// Counters and histograms since open.
    wal_stats stats() const;
    /// The default executor of completion handlers; an empty executor for an empty wal.
    executor_type get_executor() const noexcept;
    /// True for a handle to a log that async_close was not called on.
    bool is_open() const noexcept;
    /// The error that poisoned the log (the underlying system error, e.g. EIO), or none.
    std::error_code failure() const;

    /// True for handles to the same open log (or two empty handles).
    friend bool operator==(const wal& a, const wal& b) noexcept { return a.core_ == b.core_; }

private:
    friend class detail::wal_core;
    template <class Executor>
    friend class basic_wal;
    explicit wal(std::shared_ptr<detail::wal_core> core) noexcept : core_(std::move(core)) {}
    static opened open_on(executor_type ex, wal_config cfg, std::error_code& ec, std::string* why);

    std::shared_ptr<detail::wal_core> core_;
};

/// The result of an open: the log and what recovery found. async_open completes with the same
/// two values, `(wal, recovery_info)`; both destructure alike (`auto [log, recovery] = ...`),
/// and the tuple a coroutine gets from async_open converts to an opened.
struct wal::opened {
    /// The open log (empty when open reported an error through `ec`).
    wal log;
    /// What recovery found and cut.
    recovery_info recovery;

    opened() = default;
    opened(wal l, recovery_info r) : log(std::move(l)), recovery(std::move(r)) {}
    /// What `co_await wal::async_open(ex, cfg)` gives.
    opened(std::tuple<wal, recovery_info> t)
        : log(std::move(std::get<0>(t))), recovery(std::move(std::get<1>(t))) {}
};

/// A wal whose handlers default to `Executor` (and whose completion token defaults to the
/// one Executor names), as Asio's basic_socket<Protocol, Executor> is a socket on Executor.
/// It is made from a wal (`basic_wal<E> log2(log)`, sharing its log) or by
/// asio::use_awaitable_t<>::as_default_on(log) and its kin, and converts back to a wal (the
/// same log, with the wal's own default executor). Everything but the executor is as wal:
/// the asynchronous functions below are wal's, with the handler's default executor and the
/// default token taken from Executor; the rest is inherited.
template <class Executor>
class basic_wal : public wal {
public:
    /// The default executor of completion handlers.
    using executor_type = Executor;

    /// The same log with handlers that default to another executor type.
    template <class OtherExecutor>
    struct rebind_executor {
        using other = basic_wal<OtherExecutor>;
    };

    /// An empty wal (a default-constructed executor).
    basic_wal() = default;
    /// Another handle to `log`'s log; handlers default to Executor(log.get_executor()).
    explicit basic_wal(wal log) requires std::is_constructible_v<Executor, const wal::executor_type&>
        : wal(std::move(log)), ex_(wal::get_executor()) {}
    /// Another handle to `other`'s log; handlers default to Executor(other.get_executor()).
    template <class OtherExecutor>
    requires std::is_constructible_v<Executor, const OtherExecutor&>
    explicit basic_wal(const basic_wal<OtherExecutor>& other) : wal(other), ex_(other.get_executor()) {}

    /// The default executor of completion handlers.
    executor_type get_executor() const noexcept { return ex_; }

    /// wal::async_append.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, position))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_append(const record& r, CompletionToken&& token = CompletionToken());
    /// wal::async_append with a durability override.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, position))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_append(const record& r, durability d, CompletionToken&& token = CompletionToken());
    /// wal::async_append_batch.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, std::vector<position>))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_append_batch(std::span<const record> records, CompletionToken&& token = CompletionToken());
    /// wal::async_append_batch with a durability override.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, std::vector<position>))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_append_batch(std::span<const record> records, durability d,
                            CompletionToken&& token = CompletionToken());
    /// wal::async_flush.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_flush(CompletionToken&& token = CompletionToken());
    /// wal::async_sync.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_sync(CompletionToken&& token = CompletionToken());
    /// wal::async_close.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_close(CompletionToken&& token = CompletionToken());
    /// wal::async_delete_segments_before.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, std::uint64_t))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_delete_segments_before(position p, CompletionToken&& token = CompletionToken());
    /// wal::async_truncate_after.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_truncate_after(lsn_t lsn, CompletionToken&& token = CompletionToken());
    /// wal::async_reset_to.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code))
                  CompletionToken = detail::default_token_t<executor_type>>
    auto async_reset_to(lsn_t next_lsn, CompletionToken&& token = CompletionToken());

private:
    executor_type ex_{};
};

}  // namespace noriwal

#include <noriwal/impl/wal.hpp>
