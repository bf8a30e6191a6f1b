#include "tool_support.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace noriwal::test {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t nl = text.find('\n', start);
        if (nl == std::string::npos) {
            out.push_back(text.substr(start));
            break;
        }
        out.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    return out;
}

std::vector<inspect::json::value> json_lines(const std::string& text) {
    std::vector<inspect::json::value> out;
    for (const std::string& line : lines_of(text)) {
        inspect::json::value v;
        std::string error;
        BOOST_TEST_REQUIRE(inspect::json::parse(line, v, error), "not JSON: " << error << ": " << line);
        BOOST_TEST_REQUIRE((v.type == inspect::json::value::kind::object), "not an object: " << line);
        out.push_back(std::move(v));
    }
    return out;
}

inspect::json::value json_doc(const std::string& text) {
    inspect::json::value v;
    std::string error;
    BOOST_TEST_REQUIRE(inspect::json::parse(text, v, error), "not JSON: " << error << ": " << text);
    return v;
}

const inspect::json::value& member(const inspect::json::value& obj, std::string_view name) {
    const inspect::json::value* v = obj.find(name);
    BOOST_TEST_REQUIRE(v != nullptr, "no member " << name);
    return *v;
}

std::uint64_t uint_member(const inspect::json::value& obj, std::string_view name) {
    const auto v = member(obj, name).as_uint64();
    BOOST_TEST_REQUIRE(v.has_value(), name << " is not an unsigned integer");
    return *v;
}

std::string bytes_member(const inspect::json::value& obj, std::string_view name) {
    if (const inspect::json::value* v = obj.find(name)) {
        BOOST_TEST_REQUIRE((v->type == inspect::json::value::kind::string));
        BOOST_TEST(obj.find(std::string(name) + "_base64") == nullptr);
        return v->text;
    }
    const inspect::json::value& b = member(obj, std::string(name) + "_base64");
    std::vector<std::byte> bytes;
    BOOST_TEST_REQUIRE(inspect::json::base64_decode(b.text, bytes));
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

wal_config test_config(const std::filesystem::path& dir) {
    wal_config cfg;
    cfg.dir = dir;
    cfg.max_segment_size = 8 << 10;
    cfg.max_record_size = 4 << 10;
    cfg.fsync = fsync_policy::os();
    cfg.compression_min_size = 16;
    return cfg;
}

namespace {
record as_record(const written_record& w) {
    record r = w.tombstone ? record::put_tombstone(w.key) : record::put(w.key, w.value);
    r.ttl = w.ttl;
    r.compress = w.compress;
    return r;
}
}  // namespace

void write_log(const wal_config& cfg, std::vector<written_record>& records, std::size_t sync_every,
               bool clean_close) {
    wal::opened o = wal::open(cfg);
    std::size_t appends = 0;
    for (std::size_t i = 0; i < records.size();) {
        if (records[i].batch == detail::record_type::first) {
            std::size_t j = i;
            while (records[j].batch != detail::record_type::last) ++j;
            std::vector<record> batch;
            for (std::size_t k = i; k <= j; ++k) batch.push_back(as_record(records[k]));
            const std::vector<position> pos = o.log.append_batch(batch);
            for (std::size_t k = i; k <= j; ++k) records[k].pos = pos[k - i];
            i = j + 1;
        } else {
            records[i].pos = o.log.append(as_record(records[i]));
            ++i;
        }
        if (sync_every != 0 && ++appends % sync_every == 0) o.log.sync();
    }
    o.log.close();
    // Without its close marker the log is as a writer that died after its last write leaves it:
    // damage at its end is then a torn tail (doc/durability.md).
    if (!clean_close) std::filesystem::remove(cfg.dir / std::string(detail::close_marker_name));
}

std::vector<written_record> sample_records(std::size_t n, std::size_t keys) {
    std::vector<written_record> out;
    for (std::size_t i = 0; i < n; ++i) {
        written_record w;
        w.key = "k" + std::to_string(i % keys);
        if (i % 7 == 6) {
            w.tombstone = true;
        } else {
            const std::size_t len = 40 + (i * 37) % 100;
            for (std::size_t k = 0; w.value.size() < len; ++k)
                w.value.push_back(static_cast<char>('a' + (i + k) % 26));
        }
        if (i % 5 == 0) w.ttl = std::chrono::hours(1);
        if (i % 4 == 0) w.compress = compression::lz4;
        out.push_back(std::move(w));
    }
    return out;
}

std::vector<std::filesystem::path> segment_files(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        std::uint64_t id = 0;
        if (e.is_regular_file() && detail::parse_segment_file_name(e.path().filename().string(), id))
            out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

dir_snapshot snapshot(const std::filesystem::path& dir) {
    dir_snapshot s;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
        const std::string rel = std::filesystem::relative(e.path(), dir).string();
        s.names.push_back(rel);
        s.mtimes[rel] = std::filesystem::last_write_time(e.path()).time_since_epoch().count();
        if (e.is_regular_file()) {
            std::ifstream in(e.path(), std::ios::binary);
            std::ostringstream content;
            content << in.rdbuf();
            s.files[rel] = content.str();
        }
    }
    std::sort(s.names.begin(), s.names.end());
    return s;
}

bool one_line_naming(const std::string& text, const std::string& needle) {
    return std::count(text.begin(), text.end(), '\n') == 1 && text.back() == '\n' &&
           text.find(needle) != std::string::npos;
}

}  // namespace noriwal::test
