// Records as wal-inspect prints them (dump, get, tail) and reads them back (import).
//
// JSON: one object per line with the members
//   lsn, segment, offset          where the record is (numbers)
//   key | key_base64              the key: a JSON string if its bytes are valid UTF-8, else
//   value | value_base64          base64 under the *_base64 name (so any bytes round-trip)
//   tombstone                     true for a delete
//   ttl_ms                        milliseconds left to live when the dump ran (negative once
//                                 expired), or null for a record without TTL
//   expiry_unix_ms                the stored absolute expiry, milliseconds since the Unix
//                                 epoch, or null
//   compression                   how the value is stored: "none", "lz4" or "zstd"
//   batch                         "single", or "first"/"middle"/"last" of an atomic batch
// import reads the same members; see parse_import_line.
#pragma once

#include "command.hpp"
#include "record_walk.hpp"

#include <noriwal/record.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace noriwal::inspect {

enum class record_format : std::uint8_t { text, json, hex };

/// "text", "json" or "hex"; throws failure for anything else.
record_format parse_record_format(std::string_view s);

struct print_options {
    record_format format = record_format::text;
    std::size_t max_bytes = 64;  ///< text: key and value bytes shown before "…(+N B)" (0: all)
    std::uint64_t now_ns = 0;    ///< the time ttl_ms counts from
};

/// A record as printed: from the walk (walked_record) or from a directory reader (entry).
struct shown_record {
    position pos;
    bytes_view key;
    bytes_view value;  ///< uncompressed
    bool tombstone = false;
    std::uint64_t expiry_ns = 0;  ///< 0: no TTL
    compression stored = compression::none;
    std::uint64_t stored_value_size = 0;
    detail::record_type batch = detail::record_type::full;
    std::span<const std::byte> frame;  ///< the record as stored (hex); empty if not at hand
    /// Beyond the recoverable end: a read-write open in the default recovery mode cuts it
    /// (text: marked "BEYOND-END"; JSON: "beyond_recoverable_end": true).
    bool beyond_end = false;
};

/// The value of a record, decompressed into `buf` if it is stored compressed. False if the
/// stored bytes do not decompress (the record is damaged though its CRCs hold).
bool record_value(const walked_record& r, std::vector<std::byte>& buf, bytes_view& value);

/// What print_record shows of a walked record whose value (uncompressed) is `value`.
shown_record shown(const walked_record& r, bytes_view value);

/// Appends the record in the chosen format (text and json: one line; hex: a header line and a
/// hex dump of the stored bytes).
void print_record(std::string& out, const shown_record& r, const print_options& opts);

/// --format and --max-bytes, shared by dump, get and tail.
void add_print_options(po::options_description& opts);
print_options print_options_from(const po::variables_map& vm);

/// --key K / --key-base64 B (the second for keys that are not text).
void add_key_options(po::options_description& opts, const char* what);
/// The key given, if any; throws failure for bad base64 or both options given.
std::optional<std::vector<std::byte>> key_from(const po::variables_map& vm);

/// The name of a record type in the `batch` member.
std::string_view batch_name(detail::record_type t) noexcept;

/// A record read by import.
struct import_record {
    std::vector<std::byte> key;
    std::vector<std::byte> value;
    bool tombstone = false;
    std::optional<std::int64_t> expiry_unix_ms;
    std::optional<std::int64_t> ttl_ms;
    std::optional<compression> compress;
    detail::record_type batch = detail::record_type::full;
};

/// Parses one line of import input. Required: key or key_base64. Optional: value or
/// value_base64 (empty if absent; a tombstone must have none), tombstone, ttl_ms,
/// expiry_unix_ms (either may be null), compression, batch. lsn, segment and offset are
/// accepted and ignored (the log assigns new ones). Any other member is an error, so that a
/// misspelt name is not silently dropped. Returns false with a one-line `error`.
bool parse_import_line(std::string_view line, import_record& out, std::string& error);

}  // namespace noriwal::inspect
