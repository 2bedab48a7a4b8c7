#include "queue/byte_range.hpp"

#include <doctest/doctest.h>

using ferry::byte_range;
using ferry::merge_ranges;
using ferry::missing_ranges;
using ranges = std::vector<byte_range>;

TEST_CASE("byte_range size and emptiness") {
    CHECK(byte_range{10, 20}.size() == 10);
    CHECK_FALSE(byte_range{10, 20}.empty());
    CHECK(byte_range{5, 5}.empty());
    CHECK(byte_range{5, 5}.size() == 0);
    // An inverted range is empty and has no size (no unsigned wrap-around).
    CHECK(byte_range{9, 3}.empty());
    CHECK(byte_range{9, 3}.size() == 0);
}

TEST_CASE("merge_ranges sorts, merges overlapping and touching ranges, drops empty ones") {
    CHECK(merge_ranges({}).empty());
    CHECK(merge_ranges({{4, 4}, {7, 2}}).empty());
    CHECK(merge_ranges({{0, 10}}) == ranges{{0, 10}});
    // Touching ranges join.
    CHECK(merge_ranges({{10, 20}, {0, 10}}) == ranges{{0, 20}});
    // Overlapping and contained ranges join.
    CHECK(merge_ranges({{0, 15}, {10, 20}, {12, 13}}) == ranges{{0, 20}});
    // Gaps stay.
    CHECK(merge_ranges({{30, 40}, {0, 10}, {11, 20}}) == ranges{{0, 10}, {11, 20}, {30, 40}});
    // An empty range between two others does not bridge them.
    CHECK(merge_ranges({{0, 10}, {15, 15}, {20, 30}}) == ranges{{0, 10}, {20, 30}});
    // A range that starts inside and ends beyond a merged run extends it.
    CHECK(merge_ranges({{0, 5}, {5, 8}, {3, 50}, {49, 60}, {70, 80}}) == ranges{{0, 60}, {70, 80}});
    // Duplicates.
    CHECK(merge_ranges({{2, 4}, {2, 4}, {2, 4}}) == ranges{{2, 4}});
    // Extreme values do not overflow.
    const auto top = ~std::uint64_t(0);
    CHECK(merge_ranges({{top - 1, top}, {0, 1}, {1, top - 1}}) == ranges{{0, top}});
}

TEST_CASE("missing_ranges is the complement within the file") {
    CHECK(missing_ranges({}, 0).empty());
    CHECK(missing_ranges({}, 100) == ranges{{0, 100}});
    CHECK(missing_ranges({{0, 100}}, 100).empty());
    CHECK(missing_ranges({{0, 10}}, 100) == ranges{{10, 100}});
    CHECK(missing_ranges({{90, 100}}, 100) == ranges{{0, 90}});
    CHECK(missing_ranges({{10, 20}, {30, 40}}, 50) == ranges{{0, 10}, {20, 30}, {40, 50}});
    // Parts beyond the file are ignored.
    CHECK(missing_ranges({{10, 200}}, 100) == ranges{{0, 10}});
    CHECK(missing_ranges({{100, 200}}, 100) == ranges{{0, 100}});
    CHECK(missing_ranges({{0, 10}, {150, 200}}, 100) == ranges{{10, 100}});
    // Sorted but overlapping input is tolerated.
    CHECK(missing_ranges({{0, 30}, {10, 20}, {25, 40}}, 50) == ranges{{40, 50}});
    // Empty entries are ignored.
    CHECK(missing_ranges({{0, 0}, {5, 5}, {10, 20}}, 30) == ranges{{0, 10}, {20, 30}});
}

TEST_CASE("merge and missing partition the file") {
    // Property check over a deterministic family of inputs: done and missing never overlap and
    // together cover [0, size) exactly.
    const std::uint64_t size = 97;
    for (std::uint64_t seed = 1; seed < 200; ++seed) {
        ranges input;
        std::uint64_t x = seed;
        for (int i = 0; i < 6; ++i) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            std::uint64_t b = (x >> 33) % 120, len = (x >> 17) % 25;
            input.push_back({b, b + len});
        }
        auto done = merge_ranges(input);
        auto missing = missing_ranges(done, size);
        std::vector<int> cover(size, 0);
        for (auto& r : done)
            for (auto i = r.begin; i < std::min(r.end, size); ++i)
                ++cover[i];
        for (auto& r : missing) {
            REQUIRE(r.end <= size);
            REQUIRE_FALSE(r.empty());
            for (auto i = r.begin; i < r.end; ++i)
                ++cover[i];
        }
        for (std::uint64_t i = 0; i < size; ++i)
            REQUIRE(cover[i] == 1);
        for (std::size_t i = 1; i < done.size(); ++i)
            REQUIRE(done[i - 1].end < done[i].begin); // merged: strictly apart
    }
}
