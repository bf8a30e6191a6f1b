// wal-bench: runs the registered workloads and prints their figures, as a table or as JSON
// lines. doc/performance.md explains every field.
#include "bench.hpp"

#include <boost/program_options.hpp>

#include <fnmatch.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace noriwal::bench {

std::vector<workload>& workloads() {
    static std::vector<workload> all;
    return all;
}

registration::registration(workload w) { workloads().push_back(std::move(w)); }

double latency_samples::percentile_us(double p) {
    if (samples_.empty()) return std::nan("");
    if (!sorted_) {
        std::sort(samples_.begin(), samples_.end());
        sorted_ = true;
    }
    // Nearest rank: the smallest sample with at least p% of the samples at or below it.
    const auto n = samples_.size();
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(n)));
    rank = std::clamp<std::size_t>(rank, 1, n);
    return static_cast<double>(samples_[rank - 1]) / 1000.0;
}

namespace {

namespace po = boost::program_options;

struct report {
    std::string workload;
    result r;
    double records_per_s = 0;
    double mb_per_s = 0;
    double p50_us = std::nan("");
    double p99_us = std::nan("");
    double cpu_us_per_record = std::nan("");
    double peak_rss_mb = 0;
    std::optional<std::pair<std::string, double>> ratio_to;
};

// Peak resident memory of one workload. Linux resets the process's high-water mark (VmHWM)
// when "5" is written to /proc/self/clear_refs; where that is refused, the figure is the
// process's peak so far (getrusage), which never decreases from one workload to the next.
class rss_peak {
public:
    /// Returns freed heap to the system first, so that a previous workload's garbage does not
    /// count, then starts a new high-water mark.
    void reset() {
        ::malloc_trim(0);
        std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
        per_workload_ = f != nullptr && std::fputs("5", f) >= 0;
        if (f != nullptr && std::fclose(f) != 0) per_workload_ = false;
    }
    /// MiB: VmHWM since reset(), or ru_maxrss.
    double mb() const {
        if (per_workload_) {
            if (const double kib = status_kib("VmHWM:"); kib >= 0) return kib / 1024.0;
        }
        rusage ru{};
        ::getrusage(RUSAGE_SELF, &ru);
        return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux reports KiB
    }
    bool per_workload() const noexcept { return per_workload_; }

private:
    static double status_kib(std::string_view key) {
        std::FILE* f = std::fopen("/proc/self/status", "r");
        if (f == nullptr) return -1;
        char line[256];
        double out = -1;
        while (std::fgets(line, sizeof line, f) != nullptr) {
            if (std::string_view(line).starts_with(key)) {
                out = std::strtod(line + key.size(), nullptr);
                break;
            }
        }
        std::fclose(f);
        return out;
    }
    bool per_workload_ = false;
};

// A directory that exists for one scope: mkdtemp'd, removed recursively afterwards.
class scratch_dir {
public:
    scratch_dir(const std::filesystem::path& parent, std::string_view name) {
        std::string pattern = (parent / name).string() + "-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::system_error(errno, std::system_category(),
                                    "cannot create a directory like " + pattern);
        }
        path_ = pattern;
    }
    ~scratch_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

// JSON has no NaN or infinity: a figure that could not be measured is null.
std::string json_number(double v) {
    if (!std::isfinite(v)) return "null";
    std::ostringstream os;
    os.precision(10);
    os << v;
    return os.str();
}

// Appends `,"key":value` (the value already in JSON).
void add_field(std::string& out, std::string_view key, const std::string& value) {
    out += ',';
    out += json_string(key);
    out += ':';
    out += value;
}

std::string json_line(const report& rep) {
    std::string s = "{\"workload\":";
    s += json_string(rep.workload);
    add_field(s, "records", std::to_string(rep.r.records));
    add_field(s, "value_bytes", std::to_string(rep.r.value_bytes));
    add_field(s, "seconds", json_number(rep.r.seconds));
    add_field(s, "records_per_s", json_number(rep.records_per_s));
    add_field(s, "mb_per_s", json_number(rep.mb_per_s));
    add_field(s, "p50_us", json_number(rep.p50_us));
    add_field(s, "p99_us", json_number(rep.p99_us));
    add_field(s, "cpu_us_per_record", json_number(rep.cpu_us_per_record));
    add_field(s, "peak_rss_mb", json_number(rep.peak_rss_mb));
    if (rep.ratio_to) {
        std::string ratio = "{\"baseline\":";
        ratio += json_string(rep.ratio_to->first);
        add_field(ratio, "ratio", json_number(rep.ratio_to->second));
        ratio += '}';
        add_field(s, "ratio_to", ratio);
    }
    for (const auto& [key, value] : rep.r.extra) add_field(s, key, json_number(value));
    s += '}';
    return s;
}

std::string fixed(double v, int decimals) {
    if (!std::isfinite(v)) return "-";
    std::ostringstream os;
    os.setf(std::ios::fixed);
    os.precision(decimals);
    os << v;
    return os.str();
}

