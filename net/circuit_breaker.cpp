#include "net/circuit_breaker.hpp"

namespace ferry {

circuit_breaker::circuit_breaker(circuit_config config) : config_(config) {}

bool circuit_breaker::allow(clock::time_point now) {
    switch (current(now)) {
    case state::closed:
        return true;
    case state::open:
        return false;
    case state::half_open:
        // A probe that never reported (its coroutine was cancelled) must not block the host.
        if (probe_in_flight_ && now < probe_at_ + config_.cool_down)
            return false;
        state_ = state::half_open;
        probe_in_flight_ = true;
        probe_at_ = now;
        return true;
    }
    return true;
}

circuit_breaker::clock::time_point circuit_breaker::retry_at() const noexcept {
    return (probe_in_flight_ ? probe_at_ : opened_at_) + config_.cool_down;
}

void circuit_breaker::on_success(clock::time_point) {
    state_ = state::closed;
    probe_in_flight_ = false;
    failures_.clear();
}

void circuit_breaker::on_probe_abandoned() noexcept {
    probe_in_flight_ = false;
}

void circuit_breaker::on_failure(clock::time_point now) {
    switch (current(now)) {
    case state::open:
        return; // a request from before the circuit opened: the cool-down stands
    case state::half_open:
        state_ = state::open;
        opened_at_ = now;
        probe_in_flight_ = false;
        return;
    case state::closed:
        break;
    }
    failures_.push_back(now);
    while (!failures_.empty() && now - failures_.front() > config_.window)
        failures_.pop_front();
    if (failures_.size() >= config_.failure_threshold) {
        state_ = state::open;
        opened_at_ = now;
        failures_.clear();
    }
}

circuit_breaker::state circuit_breaker::current(clock::time_point now) const {
    if (state_ == state::open && now >= opened_at_ + config_.cool_down)
        return state::half_open;
    return state_;
}

const char* circuit_breaker::name(state s) noexcept {
    switch (s) {
    case state::closed: return "closed";
    case state::open: return "open";
    case state::half_open: return "half-open";
    }
    return "closed";
}

} // namespace ferry
