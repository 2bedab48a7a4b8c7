#pragma once

#include <cstdint>
#include <vector>

namespace ferry {

/// A half-open range of bytes [begin, end) within a file.
struct byte_range {
    std::uint64_t begin = 0;
    std::uint64_t end = 0;

    std::uint64_t size() const noexcept { return empty() ? 0 : end - begin; }
    bool empty() const noexcept { return end <= begin; }
    friend bool operator==(const byte_range&, const byte_range&) = default;
};

/// Sorts and merges overlapping or touching ranges; drops empty (and inverted) ones.
std::vector<byte_range> merge_ranges(std::vector<byte_range> ranges);

/// The parts of [0, size) not covered by `done`, sorted. `done` must be sorted by begin (as
/// merge_ranges returns it); overlaps and parts beyond `size` are tolerated.
std::vector<byte_range> missing_ranges(const std::vector<byte_range>& done, std::uint64_t size);

} // namespace ferry
