// canonical raft (libraft 0.15) on noriwal: a one-server cluster whose log, term, vote and
// snapshots live in a noriwal directory, driven by one io_context. It applies a few commands to a
// counter state machine, stops, and on the next run replays them from the log (run it twice).
//
//   example_raft_single_node [DIR]        (default: ./raft-example)
//
// A real cluster lists every server in the configuration; noriwal-kvd (doc/replication.md) is
// the complete program.
#include <noriwal/raft/io.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace {

// The state machine: a counter; each command adds the number it carries.
struct counter {
    std::uint64_t value = 0;
    raft_fsm fsm{};
    counter() {
        fsm.version = 1;
        fsm.data = this;
        fsm.apply = [](raft_fsm* f, const raft_buffer* buf, void** result) {
            std::uint64_t add = 0;
            if (buf->len != sizeof add) return RAFT_MALFORMED;
            std::memcpy(&add, buf->base, sizeof add);
            static_cast<counter*>(f->data)->value += add;
            *result = nullptr;
            return 0;
        };
        fsm.snapshot = [](raft_fsm* f, raft_buffer* bufs[], unsigned* n) {
            auto* b = static_cast<raft_buffer*>(raft_malloc(sizeof(raft_buffer)));
            b->len = sizeof(std::uint64_t);
            b->base = raft_malloc(b->len);
            std::memcpy(b->base, &static_cast<counter*>(f->data)->value, b->len);
            *bufs = b;
            *n = 1;
            return 0;
        };
        fsm.restore = [](raft_fsm* f, raft_buffer* buf) {
            if (buf->len != sizeof(std::uint64_t)) return RAFT_MALFORMED;
            std::memcpy(&static_cast<counter*>(f->data)->value, buf->base, buf->len);
            raft_free(buf->base);  // the state machine owns it on success
            return 0;
        };
    }
};

struct program {
    boost::asio::io_context ioc;
    noriwal::raft::io io;
    counter state;
    struct raft r {};
    int pending = 0;

    explicit program(const char* dir) : io(ioc.get_executor(), options(dir)) {}

    static noriwal::raft::io_options options(const char* dir) {
        noriwal::raft::io_options o;
        o.dir = dir;
        o.fsync = noriwal::fsync_policy::always();  // an entry is durable before raft counts it
        o.on_fatal = [](const std::string& why) {
            std::cerr << "storage failed, stopping: " << why << "\n";
            std::exit(3);  // fail-stop: libraft 0.15 cannot continue reliably after a failed write
        };
        return o;
    }

    int run() {
        // The server's raft address; port 0 lets the one server listen on any free port (a real
        // cluster gives every server a fixed address that the others can reach).
        const char* address = "127.0.0.1:0";
        if (raft_init(&r, io.get(), &state.fsm, 1, address) != 0) {
            std::cerr << "raft_init: " << raft_errmsg(&r) << "\n";
            return 1;
        }
        r.data = this;
        raft_configuration conf;
        raft_configuration_init(&conf);
        raft_configuration_add(&conf, 1, address, RAFT_VOTER);
        int rv = raft_bootstrap(&r, &conf);  // RAFT_CANTBOOTSTRAP on the second run: state exists
        raft_configuration_close(&conf);
        if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) return 1;
        raft_set_election_timeout(&r, 100);
        raft_set_heartbeat_timeout(&r, 20);
        if (raft_start(&r) != 0) return 1;
        // Everything below runs on ioc's thread, as the engine requires.
        poll_until_leader();
        ioc.run();
        return 0;
    }

    void poll_until_leader() {
        if (raft_state(&r) != RAFT_LEADER) {
            auto* t = new boost::asio::steady_timer(ioc, std::chrono::milliseconds(10));
            t->async_wait([this, t](auto) {
                delete t;
                poll_until_leader();
            });
            return;
        }
        std::cout << "leader; counter after replaying the log: " << state.value << "\n";
        for (std::uint64_t add = 1; add <= 3; ++add) {
            using apply_request = struct raft_apply;
            auto* req = new apply_request();
            req->data = this;
            raft_buffer buf{raft_malloc(sizeof add), sizeof add};
            std::memcpy(buf.base, &add, sizeof add);
            ++pending;
            raft_apply(&r, req, &buf, 1, [](struct raft_apply* q, int status, void*) {
                auto* self = static_cast<program*>(q->data);
                delete q;
                std::cout << "applied (status " << status << "), counter " << self->state.value << "\n";
                if (--self->pending == 0) {
                    raft_close(&self->r,
                               [](struct raft* rr) { static_cast<program*>(rr->data)->ioc.stop(); });
                }
            });
        }
    }
};

}  // namespace

int main(int argc, char** argv) {
    program p(argc > 1 ? argv[1] : "raft-example");
    return p.run();
}
