// Names of the codec's status values, so that failed checks print them.
#pragma once

#include <noriwal/detail/format.hpp>

#include <ostream>

namespace noriwal::detail {

inline std::ostream& operator<<(std::ostream& os, decode_status s) {
    constexpr const char* names[] = {"ok",         "zero",       "short_header", "bad_header_crc",
                                     "bad_header", "bad_length", "short_body",   "bad_payload_crc"};
    const auto i = static_cast<std::size_t>(s);
    return i < std::size(names) ? os << names[i] : os << "decode_status(" << i << ')';
}

inline std::ostream& operator<<(std::ostream& os, segment_header_status s) {
    constexpr const char* names[] = {"ok",        "zero",    "short_file",
                                     "bad_magic", "bad_crc", "unsupported_version"};
    const auto i = static_cast<std::size_t>(s);
    return i < std::size(names) ? os << names[i] : os << "segment_header_status(" << i << ')';
}

inline std::ostream& operator<<(std::ostream& os, record_type t) {
    return os << "record_type(" << static_cast<int>(t) << ')';
}

}  // namespace noriwal::detail
