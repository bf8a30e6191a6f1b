// wal-inspect stats: what the log holds, counted.
#include "command.hpp"
#include "json.hpp"
#include "session.hpp"
#include "text.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <ostream>
#include <unordered_set>

namespace noriwal::inspect {

namespace {

// Distinct keys: exact (a set of 64-bit key hashes) up to a few million keys, then a
// HyperLogLog estimate (about 0.8% error) so that a huge log never exhausts memory.
class distinct_counter {
public:
    void add(bytes_view key) {
        const std::uint64_t h = hash(key);
        if (exact_) {
            set_.insert(h);
            if (set_.size() > exact_limit) {
                for (const std::uint64_t x : set_) add_to_sketch(x);
                set_ = {};
                exact_ = false;
            }
            return;
        }
        add_to_sketch(h);
    }
    bool exact() const noexcept { return exact_; }
    std::uint64_t count() const {
        if (exact_) return set_.size();
        double sum = 0;
        std::size_t zeros = 0;
        for (const std::uint8_t r : registers_) {
            sum += std::ldexp(1.0, -r);
            zeros += r == 0;
        }
        const double m = registers_.size();
        double e = 0.7213 / (1 + 1.079 / m) * m * m / sum;
        if (e <= 2.5 * m && zeros != 0) e = m * std::log(m / static_cast<double>(zeros));  // small range
        return static_cast<std::uint64_t>(e + 0.5);
    }

private:
    static constexpr std::size_t exact_limit = 4u << 20;
    static constexpr unsigned index_bits = 14;

    static std::uint64_t hash(bytes_view key) noexcept {
        // FNV-1a, then a 64-bit finaliser (MurmurHash3's fmix64) so that every bit is mixed.
        std::uint64_t h = 0xcbf29ce484222325ull;
        for (const std::byte b : key) h = (h ^ std::to_integer<std::uint64_t>(b)) * 0x100000001b3ull;
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 33;
        return h;
    }
    void add_to_sketch(std::uint64_t h) {
        const std::size_t index = h >> (64 - index_bits);
        const std::uint64_t rest = (h << index_bits) | (std::uint64_t{1} << (index_bits - 1));
        const auto rank = static_cast<std::uint8_t>(std::countl_zero(rest) + 1);
        registers_[index] = std::max(registers_[index], rank);
    }

