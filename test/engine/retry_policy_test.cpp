#include "engine/retry_policy.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <set>
#include <vector>


using ferry::attempt_failure;
using ferry::retry_config;
using ferry::retry_policy;
using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

namespace {

attempt_failure status(unsigned) { return {}; } // the status decided retrying before: the policy only times it

attempt_failure transient() { return {}; }

/// Each failure long after the last one, so every one opens a round of its own.
retry_policy::clock::time_point later() {
    static retry_policy::clock::time_point now{};
    now += std::chrono::hours(1);
    return now;
}

attempt_failure with_progress(attempt_failure f) {
    f.made_progress = true;
    return f;
}

attempt_failure with_retry_after(attempt_failure f, ms after) {
    f.retry_after = after;
    return f;
}

retry_config config(int retries, ms base, ms max) {
    retry_config c;
    c.max_retries = retries;
    c.base_delay = base;
    c.max_delay = max;
    c.give_up_after = 0ms;
    return c;
}

} // namespace

TEST_CASE("gives up after max_retries failures in a row") {
    retry_policy policy(config(3, 10ms, 1000ms), 1);
    CHECK(policy.next_delay(transient(), later()).has_value());
    CHECK(policy.failures() == 1);
    CHECK(policy.next_delay(status(503), later()).has_value());
    CHECK(policy.next_delay(status(429), later()).has_value());
    CHECK(policy.failures() == 3);
    CHECK_FALSE(policy.next_delay(transient(), later()).has_value());
    CHECK(policy.failures() == 4);
    // Still given up, and the count does not run away.
    for (int i = 0; i < 10; ++i)
        CHECK_FALSE(policy.next_delay(transient(), later()).has_value());
    CHECK(policy.failures() == 4);
}

TEST_CASE("max_retries of 0 never retries") {
    retry_policy policy(config(0, 10ms, 1000ms), 1);
    CHECK_FALSE(policy.next_delay(transient(), later()).has_value());
    CHECK_FALSE(policy.next_delay(with_progress(transient()), later()).has_value());
}

TEST_CASE("progress resets the count before counting this failure") {
    retry_policy policy(config(2, 10ms, 1000ms), 1);
    CHECK(policy.next_delay(transient(), later()).has_value());
    CHECK(policy.next_delay(transient(), later()).has_value());
    CHECK(policy.failures() == 2);
    // The next would be the third in a row, but the attempt made progress.
    CHECK(policy.next_delay(with_progress(transient()), later()).has_value());
    CHECK(policy.failures() == 1);
    CHECK(policy.next_delay(transient(), later()).has_value());
    CHECK(policy.failures() == 2);
    CHECK_FALSE(policy.next_delay(transient(), later()).has_value());
    // Progress revives even a policy that gave up (a later attempt of another worker wrote bytes).
    CHECK(policy.next_delay(with_progress(transient()), later()).has_value());
    CHECK(policy.failures() == 1);
}

TEST_CASE("a long download that keeps making progress never runs out of retries") {
    retry_policy policy(config(3, 10ms, 1000ms), 1);
    for (int i = 0; i < 1000; ++i) {
        REQUIRE(policy.next_delay(with_progress(transient()), later()).has_value());
        REQUIRE(policy.next_delay(transient(), later()).has_value());
    }
    CHECK(policy.failures() == 2);
}