void print_table(const std::vector<report>& reports, std::ostream& os) {
    std::size_t name_width = 8;
    for (const auto& rep : reports) name_width = std::max(name_width, rep.workload.size());
    char line[512];
    std::snprintf(line, sizeof line, "%-*s %10s %8s %9s %13s %11s %10s %10s %10s %9s  %s\n",
                  static_cast<int>(name_width), "workload", "records", "bytes", "seconds", "records/s",
                  "MB/s", "p50 us", "p99 us", "cpu us/rec", "rss MB", "ratio");
    os << line;
    for (const auto& rep : reports) {
        std::string ratio;
        if (rep.ratio_to) ratio = fixed(rep.ratio_to->second, 3) + " of " + rep.ratio_to->first;
        std::snprintf(line, sizeof line, "%-*s %10llu %8llu %9s %13s %11s %10s %10s %10s %9s  %s\n",
                      static_cast<int>(name_width), rep.workload.c_str(),
                      static_cast<unsigned long long>(rep.r.records),
                      static_cast<unsigned long long>(rep.r.value_bytes), fixed(rep.r.seconds, 3).c_str(),
                      fixed(rep.records_per_s, 0).c_str(), fixed(rep.mb_per_s, 1).c_str(),
                      fixed(rep.p50_us, 1).c_str(), fixed(rep.p99_us, 1).c_str(),
                      fixed(rep.cpu_us_per_record, 3).c_str(), fixed(rep.peak_rss_mb, 1).c_str(),
                      ratio.c_str());
        os << line;
        if (!rep.r.extra.empty() || !rep.r.note.empty()) {
            os << std::string(name_width, ' ') << "   ";
            for (const auto& [key, value] : rep.r.extra) os << ' ' << key << '=' << value;
            if (!rep.r.note.empty()) os << "  (" << rep.r.note << ')';
            os << '\n';
        }
    }
}

// The workloads the patterns name, with the baselines they compare with added, ordered so that
// every baseline runs before the workloads compared with it (otherwise in registration order).
// Unknown names are an error that lists what exists.
std::vector<const workload*> select(const std::vector<std::string>& patterns) {
    const auto& all = workloads();
    auto find = [&](const std::string& name) -> const workload* {
        for (const auto& w : all)
            if (w.name == name) return &w;
        return nullptr;
    };
    std::set<std::string> chosen;
    for (const auto& p : patterns) {
        bool matched = false;
        for (const auto& w : all) {
            if (p == "all" || w.name == p || ::fnmatch(p.c_str(), w.name.c_str(), 0) == 0) {
                chosen.insert(w.name);
                matched = true;
            }
        }
        if (!matched) throw std::invalid_argument("no workload matches '" + p + "' (see --list)");
    }
    // Baselines of baselines too (a RocksDB twin's baseline is our workload, whose baseline is raw).
    for (bool grew = true; grew;) {
        grew = false;
        for (const auto& w : all) {
            if (chosen.count(w.name) == 0 || w.baseline.empty() || chosen.count(w.baseline) != 0) continue;
            if (find(w.baseline) == nullptr) continue;  // run alone, without a ratio (see run())
            chosen.insert(w.baseline);
            grew = true;
        }
    }
    // By depth in the baseline chain: the raw baselines first, each ratio computable when its
    // workload finishes, whatever order the files registered in.
    auto depth = [&](const workload& w) {
        int d = 0;
        for (const workload* b = &w;
             b != nullptr && !b->baseline.empty() && d <= static_cast<int>(all.size()); ++d)
            b = find(b->baseline);
        if (d > static_cast<int>(all.size())) throw std::logic_error(w.name + ": its baselines form a cycle");
        return d;
    };
    std::vector<std::pair<int, const workload*>> order;
    for (const auto& w : all)
        if (chosen.count(w.name) != 0) order.emplace_back(depth(w), &w);
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<const workload*> out;
    for (const auto& [d, w] : order) out.push_back(w);
    return out;
}

report run_one(const workload& w, const std::filesystem::path& base, std::optional<std::uint64_t> records,
               std::optional<std::uint64_t> value_bytes) {
    scratch_dir dir(base, w.name);
    context ctx(dir.path(), records, value_bytes);
    report rep;
    rep.workload = w.name;
    rss_peak rss;
    rss.reset();
    rep.r = w.run(ctx);
    rep.peak_rss_mb = rss.mb();
    // A workload that did records without timing them with a timed_part would report no CPU
    // figure: a mistake in the workload, not a measurement.
    if (!rep.r.cpu_seconds && rep.r.records != 0)
        throw std::logic_error("the workload set no CPU time (time its measured part with a timed_part)");
    if (rep.r.cpu_seconds && rep.r.records != 0)
        rep.cpu_us_per_record = *rep.r.cpu_seconds * 1e6 / static_cast<double>(rep.r.records);
    const double bytes =
        static_cast<double>(rep.r.bytes != 0 ? rep.r.bytes : rep.r.records * rep.r.value_bytes);
    if (rep.r.seconds > 0) {
        rep.records_per_s = static_cast<double>(rep.r.records) / rep.r.seconds;
        rep.mb_per_s = bytes / 1e6 / rep.r.seconds;
    }
    rep.p50_us = rep.r.latencies.percentile_us(50);
    rep.p99_us = rep.r.latencies.percentile_us(99);
    if (rep.r.latencies.dropped() != 0) {
        rep.r.extra.emplace_back("latency_samples_dropped", static_cast<double>(rep.r.latencies.dropped()));
    }
    return rep;
}

