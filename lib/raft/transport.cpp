// The TCP transport: transport.hpp says what it does, message_codec.hpp has the bytes.
//
// Lifetimes: the transport owns a shared `state`; every pending operation's handler holds it
// (and the peer or inbound connection it works for), so a handler that completes after close or
// after destruction finds the objects alive, sees `closed`, and returns. A callback posted to
// the user (a send's done) checks `destroyed` first, so none runs after the transport is gone.
#include "transport.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <charconv>
#include <deque>
#include <map>
#include <new>
#include <set>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace noriwal::raft {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

struct host_port {
    std::string host;
    std::string port;
};

// "host:port", "[v6]:port"; the port is a number 0..65535.
host_port split_address(const std::string& address) {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "raft address \"" + address + "\" is not host:port");
    std::string host = address.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const std::string port = address.substr(colon + 1);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value > 65535)
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "raft address \"" + address + "\" has no valid port");
    return {host, port};
}

}  // namespace

struct transport::state : std::enable_shared_from_this<state> {
    struct pending {
        std::vector<std::byte> frame;
        std::function<void(int)> done;
    };
    // What one async_write carries; the handler holds it so that the bytes outlive the write.
    struct write_batch {
        std::vector<std::byte> handshake;
        std::vector<pending> items;
    };

    struct peer {
        enum class phase { idle, connecting, connected, backoff };
        peer(asio::any_io_executor ex, raft_id id_, std::string address_)
            : id(id_), address(std::move(address_)), socket(ex), resolver(ex), timer(ex) {}
        raft_id id;
        std::string address;
        tcp::socket socket;
        tcp::resolver resolver;
        asio::steady_timer timer;
        phase at = phase::idle;
        std::uint64_t generation = 0;  // one per connection attempt: stale handlers compare it
        std::deque<pending> queue;     // not yet handed to a write
        std::size_t queued_bytes = 0;
        std::shared_ptr<write_batch> writing;  // in flight, or null
        bool handshake_sent = false;
        std::chrono::milliseconds backoff{0};
        std::byte probe{};  // the outbound side reads only to learn that the peer hung up
    };

    struct inbound {
        inbound(tcp::socket s, asio::any_io_executor ex, std::size_t max_frame_size)
            : socket(std::move(s)), deadline(ex), decoder(max_frame_size) {}
        tcp::socket socket;
        asio::steady_timer deadline;
        std::array<std::byte, 64 * 1024> buffer;
        std::vector<std::byte> greeting;  // bytes of a handshake not yet complete
        bool greeted = false;
        handshake from;
        frame_decoder decoder;
    };

    state(asio::any_io_executor ex_, raft_id id, std::string address, transport_options o)
        : ex(std::move(ex_)),
          self_id(id),
          self_address(std::move(address)),
          options(o),
          acceptor(ex),
          accept_retry(ex) {}

    asio::any_io_executor ex;
    raft_id self_id;
    std::string self_address;
    transport_options options;
    tcp::acceptor acceptor;
    asio::steady_timer accept_retry;
    std::function<void(raft_message&)> on_message;
    bool started = false;
    bool closed = false;
    bool destroyed = false;
    counters count{};
    std::map<raft_id, std::shared_ptr<peer>> peers;
    std::set<std::shared_ptr<inbound>> inbounds;

    // ---- completions to the user ----

    void complete(std::function<void(int)> done, int status) {
        asio::post(ex, [self = shared_from_this(), done = std::move(done), status] {
            if (!self->destroyed) done(status);
        });
    }

    void fail_queue(peer& p, int status) {
        for (auto& item : p.queue) complete(std::move(item.done), status);
        p.queue.clear();
        p.queued_bytes = 0;
    }

    void fail_writing(peer& p, int status) {
        if (p.writing == nullptr) return;
        for (auto& item : p.writing->items) complete(std::move(item.done), status);
        p.writing->items.clear();
        p.writing.reset();
    }

    // ---- outbound ----

