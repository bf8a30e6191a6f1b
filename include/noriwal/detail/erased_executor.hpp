// Type-erasing a handler's executor for the compiled core (impl/wal.hpp, impl/reader.hpp).
#pragma once

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include <type_traits>

namespace noriwal::detail {

/// Calls `f` with the executor that `ex` holds when `ex` is an any_io_executor holding an
/// io_context's executor or a strand of one, and with `ex` itself otherwise. Erasing the
/// any_io_executor itself into another type-erased executor would allocate a shared copy of
/// it per operation; the executors it usually holds fit in place.
template <class Executor, class F>
boost::asio::any_completion_executor erase_unwrapped(const Executor& ex, F f) {
    namespace asio = boost::asio;
    if constexpr (std::is_same_v<Executor, asio::any_io_executor>) {
        using io_executor = asio::io_context::executor_type;
        if (const auto* io = ex.template target<io_executor>()) return f(*io);
        if (const auto* strand = ex.template target<asio::strand<io_executor>>()) return f(*strand);
    }
    return f(ex);
}

}  // namespace noriwal::detail
