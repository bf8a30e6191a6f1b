// Compression of record values as appends do it (encode_record on the caller's thread): how
// much LZ4 and Zstd shrink realistic text and random bytes, and at what cost per record.
//
//   compress.<lz4|zstd>.<text|random>
//
// Each workload encodes the same pool of distinct values again and again (a 4 MiB pool of
// 4 KiB values by default, so that neither the compressor nor the cache sees one value twice in
// a row) and reports, besides the rates of the raw (uncompressed) value bytes:
//   ratio              raw value bytes / stored value bytes (a value that does not shrink is
//                      stored raw: ratio 1)
//   decode_mb_per_s    decompress_value of the stored values, in raw MB/s
// Compared in MB/s with raw.memcpy_crc, the least work a record costs without compression.
#include "bench.hpp"

#include <noriwal/detail/format.hpp>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace noriwal::bench {
namespace {

constexpr std::size_t pool_bytes = 4u << 20;

/// xorshift64*: deterministic, so that every run compresses the same bytes.
class prng {
public:
    explicit prng(std::uint64_t seed) noexcept : x_(seed) {}
    std::uint64_t next() noexcept {
        x_ ^= x_ >> 12;
        x_ ^= x_ << 25;
        x_ ^= x_ >> 27;
        return x_ * 2685821657736338717ull;
    }
    /// Uniform in [0, n).
    std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }

private:
    std::uint64_t x_;
};

// Pseudo-English: words drawn from a vocabulary with a skewed (roughly Zipfian) frequency,
// sentences of 6 to 20 words, capitalised, with commas and full stops, numbers now and then.
// Log payloads of this kind (messages, JSON-ish text) are what value compression is for.
std::string pseudo_english(std::size_t n, prng& rng) {
    static constexpr std::array<std::string_view, 96> words = {
        "the",      "of",       "and",     "to",      "a",         "in",       "is",       "that",
        "for",      "it",       "as",      "was",     "with",      "be",       "by",       "on",
        "not",      "he",       "this",    "are",     "or",        "his",      "from",     "at",
        "which",    "but",      "have",    "an",      "had",       "they",     "you",      "were",
        "their",    "one",      "all",     "we",      "can",       "her",      "has",      "there",
        "been",     "if",       "more",    "when",    "will",      "would",    "who",      "so",
        "request",  "server",   "client",  "account", "payment",   "order",    "session",  "timeout",
        "database", "replica",  "commit",  "segment", "record",    "message",  "service",  "latency",
        "customer", "shipping", "invoice", "balance", "transfer",  "pending",  "complete", "failed",
        "retry",    "network",  "storage", "cluster", "partition", "leader",   "follower", "snapshot",
        "between",  "because",  "through", "during",  "without",   "against",  "although", "however",
        "morning",  "evening",  "country", "village", "mountain",  "question", "answer",   "problem",
    };
    std::string out;
    out.reserve(n + 32);
    std::size_t in_sentence = 0;
    std::size_t sentence_len = 6 + rng.below(15);
    while (out.size() < n) {
        // Skewed choice: the minimum of two uniform draws favours the common words.
        const std::size_t a = rng.below(words.size()), b = rng.below(words.size());
        std::string_view w = words[std::min(a, b)];
        if (rng.below(40) == 0) {
            out += std::to_string(rng.below(100000));
        } else if (in_sentence == 0) {
            out += static_cast<char>(w[0] - 'a' + 'A');
            out += w.substr(1);
        } else {
            out += w;
        }
        if (++in_sentence == sentence_len) {
            out += ". ";
            in_sentence = 0;
            sentence_len = 6 + rng.below(15);
        } else {
            out += rng.below(9) == 0 ? ", " : " ";
        }
    }
    out.resize(n);
    return out;
}

std::string random_bytes(std::size_t n, prng& rng) {
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(rng.next() >> 56);
    return out;
}

