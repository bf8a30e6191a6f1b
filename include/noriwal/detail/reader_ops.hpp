// The compiled entry point of noriwal::reader::async_next (lib/read/), and the construction of
// readers by the library. Included by impl/reader.hpp; not part of the public API.
#pragma once

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/system/error_code.hpp>

#include <memory>

namespace noriwal {

class entry;
class reader;

namespace detail {

class reader_core;

using next_handler = boost::asio::any_completion_handler<void(boost::system::error_code, entry)>;

/// The compiled body of async_next. `core` may be null (an empty reader): errc::closed.
/// `at_once`: the handler's executor, never running a function inline (impl/reader.hpp), or
/// empty.
void start_next(const std::shared_ptr<reader_core>& core, next_handler h,
                boost::asio::any_completion_executor at_once);

/// Makes readers over a core (wal::make_reader, reader::open_directory, tests).
struct reader_access {
    static reader make(std::shared_ptr<reader_core> core) noexcept;
};

}  // namespace detail
}  // namespace noriwal
