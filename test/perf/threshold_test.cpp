#include "perf/threshold.hpp"

#include <doctest/doctest.h>

using namespace ferry;

TEST_CASE("parse_threshold: k6's aggregations and comparisons") {
    std::string error;
    auto p95 = parse_threshold("p(95)<500", error);
    REQUIRE(p95);
    CHECK(p95->what == threshold_expression::aggregate::percentile);
    CHECK(p95->percentile == 95);
    CHECK(p95->bound == 500);
    CHECK(p95->holds(499.9));
    CHECK_FALSE(p95->holds(500));
    auto rate = parse_threshold(" rate <= 0.01 ", error);
    REQUIRE(rate);
    CHECK(rate->op == threshold_expression::comparison::less_equal);
    CHECK(rate->text == "rate <= 0.01");
    auto count = parse_threshold("count>=10", error);
    REQUIRE(count);
    CHECK(count->holds(10));
    CHECK(parse_threshold("p(99.9)<200", error)->percentile == doctest::Approx(99.9));
    CHECK(parse_threshold("med!=3", error)->holds(4));

    for (auto bad : {"p95<500", "p(0)<1", "p(101)<1", "avg", "avg<", "avg<abc", "mean<3", "p(x)<2"}) {
        CAPTURE(bad);
        error.clear();
        CHECK_FALSE(parse_threshold(bad, error));
        CHECK_FALSE(error.empty());
        CHECK(error.find('\n') == std::string::npos);
    }
}

TEST_CASE("observe: trends in milliseconds, rates as shares, counters") {
    std::string error;
    hdr_histogram h;
    for (int ms = 1; ms <= 100; ++ms)
        h.record(ms * 1000);
    metric_reading trend;
    trend.trend = &h;
    CHECK(*observe(*parse_threshold("p(95)<1", error), trend) == doctest::Approx(95.0).epsilon(0.001));
    CHECK(*observe(*parse_threshold("med<1", error), trend) == doctest::Approx(50.0).epsilon(0.001));
    CHECK(*observe(*parse_threshold("max<1", error), trend) == doctest::Approx(100.0).epsilon(0.001));
    CHECK(*observe(*parse_threshold("min<1", error), trend) == doctest::Approx(1.0).epsilon(0.001));
    CHECK(*observe(*parse_threshold("avg<1", error), trend) == doctest::Approx(50.5).epsilon(0.001));
    metric_reading failed;
    failed.passes = 1;
    failed.fails = 99;
    CHECK(*observe(*parse_threshold("rate<0.01", error), failed) == doctest::Approx(0.01));
    metric_reading reqs;
    reqs.count = 50;
    reqs.seconds = 10;
    CHECK(*observe(*parse_threshold("rate>1", error), reqs) == doctest::Approx(5));
    CHECK(*observe(*parse_threshold("count>1", error), reqs) == doctest::Approx(50));
    hdr_histogram empty;
    metric_reading none;
    none.trend = &empty;
    CHECK_FALSE(observe(*parse_threshold("p(95)<1", error), none));
}

TEST_CASE("sliding_window: keeps the last 10 seconds only") {
    sliding_window w;
    hdr_histogram merged;
    for (std::int64_t s = 0; s < 30; ++s) {
        w.advance(s);
        // Slow in the first 10 s, fast afterwards.
        w.record_time(s < 10 ? 900'000 : 10'000);
        w.record_rate(s < 10);
    }
    auto r = w.read(merged);
    REQUIRE(r.trend);
    CHECK(r.trend->total_count() == 10);
    CHECK(r.trend->max() < 11'000);
    CHECK(r.passes == 0);
    CHECK(r.fails == 10);
    w.advance(35); // five quiet seconds: only seconds 26..29 are left
    r = w.read(merged);
    CHECK(r.trend->total_count() == 4);
}
