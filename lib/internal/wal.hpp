// Internal API (not installed, no compatibility promise): the wal's writer core for perf/.
// See internal/format.hpp and doc/architecture.md.
//
// - wal_core::of(w): the core behind a wal handle (spares_in_flight() lets a benchmark wait
//   until the writer's spare segment is ready before it measures).
// - append_request: what the writer takes (engine benchmarks frame records themselves).
#pragma once

#include "internal/log.hpp"
#include "wal/wal_core.hpp"
