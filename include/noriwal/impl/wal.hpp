// Template bodies of noriwal/wal.hpp (wal and basic_wal). Each asynchronous function only type-erases its
// handler (boost::asio::any_completion_handler) and hands it to the compiled core, so that encoding, queueing
// and completion are compiled once in the library, not in every user's file.
#pragma once

#include <noriwal/detail/erased_executor.hpp>
#include <noriwal/detail/wal_ops.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/execution/blocking.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/execution/relationship.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/system_executor.hpp>

#include <new>
#include <type_traits>
#include <utility>

namespace noriwal {
namespace detail {

/// The executor of the blocking conveniences' own handlers (lib/wal/wal.cpp), which only
/// raise a flag for the thread that waits: they run where the operation completes.
using waiter_executor = decltype(boost::asio::prefer(boost::asio::system_executor(),
                                                     boost::asio::execution::relationship.continuation));

/// `ex`, tracking outstanding work until the handler has run, type-erased. `never_inline`:
/// the handler is never run inside the call that hands it over (blocking.never), which the
/// wal needs when it writes appends speculatively on their callers' threads (those may be
/// running the handler's executor). The blocking conveniences' own handlers run where the
/// operation completes.
template <class Executor>
boost::asio::any_completion_executor tracked_work(const Executor& ex, bool never_inline = false) {
    return erase_unwrapped(ex, [never_inline](const auto& e) {
        namespace execution = boost::asio::execution;
        if constexpr (!std::is_same_v<std::decay_t<decltype(e)>, waiter_executor>) {
            if (never_inline)
                return boost::asio::any_completion_executor(
                    std::nothrow,
                    boost::asio::prefer(e, execution::outstanding_work.tracked, execution::blocking.never));
        }
        return boost::asio::any_completion_executor(
            std::nothrow, boost::asio::prefer(e, execution::outstanding_work.tracked));
    });
}

/// The handler's associated executor (by default the wal's), tracked. Empty for an empty wal,
/// whose operations complete through the system executor.
template <class Handler>
boost::asio::any_completion_executor handler_work(const Handler& h, const std::shared_ptr<wal_core>& core) {
    if (!core) return {};
    return tracked_work(boost::asio::get_associated_executor(h, default_executor_of(core)),
                        writes_speculatively(core));
}

// The initiation objects hold a handle, so that an operation not yet launched (asio::deferred)
// keeps the log open.

struct initiate_open {
    template <class Handler>
    void operator()(Handler&& h, boost::asio::any_io_executor ex, wal_config cfg) const {
        start_open(std::move(ex), std::move(cfg), open_handler(std::forward<Handler>(h)));
    }
};

struct initiate_append {
    std::shared_ptr<wal_core> core;
    template <class Handler>
    void operator()(Handler&& h, const record& r, durability d) const {
        auto work = handler_work(h, core);
        start_append(core, r, d, append_handler(std::forward<Handler>(h)), std::move(work));
    }
};

struct initiate_append_batch {
    std::shared_ptr<wal_core> core;
    template <class Handler>
    void operator()(Handler&& h, std::span<const record> records, durability d) const {
        auto work = handler_work(h, core);
        start_append_batch(core, records, d, batch_handler(std::forward<Handler>(h)), std::move(work));
    }
};

// flush, sync and close share a signature and differ by the function that starts them.
template <void (*Start)(const std::shared_ptr<wal_core>&, done_handler)>
struct initiate_done {
    std::shared_ptr<wal_core> core;
    template <class Handler>
    void operator()(Handler&& h) const {
        Start(core, done_handler(std::forward<Handler>(h)));
    }
};

struct initiate_delete_segments_before {
    std::shared_ptr<wal_core> core;
    template <class Handler>
    void operator()(Handler&& h, position p) const {
        start_delete_segments_before(core, p, count_handler(std::forward<Handler>(h)));
    }
};

struct initiate_truncate_after {
    std::shared_ptr<wal_core> core;
    template <class Handler>
    void operator()(Handler&& h, lsn_t lsn) const {
        start_truncate_after(core, lsn, done_handler(std::forward<Handler>(h)));
    }
};

struct initiate_reset_to {
    std::shared_ptr<wal_core> core;
    template <class Handler>
    void operator()(Handler&& h, lsn_t next_lsn) const {
        start_reset_to(core, next_lsn, done_handler(std::forward<Handler>(h)));
    }
};

}  // namespace detail

template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, wal, recovery_info))
              CompletionToken>
auto wal::async_open(executor_type ex, wal_config cfg, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, wal, recovery_info)>(
        detail::initiate_open{}, token, std::move(ex), std::move(cfg));
}

