#include "kvd.hpp"

#include <noriwal/raft/io.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>

namespace noriwal::kvd {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// A request line longer than this is refused (and its connection closed): it bounds the memory
// one client can make the server hold.
constexpr std::size_t max_line = 64 * 1024;

template <class T>
bool parse_number(const std::string& s, T& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == sep) {
            out.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    out.push_back(cur);
    return out;
}

bool parse_cluster(const std::string& s, std::map<raft_id, std::string>& out, std::string& error) {
    for (const auto& item : split(s, ',')) {
        auto eq = item.find('=');
        raft_id id = 0;
        std::string host;
        unsigned short port = 0;
        if (eq == std::string::npos || !parse_number(item.substr(0, eq), id) || id == 0 ||
            !split_address(item.substr(eq + 1), host, port)) {
            error = "--cluster: '" + item + "' is not ID=HOST:PORT";
            return false;
        }
        if (!out.emplace(id, item.substr(eq + 1)).second) {
            error = "--cluster: server " + std::to_string(id) + " appears twice";
            return false;
        }
    }
    return true;
}

bool parse_fsync(const std::string& s, fsync_policy& out) {
    if (s == "always") {
        out = fsync_policy::always();
        return true;
    }
    if (s == "os") {
        out = fsync_policy::os();
        return true;
    }
    unsigned ms = 0;
    if (s.rfind("batch:", 0) == 0 && parse_number(s.substr(6), ms) && ms > 0) {
        out = fsync_policy::batch(std::chrono::milliseconds(ms));
        return true;
    }
    return false;
}

std::vector<std::string> words(const std::string& line) {
    std::vector<std::string> out;
    for (auto& w : split(line, ' ')) out.push_back(std::move(w));
    return out;
}

const char* role_name(int state) {
    switch (state) {
        case RAFT_FOLLOWER:
            return "follower";
        case RAFT_CANDIDATE:
            return "candidate";
        case RAFT_LEADER:
            return "leader";
        default:
            return "unavailable";
    }
}

class server;

// One client connection: requests are answered in order, one at a time (a client that wants
// several requests outstanding opens several connections, or pipelines: later lines wait in the
// buffer).
class connection : public std::enable_shared_from_this<connection> {
public:
    connection(server& srv, tcp::socket socket) : srv_(srv), socket_(std::move(socket)), buf_(max_line) {}
    void start() { read_next(); }
    void close() {
        boost::system::error_code ignored;
        socket_.close(ignored);
    }

private:
    void read_next();
    void reply(const std::string& line, bool then_close = false) {
        out_ = line + "\n";
        asio::async_write(
            socket_, asio::buffer(out_),
            [self = shared_from_this(), then_close](const boost::system::error_code& ec, std::size_t) {
                if (ec || then_close) {
                    self->close();
                    return;
                }
                self->read_next();
            });
    }

    server& srv_;
    tcp::socket socket_;
    asio::streambuf buf_;
    std::string out_;
};

struct apply_request {
    struct raft_apply req {};
    std::function<void(int status, raft_index index)> done;
};

struct barrier_request {
    struct raft_barrier req {};
    std::function<void(int status)> done;
};

class server {
public:
    server(asio::io_context& ioc, const options& opts)
        : ioc_(ioc),
          opts_(opts),
          rio_(ioc.get_executor(), io_options_of(opts)),
          acceptor_(ioc),
          announce_timer_(ioc),
          signals_(ioc, SIGINT, SIGTERM) {}