TEST_CASE("progress also restarts the backoff at base_delay") {
    // After many failures the ceiling would be max_delay; after progress it is base_delay again.
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        retry_policy policy(config(20, 100ms, 100'000ms), seed);
        for (int i = 0; i < 10; ++i)
            REQUIRE(policy.next_delay(transient(), later()).has_value());
        auto d = policy.next_delay(with_progress(transient()), later());
        REQUIRE(d.has_value());
        CHECK(*d <= 100ms);
        CHECK(*d >= 50ms);
    }
}

TEST_CASE("backoff stays within min(max_delay, base * 2^(n-1)) with fixed seeds") {
    const ms base = 100ms, max = 3000ms;
    std::vector<ms> highest(10, 0ms);
    for (std::uint64_t seed = 0; seed < 300; ++seed) {
        retry_policy policy(config(10, base, max), seed);
        for (int n = 1; n <= 10; ++n) {
            auto d = policy.next_delay(transient(), later());
            REQUIRE(d.has_value());
            const ms ceiling = std::min(max, base * (1 << (n - 1)));
            REQUIRE(*d >= ceiling / 2);
            REQUIRE_MESSAGE(*d <= ceiling, "failure " << n << " seed " << seed);
            highest[n - 1] = std::max(highest[n - 1], *d);
        }
    }
    // The ceiling grows: 100, 200, 400, 800, 1600, then 3000 (capped). With 300 samples each,
    // the largest delay seen comes close to each ceiling.
    const ms ceilings[] = {100ms, 200ms, 400ms, 800ms, 1600ms, 3000ms, 3000ms, 3000ms, 3000ms, 3000ms};
    for (int i = 0; i < 10; ++i)
        CHECK_MESSAGE(highest[i] >= ceilings[i] * 9 / 10, "failure " << i + 1);
}

TEST_CASE("the same seed gives the same delays; different seeds differ") {
    auto run = [](std::uint64_t seed) {
        retry_policy policy(config(8, 1000ms, 60'000ms), seed);
        std::vector<ms> delays;
        for (int i = 0; i < 8; ++i)
            delays.push_back(*policy.next_delay(transient(), later()));
        return delays;
    };
    CHECK(run(7) == run(7));
    CHECK(run(7) != run(8));
}

TEST_CASE("jitter spreads delays over the upper half of the interval") {
    // First retries of many files at once (the thundering herd jitter is there to break up).
    std::vector<ms> delays;
    for (std::uint64_t seed = 0; seed < 2000; ++seed) {
        retry_policy policy(config(5, 1000ms, 30'000ms), seed * 7919 + 3);
        delays.push_back(*policy.next_delay(transient(), later()));
    }
    std::set<ms> distinct(delays.begin(), delays.end());
    CHECK(distinct.size() > 350);
    CHECK(*std::min_element(delays.begin(), delays.end()) >= 500ms);
    CHECK(*std::min_element(delays.begin(), delays.end()) < 520ms);
    CHECK(*std::max_element(delays.begin(), delays.end()) > 980ms);
    // Roughly uniform: each tenth of [500, 1000] ms holds about 200 of the 2000 samples.
    int buckets[10] = {};
    for (auto d : delays)
        ++buckets[std::min<long>((d.count() - 500) / 50, 9)];
    for (int b : buckets) {
        CHECK(b > 120);
        CHECK(b < 280);
    }
}

TEST_CASE("Retry-After replaces the computed delay") {
    retry_policy policy(config(5, 100ms, 1000ms), 1);
    // Longer than max_delay, shorter than max_retry_after (300 s by default): honoured as is.
    auto d = policy.next_delay(with_retry_after(status(503), 120'000ms), later());
    REQUIRE(d.has_value());
    CHECK(*d == 120'000ms);
    CHECK(policy.failures() == 1); // it still counts against the budget
    CHECK(policy.next_delay(with_retry_after(status(429), 0ms), later()) == 0ms);
    CHECK(policy.next_delay(with_retry_after(status(429), 1500ms), later()) == 1500ms);
    CHECK(policy.failures() == 3);
}

TEST_CASE("Retry-After beyond max_retry_after gives up") {
    retry_config c = config(5, 100ms, 1000ms);
    c.max_retry_after = 60'000ms;
    retry_policy policy(c, 1);
    CHECK(policy.next_delay(with_retry_after(status(503), 60'000ms), later()) == 60'000ms); // the limit itself is fine
    CHECK_FALSE(policy.next_delay(with_retry_after(status(503), 60'001ms), later()).has_value());
    CHECK_FALSE(policy.next_delay(with_retry_after(status(503), ms::max()), later()).has_value());
}

TEST_CASE("Retry-After still counts against max_retries") {
    retry_policy policy(config(2, 100ms, 1000ms), 1);
    CHECK(policy.next_delay(with_retry_after(status(503), 10ms), later()) == 10ms);
    CHECK(policy.next_delay(with_retry_after(status(503), 10ms), later()) == 10ms);
    CHECK_FALSE(policy.next_delay(with_retry_after(status(503), 10ms), later()).has_value());
}

TEST_CASE("extreme configurations do not overflow") {
    SUBCASE("huge base and max delay") {
        retry_policy policy(config(100, ms::max(), ms::max()), 1);
        for (int i = 0; i < 100; ++i) {
            auto d = policy.next_delay(transient(), later());
            REQUIRE(d.has_value());
            REQUIRE(*d >= 0ms);
        }
    }
    SUBCASE("many doublings of a normal base") {
        retry_policy policy(config(1000, 250ms, 30'000ms), 1);
        for (int i = 0; i < 1000; ++i) {
            auto d = policy.next_delay(transient(), later());
            REQUIRE(d.has_value());
            REQUIRE(*d <= 30'000ms);
        }
    }
    SUBCASE("zero and negative delays") {
        retry_policy zero(config(3, 0ms, 0ms), 1);
        CHECK(zero.next_delay(transient(), later()) == 0ms);
        retry_policy negative(config(3, -10ms, -10ms), 1);
        CHECK(negative.next_delay(transient(), later()) == 0ms);
        retry_policy base_above_max(config(3, 5000ms, 100ms), 1);
        CHECK(*base_above_max.next_delay(transient(), later()) <= 100ms);
    }
    SUBCASE("retrying (almost) forever") {
        retry_policy policy(config(std::numeric_limits<int>::max(), 0ms, 1000ms), 1);
        for (int i = 0; i < 100'000; ++i)
            REQUIRE(policy.next_delay(transient(), later()) == 0ms);
        CHECK(policy.failures() == 100'000);
    }
}

TEST_CASE("failures of other connections during a round's back-off join it: one round, not eight") {
    retry_policy policy(config(2, 1000ms, 8000ms), 3);
    const retry_policy::clock::time_point t0{std::chrono::hours(1)};
    auto first = policy.next_delay({}, t0);
    REQUIRE(first.has_value());
    CHECK(policy.failures() == 1);
    // Seven more connections of the file drop within the same instant: they wait for the round's end.
    for (int i = 1; i < 8; ++i) {
        auto d = policy.next_delay({}, t0 + ms(i));
        REQUIRE(d.has_value());
        CHECK(*d == std::max(0ms, *first - ms(i)));
    }
    CHECK(policy.failures() == 1);
    // After the round: the next failure opens round 2, then round 3 gives up (max_retries 2).
    auto second = policy.next_delay({}, t0 + *first + 1ms);
    REQUIRE(second.has_value());
    CHECK(policy.failures() == 2);
    CHECK_FALSE(policy.next_delay({}, t0 + *first + *second + 2ms).has_value());
}

TEST_CASE("a file gives up only once give_up_after has passed without progress") {
    retry_config c = config(2, 10ms, 10ms);
    c.give_up_after = 30'000ms;
    retry_policy policy(c, 5);
    retry_policy::clock::time_point t{std::chrono::hours(1)};
    const auto start = t;
    int rounds = 0;
    for (; rounds < 10'000; ++rounds) {
        auto d = policy.next_delay({}, t);
        if (!d)
            break;
        t += *d + 1ms;
    }
    CHECK(rounds > 2);             // more than max_retries rounds...
    CHECK(t - start >= 30'000ms);  // ...because the budget in time was not spent yet
    CHECK(t - start < 30'100ms);
}

TEST_CASE("the default budget spans at least half a minute of failures") {
    retry_policy policy(retry_config{}, 9);
    retry_policy::clock::time_point t{std::chrono::hours(1)};
    const auto start = t;
    while (auto d = policy.next_delay({}, t))
        t += *d + 1ms;
    CHECK(t - start >= 30'000ms);
    CHECK(policy.failures() > retry_config{}.max_retries);
}

TEST_CASE("with max_retries 0 the first failure gives up whatever give_up_after says") {
    retry_config c;
    c.max_retries = 0;
    retry_policy policy(c, 1);
    CHECK_FALSE(policy.next_delay({}, later()).has_value());
}