    int send(const raft_message& m, std::function<void(int)> done) {
        if (closed) return RAFT_CANCELED;
        if (m.server_address == nullptr || *m.server_address == '\0') return RAFT_MALFORMED;
        pending item{{}, std::move(done)};
        try {
            encode_message(m, item.frame);
        } catch (const std::invalid_argument&) {
            return RAFT_MALFORMED;
        } catch (const std::length_error&) {
            return RAFT_TOOBIG;
        } catch (const std::bad_alloc&) {
            return RAFT_NOMEM;
        }
        if (item.frame.size() - frame_length_size > options.max_frame_size) return RAFT_TOOBIG;

        auto& slot = peers[m.server_id];
        if (slot == nullptr) slot = std::make_shared<peer>(ex, m.server_id, m.server_address);
        const std::shared_ptr<peer> p = slot;
        if (p->address != m.server_address) {  // the peer moved: what was in flight went to the old one
            p->address = m.server_address;
            if (p->at == peer::phase::connecting || p->at == peer::phase::connected)
                drop(*p, RAFT_NOCONNECTION);
        }
        p->queued_bytes += item.frame.size();
        p->queue.push_back(std::move(item));
        // Bounded: the oldest sends give way (the engine retries on its own schedule).
        while (p->queue.size() > 1 &&
               (p->queue.size() > options.max_queued_sends || p->queued_bytes > options.max_queued_bytes)) {
            p->queued_bytes -= p->queue.front().frame.size();
            complete(std::move(p->queue.front().done), RAFT_NOCONNECTION);
            p->queue.pop_front();
        }
        if (p->at == peer::phase::idle)
            connect(p);
        else if (p->at == peer::phase::connected)
            flush(p);
        return 0;
    }

    void connect(const std::shared_ptr<peer>& p) {
        p->at = peer::phase::connecting;
        const std::uint64_t gen = ++p->generation;
        host_port hp;
        try {
            hp = split_address(p->address);
        } catch (const std::system_error&) {
            connect_failed(p);
            return;
        }
        error_code ec;
        const auto ip = asio::ip::make_address(hp.host, ec);
        if (!ec) {
            const std::array<tcp::endpoint, 1> endpoints{
                tcp::endpoint(ip, static_cast<unsigned short>(std::stoul(hp.port)))};
            asio::async_connect(p->socket, endpoints,
                                [self = shared_from_this(), p, gen](error_code e, const tcp::endpoint&) {
                                    self->connected(p, gen, e);
                                });
            return;
        }
        p->resolver.async_resolve(
            hp.host, hp.port,
            [self = shared_from_this(), p, gen](error_code e, tcp::resolver::results_type r) {
                if (self->closed || p->generation != gen) return;
                if (e) {
                    self->connect_failed(p);
                    return;
                }
                asio::async_connect(p->socket, r, [self, p, gen](error_code e2, const tcp::endpoint&) {
                    self->connected(p, gen, e2);
                });
            });
    }

    void connected(const std::shared_ptr<peer>& p, std::uint64_t gen, error_code ec) {
        if (closed || p->generation != gen) return;
        if (ec) {
            connect_failed(p);
            return;
        }
        error_code ignored;
        p->socket.set_option(tcp::no_delay(true), ignored);
        p->at = peer::phase::connected;
        p->handshake_sent = false;
        p->backoff = std::chrono::milliseconds{0};
        ++count.connects;
        // The receiver never writes: a completed read means it hung up (or broke the protocol).
        p->socket.async_read_some(asio::buffer(&p->probe, 1),
                                  [self = shared_from_this(), p, gen](error_code, std::size_t) {
                                      if (self->closed || p->generation != gen) return;
                                      self->drop(*p, RAFT_NOCONNECTION);
                                      self->after_drop(p);
                                  });
        flush(p);
    }

    // A connection attempt failed: the peer is unreachable, so what waits for it fails now
    // rather than at the next attempt; a retry follows after the backoff, if sends are queued.
    void connect_failed(const std::shared_ptr<peer>& p) {
        error_code ignored;
        p->socket.close(ignored);
        fail_queue(*p, RAFT_NOCONNECTION);
        start_backoff(p);
    }

    void start_backoff(const std::shared_ptr<peer>& p) {
        p->at = peer::phase::backoff;
        p->backoff =
            p->backoff.count() == 0 ? options.backoff_min : std::min(p->backoff * 2, options.backoff_max);
        const std::uint64_t gen = ++p->generation;
        p->timer.expires_after(p->backoff);
        p->timer.async_wait([self = shared_from_this(), p, gen](error_code) {
            if (self->closed || p->generation != gen) return;
            p->at = peer::phase::idle;
            if (!p->queue.empty()) self->connect(p);
        });
    }

