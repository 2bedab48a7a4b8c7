#include "perf/latency_exposition.hpp"

#include <chrono>

namespace ferry {

histogram_snapshot seconds_histogram(const latency_histogram& h, std::size_t stride) {
    using seconds = std::chrono::duration<double>;
    histogram_snapshot out;
    std::uint64_t cumulative = 0;
    // Bucket i holds (bound(i - 1), bound(i)]: the count at bound(i) is that of buckets 0..i.
    for (std::size_t i = 0; i + 1 < latency_histogram::bucket_count; ++i) {
        cumulative += h.bucket(i);
        if (i % stride == 0)
            out.buckets.emplace_back(seconds(latency_histogram::bound(i)).count(), cumulative);
    }
    out.sum = seconds(h.sum()).count();
    out.count = h.count();
    return out;
}

} // namespace ferry