    bool exact_ = true;
    std::unordered_set<std::uint64_t> set_;
    std::array<std::uint8_t, std::size_t{1} << index_bits> registers_{};
};

struct codec_counts {
    std::uint64_t records = 0;
    std::uint64_t raw = 0;     // value bytes before compression
    std::uint64_t stored = 0;  // value bytes as stored
};

double ratio(std::uint64_t raw, std::uint64_t stored) {
    return stored == 0 ? 1.0 : static_cast<double>(raw) / static_cast<double>(stored);
}

std::string fixed(double v, int digits = 2) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

void add_options(po::options_description& opts) {
    opts.add_options()("json", "one JSON object instead of the text");
}

int run(const po::variables_map& vm, context& ctx) {
    log_session session(ctx, dir_argument(vm), "stats");
    const std::uint64_t now = now_unix_ns();

    std::uint64_t records = 0, puts = 0, tombstones = 0, ttl = 0, expired = 0, batch_records = 0, batches = 0;
    std::uint64_t key_bytes = 0, record_bytes = 0, largest_record = 0, largest_value = 0;
    std::array<codec_counts, 3> codecs{};
    lsn_t first = 0, last = 0;
    distinct_counter keys;
    walked_record r;
    while (session.next(r)) {
        const detail::record_view& v = r.view;
        ++records;
        if (first == 0) first = r.pos.lsn;
        last = r.pos.lsn;
        v.tombstone() ? ++tombstones : ++puts;
        if (v.has_expiry()) {
            ++ttl;
            if (v.expiry_ns <= now) ++expired;
        }
        if (v.type != detail::record_type::full) ++batch_records;
        if (v.type == detail::record_type::last) ++batches;
        key_bytes += v.key.size();
        record_bytes += v.size;
        largest_record = std::max<std::uint64_t>(largest_record, v.size);
        largest_value = std::max<std::uint64_t>(largest_value, v.raw_value_size);
        codec_counts& c = codecs[static_cast<std::size_t>(v.compression()) % codecs.size()];
        ++c.records;
        c.raw += v.raw_value_size;
        c.stored += v.stored_value.size();
        keys.add(v.key);
    }
    session.done();

    const auto& segs = session.walk().segments();
    std::uint64_t raw_values = 0, stored_values = 0;
    for (const codec_counts& c : codecs) {
        raw_values += c.raw;
        stored_values += c.stored;
    }
    std::uint64_t lost = 0;
    for (const walk_damage& d : session.damages())
        if (d.first_lost != 0) lost += d.last_lost - d.first_lost + 1;
    const std::uint64_t distinct = keys.count();
    std::uint64_t oldest = 0, newest = 0;
    for (const segment_file& s : segs) {
        if (s.fresh) continue;
        if (oldest == 0) oldest = s.header.created_ns;
        newest = s.header.created_ns;
    }

    output out(ctx.out);
    std::string& o = out.buf();
    if (vm.count("json")) {
        json::object_writer w(o);
        w.string("dir", session.dir().string())
            .number("segments", std::uint64_t{segs.size()})
            .number("records", records)
            .number("puts", puts)
            .number("tombstones", tombstones)
            .number("ttl_records", ttl)
            .number("expired_records", expired)
            .number("batch_records", batch_records)
            .number("batches", batches);
        if (records != 0) {
            w.number("first_lsn", std::uint64_t{first}).number("last_lsn", std::uint64_t{last});
        } else {
            w.null("first_lsn").null("last_lsn");
        }
        w.number("distinct_keys", distinct)
            .boolean("distinct_keys_exact", keys.exact())
            .number("key_bytes", key_bytes)
            .number("value_bytes_raw", raw_values)
            .number("value_bytes_stored", stored_values)
            .number("bytes_raw", key_bytes + raw_values)
            .number("record_bytes", record_bytes)
            .number("file_bytes", session.file_bytes())
            .number("compression_ratio", ratio(raw_values, stored_values));
        std::string per_codec = "{";
        for (std::size_t i = 0; i < codecs.size(); ++i) {
            if (i != 0) per_codec += ',';
            json::append_string(per_codec, compression_name(static_cast<compression>(i)));
            per_codec += ':';
            json::object_writer c(per_codec);
            c.number("records", codecs[i].records)
                .number("value_bytes_raw", codecs[i].raw)
                .number("value_bytes_stored", codecs[i].stored);
            c.end();
        }
        per_codec += '}';
        w.raw("compression", per_codec)
            .number("largest_record_bytes", largest_record)
            .number("largest_value_bytes", largest_value)
            .number("damaged_regions", std::uint64_t{session.damages().size()})
            .number("lsns_lost", lost);
        w.end();
        o += '\n';
        return session.status();
    }

    auto line = [&](std::string_view label, const std::string& value) {
        std::string l(label);
        l.resize(20, ' ');
        o += l + value + '\n';
    };
    auto pct = [&](std::uint64_t part) {
        return records == 0
                   ? std::string()
                   : " (" + fixed(100.0 * static_cast<double>(part) / static_cast<double>(records), 1) + "%)";
    };
    o += "log " + session.dir().string() + "\n";
    line("segments",
         std::to_string(segs.size()) +
             (oldest != 0 ? ", created " + utc_time(oldest) + " .. " + utc_time(newest) : std::string()));
    line("records", grouped(records) +
                        (records != 0 ? ", LSN " + std::to_string(first) + ".." + std::to_string(last) : ""));
    line("puts", grouped(puts) + pct(puts));
    line("tombstones", grouped(tombstones) + pct(tombstones));
    line("with TTL", grouped(ttl) + pct(ttl) + ", " + grouped(expired) + " expired now");
    line("in batches", grouped(batch_records) + " records in " + grouped(batches) + " atomic batches");
    line("distinct keys",
         (keys.exact() ? "" : "~") + grouped(distinct) + (keys.exact() ? "" : " (estimated)"));
    line("bytes raw", human_bytes(key_bytes + raw_values) + " (keys " + human_bytes(key_bytes) + ", values " +
                          human_bytes(raw_values) + ")");
    line("bytes on disk", human_bytes(record_bytes) + " in records (framing included), " +
                              human_bytes(session.file_bytes()) + " of segment files");
    std::string comp = fixed(ratio(raw_values, stored_values)) + " (values raw / stored)";
    for (std::size_t i = 1; i < codecs.size(); ++i) {
        if (codecs[i].records == 0) continue;
        comp += "; " + std::string(compression_name(static_cast<compression>(i))) + ": " +
                grouped(codecs[i].records) + " records, " + fixed(ratio(codecs[i].raw, codecs[i].stored)) +
                "x";
    }
    line("compression", comp);
    line("largest", "record " + human_bytes(largest_record) + ", value " + human_bytes(largest_value));
    if (!session.damages().empty())
        line("damage", std::to_string(session.damages().size()) + " regions, " + grouped(lost) +
                           " LSNs not read (see above; run wal-inspect verify)");
    return session.status();
}

}  // namespace

const command stats_command = {
    "stats",
    "counts: records, puts, tombstones, TTL, bytes, compression, keys",
    "DIR [--json]",
    "Reads every record of the log in DIR and counts: records, puts, tombstones, records with a\n"
    "TTL (and how many have expired now), records in atomic batches, the LSN range, distinct keys\n"
    "(exact up to 4 million keys, then an estimate), bytes raw (keys and uncompressed values) and on\n"
    "disk (records with their framing, and segment files), and the compression ratio of the values\n"
    "(raw bytes / stored bytes, overall and per codec).",
    add_options,
    run,
};

}  // namespace noriwal::inspect
