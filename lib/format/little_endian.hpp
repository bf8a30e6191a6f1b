// Little-endian loads and stores at byte pointers (the format's integers are little-endian).
#pragma once

#include <boost/endian/conversion.hpp>

#include <cstddef>
#include <cstdint>

namespace noriwal::detail::le {

inline const unsigned char* at(const std::byte* p) noexcept {
    return reinterpret_cast<const unsigned char*>(p);
}
inline unsigned char* at(std::byte* p) noexcept { return reinterpret_cast<unsigned char*>(p); }

inline std::uint16_t load_u16(const std::byte* p) noexcept { return boost::endian::load_little_u16(at(p)); }
inline std::uint32_t load_u32(const std::byte* p) noexcept { return boost::endian::load_little_u32(at(p)); }
inline std::uint64_t load_u64(const std::byte* p) noexcept { return boost::endian::load_little_u64(at(p)); }

inline void store_u16(std::byte* p, std::uint16_t v) noexcept { boost::endian::store_little_u16(at(p), v); }
inline void store_u32(std::byte* p, std::uint32_t v) noexcept { boost::endian::store_little_u32(at(p), v); }
inline void store_u64(std::byte* p, std::uint64_t v) noexcept { boost::endian::store_little_u64(at(p), v); }

}  // namespace noriwal::detail::le
