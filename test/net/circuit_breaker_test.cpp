#include "net/circuit_breaker.hpp"

#include <doctest/doctest.h>

#include <string>

using ferry::circuit_breaker;
using ferry::circuit_config;
using namespace std::chrono_literals;
using state = circuit_breaker::state;

namespace {

// A fake clock: explicit time points, far from the epoch.
const circuit_breaker::clock::time_point t0 = circuit_breaker::clock::time_point{} + 10'000s;

circuit_config small_config() {
    circuit_config c;
    c.failure_threshold = 3;
    c.window = 10s;
    c.cool_down = 5s;
    return c;
}

/// Opens `breaker` at `at` with threshold-many failures.
void trip(circuit_breaker& breaker, circuit_breaker::clock::time_point at, std::size_t threshold = 3) {
    for (std::size_t i = 0; i < threshold; ++i)
        breaker.on_failure(at);
}

} // namespace

TEST_CASE("a new breaker is closed and lets requests through") {
    circuit_breaker breaker(small_config());
    CHECK(breaker.current(t0) == state::closed);
    for (int i = 0; i < 100; ++i)
        CHECK(breaker.allow(t0 + i * 1ms));
}

TEST_CASE("threshold failures within the window open the circuit") {
    circuit_breaker breaker(small_config());
    breaker.on_failure(t0);
    CHECK(breaker.current(t0) == state::closed);
    breaker.on_failure(t0 + 4s);
    CHECK(breaker.current(t0 + 4s) == state::closed);
    CHECK(breaker.allow(t0 + 4s));
    breaker.on_failure(t0 + 9s);
    CHECK(breaker.current(t0 + 9s) == state::open);
    CHECK_FALSE(breaker.allow(t0 + 9s));
    CHECK(breaker.retry_at() == t0 + 14s);
}

TEST_CASE("failures older than the window do not count") {
    circuit_breaker breaker(small_config());
    breaker.on_failure(t0);
    breaker.on_failure(t0 + 5s);
    breaker.on_failure(t0 + 10s + 1ms); // the first is now more than 10 s old
    CHECK(breaker.current(t0 + 10s + 1ms) == state::closed);
    breaker.on_failure(t0 + 12s); // t0 + 5s, + 10.001s, + 12s are within 10 s
    CHECK(breaker.current(t0 + 12s) == state::open);

    SUBCASE("a failure exactly window old still counts") {
        circuit_breaker edge(small_config());
        edge.on_failure(t0);
        edge.on_failure(t0 + 1s);
        edge.on_failure(t0 + 10s);
        CHECK(edge.current(t0 + 10s) == state::open);
    }
}

TEST_CASE("a success in the closed state forgets earlier failures") {
    circuit_breaker breaker(small_config());
    breaker.on_failure(t0);
    breaker.on_failure(t0 + 1s);
    breaker.on_success(t0 + 2s);
    breaker.on_failure(t0 + 3s);
    breaker.on_failure(t0 + 4s);
    CHECK(breaker.current(t0 + 4s) == state::closed);
    breaker.on_failure(t0 + 5s);
    CHECK(breaker.current(t0 + 5s) == state::open);
}

TEST_CASE("open -> half_open after the cool-down; one probe goes") {
    circuit_breaker breaker(small_config());
    trip(breaker, t0);
    CHECK_FALSE(breaker.allow(t0 + 1s));
    CHECK_FALSE(breaker.allow(t0 + 4999ms));
    CHECK(breaker.current(t0 + 4999ms) == state::open);
    CHECK(breaker.current(t0 + 5s) == state::half_open);
    CHECK(breaker.allow(t0 + 5s)); // the probe
    CHECK(breaker.current(t0 + 5s) == state::half_open);
    CHECK_FALSE(breaker.allow(t0 + 5s)); // everyone else waits for its answer
    CHECK_FALSE(breaker.allow(t0 + 6s));
    // Waiting until retry_at() does not spin: it lies ahead while the probe is out.
    CHECK(breaker.retry_at() == t0 + 10s);
}

TEST_CASE("a successful probe closes the circuit") {
    circuit_breaker breaker(small_config());
    trip(breaker, t0);
    REQUIRE(breaker.allow(t0 + 5s));
    breaker.on_success(t0 + 6s);
    CHECK(breaker.current(t0 + 6s) == state::closed);
    CHECK(breaker.allow(t0 + 6s));
    CHECK(breaker.allow(t0 + 6s));
    // Fresh count after closing: two failures are not enough.
    breaker.on_failure(t0 + 7s);
    breaker.on_failure(t0 + 7s);
    CHECK(breaker.current(t0 + 7s) == state::closed);
    breaker.on_failure(t0 + 7s);
    CHECK(breaker.current(t0 + 7s) == state::open);
}

