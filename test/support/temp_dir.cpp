#include "support/temp_dir.hpp"

#include <cerrno>
#include <cstdlib>
#include <string>
#include <system_error>
#include <utility>

namespace noriwal::test {
namespace {

void check(std::error_code ec, std::string_view what, const std::filesystem::path& p) {
    if (ec) throw std::system_error(ec, std::string(what) + " " + p.string());
}

std::unique_ptr<file> open_existing(file_system& fs, const std::filesystem::path& p) {
    std::unique_ptr<file> f;
    check(fs.open(p, open_mode::read_write, f), "cannot open", p);
    return f;
}

void xor_byte(file& f, const std::filesystem::path& p, std::uint64_t offset, std::byte mask) {
    std::byte b{};
    std::size_t got = 0;
    check(f.read_at(offset, {&b, 1}, got), "cannot read", p);
    if (got != 1) {
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "no byte to change past the end of " + p.string());
    }
    b ^= mask;
    check(f.write_at(offset, {&b, 1}), "cannot write", p);
}

}  // namespace

temp_dir::temp_dir(std::string_view prefix) {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = (base != nullptr && *base != '\0') ? base : "/tmp";
    pattern += '/';
    pattern += prefix;
    pattern += "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::system_error(errno, std::system_category(), "mkdtemp " + pattern);
    }
    path_ = pattern;
}

temp_dir::~temp_dir() {
    if (path_.empty()) return;
    std::error_code ignored;  // a destructor cannot report; a leftover directory is harmless
    std::filesystem::remove_all(path_, ignored);
}

temp_dir::temp_dir(temp_dir&& other) noexcept : path_(std::exchange(other.path_, {})) {}

temp_dir& temp_dir::operator=(temp_dir&& other) noexcept {
    if (this != &other) {
        temp_dir old(std::move(*this));
        path_ = std::exchange(other.path_, {});
    }
    return *this;
}

std::vector<std::byte> read_file(file_system& fs, const std::filesystem::path& p) {
    std::unique_ptr<file> f;
    check(fs.open(p, open_mode::read_only, f), "cannot open", p);
    std::uint64_t size = 0;
    check(f->size(size), "cannot stat", p);
    std::vector<std::byte> out(static_cast<std::size_t>(size));
    std::size_t got = 0;
    check(f->read_at(0, out, got), "cannot read", p);
    out.resize(got);
    return out;
}

std::vector<std::byte> read_file(const std::filesystem::path& p) {
    return read_file(*posix_file_system(), p);
}

void write_file(file_system& fs, const std::filesystem::path& p, std::span<const std::byte> data) {
    std::unique_ptr<file> f;
    auto ec = fs.open(p, open_mode::read_write, f);
    if (ec == std::errc::no_such_file_or_directory) ec = fs.open(p, open_mode::create_exclusive, f);
    check(ec, "cannot open", p);
    check(f->truncate(0), "cannot truncate", p);
    check(f->write_at(0, data), "cannot write", p);
}

void write_file(const std::filesystem::path& p, std::span<const std::byte> data) {
    write_file(*posix_file_system(), p, data);
}

void write_bytes_at(file_system& fs, const std::filesystem::path& p, std::uint64_t offset,
                    std::span<const std::byte> data) {
    check(open_existing(fs, p)->write_at(offset, data), "cannot write", p);
}

void write_bytes_at(const std::filesystem::path& p, std::uint64_t offset, std::span<const std::byte> data) {
    write_bytes_at(*posix_file_system(), p, offset, data);
}

void flip_bit(file_system& fs, const std::filesystem::path& p, std::uint64_t offset, unsigned bit) {
    xor_byte(*open_existing(fs, p), p, offset, std::byte{static_cast<unsigned char>(1u << (bit % 8))});
}

void damage_byte(file_system& fs, const std::filesystem::path& p, std::uint64_t offset) {
    auto f = open_existing(fs, p);
    xor_byte(*f, p, offset, std::byte{0x5a});
    check(f->sync(), "cannot sync", p);
}

void flip_bit(const std::filesystem::path& p, std::uint64_t offset, unsigned bit) {
    flip_bit(*posix_file_system(), p, offset, bit);
}

void truncate_file(file_system& fs, const std::filesystem::path& p, std::uint64_t size) {
    check(open_existing(fs, p)->truncate(size), "cannot truncate", p);
}

void truncate_file(const std::filesystem::path& p, std::uint64_t size) {
    truncate_file(*posix_file_system(), p, size);
}

void zero_range(file_system& fs, const std::filesystem::path& p, std::uint64_t offset, std::uint64_t len) {
    const std::vector<std::byte> zeros(static_cast<std::size_t>(len));
    write_bytes_at(fs, p, offset, zeros);
}

void zero_range(const std::filesystem::path& p, std::uint64_t offset, std::uint64_t len) {
    zero_range(*posix_file_system(), p, offset, len);
}

std::uint64_t file_size(file_system& fs, const std::filesystem::path& p) {
    std::unique_ptr<file> f;
    check(fs.open(p, open_mode::read_only, f), "cannot open", p);
    std::uint64_t size = 0;
    check(f->size(size), "cannot stat", p);
    return size;
}

std::vector<std::byte> bytes_of(std::string_view s) {
    const auto* b = reinterpret_cast<const std::byte*>(s.data());
    return {b, b + s.size()};
}

std::vector<std::byte> pattern_bytes(std::size_t n, std::size_t seed) {
    std::vector<std::byte> out(n);
    for (std::size_t i = 0; i < n; ++i)
        out[i] = std::byte(static_cast<unsigned char>((i * 31 + seed * 7) % 251));
    return out;
}

}  // namespace noriwal::test
