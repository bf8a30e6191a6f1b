// Byte views used across the API.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace noriwal {

/// A read-only view of bytes. Keys and values are arbitrary bytes; empty is allowed.
using bytes_view = std::span<const std::byte>;

/// Views the characters of a string as bytes (no copy).
inline bytes_view as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// Views bytes as characters (no copy), for printing and comparing with strings.
inline std::string_view as_string(bytes_view b) noexcept {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace noriwal
