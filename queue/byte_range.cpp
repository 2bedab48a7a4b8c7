#include "queue/byte_range.hpp"

#include <algorithm>

namespace ferry {

std::vector<byte_range> merge_ranges(std::vector<byte_range> ranges) {
    std::erase_if(ranges, [](const byte_range& r) { return r.empty(); });
    std::sort(ranges.begin(), ranges.end(),
              [](const byte_range& a, const byte_range& b) { return a.begin < b.begin; });
    std::vector<byte_range> out;
    out.reserve(ranges.size());
    for (const auto& r : ranges) {
        if (!out.empty() && r.begin <= out.back().end)
            out.back().end = std::max(out.back().end, r.end);
        else
            out.push_back(r);
    }
    return out;
}

std::vector<byte_range> missing_ranges(const std::vector<byte_range>& done, std::uint64_t size) {
    std::vector<byte_range> out;
    std::uint64_t at = 0;
    for (const auto& r : done) {
        if (r.begin >= size)
            break;
        if (r.empty())
            continue;
        if (r.begin > at)
            out.push_back({at, r.begin});
        at = std::max(at, std::min(r.end, size));
    }
    if (at < size)
        out.push_back({at, size});
    return out;
}

} // namespace ferry
