#include "queue/round_trip_window.hpp"
#include "queue/segment_plan.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>

using ferry::request_window;
using ferry::round_trip_window;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * 1024;

/// A connection's requests on a path of `rtt` whose responses measure `rate` bytes/s (from each
/// request sent to its last byte).
round_trip_window measured(std::chrono::milliseconds rtt, double rate, int requests = 4) {
    round_trip_window w;
    for (int i = 0; i < requests; ++i) {
        w.first_byte(rtt);
        w.body(4 * MiB, std::chrono::duration_cast<round_trip_window::clock::duration>(
                            std::chrono::duration<double>(4.0 * MiB / rate)));
    }
    return w;
}

} // namespace

TEST_CASE("round_trip_window: nothing before both the round trip and the rate are measured") {
    round_trip_window w;
    CHECK(w.bytes() == 0);
    CHECK_FALSE(w.round_trip());
    CHECK_FALSE(w.rate());
    w.first_byte(100ms);
    CHECK(w.bytes() == 0);
    CHECK(w.round_trip_bytes() == 0);
    REQUIRE(w.round_trip());
    CHECK(*w.round_trip() == 100ms);
    // A short body says nothing about the rate.
    w.body(16 * KiB, 1ms);
    CHECK_FALSE(w.rate());
    CHECK(w.bytes() == 0);
    w.body(1 * MiB, 100ms);
    REQUIRE(w.rate());
    CHECK(*w.rate() == doctest::Approx(10.0 * MiB));
}

TEST_CASE("round_trip_window: several round trips of data at the connection's rate") {
    // 100 ms at 10 MiB/s: 1 MiB per round trip, 5 round trips by default.
    auto wan = measured(100ms, 10.0 * MiB);
    CHECK(double(wan.bytes()) == doctest::Approx(5.0 * MiB).epsilon(0.01));
    CHECK(double(wan.round_trip_bytes()) == doctest::Approx(1.0 * MiB).epsilon(0.01));
    // The same rate 5 times nearer: 5 times less.
    auto near = measured(20ms, 10.0 * MiB);
    CHECK(double(near.bytes()) == doctest::Approx(1.0 * MiB).epsilon(0.01));
    // Loopback: a fraction of a millisecond, however fast.
    auto loopback = measured(0ms, 2000.0 * MiB);
    CHECK(loopback.bytes() < 64 * KiB);
    // More round trips per request when asked.
    round_trip_window eight({.round_trips = 8, .min_body = 64 * KiB});
    eight.first_byte(50ms);
    eight.body(2 * MiB, 200ms);
    CHECK(double(eight.bytes()) == doctest::Approx(8 * 0.05 * 10.0 * MiB).epsilon(0.01));
}

TEST_CASE("round_trip_window: the shortest round trip counts, the rate is smoothed") {
    auto w = measured(100ms, 10.0 * MiB);
    w.first_byte(900ms); // one slow answer (a busy server, a response paced from its head)
    REQUIRE(w.round_trip());
    CHECK(*w.round_trip() == 100ms);
    w.first_byte(80ms);
    CHECK(*w.round_trip() == 80ms);
    // The rate follows its samples faster: half of each.
    w.body(4 * MiB, 200ms); // 20 MiB/s
    CHECK(*w.rate() == doctest::Approx(15.0 * MiB));
    // Zero and negative durations are not samples.
    w.body(4 * MiB, 0ms);
    CHECK(*w.rate() == doctest::Approx(15.0 * MiB));
}

TEST_CASE("request_window: the pipe's bytes raise short requests, within an equal share") {
    const std::uint64_t min_request = 256 * KiB, max_request = 32 * MiB;
    // Without a measured path: as before (a quarter of an equal share near the end).
    CHECK(request_window(8 * MiB, 64 * MiB, 16, min_request, max_request, 0) == 1 * MiB);
    // 4 MiB of pipe (100 ms at 10 MiB/s, 4 round trips): 4 MiB instead of 1.
    CHECK(request_window(8 * MiB, 64 * MiB, 16, min_request, max_request, 4 * MiB) == 4 * MiB);
    // Never more than an equal share of what is left (64 MiB / 32 workers).
    CHECK(request_window(8 * MiB, 64 * MiB, 32, min_request, max_request, 4 * MiB) == 2 * MiB);
    // A larger window from the claim is kept as it is.
    CHECK(request_window(64 * MiB, 1024 * MiB, 4, min_request, max_request, 4 * MiB) == 16 * MiB);
    // The rest of a claim below a round trip of data (a quarter of the pipe) joins the request.
    CHECK(request_window(4 * MiB + 512 * KiB, 64 * MiB, 16, min_request, max_request, 4 * MiB) ==
          4 * MiB + 512 * KiB);
    CHECK(request_window(5 * MiB + 512 * KiB, 64 * MiB, 16, min_request, max_request, 4 * MiB) == 4 * MiB);
    // Never past the claim, never above max_request.
    CHECK(request_window(3 * MiB, 64 * MiB, 16, min_request, max_request, 4 * MiB) == 3 * MiB);
    CHECK(request_window(1024 * MiB, 8192 * MiB, 1, min_request, max_request, 100 * MiB) == max_request);
    // The window grows with the round trip: same rate, longer path, longer requests.
    auto near = measured(10ms, 10.0 * MiB), far = measured(100ms, 10.0 * MiB);
    CHECK(request_window(32 * MiB, 256 * MiB, 32, min_request, max_request, near.bytes()) <
          request_window(32 * MiB, 256 * MiB, 32, min_request, max_request, far.bytes()));
}

TEST_CASE("round_trip_window: from a short first request, windows grow to a few round trips of data") {
    // A path of 100 ms that carries 10 MiB/s, whatever the request: a request of b bytes ends
    // 100 ms + b / rate after it was sent. A short body cannot pass for a fast path.
    const double rtt = 0.1, rate = 10.0 * MiB;
    round_trip_window w;
    std::uint64_t request = 256 * KiB;
    std::uint64_t previous = 0;
    for (int i = 0; i < 12; ++i) {
        w.first_byte(100ms);
        w.body(request, std::chrono::duration_cast<round_trip_window::clock::duration>(
                            std::chrono::duration<double>(rtt + double(request) / rate)));
        if (i == 0) // 256 KiB in 125 ms: 2 MiB/s, 1 MiB of window (not the burst's rate)
            CHECK(double(w.bytes()) == doctest::Approx(1.0 * MiB).epsilon(0.01));
        CHECK(w.bytes() >= previous); // it only grows, towards the fixed point
        previous = w.bytes();
        request = w.bytes();
    }
    // (k − 1) = 4 round trips of data at the path's rate: 4 MiB, approached from below.
    CHECK(double(w.bytes()) == doctest::Approx(4.0 * MiB).epsilon(0.05));
    CHECK(w.bytes() <= 4 * MiB);
}
