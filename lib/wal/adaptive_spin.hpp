// Whether a thread that ran out of work should poll for a while before it sleeps.
//
// Polling saves the wake-up of a sleeping thread (several microseconds on a virtual machine)
// when the next piece of work comes soon; when it does not, it only burns a core. So a thread
// polls only while polling has recently paid: each wait that found work within the spin
// window earns credit, each spin that found nothing costs more than a hit earns, and a thread
// that slept but was woken within the window (a spin would have caught it) earns credit too.
// Starting with no credit, a thread at rest never polls: an idle wal uses no CPU.
#pragma once

#include <chrono>
#include <cstdint>

namespace noriwal::detail {

class adaptive_spin {
public:
    using clock = std::chrono::steady_clock;

    explicit adaptive_spin(std::chrono::microseconds window) noexcept : window_(window) {}

    /// How long to poll now (zero: sleep at once).
    clock::duration budget() const noexcept {
        return credit_ > 0 ? clock::duration(window_) : clock::duration::zero();
    }
    /// A spin found work: it paid.
    void on_hit() noexcept {
        if (credit_ < max_credit) ++credit_;
    }
    /// A spin ran out without work: it did not pay.
    void on_miss() noexcept { credit_ = credit_ > miss_cost ? credit_ - miss_cost : 0; }
    /// The thread slept for `slept` before work came: had it polled, was the wake-up saved?
    void on_woken(clock::duration slept) noexcept {
        if (window_.count() > 0 && slept <= clock::duration(window_)) on_hit();
    }
    int credit() const noexcept { return credit_; }

    static constexpr int max_credit = 16;
    static constexpr int miss_cost = 4;

private:
    std::chrono::microseconds window_;
    int credit_ = 0;
};

}  // namespace noriwal::detail
