#pragma once

#include "perf/latency_histogram.hpp"
#include "perf/metrics_writer.hpp"

#include <cstddef>

namespace ferry {

/// Every how many of latency_histogram's bounds one is exposed: 5 of its 20 per decade, so
/// quarter decades from 100 µs to 100 s (25 bounds, then +Inf).
inline constexpr std::size_t exposed_bound_stride = 5;

/// A latency histogram as a Prometheus histogram in seconds. Its `le` bounds are some of the
/// histogram's own (every `stride`-th: 20 / stride per decade), so each cumulative count is
/// exact, not an estimate; the sum is exact too.
histogram_snapshot seconds_histogram(const latency_histogram& h, std::size_t stride = exposed_bound_stride);

} // namespace ferry
