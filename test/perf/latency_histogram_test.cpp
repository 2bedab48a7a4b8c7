#include "perf/latency_histogram.hpp"

#include <doctest/doctest.h>

using ferry::latency_histogram;
using namespace std::chrono_literals;
using duration = latency_histogram::duration;

namespace {

/// A bucket estimate is never below the true value and at most one bucket (12%) above it.
void check_estimate(std::optional<duration> estimate, duration truth) {
    REQUIRE(estimate.has_value());
    CAPTURE(estimate->count());
    CAPTURE(truth.count());
    CHECK(*estimate >= truth);
    CHECK(double(estimate->count()) <= double(truth.count()) * 1.13);
}

} // namespace

TEST_CASE("an empty histogram has a count of 0 and no percentiles") {
    latency_histogram h;
    CHECK(h.count() == 0);
    CHECK_FALSE(h.percentile(50).has_value());
    CHECK_FALSE(h.max().has_value());
    CHECK_FALSE(h.mean().has_value());
}

TEST_CASE("bounds are log-spaced from 100 us to 100 s, 20 per decade") {
    CHECK(latency_histogram::bound(0) == 100us);
    CHECK(latency_histogram::bound(20) == 1ms);
    CHECK(latency_histogram::bound(80) == 1s);
    CHECK(latency_histogram::bound(latency_histogram::bucket_count - 2) == 100s);
    for (std::size_t i = 1; i + 1 < latency_histogram::bucket_count; ++i) {
        CAPTURE(i);
        double ratio = double(latency_histogram::bound(i).count()) / double(latency_histogram::bound(i - 1).count());
        CHECK(ratio == doctest::Approx(1.122).epsilon(0.001));
    }
}

TEST_CASE("a duration lands in the bucket whose upper bound is the first not below it") {
    latency_histogram h;
    h.record(latency_histogram::bound(30));     // exactly on a bound: that bucket
    h.record(latency_histogram::bound(30) + 1ns); // just above: the next one
    CHECK(h.bucket(30) == 1);
    CHECK(h.bucket(31) == 1);
    CHECK(h.count() == 2);
}

TEST_CASE("one duration: every percentile is that duration") {
    latency_histogram h;
    h.record(250ms);
    CHECK(h.count() == 1);
    // The largest recorded value caps the bucket's bound.
    CHECK(h.percentile(50) == 250ms);
    CHECK(h.percentile(99) == 250ms);
    CHECK(h.max() == 250ms);
    CHECK(h.mean() == 250ms);
}

TEST_CASE("percentiles of 1 ms .. 1000 ms are bucket bounds at or just above the true values") {
    latency_histogram h;
    for (int ms = 1000; ms >= 1; --ms) // order does not matter
        h.record(std::chrono::milliseconds(ms));
    CHECK(h.count() == 1000);
    check_estimate(h.percentile(50), 500ms);
    check_estimate(h.percentile(95), 950ms);
    check_estimate(h.percentile(99), 990ms);
    CHECK(h.percentile(100) == 1000ms);
    check_estimate(h.percentile(0.1), 1ms);
    check_estimate(h.percentile(0), 1ms); // the smallest
    CHECK(h.mean() == 500500us);
}

TEST_CASE("durations below 100 us and above 100 s are counted in the end buckets") {
    latency_histogram h;
    h.record(0ns);
    h.record(-5ms); // a clock step: counted as zero
    h.record(20us);
    h.record(1000s);
    h.record(3000s);
    CHECK(h.count() == 5);
    CHECK(h.bucket(0) == 3);
    CHECK(h.bucket(latency_histogram::bucket_count - 1) == 2);
    CHECK(h.percentile(50) == 100us);
    // Past the last bound, the largest duration is the estimate.
    CHECK(h.percentile(80) == 3000s);
    CHECK(h.max() == 3000s);
}

TEST_CASE("merge is the same as recording both sets into one") {
    latency_histogram a, b, both;
    for (int i = 1; i <= 300; ++i) {
        auto d = std::chrono::microseconds(i * i * 7);
        (i % 3 ? a : b).record(d);
        both.record(d);
    }
    latency_histogram merged = a;
    merged.merge(b);
    CHECK(merged.count() == both.count());
    for (std::size_t i = 0; i < latency_histogram::bucket_count; ++i)
        CHECK(merged.bucket(i) == both.bucket(i));
    for (double p : {1.0, 50.0, 95.0, 99.0, 100.0})
        CHECK(merged.percentile(p) == both.percentile(p));
    CHECK(merged.max() == both.max());
    CHECK(merged.mean() == both.mean());

    latency_histogram empty;
    merged.merge(empty);
    CHECK(merged.count() == both.count());
}
