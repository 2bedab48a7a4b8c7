#pragma once

#include <chrono>
#include <cstdint>

namespace ferry {

/// Bytes-per-second budget. No I/O, not thread-safe. The engine refills it from a steady_timer
/// and hands tokens to waiting transfers; this class only does the arithmetic.
/// A rate of 0 means unlimited: take() grants everything asked.
class token_bucket {
public:
    using clock = std::chrono::steady_clock;

    /// `burst`: most tokens that can accumulate (0 picks rate/10, at least 16 KiB).
    explicit token_bucket(std::uint64_t rate = 0, std::uint64_t burst = 0,
                          clock::time_point now = clock::now());

    /// Changes the rate from now on; tokens above the new burst are dropped.
    void set_rate(std::uint64_t rate, std::uint64_t burst = 0);
    std::uint64_t rate() const noexcept { return rate_; }
    bool unlimited() const noexcept { return rate_ == 0; }

    /// Adds the tokens earned since the last refill (capped at burst).
    void refill(clock::time_point now);
    /// Takes up to `want` tokens; returns how many were granted (all of them when unlimited).
    std::uint64_t take(std::uint64_t want) noexcept;
    /// Gives back tokens that were granted but not used.
    void give_back(std::uint64_t n) noexcept;
    std::uint64_t available() const noexcept;
    /// Time until `n` tokens will be available (zero when they already are).
    clock::duration time_until(std::uint64_t n) const noexcept;

private:
    std::uint64_t rate_;
    std::uint64_t burst_;
    double tokens_;
    clock::time_point last_;
};

} // namespace ferry