TEST_CASE("a failed probe opens the circuit for another cool-down") {
    circuit_breaker breaker(small_config());
    trip(breaker, t0);
    REQUIRE(breaker.allow(t0 + 5s));
    breaker.on_failure(t0 + 7s);
    CHECK(breaker.current(t0 + 7s) == state::open);
    CHECK_FALSE(breaker.allow(t0 + 7s));
    CHECK(breaker.retry_at() == t0 + 12s);
    CHECK_FALSE(breaker.allow(t0 + 11999ms));
    CHECK(breaker.allow(t0 + 12s)); // the next probe
    CHECK_FALSE(breaker.allow(t0 + 12s));
    breaker.on_success(t0 + 13s);
    CHECK(breaker.current(t0 + 13s) == state::closed);
}

TEST_CASE("failures of requests from before the circuit opened do not extend the cool-down") {
    circuit_breaker breaker(small_config());
    trip(breaker, t0);
    breaker.on_failure(t0 + 1s);
    breaker.on_failure(t0 + 4s);
    CHECK(breaker.retry_at() == t0 + 5s);
    CHECK(breaker.allow(t0 + 5s));
}

TEST_CASE("a success while open closes the circuit (the host answers after all)") {
    circuit_breaker breaker(small_config());
    trip(breaker, t0);
    breaker.on_success(t0 + 1s);
    CHECK(breaker.current(t0 + 1s) == state::closed);
    CHECK(breaker.allow(t0 + 1s));
}

TEST_CASE("a probe that never reports is given up on after a cool-down") {
    circuit_breaker breaker(small_config());
    trip(breaker, t0);
    REQUIRE(breaker.allow(t0 + 5s)); // this probe's coroutine is cancelled: no report ever
    CHECK_FALSE(breaker.allow(t0 + 9s));
    CHECK(breaker.retry_at() == t0 + 10s);
    CHECK(breaker.allow(t0 + 10s)); // a second probe
    CHECK_FALSE(breaker.allow(t0 + 10s));
    CHECK(breaker.retry_at() == t0 + 15s);
    breaker.on_success(t0 + 11s);
    CHECK(breaker.allow(t0 + 11s));
}

TEST_CASE("retry_at is always after a refusal, so a waiting caller never spins") {
    circuit_breaker breaker(small_config());
    auto now = t0;
    trip(breaker, now);
    int refusals = 0, probes = 0;
    // A waiter that sleeps until retry_at() after each refusal; every probe fails.
    for (int round = 0; round < 20; ++round) {
        if (breaker.allow(now)) {
            ++probes;
            breaker.on_failure(now + 1s);
            now += 1s;
        } else {
            ++refusals;
            REQUIRE(breaker.retry_at() > now);
            now = breaker.retry_at();
        }
    }
    CHECK(probes == 10);
    CHECK(refusals == 10);
}

TEST_CASE("a threshold of 0 or 1 opens on the first failure") {
    for (std::size_t threshold : {0u, 1u}) {
        circuit_config c = small_config();
        c.failure_threshold = threshold;
        circuit_breaker breaker(c);
        breaker.on_failure(t0);
        CHECK(breaker.current(t0) == state::open);
    }
}

TEST_CASE("default configuration: 8 failures in 10 s, 5 s cool-down") {
    circuit_breaker breaker;
    for (int i = 0; i < 7; ++i)
        breaker.on_failure(t0 + i * 1s);
    CHECK(breaker.current(t0 + 7s) == state::closed);
    breaker.on_failure(t0 + 7s);
    CHECK(breaker.current(t0 + 7s) == state::open);
    CHECK(breaker.retry_at() == t0 + 12s);
}

TEST_CASE("state names") {
    CHECK(std::string(circuit_breaker::name(state::closed)) == "closed");
    CHECK(std::string(circuit_breaker::name(state::open)) == "open");
    CHECK(std::string(circuit_breaker::name(state::half_open)) == "half-open");
}

TEST_CASE("an abandoned probe lets the next one through at once") {
    circuit_breaker breaker(small_config());
    trip(breaker, t0);
    REQUIRE(breaker.allow(t0 + 5s)); // the probe; cancelled before it reached the host
    CHECK_FALSE(breaker.allow(t0 + 5s));
    breaker.on_probe_abandoned();
    CHECK(breaker.current(t0 + 5s) == state::half_open);
    CHECK(breaker.allow(t0 + 5s)); // the next probe, without waiting for a give-up
    CHECK_FALSE(breaker.allow(t0 + 5s));
    breaker.on_failure(t0 + 6s);
    CHECK(breaker.current(t0 + 6s) == state::open);
    // With no probe out it changes nothing.
    breaker.on_probe_abandoned();
    CHECK(breaker.current(t0 + 6s) == state::open);
    CHECK_FALSE(breaker.allow(t0 + 6s));
    CHECK(breaker.retry_at() == t0 + 11s);
}
