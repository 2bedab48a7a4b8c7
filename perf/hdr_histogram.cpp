#include "perf/hdr_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace ferry {

hdr_histogram::hdr_histogram(std::int64_t highest, int significant_digits)
    : highest_(highest), digits_(significant_digits) {
    if (significant_digits < 1 || significant_digits > 5 || highest < 2)
        throw std::invalid_argument("hdr_histogram: 1 to 5 significant digits and a highest value of 2 or more");
    // Enough linear sub-buckets that the width of one is below 10^-digits of the values it holds.
    const double largest_single_unit = 2.0 * std::pow(10.0, significant_digits);
    const int sub_bucket_magnitude = int(std::ceil(std::log2(largest_single_unit)));
    sub_bucket_half_magnitude_ = sub_bucket_magnitude - 1;
    sub_bucket_count_ = std::int64_t(1) << sub_bucket_magnitude;
    sub_bucket_half_count_ = sub_bucket_count_ / 2;
    sub_bucket_mask_ = sub_bucket_count_ - 1;
    leading_zero_base_ = 64 - sub_bucket_magnitude;

    int buckets = 1;
    std::int64_t smallest_untrackable = sub_bucket_count_;
    while (smallest_untrackable <= highest) {
        if (smallest_untrackable > std::numeric_limits<std::int64_t>::max() / 2) {
            ++buckets;
            break;
        }
        smallest_untrackable <<= 1;
        ++buckets;
    }
    counts_.assign(std::size_t(buckets + 1) * std::size_t(sub_bucket_half_count_), 0);
}

int hdr_histogram::bucket_index(std::int64_t value) const noexcept {
    return leading_zero_base_ - std::countl_zero(std::uint64_t(value | sub_bucket_mask_));
}

std::size_t hdr_histogram::counts_index(std::int64_t value) const noexcept {
    const int bucket = bucket_index(value);
    const std::int64_t sub_bucket = value >> bucket;
    return std::size_t(((std::int64_t(bucket) + 1) << sub_bucket_half_magnitude_) + (sub_bucket - sub_bucket_half_count_));
}

std::int64_t hdr_histogram::value_from_index(std::size_t index) const noexcept {
    std::int64_t bucket = (std::int64_t(index) >> sub_bucket_half_magnitude_) - 1;
    std::int64_t sub_bucket = (std::int64_t(index) & (sub_bucket_half_count_ - 1)) + sub_bucket_half_count_;
    if (bucket < 0) {
        sub_bucket -= sub_bucket_half_count_;
        bucket = 0;
    }
    return sub_bucket << bucket;
}

std::int64_t hdr_histogram::equivalent_range(std::int64_t value) const noexcept {
    const int bucket = bucket_index(value);
    const std::int64_t sub_bucket = value >> bucket;
    return std::int64_t(1) << (sub_bucket >= sub_bucket_count_ ? bucket + 1 : bucket);
}

std::int64_t hdr_histogram::lowest_equivalent(std::int64_t value) const noexcept {
    const int bucket = bucket_index(value);
    return (value >> bucket) << bucket;
}

std::int64_t hdr_histogram::highest_equivalent(std::int64_t value) const noexcept {
    return lowest_equivalent(value) + equivalent_range(value) - 1;
}

void hdr_histogram::record(std::int64_t value, std::uint64_t count) noexcept {
    if (count == 0)
        return;
    if (value < 0)
        value = 0;
    if (value > highest_) {
        value = highest_;
        clamped_ += count;
    }
    counts_[counts_index(value)] += count;
    total_ += count;
    if (value > max_)
        max_ = value;
    if (value > 0 && (min_nonzero_ == 0 || value < min_nonzero_))
        min_nonzero_ = value;
}

void hdr_histogram::merge(const hdr_histogram& other) {
    if (other.highest_ != highest_ || other.digits_ != digits_)
        throw std::invalid_argument("hdr_histogram::merge: histograms of different layouts");
    for (std::size_t i = 0; i < counts_.size(); ++i)
        counts_[i] += other.counts_[i];
    total_ += other.total_;
    clamped_ += other.clamped_;
    max_ = std::max(max_, other.max_);
    if (other.min_nonzero_ != 0 && (min_nonzero_ == 0 || other.min_nonzero_ < min_nonzero_))
        min_nonzero_ = other.min_nonzero_;
}

void hdr_histogram::reset() noexcept {
    std::fill(counts_.begin(), counts_.end(), 0);
    total_ = clamped_ = 0;
    min_nonzero_ = max_ = 0;
}

std::int64_t hdr_histogram::min() const noexcept {
    if (total_ == 0 || counts_[0] != 0)
        return 0;
    return lowest_equivalent(min_nonzero_);
}

std::int64_t hdr_histogram::max() const noexcept {
    return max_ == 0 ? 0 : highest_equivalent(max_);
}

double hdr_histogram::mean() const noexcept {
    if (total_ == 0)
        return 0;
    const std::size_t last = counts_index(max_);
    double sum = 0;
    for (std::size_t i = 0; i <= last; ++i) {
        if (counts_[i] == 0)
            continue;
        const std::int64_t value = value_from_index(i);
        const double median = double(lowest_equivalent(value)) + double(equivalent_range(value) >> 1);
        sum += median * double(counts_[i]);
    }
    return sum / double(total_);
}

std::int64_t hdr_histogram::value_at_percentile(double percentile) const noexcept {
    if (total_ == 0)
        return 0;
    // As HdrHistogram counts since 2.1.10 (hdr-histogram-js too): the count at the percentile is
    // rounded up, from a percentile nudged just below the one asked for, so that 99 % of 300
    // is the 297th value and not, by floating-point error, the 298th.
    const double requested = std::clamp(std::nextafter(percentile, -1.0), 0.0, 100.0);
    auto wanted = static_cast<std::uint64_t>(std::ceil(requested / 100.0 * double(total_)));
    wanted = std::max<std::uint64_t>(wanted, 1);
    std::uint64_t running = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        running += counts_[i];
        if (running >= wanted) {
            const std::int64_t value = value_from_index(i);
            return percentile == 0.0 ? lowest_equivalent(value) : highest_equivalent(value);
        }
    }
    return max();
}

} // namespace ferry