    // Closes the connection; every send handed to it or waiting for it fails with status.
    void drop(peer& p, int status) {
        ++p.generation;
        error_code ignored;
        p.socket.close(ignored);
        p.resolver.cancel();
        p.timer.cancel();
        if (p.at == peer::phase::connected) ++count.disconnects;
        p.at = peer::phase::idle;
        fail_writing(p, status);
        fail_queue(p, status);
    }

    void after_drop(const std::shared_ptr<peer>& p) { start_backoff(p); }

    void flush(const std::shared_ptr<peer>& p) {
        if (p->writing != nullptr || (p->queue.empty() && p->handshake_sent)) return;
        auto batch = std::make_shared<write_batch>();
        if (!p->handshake_sent) {
            encode_handshake(self_id, self_address, batch->handshake);
            p->handshake_sent = true;
        }
        std::vector<asio::const_buffer> buffers;
        if (!batch->handshake.empty()) buffers.push_back(asio::buffer(batch->handshake));
        batch->items.reserve(p->queue.size());
        for (auto& item : p->queue) {
            batch->items.push_back(std::move(item));
            buffers.push_back(asio::buffer(batch->items.back().frame));
        }
        p->queue.clear();
        p->queued_bytes = 0;
        p->writing = batch;
        const std::uint64_t gen = p->generation;
        asio::async_write(p->socket, buffers,
                          [self = shared_from_this(), p, gen, batch](error_code ec, std::size_t) {
                              if (self->closed || p->generation != gen) return;
                              if (ec) {
                                  self->drop(*p, RAFT_NOCONNECTION);
                                  self->after_drop(p);
                                  return;
                              }
                              self->count.frames_out += batch->items.size();
                              for (auto& item : batch->items) self->complete(std::move(item.done), 0);
                              p->writing.reset();
                              self->flush(p);
                          });
    }

    // ---- inbound ----

    void accept() {
        acceptor.async_accept([self = shared_from_this()](error_code ec, tcp::socket s) {
            if (self->closed) return;
            if (ec) {
                // Out of descriptors and the like: try again a little later, not in a hot loop.
                self->accept_retry.expires_after(std::chrono::milliseconds{100});
                self->accept_retry.async_wait([self](error_code e) {
                    if (!e && !self->closed) self->accept();
                });
                return;
            }
            if (self->inbounds.size() >= self->options.max_inbound_connections) {
                error_code ignored;
                s.close(ignored);
            } else {
                auto in = std::make_shared<inbound>(std::move(s), self->ex, self->options.max_frame_size);
                self->inbounds.insert(in);
                ++self->count.connects;
                in->deadline.expires_after(self->options.handshake_timeout);
                in->deadline.async_wait([self, in](error_code e) {
                    if (e || self->closed || in->greeted || !self->inbounds.contains(in)) return;
                    ++self->count.bad_frames;
                    self->hang_up(in);
                });
                self->read(in);
            }
            self->accept();
        });
    }

    void read(const std::shared_ptr<inbound>& in) {
        in->socket.async_read_some(
            asio::buffer(in->buffer), [self = shared_from_this(), in](error_code ec, std::size_t n) {
                if (self->closed || !self->inbounds.contains(in)) return;
                if (ec) {
                    self->hang_up(in);
                    return;
                }
                if (self->received(in, std::span<const std::byte>(in->buffer.data(), n))) self->read(in);
            });
    }

