#include "perf/token_bucket.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

using ferry::token_bucket;
using namespace std::chrono_literals;

namespace {

const token_bucket::clock::time_point t0 = token_bucket::clock::time_point{} + 1000s;
constexpr std::uint64_t KiB = 1024;

} // namespace

TEST_CASE("rate 0 is unlimited") {
    token_bucket bucket(0, 0, t0);
    CHECK(bucket.unlimited());
    CHECK(bucket.rate() == 0);
    CHECK(bucket.take(123) == 123);
    CHECK(bucket.take(~std::uint64_t(0)) == ~std::uint64_t(0));
    CHECK(bucket.available() == std::numeric_limits<std::uint64_t>::max());
    CHECK(bucket.time_until(1'000'000'000) == token_bucket::clock::duration::zero());
    bucket.give_back(10);
    bucket.refill(t0 + 10s);
    CHECK(bucket.take(5) == 5);
}

TEST_CASE("default burst is rate / 10, at least 16 KiB") {
    CHECK(token_bucket(1'000'000, 0, t0).burst() == 100'000);
    CHECK(token_bucket(100'000, 0, t0).burst() == 16 * KiB);
    CHECK(token_bucket(1, 0, t0).burst() == 16 * KiB);
    CHECK(token_bucket(10'000'000, 5000, t0).burst() == 5000); // explicit burst wins, even a small one
}

TEST_CASE("the bucket starts full and take grants at most what is there") {
    token_bucket bucket(1'000'000, 0, t0);
    CHECK(bucket.available() == 100'000);
    CHECK(bucket.take(30'000) == 30'000);
    CHECK(bucket.available() == 70'000);
    CHECK(bucket.take(100'000) == 70'000); // a partial grant
    CHECK(bucket.available() == 0);
    CHECK(bucket.take(1) == 0);
    CHECK(bucket.take(0) == 0);
}

TEST_CASE("refill adds rate * elapsed, capped at burst") {
    token_bucket bucket(1'000'000, 0, t0);
    bucket.take(100'000);
    bucket.refill(t0 + 10ms);
    CHECK(bucket.available() == 10'000);
    bucket.refill(t0 + 35ms);
    CHECK(bucket.available() == 35'000);
    bucket.refill(t0 + 10s);
    CHECK(bucket.available() == 100'000); // capped
    // Time that does not move forward adds nothing.
    bucket.take(100'000);
    bucket.refill(t0 + 10s);
    bucket.refill(t0 + 5s);
    CHECK(bucket.available() == 0);
    bucket.refill(t0 + 10s + 1ms);
    CHECK(bucket.available() == 1000);
}

TEST_CASE("fractional tokens are kept: many small refills add up exactly") {
    // 3 bytes/s refilled every millisecond earns 0.003 tokens a step; taking every whole token
    // as it appears must still give 3 per second over a long run.
    token_bucket bucket(3, 16, t0);
    bucket.take(16);
    std::uint64_t granted = 0;
    auto now = t0;
    for (int step = 1; step <= 1'000'000; ++step) { // 1000 s
        now += 1ms;
        bucket.refill(now);
        granted += bucket.take(1000);
    }
    CHECK(granted >= 2999);
    CHECK(granted <= 3000);

    // A rate that is not a whole number of bytes per tick, refilled at odd intervals.
    token_bucket odd(1'234'567, 2'000'000, t0);
    odd.take(2'000'000);
    std::uint64_t total = 0;
    now = t0;
    for (int step = 0; step < 100'000; ++step) { // 100'000 * 777 us = 77.7 s
        now += 777us;
        odd.refill(now);
        total += odd.take(~std::uint64_t(0));
    }
    const double expected = 1'234'567.0 * 77.7;
    CHECK(double(total) <= expected);
    CHECK(double(total) >= expected - 1.0);
}

TEST_CASE("give_back returns unused tokens, capped at burst") {
    token_bucket bucket(1'000'000, 0, t0);
    auto granted = bucket.take(60'000);
    REQUIRE(granted == 60'000);
    bucket.give_back(20'000);
    CHECK(bucket.available() == 60'000);
    bucket.give_back(1'000'000);
    CHECK(bucket.available() == 100'000);
}

TEST_CASE("time_until tells how long a wait lasts") {
    token_bucket bucket(1'000'000, 0, t0);
    CHECK(bucket.time_until(100'000) == 0ns);
    bucket.take(100'000);
    CHECK(bucket.time_until(0) == 0ns);
    CHECK(bucket.time_until(1) == 1us);
    CHECK(bucket.time_until(50'000) == 50ms);
    // More than burst is never there: the answer is the time to fill the bucket.
    CHECK(bucket.time_until(10'000'000) == 100ms);
    // After part of the wait, the rest.
    bucket.refill(t0 + 20ms);
    CHECK(bucket.time_until(50'000) == 30ms);
    CHECK(bucket.time_until(20'000) == 0ns);
}

TEST_CASE("time_until is long enough: refilling after the wait gives the tokens") {
    // Rates and amounts that do not divide evenly.
    for (std::uint64_t rate : {1ULL, 3ULL, 7ULL, 999ULL, 1'234'567ULL, 10'000'019ULL}) {
        for (std::uint64_t n : {1ULL, 2ULL, 1000ULL, 16'383ULL}) {
            token_bucket bucket(rate, 16 * KiB, t0);
            bucket.take(16 * KiB);
            auto wait = bucket.time_until(n);
            CHECK(wait > 0ns);
            bucket.refill(t0 + wait);
            CHECK_MESSAGE(bucket.available() >= n, "rate " << rate << ", n " << n);
            // And not much longer than needed: one tick less would not have been enough.
            token_bucket early(rate, 16 * KiB, t0);
            early.take(16 * KiB);
            early.refill(t0 + wait - 1ns);
            CHECK_MESSAGE(early.available() < n, "rate " << rate << ", n " << n);
        }
    }
}

TEST_CASE("time_until does not overflow for tiny rates and huge bursts") {
    token_bucket bucket(1, ~std::uint64_t(0), t0);
    // Full: 2^64 tokens as a double, reported as the largest count rather than wrapped.
    CHECK(bucket.available() == ~std::uint64_t(0));
    CHECK(bucket.take(~std::uint64_t(0)) == ~std::uint64_t(0));
    CHECK(bucket.available() < 1'000'000'000'000ULL);
    CHECK(bucket.time_until(~std::uint64_t(0)) == token_bucket::clock::duration::max());
    // A refill far in the future is capped at burst and stays finite.
    bucket.refill(t0 + std::chrono::hours(24 * 365 * 200));
    CHECK(bucket.available() > 1'000'000'000ULL);
}

TEST_CASE("set_rate changes the rate and drops tokens above the new burst") {
    token_bucket bucket(10'000'000, 0, t0);
    CHECK(bucket.available() == 1'000'000);
    bucket.set_rate(1'000'000);
    CHECK(bucket.rate() == 1'000'000);
    CHECK(bucket.burst() == 100'000);
    CHECK(bucket.available() == 100'000);
    bucket.take(100'000);
    bucket.refill(t0 + 10ms);
    CHECK(bucket.available() == 10'000);
    // Time before a change is credited at the old rate when refill comes first.
    bucket.refill(t0 + 20ms);
    bucket.set_rate(2'000'000, 500'000);
    CHECK(bucket.available() == 20'000);
    bucket.refill(t0 + 30ms);
    CHECK(bucket.available() == 40'000);

    SUBCASE("to unlimited and back") {
        bucket.set_rate(0);
        CHECK(bucket.unlimited());
        CHECK(bucket.take(1'000'000'000) == 1'000'000'000);
        bucket.refill(t0 + 40ms);
        bucket.set_rate(1'000'000);
        CHECK_FALSE(bucket.unlimited());
        CHECK(bucket.available() <= 100'000);
        bucket.take(bucket.available());
        bucket.refill(t0 + 41ms);
        CHECK(bucket.available() == 1000);
    }
}

TEST_CASE("a long steady run grants rate * time plus the initial burst") {
    // A transfer asking for 16 KiB whenever it can, refilled by a 5 ms timer, for 60 s.
    const std::uint64_t rate = 20 * 1024 * 1024;
    token_bucket bucket(rate, 0, t0);
    // The bucket starts full; tokens earned while it is full would be lost, so drain it first.
    std::uint64_t granted = bucket.take(bucket.burst());
    auto now = t0;
    for (int tick = 0; tick < 12'000; ++tick) {
        now += 5ms;
        bucket.refill(now);
        while (bucket.available() >= 16 * KiB)
            granted += bucket.take(16 * KiB);
    }
    const std::uint64_t ideal = rate * 60 + bucket.burst();
    CHECK(granted <= ideal);
    CHECK(granted + 16 * KiB >= ideal);
}
