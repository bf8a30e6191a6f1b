// What the API tests share: a wal on the simulated disk (and eventually(), the bounded wait).
#pragma once

#include <noriwal/config.hpp>

#include "support/eventually.hpp"
#include "support/sim_disk.hpp"

#include <memory>

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

}  // namespace noriwal::test
