#include "queue/connection_growth.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>

using ferry::connection_growth;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

/// Drives a growth policy through intervals of 100 ms at the rates a server allows.
struct simulated_file {
    connection_growth growth;
    connection_growth::clock::time_point now;
    std::uint64_t bytes = 0;
    std::size_t workers;

    explicit simulated_file(connection_growth::settings s, connection_growth::clock::time_point start = {})
        : growth(s, start, 0), now(start), workers(connection_growth::initial_workers(s)) {}

    /// One interval at `rate` bytes per second in all; returns the workers wanted at its end.
    std::size_t interval(double rate) {
        now += 100ms;
        bytes += static_cast<std::uint64_t>(rate / 10);
        workers = growth.workers_wanted(now, bytes, workers, workers);
        return workers;
    }
};

} // namespace

TEST_CASE("connections double while each interval's rate rises, up to the ceiling") {
    // A server that caps each connection at 10 MiB/s: every new connection adds its share.
    simulated_file f({.initial = 4, .ceiling = 32, .interval = 100ms, .rise = 1.25});
    CHECK(f.workers == 4);
    CHECK(f.interval(4 * 10.0 * MiB) == 8);
    CHECK(f.interval(8 * 10.0 * MiB) == 16);
    CHECK(f.interval(16 * 10.0 * MiB) == 32);
    CHECK_FALSE(f.growth.growing()); // the ceiling ends it
    CHECK(f.interval(32 * 10.0 * MiB) == 32);
}

TEST_CASE("a host's cap takes a quarter more blind, then doubles only on a measured rise") {
    // The host-wide settings: past its usual cap, the first step is small.
    const connection_growth::settings host{
        .initial = 64, .ceiling = 256, .interval = 100ms, .rise = 1.1, .first_growth = 1.25};
    SUBCASE("every connection capped: the rate follows the connections") {
        simulated_file f(host);
        CHECK(f.interval(64 * 10.0 * MiB) == 80);
        CHECK(f.interval(80 * 10.0 * MiB) == 160); // +25%
        CHECK(f.interval(160 * 10.0 * MiB) == 256);
        CHECK_FALSE(f.growth.growing());
    }
    SUBCASE("the machine is the limit: the step shows nothing, and growth ends") {
        simulated_file f(host);
        CHECK(f.interval(500.0 * MiB) == 80);
        CHECK(f.interval(520.0 * MiB) == 80); // +4%
        CHECK(f.interval(510.0 * MiB) == 80);
        CHECK_FALSE(f.growth.growing());
    }
}

TEST_CASE("growth stops for good after two intervals in a row that do not rise by a quarter") {
    simulated_file f({.initial = 4, .ceiling = 64, .interval = 100ms, .rise = 1.25});
    CHECK(f.interval(400.0 * MiB) == 8);  // the first interval always doubles
    CHECK(f.interval(600.0 * MiB) == 16); // +50%
    CHECK(f.interval(700.0 * MiB) == 16); // +17%: maybe a dip, one more look
    CHECK(f.growth.growing());
    CHECK(f.interval(710.0 * MiB) == 16); // again: the link is the limit
    CHECK_FALSE(f.growth.growing());
    // Even a later jump does not restart it: the decision is made once per attempt.
    CHECK(f.interval(5000.0 * MiB) == 16);
}

TEST_CASE("the rate is compared with the best interval so far, not the last one") {
    simulated_file f({.initial = 2, .ceiling = 64, .interval = 100ms, .rise = 1.25});
    CHECK(f.interval(100.0 * MiB) == 4);
    CHECK(f.interval(200.0 * MiB) == 8);
    // A dip, then a recovery to just above the old best: no rise of 25% in either.
    CHECK(f.interval(150.0 * MiB) == 8);
    CHECK(f.interval(240.0 * MiB) == 8);
    CHECK_FALSE(f.growth.growing());
}

TEST_CASE("one interval without a rise is a dip when the next one rises") {
    // Each connection capped, but one interval came out low (the server's pacing, a busy moment).
    simulated_file f({.initial = 4, .ceiling = 64, .interval = 100ms, .rise = 1.25});
    CHECK(f.interval(4 * 10.0 * MiB) == 8);
    CHECK(f.interval(8 * 10.0 * MiB) == 16);
    CHECK(f.interval(9 * 10.0 * MiB) == 16);  // +12% only, for twice the connections: a dip
    CHECK(f.interval(16 * 10.0 * MiB) == 32); // the 16 at full rate: +100% over the best
    CHECK(f.growth.growing());
    // The count of flat intervals started over: one more dip does not end it either.
    CHECK(f.interval(17 * 10.0 * MiB) == 32);
    CHECK(f.interval(32 * 10.0 * MiB) == 64);
    CHECK_FALSE(f.growth.growing()); // the ceiling
}

