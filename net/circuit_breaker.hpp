#pragma once

#include <chrono>
#include <cstddef>
#include <deque>

namespace ferry {

struct circuit_config {
    /// Failures within `window` that open the circuit.
    std::size_t failure_threshold = 8;
    std::chrono::milliseconds window{10'000};
    /// How long an open circuit waits before letting one probe through (half-open).
    std::chrono::milliseconds cool_down{5'000};
};

/// A per-host circuit breaker. No I/O, not thread-safe (it lives behind the engine's strand).
/// closed: requests flow. open: requests wait until the cool-down ends. half_open: one probe
/// request goes; its success closes the circuit, its failure opens it again.
class circuit_breaker {
public:
    using clock = std::chrono::steady_clock;
    enum class state { closed, open, half_open };

    explicit circuit_breaker(circuit_config config = {});

    /// May a request start now? In half_open, true once (for the probe) until it reports back.
    bool allow(clock::time_point now);
    /// When an open circuit lets the next probe through (meaningful when allow() is false).
    clock::time_point retry_at() const noexcept { return opened_at_ + config_.cool_down; }

    void on_success(clock::time_point now);
    void on_failure(clock::time_point now);

    state current(clock::time_point now) const;
    static const char* name(state s) noexcept;

private:
    circuit_config config_;
    state state_ = state::closed;
    std::deque<clock::time_point> failures_;
    clock::time_point opened_at_{};
    bool probe_in_flight_ = false;
};

} // namespace ferry
