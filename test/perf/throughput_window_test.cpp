#include "perf/throughput_window.hpp"

#include <doctest/doctest.h>

using ferry::throughput_window;
using namespace std::chrono_literals;

namespace {

const throughput_window::clock::time_point t0 = throughput_window::clock::time_point{} + 1000s;

} // namespace

TEST_CASE("no rate before the samples cover a fiftieth of the span") {
    throughput_window w(5s);
    CHECK_FALSE(w.rate(t0).has_value());
    w.record(t0, 0);
    CHECK_FALSE(w.rate(t0).has_value());
    w.record(t0 + 50ms, 50'000);
    CHECK_FALSE(w.rate(t0 + 50ms).has_value());
    w.record(t0 + 100ms, 100'000);
    REQUIRE(w.rate(t0 + 100ms).has_value());
    CHECK(*w.rate(t0 + 100ms) == doctest::Approx(1'000'000));
    w.record(t0 + 500ms, 500'000);
    CHECK(*w.rate(t0 + 500ms) == doctest::Approx(1'000'000));
}

TEST_CASE("a steady stream: the rate is bytes over the last span") {
    throughput_window w(5s);
    // 1 MB/s for 20 s, sampled every 10 ms.
    for (int ms = 0; ms <= 20'000; ms += 10)
        w.record(t0 + std::chrono::milliseconds(ms), std::uint64_t(ms) * 1000);
    auto r = w.rate(t0 + 20s);
    REQUIRE(r.has_value());
    CHECK(*r == doctest::Approx(1'000'000).epsilon(0.01));
}

TEST_CASE("the rate follows a change within one span") {
    throughput_window w(5s);
    std::uint64_t total = 0;
    auto t = t0;
    for (int i = 0; i < 100; ++i, t += 100ms)
        w.record(t, total += 100'000); // 1 MB/s for 10 s
    for (int i = 0; i < 60; ++i, t += 100ms)
        w.record(t, total += 10'000);  // then 100 kB/s for 6 s
    auto r = w.rate(t - 100ms);
    REQUIRE(r.has_value());
    CHECK(*r == doctest::Approx(100'000).epsilon(0.05));
}

TEST_CASE("a stalled count decays to zero") {
    throughput_window w(5s);
    for (int i = 0; i <= 30; ++i)
        w.record(t0 + i * 100ms, std::uint64_t(i) * 100'000);
    auto before = w.rate(t0 + 3s);
    REQUIRE(before.has_value());
    CHECK(*before == doctest::Approx(1'000'000));
    // Nothing more arrives: half the window later the rate has halved (roughly), a span later it is 0.
    w.record(t0 + 5500ms, 3'000'000);
    CHECK(*w.rate(t0 + 5500ms) < 700'000);
    w.record(t0 + 9s, 3'000'000);
    CHECK(*w.rate(t0 + 9s) == 0);
    // Even without a new sample.
    CHECK(*w.rate(t0 + 20s) == 0);
}

TEST_CASE("a total that goes down counts as the one before") {
    throughput_window w(5s);
    w.record(t0, 1'000'000);
    w.record(t0 + 1s, 2'000'000);
    w.record(t0 + 2s, 500);
    auto r = w.rate(t0 + 2s);
    REQUIRE(r.has_value());
    CHECK(*r == doctest::Approx(500'000));
}
