// Waiting in tests for something another thread does, without making the result depend on time.
#pragma once

#include <chrono>
#include <thread>

namespace noriwal::test {

/// Waits until `done()` holds, polling; false if it still does not after `limit`. The limit
/// only bounds how long a broken build hangs: no test result depends on the time taken.
template <class Pred>
bool eventually(Pred done, std::chrono::seconds limit = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

}  // namespace noriwal::test
