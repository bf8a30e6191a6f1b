// Test support for the raft log store: a store on the simulated disk driven by an io_context,
// and load results copied out of the engine's memory (and that memory freed as the engine would).
#pragma once

#include "log_store.hpp"

#include "support/sim_disk.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace noriwal::raft::test {

using noriwal::test::sim_disk;

/// An entry as load returns it, copied.
struct entry_copy {
    raft_term term = 0;
    unsigned short type = 0;
    std::string data;
    friend bool operator==(const entry_copy&, const entry_copy&) = default;
};

/// A snapshot as load or snapshot_get returns it, copied.
struct snapshot_copy {
    raft_term term = 0;
    raft_index index = 0;
    raft_index configuration_index = 0;
    std::vector<std::pair<raft_id, std::string>> servers;
    std::string data;
};

/// What load returned.
struct loaded {
    int rv = 0;
    std::string errmsg;
    raft_term term = 0;
    raft_id vote = 0;
    std::optional<snapshot_copy> snapshot;
    raft_index start = 0;
    std::vector<entry_copy> entries;
    /// The index of the last entry (or of the snapshot, or 0).
    raft_index last_index() const {
        if (!entries.empty()) return start + entries.size() - 1;
        return snapshot ? snapshot->index : 0;
    }
    /// The entry at `index`, if loaded.
    const entry_copy* at(raft_index index) const {
        if (index < start || index >= start + entries.size()) return nullptr;
        return &entries[index - start];
    }
};

/// Copies and frees a snapshot allocated with raft_malloc (as the engine would free it).
inline snapshot_copy take_snapshot(raft_snapshot* s) {
    snapshot_copy c;
    c.term = s->term;
    c.index = s->index;
    c.configuration_index = s->configuration_index;
    for (unsigned i = 0; i < s->configuration.n; ++i)
        c.servers.emplace_back(s->configuration.servers[i].id, s->configuration.servers[i].address);
    for (unsigned i = 0; i < s->n_bufs; ++i) {
        c.data.append(static_cast<const char*>(s->bufs[i].base), s->bufs[i].len);
        raft_free(s->bufs[i].base);
    }
    raft_free(s->bufs);
    raft_configuration_close(&s->configuration);
    raft_free(s);
    return c;
}

inline loaded load(log_store& store) {
    loaded l;
    raft_snapshot* snap = nullptr;
    raft_entry* entries = nullptr;
    std::size_t n = 0;
    l.rv = store.load(&l.term, &l.vote, &snap, &l.start, &entries, &n, l.errmsg);
    if (l.rv != 0) return l;
    if (snap) l.snapshot = take_snapshot(snap);
    void* batch = n > 0 ? entries[0].batch : nullptr;
    for (std::size_t i = 0; i < n; ++i) {
        l.entries.push_back({entries[i].term, entries[i].type,
                             std::string(static_cast<const char*>(entries[i].buf.base), entries[i].buf.len)});
        BOOST_TEST(entries[i].batch == batch);  // one batch for all, freed once
    }
    raft_free(batch);
    raft_free(entries);
    return l;
}

/// A configuration of `n` voters 1..n at 127.0.0.1:900i (raft_configuration_close it).
inline raft_configuration configuration(unsigned n) {
    raft_configuration c;
    raft_configuration_init(&c);
    for (unsigned i = 1; i <= n; ++i) {
        const std::string address = "127.0.0.1:900" + std::to_string(i);
        BOOST_TEST_REQUIRE(raft_configuration_add(&c, i, address.c_str(), RAFT_VOTER) == 0);
    }
    return c;
}

/// An entry viewing `data` (which must outlive the append call).
inline raft_entry make_entry(raft_term term, const std::string& data, unsigned short type = RAFT_COMMAND) {
    raft_entry e{};
    e.term = term;
    e.type = type;
    e.buf.base = const_cast<char*>(data.data());
    e.buf.len = data.size();
    return e;
}

/// A snapshot to hand to snapshot_put: `data` as its one buffer, 3 voters as its configuration.
struct snapshot_arg {
    raft_configuration conf = configuration(3);
    std::string data;
    raft_buffer buf{};
    raft_snapshot snap{};
    snapshot_arg(raft_term term, raft_index index, std::string d, raft_index configuration_index = 1)
        : data(std::move(d)) {
        buf.base = data.data();
        buf.len = data.size();
        snap.term = term;
        snap.index = index;
        snap.configuration = conf;
        snap.configuration_index = configuration_index;
        snap.bufs = &buf;
        snap.n_bufs = 1;
    }
    ~snapshot_arg() { raft_configuration_close(&conf); }
    snapshot_arg(const snapshot_arg&) = delete;
    snapshot_arg& operator=(const snapshot_arg&) = delete;
};

/// A store on a simulated disk, in /srv, driven by io.
struct store_fixture {
    std::shared_ptr<sim_disk> disk = std::make_shared<sim_disk>();
    boost::asio::io_context io;
    std::uint64_t segment_size = 8192;

    log_store_options options() const {
        log_store_options o;
        o.dir = "/srv";
        o.fs = disk.get();
        o.max_segment_size = segment_size;
        return o;
    }
    std::unique_ptr<log_store> open() { return log_store::open(io.get_executor(), options()); }

    /// Runs io until `done()` holds; false if it still does not after 20 s (which only bounds
    /// how long a broken build hangs).
    template <class Pred>
    bool run_until(Pred done) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!done()) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            io.restart();
            io.run_for(std::chrono::milliseconds(2));
        }
        return true;
    }

    /// Appends entries and waits for the callback; returns its status.
    int append(log_store& s, const std::vector<raft_entry>& entries) {
        std::optional<int> status;
        const int rv =
            s.append(entries.data(), static_cast<unsigned>(entries.size()), [&](int st) { status = st; });
        if (rv != 0) return rv;
        BOOST_TEST_REQUIRE(run_until([&] { return status.has_value(); }));
        return *status;
    }

    /// Appends `n` command entries of term `term` with data "<prefix><index>" from index `first`.
    int append_range(log_store& s, raft_term term, raft_index first, unsigned n,
                     const std::string& prefix = "e") {
        std::vector<std::string> data;
        for (unsigned i = 0; i < n; ++i) data.push_back(prefix + std::to_string(first + i));
        std::vector<raft_entry> es;
        for (const auto& d : data) es.push_back(make_entry(term, d));
        return append(s, es);
    }

    int snapshot_put(log_store& s, unsigned trailing, raft_term term, raft_index index,
                     const std::string& data) {
        snapshot_arg snap(term, index, data);
        std::optional<int> status;
        const int rv = s.snapshot_put(trailing, snap.snap, [&](int st) { status = st; });
        if (rv != 0) return rv;
        BOOST_TEST_REQUIRE(run_until([&] { return status.has_value(); }));
        return *status;
    }

    void close(std::unique_ptr<log_store>& s) {
        bool closed = false;
        s->close([&] { closed = true; });
        BOOST_TEST_REQUIRE(run_until([&] { return closed; }));
        s.reset();
    }
};

}  // namespace noriwal::raft::test
