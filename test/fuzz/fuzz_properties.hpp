// The properties the fuzz targets check, shared by the libFuzzer targets (preset fuzz) and the
// regression test that replays the seed corpus in every build. Each returns an empty string,
// or one line naming the property that does not hold.
//
// Input of the record decoder target: segment id (u64 LE), max_record_size (u32 LE), then the
// bytes handed to decode_record.
//
// Input of the recovery scanner target: recovery mode (u8, modulo 4), first segment id (u8),
// then up to 8 segment files, each as its length (u32 LE) and its bytes (a length past the end
// of the input takes the rest).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace noriwal::test {

/// decode_record on arbitrary bytes: no crash, no read or allocation beyond bounds; when a
/// record decodes, decode_record_header agrees, its fields lie within the bytes, the bytes it
/// occupies re-encode from the decoded fields byte for byte (and through the library's encoder
/// where that can express it), bytes after it change nothing, and decompression yields exactly
/// raw_value_size bytes or errc::corrupted.
std::string check_record_decoder(std::span<const std::byte> input);

/// The recovery scanner on arbitrary segment files: no crash; the plan keeps a prefix of the
/// segments whose kept bytes decode as consecutive records; applying the plan and scanning
/// again finds a clean log with the same records; and in point_in_time mode bytes appended
/// after the kept prefix never change the records before them.
std::string check_recovery_scanner(std::span<const std::byte> input);

/// Frames a scanner input from segment files (the inverse of the parser above).
std::vector<std::byte> frame_scanner_input(unsigned mode, unsigned first_id,
                                           const std::vector<std::vector<std::byte>>& segments);

}  // namespace noriwal::test
