// The ranges noriwal::bytes_view is made from (include/noriwal/bytes.hpp).
#pragma once

#include <ranges>
#include <type_traits>

namespace noriwal::detail {

/// The element types a byte view may be made of: char, signed char, unsigned char (std::byte
/// ranges are std::span's own business).
template <class T>
concept char_like =
    std::is_same_v<T, char> || std::is_same_v<T, signed char> || std::is_same_v<T, unsigned char>;

/// A contiguous, sized range of char-like elements that is not an array of char (an array of
/// char is taken as a C string, as std::string_view takes it) nor a bytes_view already.
template <class R, class Self>
concept char_range = std::ranges::contiguous_range<const R&> && std::ranges::sized_range<const R&> &&
                     char_like<std::remove_cv_t<std::ranges::range_value_t<const R&>>> &&
                     !std::is_same_v<std::remove_cvref_t<R>, Self> &&
                     !(std::is_array_v<std::remove_cvref_t<R>> &&
                       std::is_same_v<std::remove_extent_t<std::remove_cvref_t<R>>, char>);

}  // namespace noriwal::detail
