#include "engine/retry_policy.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <set>
#include <vector>

#include <boost/asio/error.hpp>

using ferry::attempt_failure;
using ferry::retry_config;
using ferry::retry_policy;
using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

namespace {

attempt_failure status(unsigned code) {
    attempt_failure f;
    f.http_status = code;
    return f;
}

attempt_failure transient() {
    attempt_failure f;
    f.error = boost::asio::error::connection_reset;
    f.transient = true;
    return f;
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
    return c;
}

} // namespace

TEST_CASE("is_retryable: 408, 429, 5xx and transient errors") {
    for (unsigned code : {408u, 429u, 500u, 502u, 503u, 504u, 599u})
        CHECK_MESSAGE(retry_policy::is_retryable(status(code)), code);
    for (unsigned code : {0u, 200u, 206u, 301u, 400u, 401u, 403u, 404u, 407u, 409u, 410u, 416u, 428u,
                          431u, 499u, 600u, 999u})
        CHECK_FALSE_MESSAGE(retry_policy::is_retryable(status(code)), code);
    CHECK(retry_policy::is_retryable(transient()));

    // The error code alone decides nothing: the engine's classifier sets `transient`.
    attempt_failure reset;
    reset.error = boost::asio::error::connection_reset;
    CHECK_FALSE(retry_policy::is_retryable(reset));
    attempt_failure cancelled;
    cancelled.error = boost::asio::error::operation_aborted;
    CHECK_FALSE(retry_policy::is_retryable(cancelled));
    // A transient error on a response with a status is retried.
    attempt_failure both = status(404);
    both.transient = true;
    CHECK(retry_policy::is_retryable(both));
}

TEST_CASE("non-retryable failures give up at once and are not counted") {
    retry_policy policy(config(5, 100ms, 1000ms), 1);
    CHECK_FALSE(policy.next_delay(status(404)).has_value());
    CHECK(policy.failures() == 0);
    CHECK_FALSE(policy.next_delay(with_progress(status(403))).has_value());
    CHECK(policy.failures() == 0);
    // Retryable ones still work afterwards.
    CHECK(policy.next_delay(status(503)).has_value());
    CHECK(policy.failures() == 1);
}

TEST_CASE("gives up after max_retries failures in a row") {
    retry_policy policy(config(3, 10ms, 1000ms), 1);
    CHECK(policy.next_delay(transient()).has_value());
    CHECK(policy.failures() == 1);
    CHECK(policy.next_delay(status(503)).has_value());
    CHECK(policy.next_delay(status(429)).has_value());
    CHECK(policy.failures() == 3);
    CHECK_FALSE(policy.next_delay(transient()).has_value());
    CHECK(policy.failures() == 4);
    // Still given up, and the count does not run away.
    for (int i = 0; i < 10; ++i)
        CHECK_FALSE(policy.next_delay(transient()).has_value());
    CHECK(policy.failures() == 4);
}

TEST_CASE("max_retries of 0 never retries") {
    retry_policy policy(config(0, 10ms, 1000ms), 1);
    CHECK_FALSE(policy.next_delay(transient()).has_value());
    CHECK_FALSE(policy.next_delay(with_progress(transient())).has_value());
}

TEST_CASE("progress resets the count before counting this failure") {
    retry_policy policy(config(2, 10ms, 1000ms), 1);
    CHECK(policy.next_delay(transient()).has_value());
    CHECK(policy.next_delay(transient()).has_value());
    CHECK(policy.failures() == 2);
    // The next would be the third in a row, but the attempt made progress.
    CHECK(policy.next_delay(with_progress(transient())).has_value());
    CHECK(policy.failures() == 1);
    CHECK(policy.next_delay(transient()).has_value());
    CHECK(policy.failures() == 2);
    CHECK_FALSE(policy.next_delay(transient()).has_value());
    // Progress revives even a policy that gave up (a later attempt of another worker wrote bytes).
    CHECK(policy.next_delay(with_progress(transient())).has_value());
    CHECK(policy.failures() == 1);
}

TEST_CASE("a long download that keeps making progress never runs out of retries") {
    retry_policy policy(config(3, 10ms, 1000ms), 1);
    for (int i = 0; i < 1000; ++i) {
        REQUIRE(policy.next_delay(with_progress(transient())).has_value());
        REQUIRE(policy.next_delay(transient()).has_value());
    }
    CHECK(policy.failures() == 2);
}

