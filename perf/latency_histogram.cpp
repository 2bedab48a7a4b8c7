#include "perf/latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace ferry {

namespace {

using duration = latency_histogram::duration;

/// bounds[i] = 100 µs × 10^(i / 20), in nanoseconds, rounded up so that a bound is never below the
/// exact value.
const std::array<duration, latency_histogram::bucket_count - 1>& bounds() {
    static const auto table = [] {
        std::array<duration, latency_histogram::bucket_count - 1> out{};
        double lowest = double(latency_histogram::lowest_bound.count());
        for (std::size_t i = 0; i < out.size(); ++i) {
            double exponent = double(i) / double(latency_histogram::buckets_per_decade);
            out[i] = duration(static_cast<duration::rep>(std::ceil(lowest * std::pow(10.0, exponent))));
        }
        return out;
    }();
    return table;
}

} // namespace

duration latency_histogram::bound(std::size_t i) noexcept { return bounds()[i]; }

std::size_t latency_histogram::bucket_of(duration d) noexcept {
    auto& table = bounds();
    // The first bound not below d; past the end is the overflow bucket.
    return static_cast<std::size_t>(std::lower_bound(table.begin(), table.end(), d) - table.begin());
}

void latency_histogram::record(duration d) noexcept {
    d = std::max(d, duration::zero());
    ++counts_[bucket_of(d)];
    ++count_;
    sum_ += d;
    max_ = std::max(max_, d);
}

void latency_histogram::merge(const latency_histogram& other) noexcept {
    for (std::size_t i = 0; i < bucket_count; ++i)
        counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    max_ = std::max(max_, other.max_);
}

std::optional<duration> latency_histogram::percentile(double percent) const noexcept {
    if (count_ == 0)
        return std::nullopt;
    // The rank of the sample asked for, from 1: at least the first, at most the last.
    auto rank = static_cast<std::uint64_t>(std::ceil(std::clamp(percent, 0.0, 100.0) / 100.0 * double(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i + 1 < bucket_count; ++i) {
        seen += counts_[i];
        if (seen >= rank)
            return std::min(bound(i), max_);
    }
    return max_; // in the overflow bucket: the largest is the best bound there is
}

std::optional<duration> latency_histogram::max() const noexcept {
    if (count_ == 0)
        return std::nullopt;
    return max_;
}

std::optional<duration> latency_histogram::mean() const noexcept {
    if (count_ == 0)
        return std::nullopt;
    return sum_ / static_cast<duration::rep>(count_);
}

} // namespace ferry
