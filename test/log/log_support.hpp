// Helpers of the engine tests: small logs on a simulated disk, written with a model of what was
// written (offsets, LSNs, the durable watermark each record was framed with), and a reader
// that decodes what the engine kept.
#pragma once

#include <noriwal/config.hpp>
#include <noriwal/detail/format.hpp>
#include <noriwal/error.hpp>

#include "log/recovery_scanner.hpp"
#include "log/segment_log.hpp"
#include "support/printing.hpp"
#include "support/sim_disk.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace noriwal::test {

namespace nd = noriwal::detail;

inline const std::filesystem::path log_dir = "/log";

/// A configuration for tests: 4 KiB segments, no preallocation, no syncs by the engine itself.
inline wal_config small_config(std::shared_ptr<file_system> fs,
                               recovery_mode mode = recovery_mode::tolerate_corrupted_tail,
                               preallocation prealloc = preallocation::none) {
    wal_config cfg;
    cfg.dir = log_dir;
    cfg.fs = std::move(fs);
    cfg.max_segment_size = 4096;
    cfg.max_record_size = 1024;
    cfg.recovery = mode;
    cfg.prealloc = prealloc;
    cfg.fsync = fsync_policy::os();
    return cfg;
}

/// Every recovery mode, for cases that open the same damaged log under each.
inline constexpr recovery_mode all_modes[] = {recovery_mode::tolerate_corrupted_tail,
                                              recovery_mode::absolute_consistency,
                                              recovery_mode::point_in_time, recovery_mode::skip_corrupted};

struct opened {
    std::error_code ec;
    std::unique_ptr<nd::segment_log> log;
    recovery_info info;
    std::string why;
};

inline opened open_log(const wal_config& cfg) {
    opened o;
    o.ec = nd::segment_log::open(cfg, o.log, o.info, o.why);
    return o;
}

inline opened open_ok(const wal_config& cfg) {
    opened o = open_log(cfg);
    BOOST_TEST_REQUIRE(!o.ec, "open failed: " << o.ec.message() << ": " << o.why);
    return o;
}

/// What the test wrote, record by record.
struct written {
    lsn_t lsn = 0;
    position pos;
    std::uint64_t size = 0;
    lsn_t hint = 0;  // the durable watermark (as the test knows it from its own syncs) at framing
    nd::record_type type = nd::record_type::full;
    std::string key;
    std::string value;
    lsn_t batch_first = 0;  // for batch records: the LSN of the batch's first record
    lsn_t batch_last = 0;
};

inline nd::encoded_record encode(const record& r) {
    nd::encoded_record e;
    nd::encode_options opts;
    opts.max_record_size = 1u << 20;
    const auto ec = nd::encode_record(r, opts, e);
    BOOST_TEST_REQUIRE(!ec);
    return e;
}

/// Appends records through the engine and remembers them.
class log_writer {
public:
    explicit log_writer(nd::segment_log& log, lsn_t durable = 0) : log_(&log), durable_(durable) {}

    position put(const std::string& key, const std::string& value) {
        std::vector<record> rs{record::put(key, value)};
        return append(rs, false).front();
    }

    std::vector<position> append(const std::vector<record>& rs, bool atomic) {
        std::vector<nd::encoded_record> enc;
        for (const record& r : rs) enc.push_back(encode(r));
        std::vector<nd::encoded_record*> ptrs;
        for (auto& e : enc) ptrs.push_back(&e);
        std::vector<position> pos(rs.size());
        nd::append_request req{ptrs, atomic, pos.data()};
        std::error_code result;
        const auto ec =
            log_->append(std::span<nd::append_request>(&req, 1), std::span<std::error_code>(&result, 1));
        BOOST_TEST_REQUIRE(!ec, "append: " << ec.message());
        BOOST_TEST_REQUIRE(!result, "append: " << result.message());
        for (std::size_t i = 0; i < rs.size(); ++i) {
            written w;
            w.lsn = pos[i].lsn;
            w.pos = pos[i];
            w.size = enc[i].bytes.size();
            w.hint = durable_;
            w.type = !atomic || rs.size() == 1 ? nd::record_type::full
                     : i == 0                  ? nd::record_type::first
                     : i + 1 == rs.size()      ? nd::record_type::last
                                               : nd::record_type::middle;
            w.key = std::string(as_string(rs[i].key));
            w.value = std::string(as_string(rs[i].value));
            if (atomic && rs.size() > 1) {
                w.batch_first = pos.front().lsn;
                w.batch_last = pos.back().lsn;
            }
            records.push_back(w);
        }
        return pos;
    }

    void sync() {
        const auto ec = log_->sync();
        BOOST_TEST_REQUIRE(!ec, "sync: " << ec.message());
        if (!records.empty()) durable_ = records.back().lsn;
    }

    std::vector<written> records;

private:
    nd::segment_log* log_;
    lsn_t durable_;
};

/// A record as read back.
struct read_record {
    lsn_t lsn = 0;
    std::uint64_t segment_id = 0;
    std::uint64_t offset = 0;
    std::string key;
    std::string value;
    bool tombstone = false;
    std::uint64_t expiry_ns = 0;
    compression stored = compression::none;
    friend bool operator==(const read_record&, const read_record&) = default;
};

/// Decodes every record the engine holds, segment by segment up to each written end (skipping
/// salvaged damage the way a reader must).
inline std::vector<read_record> read_all(file_system& fs, const nd::segment_log& log) {
    std::vector<read_record> out;
    for (const nd::segment_info& s : log.segments()) {
        const std::vector<std::byte> bytes = read_file(fs, s.path);
        const std::span<const std::byte> all(bytes.data(),
                                             std::min<std::size_t>(bytes.size(), s.written_bytes));
        std::uint64_t off = nd::segment_header_size;
        while (off < all.size()) {
            nd::record_view rv;
            if (nd::decode_record(all.subspan(off), s.id, 0xFFFFFFFFu, rv) != nd::decode_status::ok) {
                off = nd::find_next_record(all, s.id, off + 8);
                continue;
            }
            read_record r;
            r.lsn = rv.lsn;
            r.segment_id = s.id;
            r.offset = off;
            r.key = std::string(as_string(rv.key));
            std::vector<std::byte> value;
            BOOST_TEST_REQUIRE(!nd::decompress_value(rv, value));
            r.value = std::string(as_string(value));
            r.tombstone = rv.tombstone();
            r.expiry_ns = rv.expiry_ns;
            r.stored = rv.compression();
            out.push_back(r);
            off += rv.size;
        }
    }
    return out;
}

/// Every file of the log directory with its bytes.
inline std::map<std::string, std::vector<std::byte>> dir_contents(file_system& fs) {
    std::map<std::string, std::vector<std::byte>> out;
    std::vector<std::string> names;
    BOOST_TEST_REQUIRE(!fs.list(log_dir, names));
    for (const auto& n : names) out[n] = read_file(fs, log_dir / n);
    return out;
}

inline std::filesystem::path segment_path(std::uint64_t id) { return log_dir / nd::segment_file_name(id); }

inline std::string value_for(lsn_t i, std::size_t base = 250) {
    std::string v;
    const std::size_t n = base + (i * 37) % 100;
    for (std::size_t k = 0; v.size() < n; ++k) v += static_cast<char>('a' + (i + k) % 26);
    return v;
}

}  // namespace noriwal::test
