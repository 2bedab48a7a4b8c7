#include "perf/delay_based_rate.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using ferry::delay_based_rate;
using ferry::delay_target;
using namespace std::chrono_literals;

namespace {

const auto t0 = std::chrono::steady_clock::time_point{} + 1000s;

delay_target small_start() {
    delay_target t;
    t.target = 50ms;
    t.min_rate = 64'000;
    t.start_rate = 1'000'000;
    return t;
}

/// A pace at 8 MB/s that has seen a 10 ms round trip at t0.
delay_based_rate at_8_mb_s() {
    auto target = small_start();
    target.start_rate = 8'000'000;
    delay_based_rate pace(target);
    pace.add_sample(t0, 10ms);
    pace.update(t0, 4'000'000); // would double, but not past twice what is used
    REQUIRE(pace.rate() == 8'000'000);
    return pace;
}

/// A link of `capacity` bytes/s with a drop-tail queue of `buffer` (as tc's tbf): the round trip
/// is `base` plus what the queue holds. `other` bytes/s of loss-based traffic compete (they fill
/// the queue whenever they can). Runs `seconds` of 100 ms ticks and returns our mean rate over
/// the last half.
struct link_model {
    double capacity = 10e6;
    std::chrono::microseconds base = 2ms;
    std::chrono::milliseconds buffer = 200ms;
    double queued = 0; ///< bytes in the queue

    double run(delay_based_rate& pace, double other, int seconds, std::chrono::steady_clock::time_point& now) {
        double sum = 0;
        int counted = 0;
        const int ticks = seconds * 10;
        for (int i = 0; i < ticks; ++i) {
            // Each tick: ten 10 ms steps of arrivals and service, a round-trip sample per step.
            double used = 0;
            for (int step = 0; step < 10; ++step) {
                double ours = std::min<double>(static_cast<double>(pace.rate()), capacity * 2) * 0.01;
                double theirs = other * 0.01;
                double limit = capacity * std::chrono::duration<double>(buffer).count();
                queued = std::clamp(queued + ours + theirs - capacity * 0.01, 0.0, limit);
                used += ours;
                now += 10ms;
                auto delay = base + std::chrono::microseconds(static_cast<long>(queued / capacity * 1e6));
                pace.add_sample(now, delay);
            }
            pace.update(now, static_cast<std::uint64_t>(used / 0.1));
            if (i >= ticks / 2) {
                sum += used / 0.1;
                ++counted;
            }
        }
        return sum / counted;
    }
};

} // namespace

TEST_CASE("the base delay is the lowest round trip of the history") {
    delay_based_rate pace(small_start());
    CHECK_FALSE(pace.base_delay().has_value());
    pace.add_sample(t0, 30ms);
    pace.add_sample(t0 + 1s, 20ms);
    pace.add_sample(t0 + 2s, 40ms);
    REQUIRE(pace.base_delay().has_value());
    CHECK(*pace.base_delay() == 20ms);
    // Samples of nothing are ignored.
    pace.add_sample(t0 + 3s, 0ms);
    CHECK(*pace.base_delay() == 20ms);
}

TEST_CASE("a route that became slower for good is learnt once the history has moved on") {
    auto target = small_start();
    target.base_bucket = 1s;
    delay_based_rate pace(target);
    pace.add_sample(t0, 10ms);
    for (int i = 1; i <= 9; ++i)
        pace.add_sample(t0 + std::chrono::seconds(i), 80ms);
    CHECK(*pace.base_delay() == 10ms); // still within ten buckets
    pace.add_sample(t0 + 10s, 80ms);
    CHECK(*pace.base_delay() == 80ms);
    // After a long silence the whole history expires at the next bucket.
    pace.add_sample(t0 + 100s, 90ms);
    CHECK(*pace.base_delay() == 90ms);
}

TEST_CASE("no queueing delay: the rate doubles at first, but never past twice what is used") {
    delay_based_rate pace(small_start());
    auto now = t0;
    pace.add_sample(now, 5ms);
    auto before = pace.update(now, 1'000'000);
    CHECK(before == 2'000'000); // doubles at no delay at all, before any queue filled
    for (int i = 0; i < 50; ++i) {
        now += 100ms;
        pace.add_sample(now, 5ms);
        pace.update(now, 1'500'000);
    }
    CHECK(pace.rate() == 3'000'000);
    CHECK(pace.queueing_delay() == 0ms);
}

TEST_CASE("half the target: it grows half as fast") {
    delay_based_rate pace(small_start());
    pace.add_sample(t0, 5ms);
    pace.update(t0, 0); // learns the base
    pace.add_sample(t0 + 100ms, 30ms);
    auto rate = pace.rate();
    pace.update(t0 + 100ms, 10'000'000);
    CHECK(pace.queueing_delay() == 25ms);
    CHECK(pace.rate() == rate + rate / 2);
}

