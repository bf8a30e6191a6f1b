// The compiled entry points of noriwal::wal's asynchronous operations (lib/wal/), and the
// type-erased handlers they complete. Included by impl/wal.hpp; not part of the public API.
#pragma once

#include <noriwal/config.hpp>
#include <noriwal/position.hpp>
#include <noriwal/record.hpp>
#include <noriwal/recovery_info.hpp>

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace noriwal {

class wal;

namespace detail {

class wal_core;

// The type-erased handlers the compiled core completes (one per completion signature).
using append_handler = boost::asio::any_completion_handler<void(boost::system::error_code, position)>;
using batch_handler =
    boost::asio::any_completion_handler<void(boost::system::error_code, std::vector<position>)>;
using done_handler = boost::asio::any_completion_handler<void(boost::system::error_code)>;
using count_handler = boost::asio::any_completion_handler<void(boost::system::error_code, std::uint64_t)>;
using open_handler = boost::asio::any_completion_handler<void(boost::system::error_code, wal, recovery_info)>;

// Entry points of the compiled core (lib/wal/). `core` may be null (an empty wal): the
// handler then completes with errc::closed.
void start_open(boost::asio::any_io_executor ex, wal_config cfg, open_handler h);
// The appends also take the handler's associated executor, already tracked (see
// handler_work in impl/wal.hpp): found before the handler is type-erased, it costs no
// allocation for Asio's usual executors.
void start_append(const std::shared_ptr<wal_core>& core, const record& r, durability d, append_handler h,
                  boost::asio::any_completion_executor work);
void start_append_batch(const std::shared_ptr<wal_core>& core, std::span<const record> records, durability d,
                        batch_handler h, boost::asio::any_completion_executor work);
/// The default executor of a wal's handlers (the one given to open, else the io_executor, else
/// the writer's); empty for a null core.
boost::asio::any_io_executor default_executor_of(const std::shared_ptr<wal_core>& core) noexcept;
/// Whether the wal may write appends on their callers' threads (it has a writer thread of its
/// own): its handlers must then never run inside the call that completes them.
bool writes_speculatively(const std::shared_ptr<wal_core>& core) noexcept;
void start_flush(const std::shared_ptr<wal_core>& core, done_handler h);
void start_sync(const std::shared_ptr<wal_core>& core, done_handler h);
void start_close(const std::shared_ptr<wal_core>& core, done_handler h);
void start_delete_segments_before(const std::shared_ptr<wal_core>& core, position p, count_handler h);
void start_truncate_after(const std::shared_ptr<wal_core>& core, lsn_t lsn, done_handler h);
void start_reset_to(const std::shared_ptr<wal_core>& core, lsn_t next_lsn, done_handler h);

}  // namespace detail
}  // namespace noriwal