template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, position)) CompletionToken>
auto wal::async_append(const record& r, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, position)>(
        detail::initiate_append{core_}, token, r, durability::as_configured());
}

template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, position)) CompletionToken>
auto wal::async_append(const record& r, durability d, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, position)>(
        detail::initiate_append{core_}, token, r, d);
}

template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, std::vector<position>))
              CompletionToken>
auto wal::async_append_batch(std::span<const record> records, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken,
                                       void(boost::system::error_code, std::vector<position>)>(
        detail::initiate_append_batch{core_}, token, records, durability::as_configured());
}

template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, std::vector<position>))
              CompletionToken>
auto wal::async_append_batch(std::span<const record> records, durability d, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken,
                                       void(boost::system::error_code, std::vector<position>)>(
        detail::initiate_append_batch{core_}, token, records, d);
}

template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code)) CompletionToken>
auto wal::async_flush(CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        detail::initiate_done<&detail::start_flush>{core_}, token);
}

template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code)) CompletionToken>
auto wal::async_sync(CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        detail::initiate_done<&detail::start_sync>{core_}, token);
}

template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code)) CompletionToken>
auto wal::async_close(CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        detail::initiate_done<&detail::start_close>{core_}, token);
}

template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, std::uint64_t)) CompletionToken>
auto wal::async_delete_segments_before(position p, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::uint64_t)>(
        detail::initiate_delete_segments_before{core_}, token, p);
}

template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code)) CompletionToken>
auto wal::async_truncate_after(lsn_t lsn, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        detail::initiate_truncate_after{core_}, token, lsn);
}

template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code)) CompletionToken>
auto wal::async_reset_to(lsn_t next_lsn, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        detail::initiate_reset_to{core_}, token, next_lsn);
}

// ------------------------------------------------------------------ basic_wal
// The same initiations, with a handler that has no executor of its own bound to Executor.

template <class Executor>
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, position)) CompletionToken>
auto basic_wal<Executor>::async_append(const record& r, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, position)>(
        detail::initiate_on<Executor, detail::initiate_append>{ex_, {core_}}, token, r,
        durability::as_configured());
}

template <class Executor>
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, position)) CompletionToken>
auto basic_wal<Executor>::async_append(const record& r, durability d, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, position)>(
        detail::initiate_on<Executor, detail::initiate_append>{ex_, {core_}}, token, r, d);
}

template <class Executor>
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, std::vector<position>))
              CompletionToken>
auto basic_wal<Executor>::async_append_batch(std::span<const record> records, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken,
                                       void(boost::system::error_code, std::vector<position>)>(
        detail::initiate_on<Executor, detail::initiate_append_batch>{ex_, {core_}}, token, records,
        durability::as_configured());
}

template <class Executor>
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, std::vector<position>))
              CompletionToken>
auto basic_wal<Executor>::async_append_batch(std::span<const record> records, durability d,
                                             CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken,
                                       void(boost::system::error_code, std::vector<position>)>(
        detail::initiate_on<Executor, detail::initiate_append_batch>{ex_, {core_}}, token, records, d);
}

template <class Executor>
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code)) CompletionToken>
auto basic_wal<Executor>::async_flush(CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        detail::initiate_on<Executor, detail::initiate_done<&detail::start_flush>>{ex_, {core_}}, token);
}

template <class Executor>
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code)) CompletionToken>
auto basic_wal<Executor>::async_sync(CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        detail::initiate_on<Executor, detail::initiate_done<&detail::start_sync>>{ex_, {core_}}, token);
}

template <class Executor>
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code)) CompletionToken>
auto basic_wal<Executor>::async_close(CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        detail::initiate_on<Executor, detail::initiate_done<&detail::start_close>>{ex_, {core_}}, token);
}

template <class Executor>
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, std::uint64_t)) CompletionToken>
auto basic_wal<Executor>::async_delete_segments_before(position p, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, std::uint64_t)>(
        detail::initiate_on<Executor, detail::initiate_delete_segments_before>{ex_, {core_}}, token, p);
}

template <class Executor>
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code)) CompletionToken>
auto basic_wal<Executor>::async_truncate_after(lsn_t lsn, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        detail::initiate_on<Executor, detail::initiate_truncate_after>{ex_, {core_}}, token, lsn);
}

template <class Executor>
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code)) CompletionToken>
auto basic_wal<Executor>::async_reset_to(lsn_t next_lsn, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        detail::initiate_on<Executor, detail::initiate_reset_to>{ex_, {core_}}, token, next_lsn);
}

}  // namespace noriwal
