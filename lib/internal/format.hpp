// Internal API (not installed, no compatibility promise): what tools/ and perf/ may use of the
// format layer besides <noriwal/detail/format.hpp>. doc/architecture.md lists the internal API;
// a tool or a benchmark includes only "internal/*.hpp" from lib/ (the check internal_api_only
// enforces it).
//
// - record_walker, record_header_fields, find_next_record, is_stale_record_header,
//   any_record_size: walking a segment's records the way recovery and the readers do.
#pragma once

#include <noriwal/detail/format.hpp>

#include "format/record_walk.hpp"
