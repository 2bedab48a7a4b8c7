#include "queue/tail_hedge.hpp"

#include <doctest/doctest.h>

using ferry::tail_hedge;
using namespace std::chrono_literals;

namespace {

const tail_hedge::clock::time_point t0{std::chrono::hours(1)};

/// Claims 0..3 at 10 MB/s, claim 4 at `slow_rate`, for `how_long` in steps of 50 ms.
void feed(tail_hedge& h, double slow_rate, std::chrono::milliseconds how_long) {
    for (std::size_t c = 0; c < 5; ++c)
        h.started(c, t0);
    for (auto t = 50ms; t <= how_long; t += 50ms) {
        for (std::size_t c = 0; c < 4; ++c)
            h.received(c, 500'000, t0 + t);
        if (slow_rate > 0)
            h.received(4, static_cast<std::uint64_t>(slow_rate / 20), t0 + t);
    }
}

} // namespace

TEST_CASE("tail_hedge: a connection at 1% of the others for a second is picked") {
    tail_hedge h;
    feed(h, 100'000, 1500ms);
    std::vector<tail_hedge::candidate> all{{0, 1'000'000}, {1, 1'000'000}, {4, 300'000}};
    CHECK(h.pick(all, t0 + 1750ms) == 4u); // (a pick looks at the current window too: 250 ms here)
    // Not before it has been slow for about a second.
    tail_hedge early;
    feed(early, 100'000, 700ms);
    CHECK_FALSE(early.pick(all, t0 + 700ms).has_value());
}

TEST_CASE("tail_hedge: connections near the typical rate, or with nothing left, are not picked") {
    tail_hedge h;
    feed(h, 5'000'000, 2000ms); // half the others' rate: not slow enough to duplicate
    CHECK_FALSE(h.pick({{4, 300'000}, {0, 1}}, t0 + 2000ms).has_value());
    tail_hedge stalled;
    feed(stalled, 0, 2000ms); // nothing at all
    CHECK(stalled.pick({{4, 300'000}}, t0 + 2000ms) == 4u);
    CHECK_FALSE(stalled.pick({{4, 0}}, t0 + 2000ms).has_value());
    stalled.ended(4);
    CHECK_FALSE(stalled.pick({{4, 300'000}}, t0 + 2000ms).has_value());
}

TEST_CASE("tail_hedge: without a typical rate yet there is nothing to compare with") {
    tail_hedge h;
    h.started(0, t0);
    CHECK_FALSE(h.pick({{0, 1000}}, t0 + 5s).has_value());
}

TEST_CASE("tail_hedge: of two slow claims, the one with more left") {
    tail_hedge h;
    feed(h, 0, 1500ms);
    h.started(7, t0);
    CHECK(h.pick({{4, 100}, {7, 200}}, t0 + 1500ms) == 7u);
}

TEST_CASE("tail_hedge: slow() tells a connection to replace once it has been slow long enough") {
    tail_hedge h;
    feed(h, 100'000, 2500ms);
    CHECK(h.slow(4, t0 + 2750ms, 2s));
    CHECK_FALSE(h.slow(4, t0 + 2750ms, 3s)); // not slow for that long yet
    CHECK_FALSE(h.slow(0, t0 + 2750ms, 2s)); // a fast one
    CHECK_FALSE(h.slow(9, t0 + 2750ms, 2s)); // unknown
}

TEST_CASE("tail_hedge: the typical rate is that of the last `samples` windows") {
    // All five connections slow at first, then four of them fast: with a sample of the last four
    // windows the fifth is now slow against the typical rate; the early windows no longer count.
    tail_hedge::settings s;
    s.samples = 4;
    tail_hedge h(s);
    for (std::size_t c = 0; c < 5; ++c)
        h.started(c, t0);
    auto step = [&](std::chrono::milliseconds t, std::uint64_t fast_bytes) {
        for (std::size_t c = 0; c < 4; ++c)
            h.received(c, fast_bytes, t0 + t);
        h.received(4, 5'000, t0 + t);
    };
    for (auto t = 50ms; t <= 1500ms; t += 50ms)
        step(t, 5'000); // everyone at 100 kB/s
    CHECK_FALSE(h.pick({{4, 300'000}}, t0 + 1750ms).has_value());
    for (auto t = 1550ms; t <= 3500ms; t += 50ms)
        step(t, 500'000); // connections 0-3 at 10 MB/s
    CHECK(h.pick({{4, 300'000}}, t0 + 3750ms) == 4u); // (the current window counts: 250 ms)
}