    int start() {
        auto self_address = opts_.cluster.at(opts_.id);
        int rv = raft_init(&raft_, rio_.get(), fsm_.fsm(), opts_.id, self_address.c_str());
        if (rv != 0) {
            std::cerr << "noriwal-kvd: cannot start: " << raft_errmsg(&raft_) << "\n";
            return 1;
        }
        raft_configuration conf;
        raft_configuration_init(&conf);
        for (const auto& [id, address] : opts_.cluster)
            raft_configuration_add(&conf, id, address.c_str(), RAFT_VOTER);
        rv = raft_bootstrap(&raft_, &conf);
        raft_configuration_close(&conf);
        if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
            std::cerr << "noriwal-kvd: cannot bootstrap: " << raft_errmsg(&raft_) << "\n";
            return 1;
        }
        raft_set_election_timeout(&raft_, opts_.election_timeout_ms);
        raft_set_heartbeat_timeout(&raft_, opts_.heartbeat_ms);
        raft_set_snapshot_threshold(&raft_, opts_.snapshot_threshold);
        raft_set_snapshot_trailing(&raft_, opts_.snapshot_trailing);
        rv = raft_start(&raft_);
        if (rv != 0) {
            std::cerr << "noriwal-kvd: cannot start raft: " << raft_errmsg(&raft_) << "\n";
            return 1;
        }
        try {
            std::string host;
            unsigned short port = 0;
            split_address(opts_.client, host, port);
            tcp::endpoint ep(asio::ip::make_address(host), port);
            acceptor_.open(ep.protocol());
            acceptor_.set_option(tcp::acceptor::reuse_address(true));
            acceptor_.bind(ep);
            acceptor_.listen();
        } catch (const std::exception& e) {
            std::cerr << "noriwal-kvd: cannot listen on " << opts_.client << ": " << e.what() << "\n";
            return 1;
        }
        accept();
        announce();
        signals_.async_wait([this](const boost::system::error_code& ec, int) {
            if (!ec) stop();
        });
        std::cerr << "noriwal-kvd: server " << opts_.id << " raft " << self_address << " client "
                  << opts_.client << " dir " << opts_.dir.string() << "\n";
        return 0;
    }

    void stop() {
        if (stopping_) return;
        stopping_ = true;
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        announce_timer_.cancel();
        signals_.cancel();
        raft_.data = this;
        raft_close(&raft_, [](struct raft* r) { static_cast<server*>(r->data)->ioc_.stop(); });
    }

    // Handles one request line; `respond` is called once with the reply (maybe later).
    void handle(const std::string& line, std::function<void(const std::string&)> respond) {
        std::string reply;
        if (reject_malformed(line, reply)) {
            respond(reply);
            return;
        }
        auto w = words(line);
        if (w[0] == "STATUS") {
            respond(status());
            return;
        }
        if (stopping_) {
            respond("ERR shutting down");
            return;
        }
        if (raft_state(&raft_) != RAFT_LEADER) {
            respond(not_leader());
            return;
        }
        if (w[0] == "SET") {
            int rv = propose(encode_set(w[1], w[2]), [respond](int status, raft_index index) {
                respond(status == 0 ? "OK " + std::to_string(index)
                                    : std::string("ERR ") + raft_strerror(status));
            });
            if (rv != 0)
                respond(rv == RAFT_NOTLEADER ? not_leader() : std::string("ERR ") + raft_strerror(rv));
            return;
        }
        // GET: a barrier makes the leader confirm it still leads a majority and that everything
        // committed before the read is applied, so the value read is not stale.
        auto* req = new barrier_request;
        auto key = w[1];
        req->done = [this, respond, key](int status) {
            if (status != 0) {
                respond(std::string("ERR ") + raft_strerror(status));
                return;
            }
            auto v = fsm_.get(key);
            respond(v ? "VALUE " + *v : std::string("NOTFOUND"));
        };
        req->req.data = req;
        int rv = raft_barrier(&raft_, &req->req, [](struct raft_barrier* r, int status) {
            auto* b = static_cast<barrier_request*>(r->data);
            b->done(status);
            delete b;
        });
        if (rv != 0) {
            delete req;
            respond(rv == RAFT_NOTLEADER ? not_leader() : std::string("ERR ") + raft_strerror(rv));
        }
    }

private:
    // raft_apply of one command (taking over `buf`); `done` runs once it is applied or failed.
    // Returns raft_apply's error, in which case `done` never runs.
    int propose(raft_buffer buf, std::function<void(int status, raft_index index)> done) {
        auto* req = new apply_request;
        req->done = std::move(done);
        req->req.data = req;
        int rv = raft_apply(&raft_, &req->req, &buf, 1, [](struct raft_apply* r, int status, void*) {
            auto* a = static_cast<apply_request*>(r->data);
            a->done(status, r->index);
            delete a;
        });
        if (rv != 0) {
            raft_free(buf.base);
            delete req;
        }
        return rv;
    }