TEST_CASE("over the target: down to what was used, halved at twice the target, then time to drain") {
    auto pace = at_8_mb_s();
    // 100 ms queued: twice the target.
    pace.add_sample(t0 + 100ms, 110ms);
    CHECK(pace.update(t0 + 100ms, 4'000'000) == 2'000'000);
    CHECK(pace.queueing_delay() == 100ms);
    // Within a round trip and 300 ms the cut has not shown yet: no second cut.
    pace.add_sample(t0 + 350ms, 110ms);
    CHECK(pace.update(t0 + 350ms, 2'000'000) == 2'000'000);
    // 75 ms queued a round trip and the spacing later: a quarter less.
    pace.add_sample(t0 + 500ms, 85ms);
    CHECK(pace.update(t0 + 500ms, 2'000'000) == 1'500'000);
}

TEST_CASE("past the rate that last filled the queue it probes: slowly at first, faster later") {
    auto pace = at_8_mb_s();
    pace.add_sample(t0 + 100ms, 110ms);
    REQUIRE(pace.update(t0 + 100ms, 8'000'000) == 4'000'000); // filled the queue at 8 MB/s
    auto now = t0 + 100ms;
    auto step = [&] {
        now += 100ms;
        pace.add_sample(now, 10ms);
        auto before = pace.rate();
        pace.update(now, 10 * before); // the limit is not what holds the transfers back
        return static_cast<double>(pace.rate()) / static_cast<double>(before);
    };
    // Back to 8 MB/s fast (+25% an update)...
    CHECK(step() == doctest::Approx(1.25));
    while (pace.rate() < 8'000'000)
        step();
    // ...then past it by a few percent an update, a second after the cut...
    CHECK(step() < 1.05);
    // ...and fast again after a few seconds without a queue.
    for (int i = 0; i < 30; ++i)
        step();
    CHECK(step() == doctest::Approx(1.25));
}

TEST_CASE("it never goes below its floor; without samples after a queue it holds, then creeps up") {
    delay_based_rate pace(small_start());
    auto now = t0;
    pace.add_sample(now, 1ms);
    for (int i = 0; i < 100; ++i) {
        now += 1s;
        pace.add_sample(now, 500ms);
        pace.update(now, 10'000);
    }
    CHECK(pace.rate() == 64'000);
    // No samples: the rate holds for a while...
    CHECK(pace.update(now + 100ms, 64'000) == 64'000);
    // ...then grows by a sixteenth an update, within twice what is used.
    CHECK(pace.update(now + 300ms, 64'000) == 68'000);
    CHECK(pace.update(now + 400ms, 34'000) == 68'000);
}

TEST_CASE("without samples over a short queue (round trips under a millisecond) it grows as over none") {
    delay_based_rate pace(small_start());
    pace.add_sample(t0, 100us);
    REQUIRE(pace.update(t0, 1'000'000) == 2'000'000);
    CHECK(pace.update(t0 + 100ms, 2'000'000) == 2'000'000); // holds a while
    CHECK(pace.update(t0 + 300ms, 2'000'000) == 4'000'000);
}

TEST_CASE("each connection's receive buffer: twice its share of the rate over a round trip at the target") {
    auto pace = at_8_mb_s();
    pace.set_connections(4);
    // 2 x 2 MB/s x (10 + 50) ms
    CHECK(pace.receive_window() == 240'000);
    pace.set_connections(400);
    CHECK(pace.receive_window() == 64 * 1024);
}

TEST_CASE("samples: one every 10 ms is asked for") {
    delay_based_rate pace(small_start());
    CHECK(pace.wants_sample(t0));
    pace.add_sample(t0, 3ms);
    CHECK_FALSE(pace.wants_sample(t0 + 5ms));
    CHECK(pace.wants_sample(t0 + 10ms));
}

TEST_CASE("alone on a link: most of the capacity, the queue held near the target") {
    delay_based_rate pace(small_start());
    link_model link;
    auto now = t0;
    double ours = link.run(pace, 0, 30, now);
    MESSAGE("alone: " << ours / 1e6 << " MB/s of 10, queue " << link.queued / link.capacity * 1e3 << " ms");
    CHECK(ours > 0.8 * link.capacity);
    CHECK(link.queued / link.capacity < 0.1); // under twice the target's 50 ms
}

TEST_CASE("beside a flow that fills the queue: it yields to its floor, then takes the link back") {
    delay_based_rate pace(small_start());
    link_model link;
    auto now = t0;
    link.run(pace, 0, 10, now); // learns the base delay alone first
    double yielding = link.run(pace, 12e6, 20, now);
    MESSAGE("beside a full queue: " << yielding / 1e3 << " kB/s");
    CHECK(yielding < 0.05 * link.capacity);
    CHECK(pace.rate() == 64'000);
    double after = link.run(pace, 0, 20, now);
    MESSAGE("after: " << after / 1e6 << " MB/s");
    CHECK(after > 0.8 * link.capacity);
}
