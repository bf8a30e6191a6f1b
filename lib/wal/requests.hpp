// The requests of the intake, one type per completion signature.
#pragma once

#include <wal/wal_core.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>

#include <span>
#include <vector>

namespace noriwal::detail {

/// One record. The hot path: recycled through a small per-thread cache, so that its encoded
/// buffer is reused and a steady stream of appends allocates nothing but the handler.
struct append_op final : request {
    append_op() noexcept : request(request_kind::append) {}

    static append_op* acquire();
    static void recycle(append_op* op) noexcept;

    std::span<encoded_record* const> records() noexcept { return {&encoded_ptr, 1}; }
    position* positions() noexcept { return &pos; }
    lsn_t last_lsn() const noexcept { return pos.lsn; }

    void deliver() override;

    encoded_record encoded;
    encoded_record* encoded_ptr = &encoded;
    position pos;
    durability dur = durability::as_configured();
    steady::time_point started;
    bool cancellable = false;  // a cancellation handler sits in the handler's slot
    append_handler handler;
};

/// An atomic batch.
struct batch_op final : request {
    batch_op() noexcept : request(request_kind::append_batch) {}

    std::span<encoded_record* const> records() noexcept { return encoded_ptrs; }
    lsn_t last_lsn() const noexcept { return positions.empty() ? 0 : positions.back().lsn; }

    void deliver() override;

    std::vector<encoded_record> encoded;
    std::vector<encoded_record*> encoded_ptrs;
    std::vector<position> positions;
    durability dur = durability::as_configured();
    steady::time_point started;
    bool cancellable = false;
    batch_handler handler;
};

/// flush, sync, close, truncate: `void(std::error_code)`. An empty handler is the internal
/// close of shutdown().
struct done_op final : request {
    explicit done_op(request_kind k) noexcept : request(k) {}
    void deliver() override;

    lsn_t lsn = 0;  // truncate_after's argument
    done_handler handler;
};

/// delete_segments_before: `void(std::error_code, std::uint64_t)`.
struct count_op final : request {
    count_op() noexcept : request(request_kind::delete_before) {}
    void deliver() override;

    position before;
    std::uint64_t count = 0;
    count_handler handler;
};

/// Installed in the cancellation slot of an append's handler. Runs where the signal is
/// emitted (the handler's executor); holds the core weakly, since it may outlive it.
struct cancel_append {
    std::weak_ptr<wal_core> core;
    request* r;
    void operator()(boost::asio::cancellation_type type) const {
        using ct = boost::asio::cancellation_type;
        if ((type & (ct::terminal | ct::partial | ct::total)) == ct::none) return;
        if (auto c = core.lock()) c->cancel(r);
    }
};

inline lsn_t last_lsn_of(request* r) noexcept {
    return r->kind == request_kind::append ? static_cast<append_op*>(r)->last_lsn()
                                           : static_cast<batch_op*>(r)->last_lsn();
}

inline durability durability_of(request* r) noexcept {
    return r->kind == request_kind::append ? static_cast<append_op*>(r)->dur : static_cast<batch_op*>(r)->dur;
}

/// The bytes of the encoded records of an append or a batch.
inline std::size_t encoded_size_of(request* r) noexcept {
    if (r->kind == request_kind::append) return static_cast<append_op*>(r)->encoded.bytes.size();
    std::size_t n = 0;
    for (const auto& e : static_cast<batch_op*>(r)->encoded) n += e.bytes.size();
    return n;
}

inline steady::time_point started_of(request* r) noexcept {
    return r->kind == request_kind::append ? static_cast<append_op*>(r)->started
                                           : static_cast<batch_op*>(r)->started;
}

}  // namespace noriwal::detail
