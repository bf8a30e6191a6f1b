// noriwal::raft::io — a complete `struct raft_io` (version 1) of canonical raft 0.15 on Boost.Asio
// and noriwal: the log, term, vote and snapshots in a noriwal log directory (log_store), the
// messages over TCP (transport), the tick on a steady_timer.
//
// Threading: every function of the raft_io and every callback it makes runs on the executor
// given to the constructor, which must be a single thread (or a strand): the engine is not
// thread-safe. Callbacks (tick, recv, send, append, snapshot_put, snapshot_get, close) are
// always posted, never invoked inside the call that started them.
//
// Durability: set_term, set_vote, bootstrap and recover are durable when they return; an
// append's callback runs once its entries are durable under the configured fsync policy
// (`fsync_policy::always()` for the guarantee raft assumes); a snapshot is durable when its
// callback runs.
//
// Fail-stop: canonical raft 0.15 does not recover reliably from a failed write (upstream issues
// #320, #466, #470). So the first storage error stops this io: no more ticks, no more received
// messages, the failing request's callback is held back, and `on_fatal` is called once with a
// message saying what failed. The owner must then stop the node (noriwal-kvd exits non-zero);
// raft_close still works, and the callbacks held back complete then with RAFT_CANCELED.
#pragma once

#include <noriwal/config.hpp>

// libraft 0.15's headers have no extern "C" of their own.
extern "C" {
#include <raft.h>
}

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace noriwal {
class file_system;
}

namespace noriwal::raft {

struct io_options {
    /// The node's data directory (log segments, term and vote, snapshots).
    std::filesystem::path dir;
    /// When an append counts as durable; `always()` is what the Raft algorithm assumes.
    fsync_policy fsync = fsync_policy::always();
    /// Segment size of the log; 0 keeps log_store_options's default (64 MiB).
    std::uint64_t max_segment_size = 0;
    /// File access (tests pass the simulated disk); null means the real file system.
    file_system* fs = nullptr;
    /// Where to accept the other servers' connections ("host:port"); empty means the server's
    /// own address as given to raft_init.
    std::string listen_address;
    /// Called once, on the executor, when storage failed and the node must stop.
    std::function<void(const std::string& why)> on_fatal;
};

/// Counters of the network side, for STATUS pages and tests.
struct io_stats {
    std::uint64_t ticks = 0;
    std::uint64_t messages_received = 0;
};

class io {
public:
    io(boost::asio::any_io_executor ex, io_options options);
    /// Only once the close callback ran (or if raft_init never used it).
    ~io();
    io(const io&) = delete;
    io& operator=(const io&) = delete;

    /// The `struct raft_io` to hand to raft_init.
    raft_io* get() noexcept;
    /// True once a storage error stopped this io (on_fatal was called).
    bool failed() const noexcept;
    io_stats stats() const noexcept;

    struct state;

private:
    std::unique_ptr<state> state_;
};

}  // namespace noriwal::raft
