// Byte views used across the API.
#pragma once

#include <noriwal/detail/byte_ranges.hpp>

#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace noriwal {

/// A read-only view of bytes. Keys and values are arbitrary bytes; empty is allowed.
///
/// It is a std::span<const std::byte> (and converts to one implicitly), made implicitly from
/// the contiguous byte containers people hold: std::string, std::string_view,
/// std::vector<char | unsigned char | std::byte>, std::array, std::span, arrays of std::byte
/// or unsigned char, and C strings (`"key"`, a `const char*`: up to the first NUL, as
/// std::string_view takes them; view a char buffer that holds binary data through a
/// std::span or a std::string_view of its length). It views, it never copies: the bytes must
/// outlive it.
///
/// Out: `std::string(v)` and `std::vector<std::byte>(v)` copy the bytes (explicit
/// conversions); `as_string(v)` views them as characters.
class bytes_view : public std::span<const std::byte> {
public:
    using span_type = std::span<const std::byte>;
    using span_type::span_type;

    /// An empty view.
    constexpr bytes_view() noexcept = default;
    /// The same bytes.
    constexpr bytes_view(span_type s) noexcept : span_type(s) {}
    /// The characters of a contiguous range of char, signed char or unsigned char.
    template <class R>
    requires detail::char_range<R, bytes_view> bytes_view(const R& r)
    noexcept  // NOLINT(google-explicit-constructor): a view, as std::string_view
        : span_type(reinterpret_cast<const std::byte*>(std::ranges::data(r)), std::ranges::size(r)) {}
    /// The characters of a C string, up to its first NUL (as std::string_view).
    bytes_view(const char* s) noexcept  // NOLINT(google-explicit-constructor)
        : span_type(reinterpret_cast<const std::byte*>(s), std::char_traits<char>::length(s)) {}

    /// A copy of the bytes as characters.
    explicit operator std::string() const {
        return std::string(reinterpret_cast<const char*>(data()), size());
    }
    /// A copy of the bytes.
    explicit operator std::vector<std::byte>() const { return std::vector<std::byte>(begin(), end()); }
};

/// Views the characters of a string as bytes (no copy).
inline bytes_view as_bytes(std::string_view s) noexcept {
    return bytes_view::span_type{reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// Views bytes as characters (no copy), for printing and comparing with strings.
inline std::string_view as_string(std::span<const std::byte> b) noexcept {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace noriwal