    static raft::io_options io_options_of(const options& opts) {
        raft::io_options o;
        o.dir = opts.dir;
        o.fsync = opts.fsync;
        o.max_segment_size = std::uint64_t{opts.segment_mib} << 20;
        o.on_fatal = [](const std::string& why) {
            // Fail-stop (doc/replication.md): the engine cannot be trusted after a failed write.
            std::fprintf(stderr, "noriwal-kvd: fatal storage error, exiting: %s\n", why.c_str());
            std::fflush(stderr);
            std::_Exit(3);
        };
        return o;
    }

    std::string not_leader() {
        raft_id leader = 0;
        const char* address = nullptr;
        raft_leader(&raft_, &leader, &address);
        if (leader == 0) return "ERR no leader, retry";
        auto client = fsm_.client_address(leader);
        if (!client)
            return "ERR leader " + std::to_string(leader) + " has not announced its client address, retry";
        return "REDIRECT " + *client;
    }

    std::string status() {
        raft_id leader = 0;
        const char* address = nullptr;
        raft_leader(&raft_, &leader, &address);
        char hash[32];
        std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fsm_.state_hash()));
        std::ostringstream os;
        os << "{\"id\":" << opts_.id << ",\"role\":\"" << role_name(raft_state(&raft_))
           << "\",\"leader\":" << leader << ",\"term\":" << raft_.current_term
           << ",\"commit_index\":" << raft_.commit_index << ",\"applied_index\":" << raft_last_applied(&raft_)
           << ",\"last_index\":" << raft_last_index(&raft_) << ",\"keys\":" << fsm_.size()
           << ",\"state_hash\":\"" << hash << "\",\"snapshot_index\":" << raft_.log.snapshot.last_index
           << ",\"snapshots_restored\":" << fsm_.restores() << "}";
        return os.str();
    }

    void accept() {
        acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
            if (ec) {
                if (ec == asio::error::operation_aborted || stopping_) return;
            } else {
                boost::system::error_code ignored;
                socket.set_option(tcp::no_delay(true), ignored);
                std::make_shared<connection>(*this, std::move(socket))->start();
            }
            accept();
        });
    }

    // A leader records its client address in the replicated state once, so that followers can
    // answer REDIRECT with it.
    void announce() {
        if (stopping_) return;
        if (!announcing_ && raft_state(&raft_) == RAFT_LEADER &&
            fsm_.client_address(opts_.id) != opts_.client) {
            announcing_ = propose(encode_client_address(opts_.id, opts_.client),
                                  [this](int, raft_index) { announcing_ = false; }) == 0;
        }
        announce_timer_.expires_after(std::chrono::milliseconds(opts_.heartbeat_ms));
        announce_timer_.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) announce();
        });
    }

    asio::io_context& ioc_;
    const options& opts_;
    kv_fsm fsm_;
    raft::io rio_;
    struct raft raft_ {};
    bool stopping_ = false;
    bool announcing_ = false;
    tcp::acceptor acceptor_;
    asio::steady_timer announce_timer_;
    asio::signal_set signals_;
};

void connection::read_next() {
    asio::async_read_until(
        socket_, buf_, '\n', [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
            if (ec == asio::error::not_found) {
                self->reply("ERR line longer than " + std::to_string(max_line) + " bytes", true);
                return;
            }
            if (ec) {
                self->close();
                return;
            }
            std::string line(asio::buffers_begin(self->buf_.data()),
                             asio::buffers_begin(self->buf_.data()) + static_cast<long>(n) - 1);
            self->buf_.consume(n);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            self->srv_.handle(line, [self](const std::string& r) { self->reply(r); });
        });
}

}  // namespace

bool split_address(const std::string& address, std::string& host, unsigned short& port) {
    auto colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0) return false;
    host = address.substr(0, colon);
    boost::system::error_code ec;
    asio::ip::make_address(host, ec);
    return !ec && parse_number(address.substr(colon + 1), port);
}

bool reject_malformed(const std::string& line, std::string& reply) {
    auto w = words(line);
    const auto& cmd = w[0];
    if (cmd == "STATUS" && w.size() == 1) return false;
    if (cmd == "GET" && w.size() == 2 && valid_token(w[1])) return false;
    if (cmd == "SET" && w.size() == 3 && valid_token(w[1]) && valid_token(w[2])) return false;
    if (cmd == "SET" || cmd == "GET" || cmd == "STATUS") {
        reply = "ERR usage: SET <key> <value> | GET <key> | STATUS (keys and values non-empty, no spaces)";
    } else {
        reply = "ERR unknown request; expected SET <key> <value>, GET <key> or STATUS";
    }
    return true;
}

