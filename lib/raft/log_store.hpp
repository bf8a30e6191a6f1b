// noriwal::raft::log_store — the durable storage of one server of canonical raft (libraft 0.15):
// its log entries, its term and vote, and its snapshots, in one directory. The raft_io of
// noriwal::raft calls it; doc/replication.md describes the design and the files.
//
// Files in `dir` (everything through noriwal::file_system, so a simulated disk can cut power):
//   log/            a noriwal wal; one record per raft entry, LSN == raft index
//   metadata        term and vote (two CRC'd slots, written alternately; the higher version wins)
//   snapshot-T-I    the newest snapshot (T = term, I = index, zero-padded hex), see log_store.cpp
// Errors: every function returns 0 or a RAFT_* code. The first storage error (a failed write,
// fsync, rename) makes the store fail-stop: it and everything after return RAFT_IOERR (or
// RAFT_NOSPACE for a full disk) and failure() says why, because libraft 0.15 does not recover
// reliably from a failed write (upstream issues #320, #466, #470).
#pragma once

#include <noriwal/config.hpp>
#include <noriwal/file_system.hpp>

#include <boost/asio/any_io_executor.hpp>

// raft.h has no extern "C" of its own: include it through this header (or the same way).
extern "C" {
#include <raft.h>
}

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

namespace noriwal::raft {

/// How a log_store is opened.
struct log_store_options {
    /// The server's directory; created (durably) if missing.
    std::filesystem::path dir;
    /// When appends are durable. The raft_io contract needs always (an append completes only
    /// once durable); the others are for measurements and tests.
    fsync_policy fsync = fsync_policy::always();
    /// Size of one segment of the entry log.
    std::uint64_t max_segment_size = 64 * 1024 * 1024;
    /// The file system; nullptr: the real disk.
    file_system* fs = nullptr;
};

/// Durable storage of one raft server: entries (noriwal records), term and vote, snapshots.
/// Not thread-safe: called from the engine's one io_context thread; completion callbacks are
/// posted to `ex` (that io_context), never invoked inline.
class log_store {
public:
    /// Opens (creating if needed) the store in opts.dir. Throws std::system_error whose what()
    /// says what was wrong and what to do.
    static std::unique_ptr<log_store> open(boost::asio::any_io_executor ex, log_store_options opts);
    ~log_store();
    log_store(const log_store&) = delete;
    log_store& operator=(const log_store&) = delete;

    /// raft_io::load: the term, vote, newest snapshot (or null), the index of the first entry
    /// and every entry after the snapshot's trailing ones. Memory: the snapshot (and its
    /// configuration and buffer) and the entries array (with one batch holding every entry's
    /// data) are allocated with raft_malloc, as the engine frees them. On error `errmsg` says
    /// what was wrong.
    int load(raft_term* term, raft_id* voted_for, raft_snapshot** snapshot, raft_index* start_index,
             raft_entry** entries, std::size_t* n_entries, std::string& errmsg);
    /// Writes the first entry (index 1, term 1, RAFT_CHANGE holding `conf`) and term 1,
    /// durably. RAFT_CANTBOOTSTRAP if any state exists (a term, a vote, an entry, a snapshot).
    int bootstrap(const raft_configuration& conf, std::string& errmsg);
    /// Appends a RAFT_CHANGE entry holding `conf` (at the current term) to the log, durably:
    /// forces a new configuration on a cluster that lost its majority.
    int recover(const raft_configuration& conf, std::string& errmsg);
    /// Stores the term, durably before it returns; the vote is reset to 0.
    int set_term(raft_term term, std::string& errmsg);
    /// Stores the vote for the current term, durably before it returns.
    int set_vote(raft_id id, std::string& errmsg);
    /// Appends entries after the last one. Entries are copied before return; done(status) is
    /// posted to ex once all are durable (fdatasync'd), with 0 or a RAFT_* code.
    int append(const raft_entry entries[], unsigned n, std::function<void(int status)> done);
    /// Removes the entries with index >= index, ordered after every append already accepted.
    int truncate(raft_index index);
    /// Stores a snapshot, durably, then completes with done(status) posted to ex.
    /// trailing > 0: keep `trailing` entries before snapshot.index, drop older; trailing == 0:
    /// install mode, the snapshot replaces the whole log (next entry is snapshot.index + 1).
    /// The snapshot's memory is copied before return.
    int snapshot_put(unsigned trailing, const raft_snapshot& snapshot, std::function<void(int status)> done);
    /// Loads the newest snapshot; done(0, snapshot) is posted to ex with a raft_malloc'd
    /// snapshot (one buffer) the engine then owns, or done(error, nullptr).
    int snapshot_get(std::function<void(int status, raft_snapshot* snapshot)> done);
    /// The first storage error (the store is then fail-stop), or {}.
    std::error_code failure() const;
    /// Waits for the operations in flight, closes the files, then posts done to ex.
    /// Every call after it fails with RAFT_IOERR.
    void close(std::function<void()> done);

private:
    struct state;
    explicit log_store(std::unique_ptr<state> s);
    std::unique_ptr<state> s_;
};

}  // namespace noriwal::raft
