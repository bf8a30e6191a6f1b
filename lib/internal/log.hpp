// Internal API (not installed, no compatibility promise): the log layer for tools/ and perf/.
// See internal/format.hpp and doc/architecture.md.
//
// - recovery_scanner, recovery_plan, scanned_segment: what recovery finds and would cut
//   (wal-inspect verify and repair, the recovery benchmarks).
// - segment_log, read_close_marker: the single-threaded segment engine (wal-inspect repair,
//   the engine benchmarks).
#pragma once

#include "internal/format.hpp"
#include "log/recovery_scanner.hpp"
#include "log/segment_log.hpp"
