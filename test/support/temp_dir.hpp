// Real temporary directories for tests, and the small file surgeries that corruption tests
// perform (read a whole file, overwrite bytes, flip a bit, truncate, zero a range).
//
// The helpers throw std::system_error on failure: a test that cannot set up its files should
// stop with the reason, which Boost.Test prints. Each helper comes in two forms: on a real
// path, and on any noriwal::file_system (so that the same surgery works on a sim_disk).
#pragma once

#include <noriwal/file_system.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

namespace noriwal::test {

/// A fresh, unique directory (mkdtemp under $TMPDIR, or /tmp), removed with everything in it
/// when this object is destroyed.
class temp_dir {
public:
    /// `prefix` starts the directory's name, to tell which test left it behind after a crash.
    explicit temp_dir(std::string_view prefix = "noriwal-test");
    ~temp_dir();
    temp_dir(temp_dir&& other) noexcept;
    temp_dir& operator=(temp_dir&& other) noexcept;
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const noexcept { return path_; }
    std::filesystem::path operator/(const std::filesystem::path& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

/// The whole content of a file.
std::vector<std::byte> read_file(const std::filesystem::path& p);
std::vector<std::byte> read_file(file_system& fs, const std::filesystem::path& p);

/// Creates (or replaces) the file with exactly `data`.
void write_file(const std::filesystem::path& p, std::span<const std::byte> data);
void write_file(file_system& fs, const std::filesystem::path& p, std::span<const std::byte> data);

/// Overwrites bytes at `offset` of an existing file (extending it if they reach past its end).
void write_bytes_at(const std::filesystem::path& p, std::uint64_t offset, std::span<const std::byte> data);
void write_bytes_at(file_system& fs, const std::filesystem::path& p, std::uint64_t offset,
                    std::span<const std::byte> data);

/// Inverts bit `bit` (0 = least significant) of the byte at `offset`.
void flip_bit(const std::filesystem::path& p, std::uint64_t offset, unsigned bit = 0);
void flip_bit(file_system& fs, const std::filesystem::path& p, std::uint64_t offset, unsigned bit = 0);
/// Inverts bits 0x5a of the byte at `offset` and syncs the file: a damaged disk, not a lost write
/// (on the simulated disk the damage survives every power cut). Applied twice, it undoes itself.
void damage_byte(file_system& fs, const std::filesystem::path& p, std::uint64_t offset);

/// Sets the file's size (cutting it, or extending it with zeros).
void truncate_file(const std::filesystem::path& p, std::uint64_t size);
void truncate_file(file_system& fs, const std::filesystem::path& p, std::uint64_t size);

/// Overwrites [offset, offset+len) with zeros.
void zero_range(const std::filesystem::path& p, std::uint64_t offset, std::uint64_t len);
void zero_range(file_system& fs, const std::filesystem::path& p, std::uint64_t offset, std::uint64_t len);

/// The file's size in bytes.
std::uint64_t file_size(file_system& fs, const std::filesystem::path& p);

/// Bytes of a string, for building test data: bytes_of("abc").
std::vector<std::byte> bytes_of(std::string_view s);

/// `n` bytes whose value depends on their position and on `seed`, so that a misplaced or
/// mixed-up buffer shows.
std::vector<std::byte> pattern_bytes(std::size_t n, std::size_t seed);

}  // namespace noriwal::test