TEST_CASE("nothing is decided before the interval ends or while no byte has arrived") {
    auto start = connection_growth::clock::time_point{} + 1h;
    connection_growth g({.initial = 4, .ceiling = 32, .interval = 100ms, .rise = 1.25}, start, 10 * MiB);
    CHECK(g.workers_wanted(start + 50ms, 20 * MiB, 4, 4) == 4); // mid-interval
    CHECK(g.workers_wanted(start + 100ms, 10 * MiB, 4, 4) == 4); // handshakes still running
    CHECK(g.growing());
    CHECK(g.workers_wanted(start + 150ms, 10 * MiB, 4, 4) == 4); // next check is at 200 ms
    // Bytes at last: measured from the start (a slow first byte counts against the rate, but the
    // first measurement always doubles).
    CHECK(g.workers_wanted(start + 200ms, 12 * MiB, 4, 4) == 8);
    // 2 MiB in 200 ms was 10 MiB/s; 1 MiB in each of the next two 100 ms is no faster.
    CHECK(g.workers_wanted(start + 300ms, 13 * MiB, 8, 8) == 8);
    CHECK(g.workers_wanted(start + 400ms, 14 * MiB, 8, 8) == 8);
    CHECK_FALSE(g.growing());
}

TEST_CASE("the first count and the ceiling are kept sane") {
    const connection_growth::settings more_than_ceiling{.initial = 8, .ceiling = 3, .interval = 100ms, .rise = 1.25};
    CHECK(connection_growth::initial_workers(more_than_ceiling) == 3);
    CHECK_FALSE(connection_growth(more_than_ceiling, {}, 0).growing());
    const connection_growth::settings none{.initial = 0, .ceiling = 0, .interval = 100ms, .rise = 1.25};
    CHECK(connection_growth::initial_workers(none) == 1);
    CHECK_FALSE(connection_growth(none, {}, 0).growing());
    // Workers already above the doubling target (a caller that started more) are never cut.
    connection_growth g({.initial = 1, .ceiling = 4, .interval = 100ms, .rise = 1.25}, {}, 0);
    CHECK(g.workers_wanted(connection_growth::clock::time_point{} + 100ms, MiB, 6, 6) == 6);
}

TEST_CASE("pushback halves the workers wanted, stops growing, and halves at most once per interval") {
    simulated_file f({.initial = 4, .ceiling = 32, .interval = 100ms, .rise = 1.25});
    CHECK(f.interval(4 * 10.0 * MiB) == 8);
    CHECK(f.interval(8 * 10.0 * MiB) == 16);
    CHECK(f.growth.growing());
    CHECK_FALSE(f.growth.pushback_limit());

    // A 429 arrives mid-interval: 16 -> 8, and the file is told to retire the surplus.
    f.growth.on_pushback(f.now + 10ms);
    CHECK_FALSE(f.growth.growing());
    CHECK(f.growth.pushback_limit() == 8u);
    CHECK(f.growth.workers_wanted(f.now + 20ms, f.bytes, 16, 16) == 8);
    // The other requests in flight answer 429 too, within the same interval: no second halving.
    f.growth.on_pushback(f.now + 30ms);
    f.growth.on_pushback(f.now + 109ms);
    CHECK(f.growth.pushback_limit() == 8u);
    CHECK(f.growth.workers_wanted(f.now + 110ms, f.bytes, 8, 8) == 8);
    // A rate that rises again does not grow it back.
    f.workers = 8;
    CHECK(f.interval(100.0 * MiB) == 8);
    CHECK(f.interval(400.0 * MiB) == 8);
    // One interval after the last halving, pushback halves again: 8 -> 4 -> 2 -> 1 -> 1.
    auto t = f.now;
    f.growth.on_pushback(t);
    CHECK(f.growth.workers_wanted(t, f.bytes, 8, 8) == 4);
    f.growth.on_pushback(t + 100ms);
    CHECK(f.growth.workers_wanted(t + 100ms, f.bytes, 4, 4) == 2);
    f.growth.on_pushback(t + 200ms);
    CHECK(f.growth.workers_wanted(t + 200ms, f.bytes, 2, 2) == 1);
    f.growth.on_pushback(t + 300ms);
    CHECK(f.growth.pushback_limit() == 1u);
    CHECK(f.growth.workers_wanted(t + 300ms, f.bytes, 1, 1) == 1);
}

