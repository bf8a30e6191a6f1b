// libFuzzer target: the record decoder (decode_record, decode_record_header, decompress_value).
// Input layout and properties: fuzz_properties.hpp. Build with the `fuzz` preset; run with
//   build/fuzz/test/fuzz/fuzz_record_decoder -max_total_time=20 -rss_limit_mb=512 \
//       -malloc_limit_mb=64 <scratch corpus dir> test/fuzz/corpus/record_decoder
#include "fuzz/fuzz_properties.hpp"

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
    const std::string failed =
        noriwal::test::check_record_decoder({reinterpret_cast<const std::byte*>(data), size});
    if (!failed.empty()) {
        std::fprintf(stderr, "record decoder property failed: %s\n", failed.c_str());
        std::abort();
    }
    return 0;
}