int run(int argc, char** argv) {
    po::options_description options("wal-bench: figures of noriwal against raw baselines. Options");
    std::vector<std::string> patterns;
    std::string dir;
    std::uint64_t records = 0;
    std::uint64_t value_bytes = 0;
    // clang-format off
    options.add_options()
        ("help,h", "print this help")
        ("list", "list the workloads with a one-line description")
        ("workload,w", po::value(&patterns)->composing(),
         "a workload to run: a name, 'all', or a glob such as 'raw.*' (repeatable; default all)")
        ("dir,d", po::value(&dir),
         "directory to write in (each workload gets a fresh subdirectory, removed afterwards); "
         "default: a temporary directory under /tmp")
        ("records,n", po::value(&records), "records (operations) per workload instead of its default")
        ("value-bytes", po::value(&value_bytes), "value size, for the workloads that take one")
        ("json", "print one JSON object per line instead of a table");
    // clang-format on
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, options), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "wal-bench: " << e.what() << "\n" << options;
        return 2;
    }
    if (vm.count("help") != 0) {
        std::cout << options;
        return 0;
    }
    if (vm.count("list") != 0) {
        std::size_t width = 0;
        for (const auto& w : workloads()) width = std::max(width, w.name.size());
        for (const auto& w : workloads()) {
            std::cout << w.name << std::string(width - w.name.size() + 2, ' ') << w.description;
            if (!w.baseline.empty()) std::cout << " [compared with " << w.baseline << "]";
            std::cout << '\n';
        }
        return 0;
    }
    if (patterns.empty()) patterns.emplace_back("all");
    if (vm.count("records") != 0 && records == 0) {
        std::cerr << "wal-bench: --records must be at least 1\n";
        return 2;
    }
    const std::optional<std::uint64_t> records_opt =
        vm.count("records") != 0 ? std::optional<std::uint64_t>(records) : std::nullopt;
    const std::optional<std::uint64_t> bytes_opt =
        vm.count("value-bytes") != 0 ? std::optional<std::uint64_t>(value_bytes) : std::nullopt;
    const bool json = vm.count("json") != 0;

    std::vector<const workload*> chosen;
    try {
        chosen = select(patterns);
    } catch (const std::exception& e) {
        std::cerr << "wal-bench: " << e.what() << '\n';
        return 2;
    }

    std::optional<scratch_dir> own_base;
    std::filesystem::path base = dir;
    if (dir.empty()) {
        own_base.emplace("/tmp", "wal-bench");
        base = own_base->path();
    } else {
        std::error_code ec;
        std::filesystem::create_directories(base, ec);
        if (ec) {
            std::cerr << "wal-bench: cannot create " << base << ": " << ec.message() << '\n';
            return 2;
        }
    }

    std::vector<report> reports;
    std::map<std::string, double> rates[2];  // by rate: workload -> its figure
    for (const workload* w : chosen) {
        if (!json) std::cerr << "running " << w->name << "...\n";
        report rep;
        try {
            rep = run_one(*w, base, records_opt, bytes_opt);
        } catch (const std::exception& e) {
            std::cerr << "wal-bench: " << w->name << " failed: " << e.what() << '\n';
            return 1;
        }
        rates[0][w->name] = rep.records_per_s;
        rates[1][w->name] = rep.mb_per_s;
        if (!w->baseline.empty() && rates[0].count(w->baseline) == 0) {
            std::cerr << "wal-bench: " << w->name << ": its baseline " << w->baseline
                      << " is not in this build; no ratio\n";
        } else if (!w->baseline.empty()) {
            const double base_rate = rates[static_cast<int>(w->compare)][w->baseline];
            const double mine = w->compare == rate::records_per_s ? rep.records_per_s : rep.mb_per_s;
            rep.ratio_to.emplace(w->baseline, base_rate > 0 ? mine / base_rate : std::nan(""));
        }
        if (json) {
            std::cout << json_line(rep) << std::endl;
        }
        reports.push_back(std::move(rep));
    }
    if (!json) print_table(reports, std::cout);
    return 0;
}

}  // namespace
}  // namespace noriwal::bench

int main(int argc, char** argv) {
    try {
        return noriwal::bench::run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "wal-bench: " << e.what() << '\n';
        return 1;
    }
}
