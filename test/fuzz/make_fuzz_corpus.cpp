// Writes the seed corpus of the fuzz targets from real logs: the engine writes a few small logs
// (plain records, atomic batches, compressed values with tombstones and TTLs, recycled segments
// holding stale records, a truncation, a torn tail, a damaged middle) into a temporary
// directory, and their segment files are framed as the targets read them
// (fuzz_properties.hpp). The committed corpus in test/fuzz/corpus was made with
//   build/ci/test/fuzz/noriwal_fuzz_corpus test/fuzz/corpus
#include <noriwal/config.hpp>
#include <noriwal/detail/format.hpp>

#include "fuzz/fuzz_properties.hpp"
#include "log/segment_log.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace nd = noriwal::detail;
using namespace noriwal;

namespace {

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "make_fuzz_corpus: %s\n", what.c_str());
    std::exit(1);
}

std::vector<std::byte> read_all(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(c.size());
    std::transform(c.begin(), c.end(), out.begin(), [](char ch) { return static_cast<std::byte>(ch); });
    return out;
}

void write_all(const std::filesystem::path& p, const std::vector<std::byte>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) die("cannot write " + p.string());
}

struct log_writer {
    std::unique_ptr<nd::segment_log> log;
    int n = 0;

    explicit log_writer(const wal_config& cfg) {
        recovery_info info;
        std::string why;
        if (auto ec = nd::segment_log::open(cfg, log, info, why)) die("open: " + why);
    }
    std::string value(std::size_t len, bool compressible) {
        std::string v(len, ' ');
        for (std::size_t i = 0; i < len; ++i)
            v[i] = compressible ? static_cast<char>('a' + (i / 8) % 4)
                                : static_cast<char>((i * 131 + n * 17) % 251);
        return v;
    }
    void append(std::vector<record> recs, bool atomic) {
        std::vector<nd::encoded_record> enc(recs.size());
        std::vector<nd::encoded_record*> ptrs;
        nd::encode_options opts;
        opts.max_record_size = log->config().max_record_size;
        for (std::size_t i = 0; i < recs.size(); ++i) {
            if (nd::encode_record(recs[i], opts, 1'700'000'000'000'000'000ull, enc[i])) die("encode");
            ptrs.push_back(&enc[i]);
        }
        nd::append_request req{ptrs, atomic, nullptr};
        std::error_code result;
        if (log->append(std::span(&req, 1), std::span(&result, 1)) || result) die("append");
    }
    void put(std::size_t len, bool compressible = false) {
        const std::string k = "key-" + std::to_string(n++);
        const std::string v = value(len, compressible);
        record r = record::put(k, v);
        if (compressible) r.with_compression(n % 2 ? compression::lz4 : compression::zstd);
        append({r}, false);
    }
};

wal_config config(const std::filesystem::path& dir, preallocation prealloc = preallocation::none) {
    wal_config cfg;
    cfg.dir = dir;
    cfg.max_segment_size = 4096;
    cfg.max_record_size = 3000;
    cfg.prealloc = prealloc;
    return cfg;
}

std::vector<std::vector<std::byte>> segment_files(const std::filesystem::path& dir) {
    std::vector<std::uint64_t> ids;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        std::uint64_t id = 0;
        if (nd::parse_segment_file_name(e.path().filename().string(), id)) ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    std::vector<std::vector<std::byte>> out;
    for (const auto id : ids) out.push_back(read_all(dir / nd::segment_file_name(id)));
    return out;
}

std::uint64_t first_id(const std::filesystem::path& dir) {
    std::uint64_t lowest = UINT64_MAX;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        std::uint64_t id = 0;
        if (nd::parse_segment_file_name(e.path().filename().string(), id)) lowest = std::min(lowest, id);
    }
    return lowest;
}

struct corpus {
    std::filesystem::path out;
    int records = 0;

