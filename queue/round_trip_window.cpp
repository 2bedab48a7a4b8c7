#include "queue/round_trip_window.hpp"

#include <algorithm>

namespace ferry {

void round_trip_window::first_byte(clock::duration d) {
    double sample = std::max(std::chrono::duration<double>(d).count(), 0.0);
    rtt_ = rtt_ < 0 ? sample : std::min(rtt_, sample);
}

void round_trip_window::body(std::uint64_t bytes, clock::duration d) {
    double seconds = std::chrono::duration<double>(d).count();
    if (bytes < settings_.min_body || seconds <= 0)
        return;
    double sample = double(bytes) / seconds;
    rate_ = rate_ < 0 ? sample : (rate_ + sample) / 2;
}

std::optional<round_trip_window::clock::duration> round_trip_window::round_trip() const {
    if (rtt_ < 0)
        return std::nullopt;
    return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(rtt_));
}

std::optional<double> round_trip_window::rate() const {
    if (rate_ < 0)
        return std::nullopt;
    return rate_;
}

std::uint64_t round_trip_window::bytes() const {
    return static_cast<std::uint64_t>(std::min(settings_.round_trips, 1e6) * double(round_trip_bytes()));
}

std::uint64_t round_trip_window::round_trip_bytes() const {
    if (rtt_ < 0 || rate_ < 0)
        return 0;
    // (A guard against an absurd product, far above any request: max_request clamps it anyway.)
    return static_cast<std::uint64_t>(std::min(rtt_ * rate_, 1e9));
}

} // namespace ferry
