// The raft_io of noriwal::raft: glue between canonical raft's engine and log_store (storage) and
// transport (network). Every entry point runs on the one executor; completions of the store and
// the transport are posted by them, and the few this file makes itself are posted here.
#include <noriwal/raft/io.hpp>

#include "raft/log_store.hpp"
#include "raft/message_codec.hpp"
#include "raft/transport.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <random>
#include <vector>

namespace noriwal::raft {

namespace asio = boost::asio;

struct io::state {
    state(asio::any_io_executor e, io_options o) : ex(std::move(e)), options(std::move(o)), tick_timer(ex) {}

    asio::any_io_executor ex;
    io_options options;
    raft_io raw{};
    raft_id id = 0;
    std::string address;
    std::unique_ptr<log_store> store;
    std::unique_ptr<transport> net;

    asio::steady_timer tick_timer;
    std::chrono::milliseconds tick_interval{100};
    raft_io_tick_cb tick_cb = nullptr;
    raft_io_recv_cb recv_cb = nullptr;
    bool started = false;
    bool closing = false;
    bool failed = false;
    io_stats counters;
    std::mt19937_64 rng{std::random_device{}()};

    // Requests whose callback has not run yet; close waits for them, and, after a storage
    // failure, holds back the failing ones until close (see the header).
    std::size_t in_flight = 0;
    std::vector<std::function<void()>> held_back;
    raft_io_close_cb close_cb = nullptr;
    bool store_closed = false;
    bool net_closed = false;

    void set_errmsg(const std::string& m) { std::snprintf(raw.errmsg, sizeof raw.errmsg, "%s", m.c_str()); }

    // The first storage error: stop ticking and receiving, tell the owner once.
    void fail(const std::string& why) {
        set_errmsg(why);
        if (failed) return;
        failed = true;
        tick_timer.cancel();
        std::fprintf(stderr, "noriwal::raft: storage failed, stopping the node: %s\n", why.c_str());
        if (options.on_fatal) {
            asio::post(ex, [this, why] { options.on_fatal(why); });
        }
    }

    void arm_tick() {
        tick_timer.expires_after(tick_interval);
        tick_timer.async_wait([this](const boost::system::error_code& ec) {
            if (ec || closing || failed) return;
            ++counters.ticks;
            tick_cb(&raw);
            if (!closing && !failed) arm_tick();
        });
    }

    // One request finished: run its callback unless the io is stopped for a failure, in which
    // case the callback waits for close (the engine's error paths are not to be trusted).
    void finish(std::function<void()> deliver, bool storage_error) {
        // Once close began nothing is held back any more: close waits for every callback.
        if (!closing && (storage_error || failed)) {
            held_back.push_back(std::move(deliver));
            return;
        }
        --in_flight;
        deliver();
        maybe_closed();
    }

