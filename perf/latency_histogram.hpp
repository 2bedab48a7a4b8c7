#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace ferry {

/// Counts of durations in log-spaced buckets, 20 per decade from 100 µs to 100 s (each bound 12%
/// above the one before), plus one below and one above. Fixed memory, no I/O, no clock; not
/// thread-safe. Percentiles are estimates from the buckets: never below the true value and at
/// most one bucket (12%) above it.
class latency_histogram {
public:
    using duration = std::chrono::nanoseconds;

    static constexpr std::size_t buckets_per_decade = 20;
    static constexpr duration lowest_bound = std::chrono::microseconds(100);
    /// Bucket i holds durations in (bound(i - 1), bound(i)]; bucket 0 everything up to 100 µs, the
    /// last one everything above 100 s.
    static constexpr std::size_t bucket_count = 6 * buckets_per_decade + 2;

    /// Counts one duration (a negative one as zero).
    void record(duration d) noexcept;
    /// Adds every count of `other`, as if its durations had been recorded here.
    void merge(const latency_histogram& other) noexcept;

    std::uint64_t count() const noexcept { return count_; }
    /// The total of every duration recorded (as recorded: negative ones as zero).
    duration sum() const noexcept { return sum_; }
    /// The duration that `percent` % of the recorded ones (0 < percent ≤ 100) do not exceed: the
    /// upper bound of its bucket, or the largest duration recorded when that is lower. nullopt
    /// when nothing was recorded.
    std::optional<duration> percentile(double percent) const noexcept;
    std::optional<duration> max() const noexcept;
    std::optional<duration> mean() const noexcept;

    /// The upper bound of bucket `i` (< bucket_count - 1; the last bucket has none).
    static duration bound(std::size_t i) noexcept;
    std::uint64_t bucket(std::size_t i) const noexcept { return counts_[i]; }

private:
    static std::size_t bucket_of(duration d) noexcept;

    std::array<std::uint64_t, bucket_count> counts_{};
    std::uint64_t count_ = 0;
    duration sum_{0};
    duration max_{0};
};

} // namespace ferry