TEST_CASE("pushback halves what the file runs, never asks for more than it runs") {
    connection_growth g({.initial = 4, .ceiling = 32, .interval = 100ms, .rise = 1.25}, {}, 0);
    // Before any measurement: the initial 4 halve to 2.
    g.on_pushback(connection_growth::clock::time_point{} + 5ms);
    CHECK(g.pushback_limit() == 2u);
    CHECK(g.workers_wanted(connection_growth::clock::time_point{} + 6ms, 0, 4, 4) == 2);
    // Workers that ended on their own (3 -> 1 left) are not brought back up to the cap.
    connection_growth h({.initial = 8, .ceiling = 32, .interval = 100ms, .rise = 1.25}, {}, 0);
    h.on_pushback(connection_growth::clock::time_point{} + 1ms);
    CHECK(h.workers_wanted(connection_growth::clock::time_point{} + 2ms, 0, 3, 3) == 3);
    CHECK(h.workers_wanted(connection_growth::clock::time_point{} + 3ms, 0, 1, 1) == 1);
    // The next halving starts from what it runs now.
    h.on_pushback(connection_growth::clock::time_point{} + 200ms);
    CHECK(h.pushback_limit() == 1u);
    // A single worker stays.
    connection_growth one({.initial = 1, .ceiling = 1, .interval = 100ms, .rise = 1.25}, {}, 0);
    one.on_pushback({});
    CHECK(one.pushback_limit() == 1u);
    CHECK(one.workers_wanted({}, 0, 1, 1) == 1);
}

TEST_CASE("on a long path, an interval is judged once the new connections flow") {
    // 100 ms round trips: a new connection shows its first byte some 300 ms after it started
    // (connect, TLS handshake, request). Each connection is capped at 10 MiB/s.
    auto start = connection_growth::clock::time_point{} + 1h;
    connection_growth g({.initial = 4, .ceiling = 32, .interval = 100ms, .rise = 1.25}, start, 0);
    auto t = start + 100ms;
    std::uint64_t bytes = 1 * MiB; // the first response's connection only
    // The first interval with bytes doubles without waiting for the other three.
    CHECK(g.workers_wanted(t, bytes, 4, 1) == 8);
    // While the new ones connect, the old ones' rate shows no rise: not judged, not stopped.
    for (int i = 0; i < 3; ++i) {
        t += 100ms;
        bytes += 4 * MiB;
        CHECK(g.workers_wanted(t, bytes, 8, 4) == 8);
    }
    CHECK(g.growing());
    // All 8 flow: the interval starts now and, 100 ms later, shows twice the rate.
    CHECK(g.workers_wanted(t, bytes, 8, 8) == 8);
    t += 100ms;
    bytes += 8 * MiB;
    CHECK(g.workers_wanted(t, bytes, 8, 8) == 16);
    // The 16 flow; the rate no longer rises (the link is full): growth ends after two looks.
    t += 300ms;
    bytes += 24 * MiB;
    CHECK(g.workers_wanted(t, bytes, 16, 16) == 16);
    for (int i = 0; i < 2; ++i) {
        t += 100ms;
        bytes += 8 * MiB;
        CHECK(g.workers_wanted(t, bytes, 16, 16) == 16);
    }
    CHECK_FALSE(g.growing());
}

TEST_CASE("workers that never flow hold the judgement up for settle_limit at most") {
    auto start = connection_growth::clock::time_point{} + 1h;
    connection_growth g({.initial = 4, .ceiling = 32, .interval = 100ms, .rise = 1.25, .settle_limit = 1000ms},
                        start, 0);
    auto t = start + 100ms;
    std::uint64_t bytes = 4 * MiB;
    CHECK(g.workers_wanted(t, bytes, 4, 4) == 8); // first interval: doubles
    // Four of the eight wait for pool slots and never flow; the four flowing double their rate.
    for (int i = 0; i < 9; ++i) {
        t += 100ms;
        bytes += 8 * MiB;
        CHECK(g.workers_wanted(t, bytes, 8, 4) == 8);
    }
    // 1 s after the doubling the interval (restarted at 900 ms) is judged without them: 80 MiB/s
    // against 40.
    t += 100ms;
    bytes += 8 * MiB;
    CHECK(g.workers_wanted(t, bytes, 8, 4) == 16);
}

