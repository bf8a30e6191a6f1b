// Template bodies of noriwal::reader (include/noriwal/reader.hpp).
#pragma once

#include <noriwal/detail/erased_executor.hpp>
#include <noriwal/detail/reader_ops.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/execution/blocking.hpp>
#include <boost/asio/require.hpp>
#include <boost/asio/system_executor.hpp>

#include <new>
#include <type_traits>
#include <utility>

namespace noriwal {
namespace detail {

/// `ex` asked never to run a function inside execute(), type-erased; empty when `ex` cannot
/// promise that. Untracked: the operation tracks outstanding work on the same executor.
template <class Executor>
boost::asio::any_completion_executor never_inline(const Executor& ex) {
    return erase_unwrapped(ex, [](const auto& e) -> boost::asio::any_completion_executor {
        using executor = std::decay_t<decltype(e)>;
        using never = boost::asio::execution::blocking_t::never_t;
        if constexpr (boost::asio::can_require<executor, never>::value) {
            return boost::asio::any_completion_executor(
                std::nothrow, boost::asio::require(e, boost::asio::execution::blocking.never));
        } else {
            return {};
        }
    });
}

/// Where async_next delivers a result it has at once: the handler's own executor, when it can
/// post; empty for a handler without one (it completes through the reader's executor).
template <class Handler>
boost::asio::any_completion_executor at_once_executor(const Handler& h) {
    using associated = boost::asio::associated_executor_t<Handler, boost::asio::system_executor>;
    if constexpr (std::is_same_v<associated, boost::asio::system_executor>) {
        return {};
    } else {
        return never_inline(boost::asio::get_associated_executor(h));
    }
}

/// async_next's initiation. The handler is type-erased and handed to the compiled core, which
/// keeps its associated executor, allocator and cancellation slot.
struct initiate_next {
    std::shared_ptr<reader_core> core;
    template <class Handler>
    void operator()(Handler&& handler) const {
        auto at_once = at_once_executor(handler);
        start_next(core, next_handler(std::forward<Handler>(handler)), std::move(at_once));
    }
};

inline reader reader_access::make(std::shared_ptr<reader_core> core) noexcept {
    return reader(std::move(core));
}

}  // namespace detail

template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, entry)) CompletionToken>
auto reader::async_next(CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, entry)>(
        detail::initiate_next{core_}, token);
}

template <class Executor>
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(boost::system::error_code, entry)) CompletionToken>
auto basic_reader<Executor>::async_next(CompletionToken&& token) {
    // A handler without an executor of its own is bound to Executor.
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, entry)>(
        detail::initiate_on<Executor, detail::initiate_next>{ex_, {core_}}, token);
}

}  // namespace noriwal
