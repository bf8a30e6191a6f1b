// CRC32C (Castagnoli, reflected polynomial 0x82F63B78).
//
// Three implementations give the same values:
// - portable: slicing-by-8 tables, 8 bytes per step, any CPU;
// - sse4.2 (x86-64) and armv8-crc (AArch64): the CPU's CRC32C instruction. One instruction
//   takes 8 bytes but has a latency of about 3 cycles and a throughput of 1 per cycle, so a
//   single chain of instructions runs at a third of the speed the unit allows. Large buffers
//   are therefore cut into three adjacent blocks whose CRCs are computed in one interleaved
//   loop and then combined: crc(A ++ B) = shift_|B|(crc(A)) ^ crc_0(B), where shift_n advances a
//   CRC register over n zero bytes. That operator is linear, so it is a 32x32 bit matrix,
//   applied with four 256-entry tables built at compile time for the two block sizes used.
// The implementation is picked once, at the first call, from what the CPU reports.
#include <noriwal/detail/crc32c.hpp>

#include <boost/endian/conversion.hpp>

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#elif defined(__aarch64__)
#include <arm_acle.h>
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace noriwal::detail {
namespace {

constexpr std::uint32_t polynomial = 0x82F63B78u;  // reflected Castagnoli polynomial

// ------------------------------------------------------------------------ portable

using byte_table = std::array<std::uint32_t, 256>;

// slicing[0] is the classic byte-at-a-time table; slicing[k][b] is the CRC register after
// byte b followed by k zero bytes, so that 8 bytes can be looked up independently.
constexpr std::array<byte_table, 8> make_slicing_tables() {
    std::array<byte_table, 8> t{};
    for (std::uint32_t b = 0; b < 256; ++b) {
        std::uint32_t c = b;
        for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ ((c & 1u) ? polynomial : 0u);
        t[0][b] = c;
    }
    for (std::size_t k = 1; k < 8; ++k)
        for (std::uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFFu];
    return t;
}
constexpr auto slicing = make_slicing_tables();

std::uint16_t load_u16(const unsigned char* p) noexcept { return boost::endian::load_little_u16(p); }

std::uint32_t load_u32(const unsigned char* p) noexcept { return boost::endian::load_little_u32(p); }

std::uint64_t load_u64(const unsigned char* p) noexcept { return boost::endian::load_little_u64(p); }

// Works on the raw CRC register (the caller applies the standard pre- and post-inversion).
std::uint32_t register_portable(std::uint32_t c, const unsigned char* p, std::size_t n) noexcept {
    for (; n >= 8; p += 8, n -= 8) {
        const std::uint32_t lo = c ^ load_u32(p);
        const std::uint32_t hi = load_u32(p + 4);
        c = slicing[7][lo & 0xFFu] ^ slicing[6][(lo >> 8) & 0xFFu] ^ slicing[5][(lo >> 16) & 0xFFu] ^
            slicing[4][lo >> 24] ^ slicing[3][hi & 0xFFu] ^ slicing[2][(hi >> 8) & 0xFFu] ^
            slicing[1][(hi >> 16) & 0xFFu] ^ slicing[0][hi >> 24];
    }
    for (; n > 0; ++p, --n) c = (c >> 8) ^ slicing[0][(c ^ *p) & 0xFFu];
    return c;
}

// ------------------------------------------------------------------------ zero-byte shifts

// A 32x32 matrix over GF(2): column i is the image of the register with only bit i set.
using gf2_matrix = std::array<std::uint32_t, 32>;

constexpr std::uint32_t apply(const gf2_matrix& m, std::uint32_t v) {
    std::uint32_t r = 0;
    for (int i = 0; v != 0; ++i, v >>= 1)
        if (v & 1u) r ^= m[static_cast<std::size_t>(i)];
    return r;
}

constexpr gf2_matrix multiply(const gf2_matrix& a, const gf2_matrix& b) {  // a after b
    gf2_matrix r{};
    for (std::size_t i = 0; i < 32; ++i) r[i] = apply(a, b[i]);
    return r;
}

// Four tables that apply "advance the register over n zero bytes" one register byte at a time.
using shift_tables = std::array<byte_table, 4>;

constexpr shift_tables make_shift_tables(std::size_t n_bytes) {
    gf2_matrix step{};  // one zero bit
    step[0] = polynomial;
    for (std::size_t i = 1; i < 32; ++i) step[i] = 1u << (i - 1);
    gf2_matrix shift{};  // identity, then step^(8 n) by square-and-multiply
    for (std::size_t i = 0; i < 32; ++i) shift[i] = 1u << i;
    for (std::size_t bits = 8 * n_bytes; bits != 0; bits >>= 1) {
        if (bits & 1u) shift = multiply(step, shift);
        step = multiply(step, step);
    }
    shift_tables t{};
    for (std::size_t k = 0; k < 4; ++k)
        for (std::uint32_t b = 0; b < 256; ++b) t[k][b] = apply(shift, b << (8 * k));
    return t;
}

[[gnu::always_inline]] inline std::uint32_t shift(const shift_tables& t, std::uint32_t c) noexcept {
    return t[0][c & 0xFFu] ^ t[1][(c >> 8) & 0xFFu] ^ t[2][(c >> 16) & 0xFFu] ^ t[3][c >> 24];
}

// Block lengths per stream: long blocks for bulk data, shorter ones so that records of a few
// hundred bytes also use all three streams. Combining costs two table shifts (about 20 cycles
// of latency) per block, against the 2 x block / 8 instruction latencies the streams save.
constexpr std::size_t long_block = 8192;
constexpr std::size_t short_block = 256;
constexpr std::size_t tiny_block = 64;
constexpr shift_tables long_shift = make_shift_tables(long_block);
constexpr shift_tables short_shift = make_shift_tables(short_block);
constexpr shift_tables tiny_shift = make_shift_tables(tiny_block);

// ------------------------------------------------------------------------ hardware

// The hardware loop, written once for any instruction set. Ops provides step8, step16, step32
// and step64 (one CRC instruction each, consuming that many bits); they carry the target
// attribute and are inlined into the attributed entry point of each instruction set, which is
// where this template is expanded.
template <class Ops, std::size_t block>
[[gnu::always_inline]] inline std::uint32_t three_streams(std::uint32_t c, const unsigned char* p,
                                                          const shift_tables& t) noexcept {
    // 64-bit registers: the x86 instruction works on them, and narrowing after every step
    // would cost a move per instruction.
    std::uint64_t c0 = c, c1 = 0, c2 = 0;
    for (std::size_t i = 0; i < block; i += 8) {
        c0 = Ops::step64(c0, load_u64(p + i));
        c1 = Ops::step64(c1, load_u64(p + block + i));
        c2 = Ops::step64(c2, load_u64(p + 2 * block + i));
    }
    return shift(t, shift(t, static_cast<std::uint32_t>(c0)) ^ static_cast<std::uint32_t>(c1)) ^
           static_cast<std::uint32_t>(c2);
}

template <class Ops>
[[gnu::always_inline]] inline std::uint32_t register_hardware(std::uint32_t c, const unsigned char* p,
                                                              std::size_t n) noexcept {
    // Every step waits for the previous one, so the head and the tail are done in at most
    // three steps each (1, 2 and 4 bytes) rather than byte by byte. The head brings p to an
    // 8-byte boundary, so that no wide load straddles a cache line.
    if (n >= 8) {
        if (reinterpret_cast<std::uintptr_t>(p) & 1u) c = Ops::step8(c, *p), p += 1, n -= 1;
        if (reinterpret_cast<std::uintptr_t>(p) & 2u) c = Ops::step16(c, load_u16(p)), p += 2, n -= 2;
        if (reinterpret_cast<std::uintptr_t>(p) & 4u) c = Ops::step32(c, load_u32(p)), p += 4, n -= 4;
    }
    for (; n >= 3 * long_block; p += 3 * long_block, n -= 3 * long_block)
        c = three_streams<Ops, long_block>(c, p, long_shift);
    for (; n >= 3 * short_block; p += 3 * short_block, n -= 3 * short_block)
        c = three_streams<Ops, short_block>(c, p, short_shift);
    for (; n >= 3 * tiny_block; p += 3 * tiny_block, n -= 3 * tiny_block)
        c = three_streams<Ops, tiny_block>(c, p, tiny_shift);
    for (; n >= 8; p += 8, n -= 8) c = static_cast<std::uint32_t>(Ops::step64(c, load_u64(p)));
    if (n & 4u) c = Ops::step32(c, load_u32(p)), p += 4;
    if (n & 2u) c = Ops::step16(c, load_u16(p)), p += 2;
    if (n & 1u) c = Ops::step8(c, *p);
    return c;
}

#if defined(__x86_64__)

struct sse42_ops {
    [[gnu::target("sse4.2")]] static inline std::uint32_t step8(std::uint32_t c, std::uint8_t v) noexcept {
        return _mm_crc32_u8(c, v);
    }
    [[gnu::target("sse4.2")]] static inline std::uint32_t step16(std::uint32_t c, std::uint16_t v) noexcept {
        return _mm_crc32_u16(c, v);
    }
    [[gnu::target("sse4.2")]] static inline std::uint32_t step32(std::uint32_t c, std::uint32_t v) noexcept {
        return _mm_crc32_u32(c, v);
    }
    [[gnu::target("sse4.2")]] static inline std::uint64_t step64(std::uint64_t c, std::uint64_t v) noexcept {
        return _mm_crc32_u64(c, v);
    }
};

[[gnu::target("sse4.2")]] std::uint32_t register_sse42(std::uint32_t c, const unsigned char* p,
                                                       std::size_t n) noexcept {
    return register_hardware<sse42_ops>(c, p, n);
}

#elif defined(__aarch64__)

// GCC spells the CRC extension "+crc" and declares the ACLE intrinsics for functions that
// enable it; Clang spells it "crc", and older Clang only offers its own builtins there.
#if defined(__clang__)
#define NORIWAL_TARGET_CRC gnu::target("crc")
#define NORIWAL_CRC32C(w) __builtin_arm_crc32c##w
#else
#define NORIWAL_TARGET_CRC gnu::target("+crc")
#define NORIWAL_CRC32C(w) __crc32c##w
#endif

struct armv8_ops {
    [[NORIWAL_TARGET_CRC]] static inline std::uint32_t step8(std::uint32_t c, std::uint8_t v) noexcept {
        return NORIWAL_CRC32C(b)(c, v);
    }
    [[NORIWAL_TARGET_CRC]] static inline std::uint32_t step16(std::uint32_t c, std::uint16_t v) noexcept {
        return NORIWAL_CRC32C(h)(c, v);
    }
    [[NORIWAL_TARGET_CRC]] static inline std::uint32_t step32(std::uint32_t c, std::uint32_t v) noexcept {
        return NORIWAL_CRC32C(w)(c, v);
    }
    [[NORIWAL_TARGET_CRC]] static inline std::uint64_t step64(std::uint64_t c, std::uint64_t v) noexcept {
        return NORIWAL_CRC32C(d)(static_cast<std::uint32_t>(c), v);
    }
};

[[NORIWAL_TARGET_CRC]] std::uint32_t register_armv8(std::uint32_t c, const unsigned char* p,
                                                    std::size_t n) noexcept {
    return register_hardware<armv8_ops>(c, p, n);
}

#endif

// ------------------------------------------------------------------------ dispatch

using register_fn = std::uint32_t (*)(std::uint32_t, const unsigned char*, std::size_t) noexcept;

struct implementation {
    register_fn fn;
    const char* name;
};

implementation pick() noexcept {
#if defined(__x86_64__)
    __builtin_cpu_init();  // may run before the constructors that normally call it
    if (__builtin_cpu_supports("sse4.2")) return {register_sse42, "sse4.2"};
#elif defined(__aarch64__)
    if (getauxval(AT_HWCAP) & HWCAP_CRC32) return {register_armv8, "armv8-crc"};
#endif
    return {register_portable, "portable"};
}

const implementation& chosen() noexcept {
    static const implementation impl = pick();
    return impl;
}

}  // namespace

std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t n) noexcept {
    return ~chosen().fn(~crc, static_cast<const unsigned char*>(data), n);
}

std::uint32_t crc32c_extend_portable(std::uint32_t crc, const void* data, std::size_t n) noexcept {
    return ~register_portable(~crc, static_cast<const unsigned char*>(data), n);
}

const char* crc32c_implementation() noexcept { return chosen().name; }

}  // namespace noriwal::detail
