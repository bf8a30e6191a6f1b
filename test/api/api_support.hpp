// What the API tests share: a wal on the simulated disk, and a bounded wait.
#pragma once

#include <noriwal/config.hpp>

#include "support/sim_disk.hpp"

#include <chrono>
#include <memory>
#include <thread>

namespace noriwal::test {

/// A small wal configuration on a fresh simulated disk.
inline wal_config api_config(fsync_policy policy = fsync_policy::os()) {
    wal_config cfg;
    cfg.dir = "/log";
    cfg.fs = std::make_shared<sim_disk>();
    cfg.fsync = policy;
    cfg.max_segment_size = 1u << 20;
    cfg.max_record_size = 64u << 10;
    return cfg;
}

/// Waits until `done()` holds, polling; false if it still does not after `limit` (which only
/// bounds how long a broken build hangs: no result depends on the time taken).
template <class Pred>
bool eventually(Pred done, std::chrono::seconds limit = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

}  // namespace noriwal::test