    // One scanner input per recovery mode, and record inputs for a few records of each segment.
    void add_log(const std::string& name, const std::filesystem::path& dir,
                 const std::function<void(std::vector<std::vector<std::byte>>&)>& damage = {}) {
        auto files = segment_files(dir);
        const auto id = first_id(dir);
        if (damage) damage(files);
        for (unsigned mode = 0; mode < 4; ++mode)
            write_all(out / "recovery_scanner" / (name + "-mode" + std::to_string(mode) + ".bin"),
                      noriwal::test::frame_scanner_input(mode, static_cast<unsigned>(id), files));
        for (std::size_t s = 0; s < files.size() && s < 2; ++s) {
            std::uint64_t off = nd::segment_header_size;
            for (int k = 0; k < 3; ++k) {
                nd::record_view rv;
                const auto& f = files[s];
                if (off >= f.size() || nd::decode_record(std::span<const std::byte>(f).subspan(off), id + s,
                                                         UINT32_MAX, rv) != nd::decode_status::ok)
                    break;
                // Segment id (u64 LE), max_record_size (u32 LE), the record and 8 bytes after it.
                const std::uint64_t seg = id + s;
                const auto end = std::min<std::uint64_t>(f.size(), off + rv.size + 8);
                std::vector<std::byte> in;
                for (int b = 0; b < 8; ++b) in.push_back(static_cast<std::byte>(seg >> (8 * b)));
                for (const std::uint32_t max = 3000; const int b : {0, 1, 2, 3})
                    in.push_back(static_cast<std::byte>(max >> (8 * b)));
                for (auto o = off; o < end; ++o) in.push_back(f[o]);
                write_all(out / "record_decoder" / (name + "-" + std::to_string(records++) + ".bin"), in);
                off += rv.size;
            }
        }
    }
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) die("usage: noriwal_fuzz_corpus <output directory>");
    corpus c{argv[1]};
    std::filesystem::create_directories(c.out / "record_decoder");
    std::filesystem::create_directories(c.out / "recovery_scanner");
    char pattern[] = "/tmp/noriwal-corpus-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) die("mkdtemp");
    const std::filesystem::path tmp = pattern;
    int next = 0;
    auto fresh = [&] { return tmp / std::to_string(next++); };

    {  // plain records over three segments
        const auto dir = fresh();
        log_writer w(config(dir));
        for (int i = 0; i < 12; ++i) w.put(static_cast<std::size_t>(i * 97 % 900));
        w.log->sync();
        w.log.reset();
        c.add_log("plain", dir);
        c.add_log("torn", dir, [](auto& f) { f.back().resize(f.back().size() - 13); });
        c.add_log("flipped", dir, [](auto& f) { f.front()[200] ^= std::byte{0x10}; });
        c.add_log("zeroed-middle", dir, [](auto& f) {
            if (f.size() > 1) std::fill(f[1].begin() + 64, f[1].begin() + 128, std::byte{0});
        });
    }
    {  // atomic batches and compressed values, tombstones, TTLs
        const auto dir = fresh();
        log_writer w(config(dir, preallocation::zero_fill));
        w.append({record::put("a", "1"), record::put("b", "2"), record::put_tombstone(std::string_view("c"))},
                 true);
        w.put(700, true);
        w.put(1200, true);
        record r = record::put("ttl", "expires");
        r.with_ttl(std::chrono::seconds(30));
        w.append({r}, false);
        w.append({record::put("x", std::string(900, 'x')), record::put("y", std::string(900, 'y'))}, true);
        w.log->sync();
        w.log.reset();
        c.add_log("batches", dir);
        c.add_log("batch-cut", dir, [](auto& f) { f.front().resize(64 + 48); });
    }
    {  // recycled segments: stale records of earlier segments after the end
        const auto dir = fresh();
        wal_config cfg = config(dir, preallocation::zero_fill);
        cfg.recycle_segments = true;
        log_writer w(cfg);
        for (int i = 0; i < 16; ++i) w.put(800);
        std::uint64_t deleted = 0;
        w.log->delete_segments_before(position{0, 0, w.log->written_lsn()}, deleted);
        for (int i = 0; i < 3; ++i) w.put(60);
        w.log->sync();
        w.log.reset();
        c.add_log("recycled", dir);
    }
    {  // a truncated log
        const auto dir = fresh();
        log_writer w(config(dir));
        for (int i = 0; i < 10; ++i) w.put(600);
        w.log->truncate_after(4);
        w.put(30);
        w.log.reset();
        c.add_log("truncated", dir);
    }
    std::filesystem::remove_all(tmp);
    std::printf("wrote %d record inputs and the scanner inputs into %s\n", c.records, argv[1]);
    return 0;
}
