// Helpers of the wal-inspect tests: running the tool, writing logs to inspect (through the
// public wal), reading its JSON output, and snapshots of a directory to prove that nothing
// changed.
#pragma once

#include "process.hpp"
#include "support/temp_dir.hpp"

#include "json.hpp"

#include <noriwal/detail/format.hpp>
#include <noriwal/wal.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace noriwal::test {

/// The wal-inspect executable (a compile definition: $<TARGET_FILE:wal-inspect>).
inline const std::string wal_inspect_path = WAL_INSPECT;

/// Runs wal-inspect with `args` and `input` on its standard input.
inline process_result run_inspect(const std::vector<std::string>& args, const std::string& input = {}) {
    return run_process(wal_inspect_path, args, input);
}

/// Lines of a text, without the newlines (a last line without one counts).
std::vector<std::string> lines_of(const std::string& text);

/// Parses one JSON object per line; fails the test on a line that is not one.
std::vector<inspect::json::value> json_lines(const std::string& text);
/// Parses a single JSON document; fails the test if it is not one.
inspect::json::value json_doc(const std::string& text);

/// A member that must be there (fails the test otherwise).
const inspect::json::value& member(const inspect::json::value& obj, std::string_view name);
std::uint64_t uint_member(const inspect::json::value& obj, std::string_view name);
/// key / value from "name" or "name_base64".
std::string bytes_member(const inspect::json::value& obj, std::string_view name);

/// A record the test appended, and where the wal put it.
struct written_record {
    std::string key;
    std::string value;
    bool tombstone = false;
    std::optional<std::chrono::nanoseconds> ttl;
    compression compress = compression::none;
    detail::record_type batch = detail::record_type::full;
    position pos;
};

/// A small log configuration for tests: 8 KiB segments (so that a few hundred records make
/// several segments), fsync os (the test syncs when it needs durable hints).
wal_config test_config(const std::filesystem::path& dir);

/// Appends `records` (atomic batches where their `batch` says so), fills in their positions,
/// syncing after every `sync_every` appends (0: only at the close), and closes the log.
/// Writes the records through a wal, syncing every `sync_every` appends, and closes it. Unless
/// `clean_close`, the close marker is removed: the log is then as a crash after the last write
/// leaves it (damage at its end reads as a torn tail).
void write_log(const wal_config& cfg, std::vector<written_record>& records, std::size_t sync_every = 0,
               bool clean_close = false);

/// `n` plain records: key "k<i % keys>", a value of 40..140 printable bytes; every 7th a
/// tombstone, every 5th with a one-hour TTL, every 4th stored with LZ4.
std::vector<written_record> sample_records(std::size_t n, std::size_t keys = 50);

/// The segment files of a log directory, in order.
std::vector<std::filesystem::path> segment_files(const std::filesystem::path& dir);

/// Every entry under `dir` (recursively) with its size, bytes and modification time: two
/// snapshots are equal when nothing was created, removed, written or touched.
struct dir_snapshot {
    std::map<std::string, std::string> files;  // relative path -> content
    std::map<std::string, std::int64_t> mtimes;
    std::vector<std::string> names;
    friend bool operator==(const dir_snapshot&, const dir_snapshot&) = default;
};
dir_snapshot snapshot(const std::filesystem::path& dir);

/// True if `text` is exactly one line (one newline, at the end) that contains `needle`.
bool one_line_naming(const std::string& text, const std::string& needle);

}  // namespace noriwal::test
