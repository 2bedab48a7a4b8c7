// A latency_histogram as a Prometheus histogram: quarter-decade bounds in seconds, exact counts.
#include "perf/latency_exposition.hpp"

#include <doctest/doctest.h>

using namespace ferry;
using namespace std::chrono_literals;

TEST_CASE("25 bounds from 100 us to 100 s, a quarter decade apart") {
    auto h = seconds_histogram(latency_histogram{});
    REQUIRE(h.buckets.size() == 25);
    CHECK(h.buckets.front().first == 0.0001);
    CHECK(h.buckets[4].first == 0.001);
    CHECK(h.buckets[8].first == 0.01);
    CHECK(h.buckets[16].first == 1.0);
    CHECK(h.buckets.back().first == 100.0);
    CHECK(h.buckets[1].first == doctest::Approx(0.000177828));
    for (std::size_t i = 1; i < h.buckets.size(); ++i)
        CHECK(h.buckets[i].first / h.buckets[i - 1].first == doctest::Approx(1.778).epsilon(0.001));
    CHECK(h.count == 0);
    CHECK(h.sum == 0);
}

TEST_CASE("counts are cumulative and exact at each bound; +Inf is the count; the sum in seconds") {
    latency_histogram lh;
    lh.record(50us);    // ≤ 100 µs
    lh.record(100us);   // on the bound: in it
    lh.record(101us);   // above: in the next exposed bound (177.8 µs)
    lh.record(1ms);
    lh.record(999ms);   // ≤ 1 s
    lh.record(1001ms);  // ≤ 1.778 s
    lh.record(200s);    // above the last bound: only in +Inf
    auto h = seconds_histogram(lh);
    REQUIRE(h.buckets.size() == 25);
    CHECK(h.buckets[0].second == 2);
    CHECK(h.buckets[1].second == 3);
    CHECK(h.buckets[4].second == 4);  // 1 ms
    CHECK(h.buckets[15].second == 4); // 562 ms
    CHECK(h.buckets[16].second == 5); // 1 s
    CHECK(h.buckets[17].second == 6); // 1.778 s
    CHECK(h.buckets.back().second == 6);
    CHECK(h.count == 7);
    CHECK(h.sum == doctest::Approx(0.00005 + 0.0001 + 0.000101 + 0.001 + 0.999 + 1.001 + 200));
    for (std::size_t i = 1; i < h.buckets.size(); ++i)
        CHECK(h.buckets[i].second >= h.buckets[i - 1].second);
}

TEST_CASE("the bounds as written: plain decimals, to the nanosecond") {
    metrics_writer w(exposition_format::prometheus_text);
    w.begin(metric_type::histogram, "x_seconds", "h", "seconds");
    w.sample(seconds_histogram(latency_histogram{}));
    auto text = w.finish();
    CHECK(text.find("x_seconds_bucket{le=\"0.0001\"} 0\n") != std::string::npos);
    CHECK(text.find("x_seconds_bucket{le=\"0.000177828\"} 0\n") != std::string::npos);
    CHECK(text.find("x_seconds_bucket{le=\"0.316227767\"} 0\n") != std::string::npos);
    CHECK(text.find("x_seconds_bucket{le=\"100\"} 0\n") != std::string::npos);
}

TEST_CASE("seconds_histogram: a finer stride exposes tenths of a decade, 5.01 ms among them") {
    latency_histogram lh;
    lh.record(3900us); // ≤ 3.98 ms
    lh.record(4500us); // ≤ 5.01 ms
    lh.record(5500us); // ≤ 6.31 ms
    auto h = seconds_histogram(lh, 2);
    REQUIRE(h.buckets.size() == 61);
    CHECK(h.buckets[16].first == doctest::Approx(0.003981).epsilon(0.001));
    CHECK(h.buckets[17].first == doctest::Approx(0.005012).epsilon(0.001));
    CHECK(h.buckets[16].second == 1);
    CHECK(h.buckets[17].second == 2);
    CHECK(h.buckets[18].second == 3);
}