result compress_loop(context& ctx, compression c, bool text) {
    const std::size_t value_bytes = static_cast<std::size_t>(ctx.value_bytes(4096));
    if (value_bytes == 0) throw std::invalid_argument("compress.*: --value-bytes must be at least 1");
    const std::uint64_t n = ctx.records(c == compression::zstd ? 20'000 : 100'000);
    prng rng(text ? 42 : 4242);
    const std::size_t pool_n = std::max<std::size_t>(1, pool_bytes / value_bytes);
    std::vector<std::string> values;
    values.reserve(pool_n);
    for (std::size_t i = 0; i < pool_n; ++i)
        values.push_back(text ? pseudo_english(value_bytes, rng) : random_bytes(value_bytes, rng));
    const std::string key = "key-0000000000000001";

    detail::encode_options opts;
    opts.default_compression = c;
    opts.compression_min_size = 0;
    opts.max_record_size = static_cast<std::uint32_t>(std::max<std::size_t>(value_bytes + 1024, 1u << 20));
    detail::encoded_record out;
    out.bytes.reserve(value_bytes * 2 + 256);

    result r;
    r.latencies.reserve(n);
    std::uint64_t stored = 0;
    const timed_part total;
    for (std::uint64_t i = 0; i < n; ++i) {
        const stopwatch op;
        const record rec = record::put(key, values[i % pool_n]);
        if (const auto ec = detail::encode_record(rec, opts, out)) throw std::runtime_error(ec.message());
        r.latencies.add(op.elapsed());
        stored += out.bytes.size();
    }
    total.stop(r);
    r.records = n;
    r.value_bytes = value_bytes;

    // What one pass over the pool stores, and how fast it decodes back.
    std::vector<std::vector<std::byte>> frames(pool_n);
    std::uint64_t stored_values = 0;
    for (std::size_t i = 0; i < pool_n; ++i) {
        if (const auto ec = detail::encode_record(record::put(key, values[i]), opts, out))
            throw std::runtime_error(ec.message());
        frames[i] = out.bytes;
        // Framed as the writer would (decode checks the header CRC, bound to segment and LSN).
        detail::stamp_record(std::span<std::byte>(frames[i].data(), detail::record_header_size), 1, 1,
                             detail::record_type::full, 0);
        detail::record_view rv;
        if (detail::decode_record(frames[i], 1, opts.max_record_size, rv) != detail::decode_status::ok)
            throw std::runtime_error("an encoded record does not decode");
        stored_values += rv.stored_value.size();
    }
    std::vector<std::byte> raw;
    raw.reserve(value_bytes);
    const std::uint64_t decodes = std::max<std::uint64_t>(n, pool_n);
    const stopwatch decode_time;
    for (std::uint64_t i = 0; i < decodes; ++i) {
        detail::record_view rv;
        const auto& f = frames[i % pool_n];
        if (detail::decode_record(f, 1, opts.max_record_size, rv) != detail::decode_status::ok ||
            detail::decompress_value(rv, raw))
            throw std::runtime_error("a stored value does not decompress");
        keep(raw.data());
    }
    const double decode_s = decode_time.seconds();

    r.extra.emplace_back("ratio", stored_values != 0 ? static_cast<double>(pool_n * value_bytes) /
                                                           static_cast<double>(stored_values)
                                                     : 0.0);
    r.extra.emplace_back("framed_bytes_per_record", static_cast<double>(stored) / static_cast<double>(n));
    r.extra.emplace_back("decode_mb_per_s",
                         decode_s > 0 ? static_cast<double>(decodes * value_bytes) / 1e6 / decode_s : 0.0);
    r.note = text ? "pseudo-English text" : "random bytes";
    return r;
}

const registration regs[] = {
    registration{{"compress.lz4.text", "encode_record with LZ4 of 4 KiB pseudo-English values (ratio, MB/s)",
                  [](context& ctx) { return compress_loop(ctx, compression::lz4, true); }, "raw.memcpy_crc",
                  rate::mb_per_s}},
    registration{{"compress.lz4.random", "encode_record with LZ4 of 4 KiB random values (stored raw)",
                  [](context& ctx) { return compress_loop(ctx, compression::lz4, false); }, "raw.memcpy_crc",
                  rate::mb_per_s}},
    registration{{"compress.zstd.text",
                  "encode_record with Zstd (level 3) of 4 KiB pseudo-English values (ratio, MB/s)",
                  [](context& ctx) { return compress_loop(ctx, compression::zstd, true); }, "raw.memcpy_crc",
                  rate::mb_per_s}},
    registration{{"compress.zstd.random",
                  "encode_record with Zstd (level 3) of 4 KiB random values (stored raw)",
                  [](context& ctx) { return compress_loop(ctx, compression::zstd, false); }, "raw.memcpy_crc",
                  rate::mb_per_s}},
};

}  // namespace
}  // namespace noriwal::bench
