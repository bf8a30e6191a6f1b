// noriwal-kvd: a replicated key-value server on canonical raft with noriwal as its log. The
// command line, the client protocol and the STATUS object are described in doc/replication.md;
// parse_options and server are here so that tests can drive them in process.
#pragma once

#include "kv_fsm.hpp"

#include <noriwal/config.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

namespace noriwal::kvd {

struct options {
    raft_id id = 0;
    std::filesystem::path dir;
    std::map<raft_id, std::string> cluster;  ///< raft address of every voter
    std::string client;                      ///< host:port of the client protocol
    unsigned election_timeout_ms = 1000;
    unsigned heartbeat_ms = 100;
    unsigned snapshot_threshold = 1024;
    unsigned snapshot_trailing = 128;
    fsync_policy fsync = fsync_policy::always();
    unsigned segment_mib = 16;  ///< size of one log segment file
};

/// Parses the command line (without the program name). On error returns false with a message in
/// `error`; `help` is set when --help was asked.
bool parse_options(const std::vector<std::string>& args, options& out, std::string& error, bool& help);
void print_usage(std::ostream& os);

/// "host:port" split at the last colon; false if there is no port or it is not a number.
bool split_address(const std::string& address, std::string& host, unsigned short& port);

/// One reply line (without the newline) for a request line whose answer does not need the engine:
/// syntax errors. Returns false when the line is a well-formed request.
bool reject_malformed(const std::string& line, std::string& reply);

/// Runs the server until SIGINT or SIGTERM (exit status 0) or a failure (non-zero; a storage
/// failure exits at once, see doc/replication.md).
int run(const options& opts);

}  // namespace noriwal::kvd
