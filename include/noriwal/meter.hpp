// Observability hooks. A meter receives events from the wal's threads; implementations must
// be thread-safe and fast (they run on the writer strand and the sync thread).
#pragma once

#include <chrono>
#include <cstdint>

#include <noriwal/recovery_info.hpp>

namespace noriwal {

/// Receives events of a wal (wal_config::metrics). Override the events you want; the others
/// do nothing. Called on the wal's writer thread (during open: on the thread that recovers
/// the log) while the wal works: return quickly, and never wait there for an operation of the
/// wal. The wal shares ownership of it (std::shared_ptr) as long as the wal lives.
class meter {
public:
    virtual ~meter() = default;
    /// A segment was sealed after `bytes` bytes and `next_segment_id` became active.
    virtual void on_segment_rolled(std::uint64_t /*sealed_segment_id*/, std::uint64_t /*bytes*/,
                                   std::uint64_t /*next_segment_id*/) {}
    /// An fdatasync round completed, making `records` records durable (the records written
    /// since the previous round; an append_batch counts each of its records).
    virtual void on_fsync(std::chrono::nanoseconds /*duration*/, std::uint64_t /*records*/) {}
    /// Recovery cut off or skipped damaged bytes.
    virtual void on_corruption(const damage& /*what*/) {}
    /// A segment was deleted (or recycled) by garbage collection, retention or truncation.
    virtual void on_segment_deleted(std::uint64_t /*segment_id*/) {}
    /// A group of `records` records (`bytes` bytes) was written with one system call.
    virtual void on_write(std::uint64_t /*records*/, std::uint64_t /*bytes*/) {}
    /// An append completed, `latency` after it was initiated.
    virtual void on_append(std::chrono::nanoseconds /*latency*/) {}
};

}  // namespace noriwal
