// The default completion token of the wal's and the reader's asynchronous functions, and the
// binding of a handler without an executor of its own to an I/O object's executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/deferred.hpp>

#include <type_traits>
#include <utility>

namespace noriwal::detail {

/// The executor's default completion token (Executor::default_completion_token_type, as
/// asio::use_awaitable_t<>::as_default_on and asio::as_tuple_t<>::as_default_on give it),
/// else asio::deferred: `co_await log.async_append(r)` then works in any coroutine, and
/// `log.async_append(r)(handler)` launches it (as Asio's own default does from Boost 1.84).
template <class Executor>
using default_token_t =
    std::conditional_t<std::is_void_v<boost::asio::default_completion_token_t<Executor>>,
                       boost::asio::deferred_t, boost::asio::default_completion_token_t<Executor>>;

/// Marks "no associated executor" (no executor is of this type).
struct no_associated_executor {};

/// Initiation of an I/O object whose executor type is not the wal's own: a handler without an
/// executor of its own is bound to the object's executor, then `inner` initiates it.
template <class Executor, class Inner>
struct initiate_on {
    Executor ex;
    Inner inner;

    template <class Handler, class... Args>
    void operator()(Handler&& h, Args&&... args) const {
        using associated = boost::asio::associated_executor_t<std::decay_t<Handler>, no_associated_executor>;
        if constexpr (std::is_same_v<associated, no_associated_executor>) {
            inner(boost::asio::bind_executor(erasable(), std::forward<Handler>(h)),
                  std::forward<Args>(args)...);
        } else {
            inner(std::forward<Handler>(h), std::forward<Args>(args)...);
        }
    }

    /// The executor to bind: an executor derived from any_io_executor (such as
    /// use_awaitable_t<>::executor_with_default<any_io_executor>) runs functions as its
    /// any_io_executor part does, which the core unwraps without allocating.
    decltype(auto) erasable() const noexcept {
        if constexpr (std::is_base_of_v<boost::asio::any_io_executor, Executor>) {
            return static_cast<const boost::asio::any_io_executor&>(ex);
        } else {
            return (ex);
        }
    }
};

}  // namespace noriwal::detail
