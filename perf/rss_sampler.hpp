// Samples the process's resident memory from another thread while a workload runs, to tell the
// heap (RssAnon) from mapped files (RssFile: segments a reader or recovery has mapped, whose
// pages belong to the page cache and are given back when unmapped).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>

namespace noriwal::bench {

class rss_sampler {
public:
    explicit rss_sampler(std::chrono::milliseconds every = std::chrono::milliseconds(2))
        : thread_([this, every] {
              while (!stop_.load(std::memory_order_relaxed)) {
                  sample();
                  std::this_thread::sleep_for(every);
              }
              sample();
          }) {}
    ~rss_sampler() { stop(); }
    rss_sampler(const rss_sampler&) = delete;
    rss_sampler& operator=(const rss_sampler&) = delete;

    void stop() {
        stop_.store(true, std::memory_order_relaxed);
        if (thread_.joinable()) thread_.join();
    }
    /// Peaks seen, in MiB (call after stop()).
    double anon_peak_mb() const noexcept { return static_cast<double>(anon_kib_) / 1024.0; }
    double file_peak_mb() const noexcept { return static_cast<double>(file_kib_) / 1024.0; }

private:
    void sample() {
        std::FILE* f = std::fopen("/proc/self/status", "r");
        if (f == nullptr) return;
        char line[256];
        while (std::fgets(line, sizeof line, f) != nullptr) {
            const std::string_view l(line);
            if (l.starts_with("RssAnon:")) {
                const long v = std::strtol(line + 8, nullptr, 10);
                if (v > anon_kib_) anon_kib_ = v;
            } else if (l.starts_with("RssFile:")) {
                const long v = std::strtol(line + 8, nullptr, 10);
                if (v > file_kib_) file_kib_ = v;
            }
        }
        std::fclose(f);
    }

    std::atomic<bool> stop_{false};
    long anon_kib_ = 0;
    long file_kib_ = 0;
    std::thread thread_;
};

}  // namespace noriwal::bench
