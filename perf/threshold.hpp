#pragma once

#include "perf/hdr_histogram.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ferry {

/// A k6 threshold expression: an aggregation, a comparison and a number, such as `p(95)<500`,
/// `rate<0.01`, `avg<=200`, `med<100`, `max<2000`, `min>0`, `count>=10`. Times are in
/// milliseconds, as in k6.
struct threshold_expression {
    enum class aggregate { avg, min, med, max, percentile, rate, count };
    enum class comparison { less, less_equal, greater, greater_equal, equal, not_equal };

    aggregate what = aggregate::avg;
    double percentile = 0; ///< for aggregate::percentile: 0 < p ≤ 100
    comparison op = comparison::less;
    double bound = 0;
    std::string text; ///< as written (the key of the summary's threshold results)

    bool holds(double observed) const noexcept;
};

/// Parses an expression; nullopt with a one-line reason in `error` when it is not one.
std::optional<threshold_expression> parse_threshold(std::string_view text, std::string& error);

/// What a threshold reads of one metric over some span of time. A trend metric has a histogram of
/// microseconds; a rate metric (http_req_failed) has passes and fails; a counter has a count and
/// the span's length.
struct metric_reading {
    const hdr_histogram* trend = nullptr; ///< microseconds; null for rates and counters
    std::uint64_t passes = 0;             ///< rate metrics: true samples (failed requests)
    std::uint64_t fails = 0;              ///< rate metrics: false samples
    double count = 0;                     ///< counters
    double seconds = 0;                   ///< span of the reading, for a counter's rate
};

/// The value `expression` compares, read from `reading` (milliseconds for trends); nullopt when the
/// reading holds no sample at all (k6 then treats the threshold as passing).
std::optional<double> observe(const threshold_expression& expression, const metric_reading& reading);

/// Samples of one metric over the last `slots` seconds (abortOnFail's sliding window): a
/// histogram and pass/fail counts per second, the oldest second dropped as time moves on. Fixed
/// memory: `slots` histograms.
class sliding_window {
public:
    static constexpr std::size_t slots = 10;

    sliding_window();
    /// Moves the window's end to second `second` (seconds since the start), emptying the seconds
    /// that fell out of it. Earlier seconds than the current are ignored.
    void advance(std::int64_t second);
    void record_time(std::int64_t microseconds);
    void record_rate(bool passed);
    void record_count(double amount = 1);
    /// The window merged: `merged` is overwritten and pointed to by the reading.
    metric_reading read(hdr_histogram& merged) const;

private:
    struct slot {
        hdr_histogram trend;
        std::uint64_t passes = 0, fails = 0;
        double count = 0;
        std::int64_t second = -1;
    };
    slot& current();
    std::array<std::optional<slot>, slots> ring_;
    std::int64_t now_ = 0;
    bool has_trend_ = false;
};

} // namespace ferry
