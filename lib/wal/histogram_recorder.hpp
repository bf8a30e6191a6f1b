// A fixed-bucket histogram that any thread may record into without a lock, and whose
// snapshot is a noriwal::histogram.
#pragma once

#include <noriwal/stats.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

namespace noriwal::detail {

/// Bucket bounds for durations in nanoseconds: 1-2-5 steps from 1 µs to 10 s.
inline constexpr std::array<std::uint64_t, 22> duration_bounds_ns = {
    1'000,         2'000,         5'000,         10'000,        20'000,      50'000,
    100'000,       200'000,       500'000,       1'000'000,     2'000'000,   5'000'000,
    10'000'000,    20'000'000,    50'000'000,    100'000'000,   200'000'000, 500'000'000,
    1'000'000'000, 2'000'000'000, 5'000'000'000, 10'000'000'000};

/// Bucket bounds for group sizes: powers of two from 1 to 65536.
inline constexpr std::array<std::uint64_t, 17> size_bounds = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};

template <std::size_t N>
class histogram_recorder {
public:
    /// `bounds` ascending; a recorded value divided by `per_unit` is in the unit of the
    /// snapshot (1e9 for nanoseconds to seconds, 1 for counts).
    constexpr histogram_recorder(const std::array<std::uint64_t, N>& bounds, double per_unit) noexcept
        : bounds_(bounds), per_unit_(per_unit) {}

    void record(std::uint64_t v, std::uint64_t times = 1) noexcept {
        auto i =
            static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
        counts_[i].fetch_add(times, std::memory_order_relaxed);
        sum_.fetch_add(v * times, std::memory_order_relaxed);
    }

    /// record() for a histogram that one thread at a time writes (readers may snapshot it
    /// concurrently): no locked read-modify-write per value.
    void record_by_owner(std::uint64_t v) noexcept {
        auto i =
            static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
        counts_[i].store(counts_[i].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        sum_.store(sum_.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
    }

    histogram snapshot() const {
        histogram h;
        h.bounds.reserve(N);
        for (auto b : bounds_) h.bounds.push_back(static_cast<double>(b) / per_unit_);
        h.counts.reserve(N + 1);
        for (const auto& c : counts_) {
            h.counts.push_back(c.load(std::memory_order_relaxed));
            h.count += h.counts.back();
        }
        h.sum = static_cast<double>(sum_.load(std::memory_order_relaxed)) / per_unit_;
        return h;
    }

private:
    const std::array<std::uint64_t, N>& bounds_;
    double per_unit_;
    std::array<std::atomic<std::uint64_t>, N + 1> counts_{};
    std::atomic<std::uint64_t> sum_{0};
};

}  // namespace noriwal::detail
