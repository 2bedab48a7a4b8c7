#include "queue/descriptor_budget.hpp"

#include <doctest/doctest.h>

using namespace ferry;

TEST_CASE("descriptor budget: what fits is left alone") {
    auto b = fit_descriptors(8, 64, 1024);
    CHECK(b.max_files == 8);
    CHECK(b.max_connections == 64);
    CHECK_FALSE(b.reduced);
    // Exactly at the limit: 1 per file, 1 per connection, 64 aside; one more is over.
    auto edge = fit_descriptors(100, 200, 100 + 200 + 64);
    CHECK_FALSE(edge.reduced);
    CHECK(fit_descriptors(101, 200, 100 + 200 + 64).reduced);
}

TEST_CASE("descriptor budget: 10,000 transfers under a 10,000 limit are scaled down together") {
    auto b = fit_descriptors(10'000, 10'000, 10'000);
    CHECK(b.reduced);
    CHECK(b.max_files * descriptors_per_file + b.max_connections + descriptors_reserved <= 10'000);
    CHECK(b.max_files == b.max_connections); // in proportion
    CHECK(b.max_files > 4'950);               // and not by more than needed
    // 20,000 hold them all but for the reserve.
    CHECK(fit_descriptors(10'000, 10'000, 20'000).max_files > 9'950);
    // A soft limit of 1024 and a big ask.
    auto small = fit_descriptors(5'000, 5'000, 1024);
    CHECK(small.max_files + small.max_connections + 64 <= 1024);
    CHECK(small.max_files >= 450);
}

TEST_CASE("descriptor budget: never below one file and one connection") {
    auto b = fit_descriptors(50, 50, 10);
    CHECK(b.reduced);
    CHECK(b.max_files == 1);
    CHECK(b.max_connections == 1);
}