TEST_CASE("progress also restarts the backoff at base_delay") {
    // After many failures the ceiling would be max_delay; after progress it is base_delay again.
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        retry_policy policy(config(20, 100ms, 100'000ms), seed);
        for (int i = 0; i < 10; ++i)
            REQUIRE(policy.next_delay(transient()).has_value());
        auto d = policy.next_delay(with_progress(transient()));
        REQUIRE(d.has_value());
        CHECK(*d <= 100ms);
    }
}

TEST_CASE("backoff stays within min(max_delay, base * 2^(n-1)) with fixed seeds") {
    const ms base = 100ms, max = 3000ms;
    std::vector<ms> highest(10, 0ms);
    for (std::uint64_t seed = 0; seed < 300; ++seed) {
        retry_policy policy(config(10, base, max), seed);
        for (int n = 1; n <= 10; ++n) {
            auto d = policy.next_delay(transient());
            REQUIRE(d.has_value());
            const ms ceiling = std::min(max, base * (1 << (n - 1)));
            REQUIRE(*d >= 0ms);
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
            delays.push_back(*policy.next_delay(transient()));
        return delays;
    };
    CHECK(run(7) == run(7));
    CHECK(run(7) != run(8));
}

TEST_CASE("full jitter spreads delays over the whole interval") {
    // First retries of many files at once (the thundering herd jitter is there to break up).
    std::vector<ms> delays;
    for (std::uint64_t seed = 0; seed < 2000; ++seed) {
        retry_policy policy(config(5, 1000ms, 30'000ms), seed * 7919 + 3);
        delays.push_back(*policy.next_delay(transient()));
    }
    std::set<ms> distinct(delays.begin(), delays.end());
    CHECK(distinct.size() > 700);
    CHECK(*std::min_element(delays.begin(), delays.end()) < 20ms);
    CHECK(*std::max_element(delays.begin(), delays.end()) > 980ms);
    // Roughly uniform: each tenth of [0, 1000] ms holds about 200 of the 2000 samples.
    int buckets[10] = {};
    double sum = 0;
    for (auto d : delays) {
        ++buckets[std::min<long>(d.count() / 100, 9)];
        sum += double(d.count());
    }
    for (int b : buckets) {
        CHECK(b > 120);
        CHECK(b < 280);
    }
    CHECK(sum / double(delays.size()) > 450.0);
    CHECK(sum / double(delays.size()) < 550.0);
}

TEST_CASE("Retry-After replaces the computed delay") {
    retry_policy policy(config(5, 100ms, 1000ms), 1);
    // Longer than max_delay, shorter than max_retry_after (300 s by default): honoured as is.
    auto d = policy.next_delay(with_retry_after(status(503), 120'000ms));
    REQUIRE(d.has_value());
    CHECK(*d == 120'000ms);
    CHECK(policy.failures() == 1); // it still counts against the budget
    CHECK(policy.next_delay(with_retry_after(status(429), 0ms)) == 0ms);
    CHECK(policy.next_delay(with_retry_after(status(429), 1500ms)) == 1500ms);
    CHECK(policy.failures() == 3);
}

TEST_CASE("Retry-After beyond max_retry_after gives up") {
    retry_config c = config(5, 100ms, 1000ms);
    c.max_retry_after = 60'000ms;
    retry_policy policy(c, 1);
    CHECK(policy.next_delay(with_retry_after(status(503), 60'000ms)) == 60'000ms); // the limit itself is fine
    CHECK_FALSE(policy.next_delay(with_retry_after(status(503), 60'001ms)).has_value());
    CHECK_FALSE(policy.next_delay(with_retry_after(status(503), ms::max())).has_value());
}

TEST_CASE("Retry-After does not make a non-retryable failure retryable, nor go negative") {
    retry_policy policy(config(5, 100ms, 1000ms), 1);
    CHECK_FALSE(policy.next_delay(with_retry_after(status(404), 10ms)).has_value());
    CHECK(policy.next_delay(with_retry_after(status(503), -5000ms)) == 0ms);
}

TEST_CASE("Retry-After still counts against max_retries") {
    retry_policy policy(config(2, 100ms, 1000ms), 1);
    CHECK(policy.next_delay(with_retry_after(status(503), 10ms)) == 10ms);
    CHECK(policy.next_delay(with_retry_after(status(503), 10ms)) == 10ms);
    CHECK_FALSE(policy.next_delay(with_retry_after(status(503), 10ms)).has_value());
}

TEST_CASE("extreme configurations do not overflow") {
    SUBCASE("huge base and max delay") {
        retry_policy policy(config(100, ms::max(), ms::max()), 1);
        for (int i = 0; i < 100; ++i) {
            auto d = policy.next_delay(transient());
            REQUIRE(d.has_value());
            REQUIRE(*d >= 0ms);
        }
    }
    SUBCASE("many doublings of a normal base") {
        retry_policy policy(config(1000, 250ms, 30'000ms), 1);
        for (int i = 0; i < 1000; ++i) {
            auto d = policy.next_delay(transient());
            REQUIRE(d.has_value());
            REQUIRE(*d <= 30'000ms);
        }
    }
    SUBCASE("zero and negative delays") {
        retry_policy zero(config(3, 0ms, 0ms), 1);
        CHECK(zero.next_delay(transient()) == 0ms);
        retry_policy negative(config(3, -10ms, -10ms), 1);
        CHECK(negative.next_delay(transient()) == 0ms);
        retry_policy base_above_max(config(3, 5000ms, 100ms), 1);
        CHECK(*base_above_max.next_delay(transient()) <= 100ms);
    }
    SUBCASE("retrying (almost) forever") {
        retry_policy policy(config(std::numeric_limits<int>::max(), 0ms, 1000ms), 1);
        for (int i = 0; i < 100'000; ++i)
            REQUIRE(policy.next_delay(transient()) == 0ms);
        CHECK(policy.failures() == 100'000);
    }
}
