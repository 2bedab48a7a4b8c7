#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace ferry {

/// Plans of `ferry load`'s executors (k6's names): how many virtual users (VUs) run when, and when
/// each iteration of an open model is meant to start. Plain arithmetic on times since the start of
/// a scenario: no clock, no I/O. The runner (tools/load) asks them and keeps the time.

/// One step of a ramp: move linearly from the previous target to `target` over `duration`.
struct load_stage {
    std::chrono::nanoseconds duration{0};
    double target = 0; ///< VUs (ramping-vus) or iterations per time unit (ramping-arrival-rate)
};

/// ramping-vus: the VUs wanted at time t, moving linearly from `start` through each stage's target
/// (rounded down, as k6 does while ramping). Past the last stage: 0 (the scenario is over).
class vu_ramp {
public:
    vu_ramp(double start, std::vector<load_stage> stages);

    std::uint64_t target_at(std::chrono::nanoseconds t) const noexcept;
    /// The largest target anywhere in the plan (the VUs to have ready).
    std::uint64_t peak() const noexcept;
    std::chrono::nanoseconds length() const noexcept { return length_; }
    /// A time after `t`, no later than the next change of target_at (the next crossing of a whole
    /// number of VUs, or the end of the stage); nullopt at or past `length()`. The runner sleeps
    /// until then instead of polling.
    std::optional<std::chrono::nanoseconds> next_change(std::chrono::nanoseconds t) const noexcept;

private:
    double start_;
    std::vector<load_stage> stages_;
    std::chrono::nanoseconds length_{0};
};

/// constant-arrival-rate and ramping-arrival-rate: the intended start of every iteration. The
/// rate (iterations per `time_unit`) moves linearly from `start_rate` through the stages;
/// iteration i is due when the integral of the rate reaches i, so iteration 0 is due at 0 and a
/// constant rate r per second sends iteration i at i / r seconds, whatever happened before: a
/// late response never delays the next send (no coordinated omission).
class arrival_schedule {
public:
    arrival_schedule(double start_rate, std::vector<load_stage> stages, std::chrono::nanoseconds time_unit);
    /// A constant rate for `duration`.
    static arrival_schedule constant(double rate, std::chrono::nanoseconds duration, std::chrono::nanoseconds time_unit);

    /// When iteration `i` (from 0) is due; nullopt when it falls at or past the end.
    std::optional<std::chrono::nanoseconds> send_time(std::uint64_t i) const noexcept;
    /// Iterations due before time t (the integral of the rate), and over the whole plan.
    double due_by(std::chrono::nanoseconds t) const noexcept;
    double total() const noexcept { return due_by(length_); }
    std::chrono::nanoseconds length() const noexcept { return length_; }

private:
    struct segment {
        double begin = 0, end = 0; ///< seconds
        double rate0 = 0, rate1 = 0; ///< per second, at begin and end
        double before = 0; ///< iterations due before `begin`
    };
    std::vector<segment> segments_;
    std::chrono::nanoseconds length_{0};
};

/// The VUs of an arrival-rate executor: `pre_allocated` ready at the start, more (up to `max`)
/// added when an iteration is due and none is free; when the cap is reached the iteration is
/// dropped and counted (k6's dropped_iterations).
class vu_budget {
public:
    enum class outcome { idle, spawn, dropped };

    vu_budget(std::uint64_t pre_allocated, std::uint64_t max) noexcept;

    /// An iteration is due: run it on an idle VU, on a new one, or drop it.
    outcome take() noexcept;
    /// A VU finished its iteration and is idle again.
    void give_back() noexcept;

    std::uint64_t allocated() const noexcept { return allocated_; }
    std::uint64_t busy() const noexcept { return busy_; }
    std::uint64_t dropped() const noexcept { return dropped_; }

private:
    std::uint64_t max_;
    std::uint64_t allocated_;
    std::uint64_t busy_ = 0;
    std::uint64_t dropped_ = 0;
};

/// shared-iterations: `total` iterations shared by the scenario's VUs, each VU claiming the next
/// as it becomes free.
class iteration_pool {
public:
    explicit iteration_pool(std::uint64_t total) noexcept : left_(total) {}
    bool claim() noexcept {
        if (left_ == 0)
            return false;
        --left_;
        return true;
    }
    std::uint64_t left() const noexcept { return left_; }

private:
    std::uint64_t left_;
};

} // namespace ferry
