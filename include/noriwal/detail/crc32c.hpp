// CRC32C (Castagnoli). Hardware instructions (SSE4.2 on x86-64, CRC on ARMv8) are picked at
// run time; a portable slicing-by-8 fallback runs elsewhere. Both give the standard values
// (crc32c("123456789") == 0xE3069283).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace noriwal::detail {

/// Extends `crc` (the CRC of some earlier bytes, 0 for none) with `data`.
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t n) noexcept;

inline std::uint32_t crc32c(std::span<const std::byte> data) noexcept {
    return crc32c_extend(0, data.data(), data.size());
}

/// The same computation, forced onto the portable code (for tests and benchmarks).
std::uint32_t crc32c_extend_portable(std::uint32_t crc, const void* data, std::size_t n) noexcept;

/// Name of the implementation picked at run time: "sse4.2", "armv8-crc" or "portable".
const char* crc32c_implementation() noexcept;

}  // namespace noriwal::detail
