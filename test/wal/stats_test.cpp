// Histograms and the Prometheus text exposition of wal_stats.
#include <noriwal/stats.hpp>
#include <wal/histogram_recorder.hpp>

#include <boost/test/unit_test.hpp>

#include <charconv>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <string>

using namespace noriwal;

namespace {

// One parsed sample line: name, labels (only le here), value.
struct sample {
    std::string name;
    std::string le;
    double value = 0;
};

bool valid_metric_name(const std::string& n) {
    if (n.empty()) return false;
    for (std::size_t i = 0; i < n.size(); ++i) {
        char c = n[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

double parse_value(const std::string& s) {
    if (s == "+Inf") return HUGE_VAL;
    double v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    BOOST_TEST_REQUIRE((r.ec == std::errc{} && r.ptr == s.data() + s.size()), "not a number: " << s);
    return v;
}

// Parses the exposition line by line as a Prometheus scraper would, checking the grammar of
// every line. Returns the samples; fills `types` with the TYPE of each metric family.
std::vector<sample> parse(const std::string& text, std::map<std::string, std::string>& types) {
    std::vector<sample> out;
    std::set<std::string> helped;
    std::istringstream in(text);
    std::string line;
    BOOST_TEST_REQUIRE(!text.empty());
    BOOST_TEST(text.back() == '\n');
    while (std::getline(in, line)) {
        BOOST_TEST_REQUIRE(!line.empty());
        if (line.rfind("# HELP ", 0) == 0) {
            auto rest = line.substr(7);
            auto sp = rest.find(' ');
            BOOST_TEST_REQUIRE(sp != std::string::npos);
            auto name = rest.substr(0, sp);
            BOOST_TEST(valid_metric_name(name));
            BOOST_TEST(helped.insert(name).second, "HELP twice for " << name);
            continue;
        }
        if (line.rfind("# TYPE ", 0) == 0) {
            std::istringstream ls(line.substr(7));
            std::string name, type, extra;
            ls >> name >> type;
            BOOST_TEST(!(ls >> extra));
            BOOST_TEST(valid_metric_name(name));
            BOOST_TEST((type == "counter" || type == "gauge" || type == "histogram"), type);
            BOOST_TEST(types.emplace(name, type).second, "TYPE twice for " << name);
            continue;
        }
        BOOST_TEST_REQUIRE(line[0] != '#', "unknown comment line: " << line);
        sample s;
        auto brace = line.find('{');
        auto sp = line.rfind(' ');
        BOOST_TEST_REQUIRE(sp != std::string::npos);
        if (brace != std::string::npos && brace < sp) {
            s.name = line.substr(0, brace);
            auto close = line.find('}', brace);
            BOOST_TEST_REQUIRE(close == sp - 1);
            auto labels = line.substr(brace + 1, close - brace - 1);
            BOOST_TEST_REQUIRE(labels.rfind("le=\"", 0) == 0);
            BOOST_TEST_REQUIRE(labels.back() == '"');
            s.le = labels.substr(4, labels.size() - 5);
            parse_value(s.le);
        } else {
            s.name = line.substr(0, sp);
        }
        BOOST_TEST(valid_metric_name(s.name));
        s.value = parse_value(line.substr(sp + 1));
        out.push_back(s);
    }
    return out;
}

wal_stats sample_stats() {
    detail::histogram_recorder<detail::duration_bounds_ns.size()> fsync(detail::duration_bounds_ns, 1e9);
    detail::histogram_recorder<detail::size_bounds.size()> group(detail::size_bounds, 1);
    fsync.record(1'500'000);       // 1.5 ms
    fsync.record(700);             // below the first bound
    fsync.record(60'000'000'000);  // above the last bound
    group.record(1);
    group.record(3, 2);
    wal_stats s;
    s.appends = 12;
    s.records = 15;
    s.bytes = 4096;
    s.fsyncs = 3;
    s.written_lsn = 15;
    s.durable_lsn = 14;
    s.fsync_seconds = fsync.snapshot();
    s.fsync_group_size = group.snapshot();
    s.append_seconds = fsync.snapshot();
    s.write_group_size = group.snapshot();
    return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(stats)

BOOST_AUTO_TEST_CASE(histogram_recorder_puts_values_in_their_buckets) {
    detail::histogram_recorder<detail::size_bounds.size()> r(detail::size_bounds, 1);
    r.record(1);
    r.record(2);
    r.record(3, 4);       // four observations of 3: bucket le=4
    r.record(1'000'000);  // beyond 65536: the overflow bucket
    auto h = r.snapshot();
    BOOST_TEST(h.bounds.size() == detail::size_bounds.size());
    BOOST_TEST(h.counts.size() == detail::size_bounds.size() + 1);
    BOOST_TEST(h.counts[0] == 1u);
    BOOST_TEST(h.counts[1] == 1u);
    BOOST_TEST(h.counts[2] == 4u);
    BOOST_TEST(h.counts.back() == 1u);
    BOOST_TEST(h.count == 7u);
    BOOST_TEST(h.sum == 1.0 + 2 + 12 + 1'000'000);
    BOOST_TEST(h.quantile(0.5) == 4.0);  // the 4th of 7 lies in le=4
    BOOST_TEST(h.quantile(0.1) == 1.0);
    BOOST_TEST(h.quantile(1.0) == 65536.0);  // above the last bound: the last bound
    BOOST_TEST(histogram{}.quantile(0.5) == 0.0);
}

BOOST_AUTO_TEST_CASE(duration_histogram_is_in_seconds) {
    detail::histogram_recorder<detail::duration_bounds_ns.size()> r(detail::duration_bounds_ns, 1e9);
    r.record(1'500'000);
    auto h = r.snapshot();
    BOOST_TEST(h.bounds.front() == 1e-6);
    BOOST_TEST(h.bounds.back() == 10.0);
    BOOST_TEST(std::abs(h.sum - 0.0015) < 1e-12);
    BOOST_TEST(h.quantile(0.5) == 0.002);
}

BOOST_AUTO_TEST_CASE(prometheus_text_parses_line_by_line) {
    auto s = sample_stats();
    std::map<std::string, std::string> types;
    auto samples = parse(to_prometheus(s), types);

    std::map<std::string, double> scalar;
    for (const auto& x : samples) {
        if (x.le.empty()) scalar[x.name] = x.value;
    }
    BOOST_TEST(scalar.at("noriwal_appends_total") == 12.0);
    BOOST_TEST(scalar.at("noriwal_records_total") == 15.0);
    BOOST_TEST(scalar.at("noriwal_written_bytes_total") == 4096.0);
    BOOST_TEST(scalar.at("noriwal_fsyncs_total") == 3.0);
    BOOST_TEST(scalar.at("noriwal_written_lsn") == 15.0);
    BOOST_TEST(scalar.at("noriwal_durable_lsn") == 14.0);
    BOOST_TEST(scalar.at("noriwal_poisoned") == 0.0);
    BOOST_TEST(types.at("noriwal_appends_total") == "counter");
    BOOST_TEST(types.at("noriwal_durable_lsn") == "gauge");
    BOOST_TEST(types.at("noriwal_fsync_duration_seconds") == "histogram");

    // Every sample belongs to a family with a TYPE line; counters end in _total.
    for (const auto& x : samples) {
        std::string family = x.name;
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            std::string sfx = suffix;
            if (!types.count(family) && family.size() > sfx.size() &&
                family.compare(family.size() - sfx.size(), sfx.size(), sfx) == 0) {
                family.erase(family.size() - sfx.size());
            }
        }
        BOOST_TEST_REQUIRE(types.count(family) == 1u, "no TYPE for " << x.name);
        if (types[family] == "counter") BOOST_TEST(family.size() > 6u);
        if (types[family] == "counter") BOOST_TEST(family.substr(family.size() - 6) == "_total");
    }

    // Histogram buckets are cumulative, end with +Inf, and +Inf equals _count.
    for (const auto& [family, type] : types) {
        if (type != "histogram") continue;
        double last = -1, inf = -1, count = -1, prev_le = -HUGE_VAL;
        int buckets = 0;
        for (const auto& x : samples) {
            if (x.name == family + "_bucket") {
                double le = parse_value(x.le);
                BOOST_TEST(le > prev_le, family << " bounds not ascending");
                prev_le = le;
                BOOST_TEST(x.value >= last, family << " buckets not cumulative");
                last = x.value;
                if (x.le == "+Inf") inf = x.value;
                ++buckets;
            } else if (x.name == family + "_count") {
                count = x.value;
            }
        }
        BOOST_TEST(buckets > 1, family);
        BOOST_TEST(inf == count, family);
    }
    BOOST_TEST(scalar.at("noriwal_fsync_duration_seconds_count") == 3.0);
    BOOST_TEST(scalar.at("noriwal_fsync_group_size_count") == 3.0);
    BOOST_TEST(scalar.at("noriwal_fsync_group_size_sum") == 7.0);
}

BOOST_AUTO_TEST_CASE(prometheus_prefix_is_kept_valid) {
    std::map<std::string, std::string> types;
    auto samples = parse(to_prometheus(sample_stats(), "my-app.wal"), types);
    BOOST_TEST(types.count("my_app_wal_appends_total") == 1u);
    for (const auto& x : samples) BOOST_TEST(x.name.rfind("my_app_wal_", 0) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