    void maybe_closed() {
        if (!closing || close_cb == nullptr || in_flight != 0 || !store_closed || !net_closed) return;
        auto cb = close_cb;
        close_cb = nullptr;
        cb(&raw);
    }
};

namespace {

io::state& self(raft_io* raw) { return *static_cast<io::state*>(raw->impl); }

std::string describe(const std::error_code& ec) {
    return ec ? ec.message() + " (" + ec.category().name() + ":" + std::to_string(ec.value()) + ")"
              : std::string("unknown error");
}

int io_init(raft_io* raw, raft_id id, const char* address) {
    auto& s = self(raw);
    s.id = id;
    s.address = address;
    try {
        log_store_options so;
        so.dir = s.options.dir;
        so.fsync = s.options.fsync;
        if (s.options.max_segment_size != 0) so.max_segment_size = s.options.max_segment_size;
        so.fs = s.options.fs;
        s.store = log_store::open(s.ex, std::move(so));
        if (!s.store) {
            s.set_errmsg("cannot open the raft log in " + s.options.dir.string());
            return RAFT_IOERR;
        }
        s.net = std::make_unique<transport>(s.ex, id, s.address);
        s.net->listen(s.options.listen_address.empty() ? s.address : s.options.listen_address);
    } catch (const std::exception& e) {
        s.set_errmsg(e.what());
        s.store.reset();
        s.net.reset();
        return RAFT_IOERR;
    }
    return 0;
}

int io_load(raft_io* raw, raft_term* term, raft_id* voted_for, raft_snapshot** snapshot,
            raft_index* start_index, raft_entry* entries[], size_t* n_entries) {
    auto& s = self(raw);
    std::string errmsg;
    int rv = s.store->load(term, voted_for, snapshot, start_index, entries, n_entries, errmsg);
    if (rv != 0) s.set_errmsg("load: " + errmsg);
    return rv;
}

int io_start(raft_io* raw, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv) {
    auto& s = self(raw);
    if (s.started) return RAFT_BUSY;
    s.started = true;
    s.tick_interval = std::chrono::milliseconds(msecs);
    s.tick_cb = tick;
    s.recv_cb = recv;
    s.arm_tick();
    s.net->start([&s](raft_message& m) {
        if (s.closing || s.failed) {
            free_message(m);
            return;
        }
        ++s.counters.messages_received;
        s.recv_cb(&s.raw, &m);
    });
    return 0;
}

int io_bootstrap(raft_io* raw, const raft_configuration* conf) {
    auto& s = self(raw);
    std::string errmsg;
    int rv = s.store->bootstrap(*conf, errmsg);
    if (rv == RAFT_CANTBOOTSTRAP) {
        s.set_errmsg(errmsg);
    } else if (rv != 0) {
        s.fail("bootstrap: " + errmsg);
    }
    return rv;
}

int io_recover(raft_io* raw, const raft_configuration* conf) {
    auto& s = self(raw);
    std::string errmsg;
    int rv = s.store->recover(*conf, errmsg);
    if (rv != 0) s.fail("recover: " + errmsg);
    return rv;
}

int io_set_term(raft_io* raw, raft_term term) {
    auto& s = self(raw);
    if (s.failed) return RAFT_IOERR;
    std::string errmsg;
    int rv = s.store->set_term(term, errmsg);
    if (rv != 0) s.fail("set_term " + std::to_string(term) + ": " + errmsg);
    return rv;
}

int io_set_vote(raft_io* raw, raft_id server_id) {
    auto& s = self(raw);
    if (s.failed) return RAFT_IOERR;
    std::string errmsg;
    int rv = s.store->set_vote(server_id, errmsg);
    if (rv != 0) s.fail("set_vote " + std::to_string(server_id) + ": " + errmsg);
    return rv;
}

int io_send(raft_io* raw, raft_io_send* req, const raft_message* message, raft_io_send_cb cb) {
    auto& s = self(raw);
    if (s.closing) return RAFT_CANCELED;
    req->cb = cb;
    int rv = s.net->send(*message,
                         [&s, req](int status) { s.finish([req, status] { req->cb(req, status); }, false); });
    if (rv == 0) ++s.in_flight;
    return rv;
}

int io_append(raft_io* raw, raft_io_append* req, const raft_entry entries[], unsigned n,
              raft_io_append_cb cb) {
    auto& s = self(raw);
    if (s.failed) return RAFT_IOERR;
    if (s.closing) return RAFT_CANCELED;
    req->cb = cb;
    int rv = s.store->append(entries, n, [&s, req](int status) {
        if (status != 0) s.fail("append: " + describe(s.store->failure()));
        s.finish([req, status] { req->cb(req, status == 0 ? 0 : RAFT_CANCELED); }, status != 0);
    });
    if (rv != 0) {
        s.fail("append: " + describe(s.store->failure()));
        return rv;
    }
    ++s.in_flight;
    return 0;
}

int io_truncate(raft_io* raw, raft_index index) {
    auto& s = self(raw);
    if (s.failed) return RAFT_IOERR;
    int rv = s.store->truncate(index);
    if (rv != 0) s.fail("truncate from " + std::to_string(index) + ": " + describe(s.store->failure()));
    return rv;
}

int io_snapshot_put(raft_io* raw, unsigned trailing, raft_io_snapshot_put* req, const raft_snapshot* snapshot,
                    raft_io_snapshot_put_cb cb) {
    auto& s = self(raw);
    if (s.failed) return RAFT_IOERR;
    if (s.closing) return RAFT_CANCELED;
    req->cb = cb;
    int rv = s.store->snapshot_put(trailing, *snapshot, [&s, req](int status) {
        if (status != 0) s.fail("snapshot_put: " + describe(s.store->failure()));
        s.finish([req, status] { req->cb(req, status == 0 ? 0 : RAFT_CANCELED); }, status != 0);
    });
    if (rv != 0) {
        s.fail("snapshot_put: " + describe(s.store->failure()));
        return rv;
    }
    ++s.in_flight;
    return 0;
}

int io_snapshot_get(raft_io* raw, raft_io_snapshot_get* req, raft_io_snapshot_get_cb cb) {
    auto& s = self(raw);
    if (s.failed) return RAFT_IOERR;
    if (s.closing) return RAFT_CANCELED;
    req->cb = cb;
    int rv = s.store->snapshot_get([&s, req](int status, raft_snapshot* snap) {
        if (status != 0) s.fail("snapshot_get: " + describe(s.store->failure()));
        s.finish([req, status,
                  snap] { req->cb(req, status == 0 ? snap : nullptr, status == 0 ? 0 : RAFT_CANCELED); },
                 status != 0);
    });
    if (rv != 0) {
        s.fail("snapshot_get: " + describe(s.store->failure()));
        return rv;
    }
    ++s.in_flight;
    return 0;
}

raft_time io_time(raft_io*) {
    // Monotonic milliseconds: the engine measures timeouts with it, never compares it to a wall clock.
    auto now = std::chrono::steady_clock::now().time_since_epoch();
    return static_cast<raft_time>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
}

int io_random(raft_io* raw, int min, int max) {
    auto& s = self(raw);
    if (max <= min) return min;
    return std::uniform_int_distribution<int>(min, max - 1)(s.rng);
}

void io_close(raft_io* raw, raft_io_close_cb cb) {
    auto& s = self(raw);
    s.closing = true;
    s.close_cb = cb;
    s.tick_timer.cancel();
    // Requests held back after a failure complete now, canceled, before the close callback.
    auto held = std::move(s.held_back);
    s.held_back.clear();
    for (auto& deliver : held) {
        asio::post(s.ex, [&s, deliver = std::move(deliver)] {
            --s.in_flight;
            deliver();
            s.maybe_closed();
        });
    }
    auto close_store = [&s] {
        if (!s.store) {
            s.store_closed = true;
            s.maybe_closed();
            return;
        }
        s.store->close([&s] {
            s.store_closed = true;
            s.maybe_closed();
        });
    };
    if (s.net) {
        s.net->close([&s, close_store] {
            s.net_closed = true;
            close_store();
        });
    } else {
        asio::post(s.ex, [&s, close_store] {
            s.net_closed = true;
            close_store();
        });
    }
}

}  // namespace

io::io(boost::asio::any_io_executor ex, io_options options)
    : state_(std::make_unique<state>(std::move(ex), std::move(options))) {
    auto& r = state_->raw;
    r.version = 1;
    r.impl = state_.get();
    r.init = io_init;
    r.close = io_close;
    r.load = io_load;
    r.start = io_start;
    r.bootstrap = io_bootstrap;
    r.recover = io_recover;
    r.set_term = io_set_term;
    r.set_vote = io_set_vote;
    r.send = io_send;
    r.append = io_append;
    r.truncate = io_truncate;
    r.snapshot_put = io_snapshot_put;
    r.snapshot_get = io_snapshot_get;
    r.time = io_time;
    r.random = io_random;
}

io::~io() = default;

raft_io* io::get() noexcept { return &state_->raw; }
bool io::failed() const noexcept { return state_->failed; }
io_stats io::stats() const noexcept { return state_->counters; }

}  // namespace noriwal::raft
