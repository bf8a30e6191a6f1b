// libFuzzer target: the recovery scanner over up to 8 segment files. Input layout and
// properties: fuzz_properties.hpp. Build with the `fuzz` preset; run with
//   build/fuzz/test/fuzz/fuzz_recovery_scanner -max_total_time=20 -rss_limit_mb=512 \
//       -malloc_limit_mb=64 <scratch corpus dir> test/fuzz/corpus/recovery_scanner
#include "fuzz/fuzz_properties.hpp"

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
    const std::string failed =
        noriwal::test::check_recovery_scanner({reinterpret_cast<const std::byte*>(data), size});
    if (!failed.empty()) {
        std::fprintf(stderr, "recovery scanner property failed: %s\n", failed.c_str());
        std::abort();
    }
    return 0;
}