TEST_CASE("a long round trip starts a file with the doublings a short one takes step by step") {
    // Loopback and nearby hosts: the usual start, growth decides the rest.
    CHECK(connection_growth::initial_for_round_trip(300us, 4, 32) == 4);
    CHECK(connection_growth::initial_for_round_trip(5ms, 4, 32) == 4);
    // One doubling per 6 ms of round trip: 10 ms skips one, 20 ms three, 100 ms all of them.
    CHECK(connection_growth::initial_for_round_trip(6ms, 4, 32) == 8);
    CHECK(connection_growth::initial_for_round_trip(10ms, 4, 32) == 8);
    CHECK(connection_growth::initial_for_round_trip(12ms, 4, 32) == 16);
    CHECK(connection_growth::initial_for_round_trip(20ms, 4, 32) == 32);
    CHECK(connection_growth::initial_for_round_trip(20ms, 4, 64) == 32);
    CHECK(connection_growth::initial_for_round_trip(100ms, 4, 32) == 32);
    // Never past the ceiling (a --profile, the pool's size), and never below one.
    CHECK(connection_growth::initial_for_round_trip(100ms, 4, 6) == 6);
    CHECK(connection_growth::initial_for_round_trip(20ms, 0, 32) == 8); // (a base of 0 counts as 1)
    CHECK(connection_growth::initial_for_round_trip(10s, 4, 0) == 1);
}

TEST_CASE("a short round trip judges the rate over half an interval") {
    CHECK(connection_growth::interval_for_round_trip(300us) == 50ms);
    CHECK(connection_growth::interval_for_round_trip(1900us) == 50ms);
    CHECK(connection_growth::interval_for_round_trip(2ms) == 100ms);
    CHECK(connection_growth::interval_for_round_trip(100ms) == 100ms);
    CHECK(connection_growth::interval_for_round_trip(300us, 200ms) == 100ms);
}

TEST_CASE("a start that skipped doublings takes no blind one: it grows only on a rise it measured") {
    // 16 workers from the start (a long path); the first interval only sets the rate to beat.
    simulated_file steady({.initial = 16, .ceiling = 32, .interval = 100ms, .rise = 1.25, .double_first = false});
    CHECK(steady.interval(160.0 * MiB) == 16);
    CHECK(steady.growth.growing());
    CHECK(steady.interval(165.0 * MiB) == 16); // no rise
    CHECK(steady.interval(158.0 * MiB) == 16); // nor now: the link or the server is the limit
    CHECK_FALSE(steady.growth.growing());
    // The baseline waits for every worker to flow, so that a ramp-up is not taken for a rise.
    auto start = connection_growth::clock::time_point{} + 1h;
    connection_growth g({.initial = 16, .ceiling = 32, .interval = 100ms, .rise = 1.25, .double_first = false}, start, 0);
    CHECK(g.workers_wanted(start + 100ms, 4 * MiB, 16, 6) == 16);   // 6 of 16 flowing: not judged
    CHECK(g.workers_wanted(start + 200ms, 10 * MiB, 16, 16) == 16); // all flow: the interval starts
    CHECK(g.workers_wanted(start + 300ms, 26 * MiB, 16, 16) == 16); // 160 MiB/s: the rate to beat
    CHECK(g.workers_wanted(start + 400ms, 36 * MiB, 16, 16) == 16); // 100 MiB/s: no rise
    CHECK(g.workers_wanted(start + 500ms, 46 * MiB, 16, 16) == 16); // nor now
    CHECK_FALSE(g.growing());
}

TEST_CASE("a start that skipped doublings may take one step after its baseline, kept only on a rise") {
    const connection_growth::settings long_path{
        .initial = 16, .ceiling = 32, .interval = 100ms, .rise = 1.25, .double_first = false, .after_baseline = 1.5};
    SUBCASE("each connection capped: the step shows, and growth goes on") {
        simulated_file f(long_path);
        CHECK(f.interval(16 * 20.0 * MiB) == 24); // the rate to beat, then the step
        CHECK(f.interval(24 * 20.0 * MiB) == 32); // +50%: a doubling, within the ceiling
        CHECK_FALSE(f.growth.growing());
    }
    SUBCASE("the link is the limit: the step shows nothing, and growth ends") {
        simulated_file f(long_path);
        CHECK(f.interval(320.0 * MiB) == 24);
        CHECK(f.interval(330.0 * MiB) == 24);
        CHECK(f.interval(325.0 * MiB) == 24);
        CHECK_FALSE(f.growth.growing());
    }
}

TEST_CASE("a connection is worth adding only when it would deliver before the rest is fetched") {
    // 100 ms to first byte: a new connection delivers some 400 ms from now.
    CHECK(connection_growth::worth_adding(100 * MiB, 100.0 * MiB, 100ms));      // 1 s left
    CHECK_FALSE(connection_growth::worth_adding(30 * MiB, 100.0 * MiB, 100ms)); // 0.3 s left
    // On loopback it nearly always is.
    CHECK(connection_growth::worth_adding(1 * MiB, 100.0 * MiB, 200us));
    // Unknown: a size not known yet, or no rate measured yet.
    CHECK(connection_growth::worth_adding(std::nullopt, 100.0 * MiB, 100ms));
    CHECK(connection_growth::worth_adding(1 * MiB, 0, 100ms));
}
