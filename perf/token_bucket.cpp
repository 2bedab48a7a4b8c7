#include "perf/token_bucket.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ferry {

namespace {

constexpr std::uint64_t min_default_burst = 16 * 1024;

std::uint64_t burst_for(std::uint64_t rate, std::uint64_t burst) {
    return burst ? burst : std::max<std::uint64_t>(rate / 10, min_default_burst);
}

/// Whole tokens in `tokens`, without the undefined behaviour of converting an out-of-range double.
std::uint64_t whole(double tokens) noexcept {
    if (!(tokens >= 1.0)) // also catches NaN
        return 0;
    if (tokens >= 18446744073709551616.0) // 2^64
        return std::numeric_limits<std::uint64_t>::max();
    return static_cast<std::uint64_t>(tokens);
}

/// Tokens earned over `d`. Computed from the integer tick count, so that many short refills add up
/// to what one long one gives; time_until uses the same formula to predict refills exactly.
double earned(token_bucket::clock::duration d, std::uint64_t rate) noexcept {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    return double(ns) * double(rate) / 1e9;
}

} // namespace

token_bucket::token_bucket(std::uint64_t rate, std::uint64_t burst, clock::time_point now)
    : rate_(rate), burst_(burst_for(rate, burst)), tokens_(double(burst_)), last_(now) {}

void token_bucket::set_rate(std::uint64_t rate, std::uint64_t burst) {
    rate_ = rate;
    burst_ = burst_for(rate, burst);
    tokens_ = std::min(tokens_, double(burst_));
}

void token_bucket::refill(clock::time_point now) {
    if (now <= last_)
        return;
    const auto elapsed = now - last_;
    last_ = now;
    if (!unlimited())
        tokens_ = std::min(double(burst_), tokens_ + earned(elapsed, rate_));
}

std::uint64_t token_bucket::take(std::uint64_t want) noexcept {
    if (unlimited())
        return want;
    const std::uint64_t granted = std::min(want, whole(tokens_));
    tokens_ -= double(granted);
    return granted;
}

void token_bucket::give_back(std::uint64_t n) noexcept {
    if (!unlimited())
        tokens_ = std::min(double(burst_), tokens_ + double(n));
}

std::uint64_t token_bucket::available() const noexcept {
    if (unlimited())
        return std::numeric_limits<std::uint64_t>::max();
    return whole(tokens_);
}

token_bucket::clock::duration token_bucket::time_until(std::uint64_t n) const noexcept {
    if (unlimited())
        return clock::duration::zero();
    const double target = double(std::min(n, burst_));
    if (tokens_ >= target)
        return clock::duration::zero();
    const double ticks_per_second = double(clock::period::den) / double(clock::period::num);
    const double ticks = std::ceil((target - tokens_) / double(rate_) * ticks_per_second);
    // Leave room for the correction below, and for adding the result to a time point.
    if (ticks >= double(clock::duration::max().count() / 4))
        return clock::duration::max();
    clock::duration wait(static_cast<clock::duration::rep>(ticks));
    // Rounding may leave the refill a hair short of the target: a few more ticks make it certain.
    for (int i = 0; i < 8 && tokens_ + earned(wait, rate_) < target; ++i)
        wait += clock::duration(1);
    return wait;
}

} // namespace ferry
