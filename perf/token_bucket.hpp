#pragma once

#include <chrono>
#include <cstdint>

namespace ferry {

/// Bytes-per-second budget. No I/O, not thread-safe. The engine refills it from a steady_timer
/// and hands tokens to waiting transfers; this class only does the arithmetic.
/// A rate of 0 means unlimited: take() grants everything asked.
///
/// Tokens are kept as a double, so fractions earned between refills are not lost: after any
/// number of refills, the tokens granted over a period equal rate * period (plus the initial
/// burst) to within one token. The bucket starts full.
class token_bucket {
public:
    using clock = std::chrono::steady_clock;

    /// `burst`: most tokens that can accumulate (0 picks rate/10, at least 16 KiB).
    explicit token_bucket(std::uint64_t rate = 0, std::uint64_t burst = 0,
                          clock::time_point now = clock::now());

    /// Changes the rate from now on; tokens above the new burst are dropped. Call refill(now)
    /// first, so that the time before the change is credited at the old rate.
    void set_rate(std::uint64_t rate, std::uint64_t burst = 0);
    std::uint64_t rate() const noexcept { return rate_; }
    std::uint64_t burst() const noexcept { return burst_; }
    bool unlimited() const noexcept { return rate_ == 0; }

    /// Adds the tokens earned since the last refill (capped at burst). A time point earlier than
    /// the last refill adds nothing.
    void refill(clock::time_point now);
    /// Takes up to `want` tokens; returns how many were granted (all of them when unlimited).
    std::uint64_t take(std::uint64_t want) noexcept;
    /// Gives back tokens that were granted but not used (capped at burst).
    void give_back(std::uint64_t n) noexcept;
    /// Whole tokens available now (the largest uint64 when unlimited).
    std::uint64_t available() const noexcept;
    /// Time until `n` tokens will be available, counted from the last refill (zero when they
    /// already are, or when unlimited). The bucket never holds more than burst(), so an `n` above
    /// it is treated as burst(). Rounded up to a whole clock tick, so waiting that long suffices.
    clock::duration time_until(std::uint64_t n) const noexcept;

private:
    std::uint64_t rate_;
    std::uint64_t burst_;
    double tokens_;
    clock::time_point last_;
};

} // namespace ferry
