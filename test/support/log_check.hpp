// Checking what a log holds against what was appended: an independent reader of a log
// directory (it knows only the on-disk format, not the engine), deterministic record contents,
// and a model of what a recovered log may and must contain. The crash, kill and stress tests
// stand on these.
#pragma once

#include <noriwal/detail/format.hpp>
#include <noriwal/file_system.hpp>
#include <noriwal/position.hpp>
#include <noriwal/record.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace noriwal::test {

/// A record as read back from the files, owning its bytes (the value decompressed).
struct read_record {
    lsn_t lsn = 0;
    std::uint64_t segment_id = 0;
    std::uint64_t offset = 0;
    detail::record_type type = detail::record_type::full;
    bool tombstone = false;
    bool has_expiry = false;
    std::vector<std::byte> key;
    std::vector<std::byte> value;
};

/// Reads the log in `dir` as a reader that knows only doc/format.md would: segment files in id
/// order, each header checked (magic, CRC, id, base LSN continuing the previous segment), then
/// records from offset 64 while they decode under the segment id with the next LSN. It stops
/// at the first byte that is not such a record (zeros, stale bytes, damage) and goes on with
/// the next segment. Returns an empty string, or one line saying what is wrong with a log that
/// recovery has already repaired: a missing or damaged segment header, a segment id gap, an
/// LSN gap between segments, a batch without its last record, a value that does not
/// decompress. Files that are not segments are ignored.
std::string read_log(file_system& fs, const std::filesystem::path& dir, std::vector<read_record>& out);

/// The content of the record number `n` of a stream named `stream`: a key naming both, and a
/// value whose length cycles through sizes that cross sector and alignment boundaries (0 to
/// about `max_value` bytes), compressible or not. The same arguments always give the same bytes.
struct record_content {
    std::string key;
    std::vector<std::byte> value;
    bool tombstone = false;
    bool with_ttl = false;
    std::optional<compression> compress;

    record as_record() const;
};
record_content make_content(std::string_view stream, std::uint64_t n, std::size_t max_value = 1500);

/// Parses a key made by make_content back into its stream and number; false for other keys.
bool parse_content_key(std::string_view key, std::string& stream, std::uint64_t& n);

/// Whether `r` holds exactly `c` (key, value, tombstone, expiry present).
bool same_content(const read_record& r, const record_content& c);

/// What a recovered log may and must hold at one moment of a workload.
///
/// `allowed[lsn]` is the only content LSN `lsn` may hold (lsn >= 1; the vector's size is one
/// past the highest LSN any append so far could have been given). A recovered log must be a
/// contiguous LSN range whose every record equals its allowed content (no stale, phantom, torn
/// or joined record), must start at or after `floor` (segments removed by a completed
/// delete_segments_before never come back), must hold every LSN of [required_from,
/// required_to] (acknowledged as durable), and must hold each atomic batch whole or not at all.
struct log_expectation {
    struct entry {
        record_content content;
        lsn_t batch_first = 0;  ///< the batch's LSN range (first == last: a single record)
        lsn_t batch_last = 0;
    };
    std::vector<std::optional<entry>> allowed;  ///< index: LSN (0 unused)
    lsn_t floor = 1;
    lsn_t required_from = 1;
    lsn_t required_to = 0;  ///< 0: nothing required

    lsn_t last_allowed() const noexcept { return allowed.empty() ? 0 : allowed.size() - 1; }
    void allow(lsn_t lsn, record_content c, lsn_t batch_first, lsn_t batch_last);
    /// Forgets the content of every LSN above `lsn` (after a truncate_after completed).
    void forget_after(lsn_t lsn);
};

/// Checks `records` (as read_log returns them) against `e`. Returns an empty string, or one
/// line describing the first violation (which LSN, what was expected and found).
std::string check_log(const std::vector<read_record>& records, const log_expectation& e);

/// Short description of a record list for failure messages: "LSN a..b (n records)".
std::string describe(const std::vector<read_record>& records);

/// Whether two reads hold the same records (LSN, type, key, value, flags); ignores positions.
bool same_records(const std::vector<read_record>& a, const std::vector<read_record>& b);

/// A scale factor for the amount of work of the crash, kill and stress tests: the environment
/// variable NORIWAL_TEST_SCALE (a positive number, e.g. 0.1 or 4) if set, else 1 in a normal
/// build, 0.2 under AddressSanitizer and 0.1 under ThreadSanitizer. `scaled(n)` is n times the
/// factor, at least `at_least`.
double test_scale();
std::size_t scaled(std::size_t n, std::size_t at_least = 1);

}  // namespace noriwal::test
