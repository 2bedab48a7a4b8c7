#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ferry {

/// A High Dynamic Range histogram of integer values (HdrHistogram's layout and semantics): values
/// from 1 to `highest` kept to `significant_digits` decimal digits (1..5; ferry uses 3: any value is
/// told apart from one 0.1% away). Memory is fixed at construction (about 188 KiB for 3 digits up
/// to an hour in microseconds) and does not grow with the number of values recorded.
///
/// Buckets double in width; each holds `sub_bucket_count` (2048 for 3 digits) linear sub-buckets,
/// of which the upper half is new. A value lands at the index counts_index(value); every value of an
/// index is "equivalent": value_at_percentile answers the highest equivalent value of the index
/// where the running count reaches the requested one, as HdrHistogram does.
///
/// Values above `highest` are counted as `highest` (and counted in clamped()), zero and negative
/// ones as 0. No I/O; not thread-safe.
class hdr_histogram {
public:
    explicit hdr_histogram(std::int64_t highest = 3'600'000'000, int significant_digits = 3);

    void record(std::int64_t value, std::uint64_t count = 1) noexcept;
    /// Adds every count of `other` (same highest and digits, or an exception: a programming error).
    void merge(const hdr_histogram& other);
    void reset() noexcept;

    std::uint64_t total_count() const noexcept { return total_; }
    std::uint64_t clamped() const noexcept { return clamped_; }
    std::int64_t min() const noexcept;  ///< lowest equivalent of the smallest value; 0 when empty
    std::int64_t max() const noexcept;  ///< highest equivalent of the largest value; 0 when empty
    double mean() const noexcept;       ///< from each index's median equivalent value; 0 when empty
    /// HdrHistogram's getValueAtPercentile: 0 when empty.
    std::int64_t value_at_percentile(double percentile) const noexcept;

    std::int64_t highest_trackable() const noexcept { return highest_; }
    std::int64_t lowest_discernible() const noexcept { return 1; }
    int significant_digits() const noexcept { return digits_; }

    // The layout, for the V2 encoding (hdr_log_writer) and for tests.
    std::size_t counts_length() const noexcept { return counts_.size(); }
    std::uint64_t count_at_index(std::size_t index) const noexcept { return counts_[index]; }
    std::size_t counts_index(std::int64_t value) const noexcept;
    std::int64_t value_from_index(std::size_t index) const noexcept;
    std::int64_t lowest_equivalent(std::int64_t value) const noexcept;
    std::int64_t highest_equivalent(std::int64_t value) const noexcept;
    std::int64_t equivalent_range(std::int64_t value) const noexcept;

private:
    int bucket_index(std::int64_t value) const noexcept;

    std::int64_t highest_;
    int digits_;
    int sub_bucket_half_magnitude_ = 0;
    std::int64_t sub_bucket_count_ = 0;
    std::int64_t sub_bucket_half_count_ = 0;
    std::int64_t sub_bucket_mask_ = 0;
    int leading_zero_base_ = 0;
    std::vector<std::uint64_t> counts_;
    std::uint64_t total_ = 0;
    std::uint64_t clamped_ = 0;
    std::int64_t min_nonzero_ = 0; ///< smallest value recorded above 0; 0 when none
    std::int64_t max_ = 0;
};

} // namespace ferry
