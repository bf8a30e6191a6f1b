// libFuzzer target: the raft transport's frame decoder and handshake (lib/raft/message_codec.hpp).
// The first byte says how many of the next bytes give the sizes of the pieces the rest is fed in;
// the property is test/raft/frame_property.hpp's. Build with the `fuzz` preset; run with
//   build/fuzz/test/fuzz/fuzz_raft_frame_decoder -max_total_time=20 -rss_limit_mb=512 \
//       -malloc_limit_mb=64 <scratch corpus dir>
#include "frame_property.hpp"

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t n_splits = std::min<std::size_t>(data[0] % 8, size - 1);
    const std::span<const std::uint8_t> splits(data + 1, n_splits);
    const std::span<const std::byte> stream(reinterpret_cast<const std::byte*>(data) + 1 + n_splits,
                                            size - 1 - n_splits);
    const auto c = noriwal::test::check_frame_decoder(stream, 64 * 1024, splits);
    if (!c.failed.empty()) {
        std::fprintf(stderr, "raft frame decoder property failed: %s\n", c.failed.c_str());
        std::abort();
    }
    return 0;
}
