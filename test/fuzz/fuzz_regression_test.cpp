// The fuzz targets' properties in every build: each file of the seed corpus, and seeded
// mutations of it (bit flips, zeroed and random runs, cuts, duplicated chunks, lengths and ids
// changed), go through the same checks as under libFuzzer. Long fuzzing runs: doc/testing.md.
#include "fuzz/fuzz_properties.hpp"
#include "support/log_check.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <random>

using namespace noriwal::test;

namespace {

std::vector<std::filesystem::path> corpus(const char* target) {
    std::vector<std::filesystem::path> files;
    for (const auto& e :
         std::filesystem::directory_iterator(std::filesystem::path(NORIWAL_FUZZ_CORPUS) / target))
        files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
}

std::vector<std::byte> mutate(const std::vector<std::byte>& in, std::mt19937_64& rng) {
    std::vector<std::byte> m = in;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !m.empty(); ++e) {
        const std::size_t at = rng() % m.size();
        const std::size_t run = std::min<std::size_t>(m.size() - at, 1 + rng() % 64);
        switch (rng() % 7) {
            case 0:  // bit flip
                m[at] ^= std::byte{static_cast<unsigned char>(1u << (rng() % 8))};
                break;
            case 1:  // zeroed run
                std::fill_n(m.begin() + static_cast<std::ptrdiff_t>(at), run, std::byte{0});
                break;
            case 2:  // random run
                for (std::size_t i = 0; i < run; ++i) m[at + i] = static_cast<std::byte>(rng());
                break;
            case 3:  // cut
                m.resize(at);
                break;
            case 4: {  // a chunk duplicated (a record written twice, a sector repeated)
                std::vector<std::byte> chunk(m.begin() + static_cast<std::ptrdiff_t>(at),
                                             m.begin() + static_cast<std::ptrdiff_t>(at + run));
                m.insert(m.begin() + static_cast<std::ptrdiff_t>(rng() % (m.size() + 1)), chunk.begin(),
                         chunk.end());
                break;
            }
            case 5:  // a length, id or mode byte near the start changed
                m[rng() % std::min<std::size_t>(m.size(), 16)] = static_cast<std::byte>(rng());
                break;
            default:  // an 8-byte-aligned word overwritten (a header field)
                for (std::size_t i = at & ~std::size_t{7}; i < std::min(m.size(), (at & ~std::size_t{7}) + 8);
                     ++i)
                    m[i] = static_cast<std::byte>(rng());
                break;
        }
    }
    return m;
}

void replay(const char* target, std::string (*check)(std::span<const std::byte>), std::size_t mutations) {
    const auto files = corpus(target);
    BOOST_TEST_REQUIRE(files.size() >= 8u, "the seed corpus of " << target << " is missing");
    std::mt19937_64 rng(7);
    std::size_t inputs = 0;
    std::size_t failures = 0;
    for (const auto& f : files) {
        const auto bytes = read_file(f);
        const auto failed = check(bytes);
        ++inputs;
        BOOST_TEST(failed.empty(), f.filename() << ": " << failed);
        for (std::size_t i = 0; i < mutations && failures < 5; ++i) {
            const auto m = mutate(bytes, rng);
            const auto why = check(m);
            ++inputs;
            if (why.empty()) continue;
            ++failures;
            BOOST_ERROR(f.filename() << ", mutation " << i << " (" << m.size() << " bytes): " << why);
        }
    }
    BOOST_TEST_MESSAGE(target << ": " << files.size() << " seed files and " << inputs - files.size()
                              << " mutations checked");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fuzz_regression)

BOOST_AUTO_TEST_CASE(record_decoder_corpus_and_mutations) {
    replay("record_decoder", check_record_decoder, scaled(3000, 100));
}

BOOST_AUTO_TEST_CASE(recovery_scanner_corpus_and_mutations) {
    replay("recovery_scanner", check_recovery_scanner, scaled(1500, 50));
}

BOOST_AUTO_TEST_SUITE_END()