void print_usage(std::ostream& os) {
    os << "usage: noriwal-kvd --id N --dir DIR --cluster 1=HOST:PORT,2=HOST:PORT,... --client HOST:PORT\n"
          "                   [--election-timeout MS] [--heartbeat MS] [--snapshot-threshold N]\n"
          "                   [--snapshot-trailing N] [--fsync always|batch:MS|os] [--segment-size MIB]\n"
          "  --id N                  this server's id in --cluster\n"
          "  --dir DIR               data directory (created; bootstrapped with --cluster on first start)\n"
          "  --cluster LIST          every voter: id=raft address (this server's address is its own entry)\n"
          "  --client HOST:PORT      where clients connect (SET/GET/STATUS, one line each)\n"
          "  --election-timeout MS   base election timeout (default 1000; randomized to 1x-2x)\n"
          "  --heartbeat MS          leader heartbeat and tick interval (default 100)\n"
          "  --snapshot-threshold N  take a snapshot every N applied entries (default 1024)\n"
          "  --snapshot-trailing N   entries kept in the log behind a snapshot (default 128)\n"
          "  --fsync POLICY          when an append is durable: always (default), batch:MS, os\n"
          "  --segment-size MIB      size of one log segment file (default 16; two are on disk at least)\n";
}

bool parse_options(const std::vector<std::string>& args, options& out, std::string& error, bool& help) {
    help = false;
    bool have_id = false, have_cluster = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto& a = args[i];
        if (a == "--help" || a == "-h") {
            help = true;
            return false;
        }
        if (i + 1 >= args.size()) {
            error = "missing value after " + a;
            return false;
        }
        const auto& v = args[++i];
        bool ok = true;
        if (a == "--id") {
            ok = parse_number(v, out.id) && out.id != 0;
            have_id = true;
        } else if (a == "--dir") {
            out.dir = v;
            ok = !v.empty();
        } else if (a == "--cluster") {
            out.cluster.clear();
            if (!parse_cluster(v, out.cluster, error)) return false;
            have_cluster = true;
        } else if (a == "--client") {
            std::string host;
            unsigned short port = 0;
            ok = split_address(v, host, port);
            out.client = v;
        } else if (a == "--election-timeout") {
            ok = parse_number(v, out.election_timeout_ms) && out.election_timeout_ms > 0;
        } else if (a == "--heartbeat") {
            ok = parse_number(v, out.heartbeat_ms) && out.heartbeat_ms > 0;
        } else if (a == "--snapshot-threshold") {
            ok = parse_number(v, out.snapshot_threshold) && out.snapshot_threshold > 0;
        } else if (a == "--snapshot-trailing") {
            ok = parse_number(v, out.snapshot_trailing);
        } else if (a == "--segment-size") {
            ok = parse_number(v, out.segment_mib) && out.segment_mib > 0 && out.segment_mib <= 1024;
        } else if (a == "--fsync") {
            ok = parse_fsync(v, out.fsync);
        } else {
            error = "unknown option " + a;
            return false;
        }
        if (!ok) {
            error = "bad value for " + a + ": '" + v + "'";
            return false;
        }
    }
    if (!have_id || out.dir.empty() || !have_cluster || out.client.empty()) {
        error = "--id, --dir, --cluster and --client are required";
        return false;
    }
    if (!out.cluster.count(out.id)) {
        error = "--id " + std::to_string(out.id) + " is not in --cluster";
        return false;
    }
    if (out.heartbeat_ms >= out.election_timeout_ms) {
        error = "--heartbeat must be shorter than --election-timeout";
        return false;
    }
    return true;
}

int run(const options& opts) {
    asio::io_context ioc(1);
    std::error_code ec;
    std::filesystem::create_directories(opts.dir, ec);
    if (ec) {
        std::cerr << "noriwal-kvd: cannot create " << opts.dir.string() << ": " << ec.message() << "\n";
        return 1;
    }
    server srv(ioc, opts);
    if (int rv = srv.start(); rv != 0) return rv;
    ioc.run();
    return 0;
}

}  // namespace noriwal::kvd