    // Handles bytes from a peer; false once the connection is gone (bad bytes, or closed from
    // inside on_message).
    bool received(const std::shared_ptr<inbound>& in, std::span<const std::byte> bytes) {
        if (!in->greeted) {
            const std::size_t room = handshake_fixed_size + max_address_size - in->greeting.size();
            const std::size_t take = std::min(room, bytes.size());
            in->greeting.insert(in->greeting.end(), bytes.begin(),
                                bytes.begin() + static_cast<std::ptrdiff_t>(take));
            const decode_result r = decode_handshake(in->greeting, in->from);
            if (r.status == decode_status::need_more) return true;
            if (r.status != decode_status::message || in->from.id == self_id) {
                ++count.bad_frames;
                hang_up(in);
                return false;
            }
            in->greeted = true;
            in->deadline.cancel();
            // What followed the handshake in the same read is the start of the frames.
            const std::size_t extra = in->greeting.size() - r.consumed;
            bytes = bytes.subspan(take - extra);
            in->greeting = {};
        }
        while (!bytes.empty()) {
            raft_message m{};
            const decode_result r = in->decoder.feed(bytes, m);
            if (r.status == decode_status::need_more) return true;
            if (r.status != decode_status::message) {
                ++count.bad_frames;
                hang_up(in);
                return false;
            }
            bytes = bytes.subspan(r.consumed);
            ++count.frames_in;
            m.server_id = in->from.id;
            m.server_address = in->from.address.c_str();
            if (started && on_message)
                on_message(m);
            else
                free_message(m);
            if (closed || !inbounds.contains(in)) return false;
        }
        return true;
    }

    void hang_up(const std::shared_ptr<inbound>& in) {
        error_code ignored;
        in->socket.close(ignored);
        in->deadline.cancel();
        inbounds.erase(in);
        ++count.disconnects;
    }

    // ---- shutdown ----

    void shut(bool deliver_cancellations) {
        closed = true;
        error_code ignored;
        acceptor.close(ignored);
        accept_retry.cancel();
        for (auto& [id, p] : peers) {
            ++p->generation;
            p->socket.close(ignored);
            p->resolver.cancel();
            p->timer.cancel();
            if (deliver_cancellations) {
                fail_writing(*p, RAFT_CANCELED);
                fail_queue(*p, RAFT_CANCELED);
            }
        }
        peers.clear();
        for (const auto& in : inbounds) {
            in->socket.close(ignored);
            in->deadline.cancel();
        }
        inbounds.clear();
    }
};

transport::transport(asio::any_io_executor ex, raft_id self_id, std::string self_address)
    : transport(std::move(ex), self_id, std::move(self_address), transport_options{}) {}

transport::transport(asio::any_io_executor ex, raft_id self_id, std::string self_address,
                     transport_options options)
    : state_(std::make_shared<state>(std::move(ex), self_id, std::move(self_address), options)) {}

transport::~transport() {
    if (!state_->closed) state_->shut(false);
    // on_message is kept (it may be the caller of this destructor); `closed` stops its use.
    state_->destroyed = true;
}

void transport::listen(const std::string& address) {
    const host_port hp = split_address(address);
    try {
        tcp::resolver resolver(state_->ex);
        const auto results =
            resolver.resolve(hp.host, hp.port, tcp::resolver::passive | tcp::resolver::numeric_service);
        if (results.empty())
            throw std::system_error(std::make_error_code(std::errc::address_not_available),
                                    "raft address \"" + address + "\" resolves to nothing");
        const tcp::endpoint endpoint = results.begin()->endpoint();
        tcp::acceptor& a = state_->acceptor;
        a.open(endpoint.protocol());
        a.set_option(tcp::acceptor::reuse_address(true));
        a.bind(endpoint);
        a.listen();
    } catch (const boost::system::system_error& e) {
        error_code ignored;
        state_->acceptor.close(ignored);
        throw std::system_error(e.code(), "raft transport cannot listen on " + address);
    }
    if (state_->started) state_->accept();
}

tcp::endpoint transport::local_endpoint() const { return state_->acceptor.local_endpoint(); }

void transport::set_self_address(std::string address) { state_->self_address = std::move(address); }

void transport::start(std::function<void(raft_message& m)> on_message) {
    state_->on_message = std::move(on_message);
    const bool was_started = state_->started;
    state_->started = true;
    if (!was_started && state_->acceptor.is_open()) state_->accept();
}

int transport::send(const raft_message& m, std::function<void(int status)> done) {
    return state_->send(m, std::move(done));
}

void transport::close(std::function<void()> done) {
    if (!state_->closed) state_->shut(true);
    asio::post(state_->ex, [s = state_, done = std::move(done)] {
        if (done) done();
    });
}

transport::counters transport::stats() const { return state_->count; }

}  // namespace noriwal::raft
