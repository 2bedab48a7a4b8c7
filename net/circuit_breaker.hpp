#pragma once

#include <chrono>
#include <cstddef>
#include <deque>

namespace ferry {

struct circuit_config {
    /// Failures within `window` that open the circuit (0 counts as 1).
    std::size_t failure_threshold = 8;
    std::chrono::milliseconds window{10'000};
    /// How long an open circuit waits before letting one probe through (half-open); also how long
    /// a probe may stay unanswered before another one is let through.
    std::chrono::milliseconds cool_down{5'000};
};

/// A per-host circuit breaker. No I/O, not thread-safe (it lives behind the engine's strand).
/// closed: requests flow; `failure_threshold` failures within `window` open the circuit.
/// open: requests wait until the cool-down ends; failures reported meanwhile (requests that
/// started before the circuit opened) change nothing.
/// half_open: one probe request goes; any success closes the circuit, any failure opens it again
/// for another cool-down. A probe that does not report back within `cool_down` (cancelled, say)
/// is given up on: the next allow() lets another probe through.
/// A success in any state closes the circuit: the host answers.
class circuit_breaker {
public:
    using clock = std::chrono::steady_clock;
    enum class state { closed, open, half_open };

    explicit circuit_breaker(circuit_config config = {});

    /// May a request start now? In half_open, true once (for the probe) until it reports back.
    bool allow(clock::time_point now);
    /// When allow() may next say yes, once it has said no: the end of the cool-down, or while a
    /// probe is out, the moment it is given up on. Always in the future of the refusal, so a
    /// caller can wait until then without spinning.
    clock::time_point retry_at() const noexcept;

    void on_success(clock::time_point now);
    void on_failure(clock::time_point now);
    /// The probe allow() let through will not report (it was cancelled before it reached the
    /// host): the next allow() lets another one through at once instead of after a cool-down.
    /// Does nothing when no probe is out.
    void on_probe_abandoned() noexcept;

    state current(clock::time_point now) const;
    static const char* name(state s) noexcept;

private:
    circuit_config config_;
    state state_ = state::closed;
    std::deque<clock::time_point> failures_; // closed state only, within the window
    clock::time_point opened_at_{};
    bool probe_in_flight_ = false;
    clock::time_point probe_at_{};
};

} // namespace ferry
