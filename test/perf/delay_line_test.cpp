#include "perf/delay_line.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <limits>

using ferry::delay_line;
using namespace std::chrono_literals;

namespace {

const delay_line::time_point t0 = delay_line::time_point{} + 1000s;
constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;

delay_line::settings delay_only(delay_line::duration d) {
    delay_line::settings s;
    s.delay = d;
    return s;
}

} // namespace

TEST_CASE("delay line: each chunk is released one delay after it was read, in order") {
    delay_line line(delay_only(10ms));
    CHECK(line.room(t0) == std::numeric_limits<std::uint64_t>::max());
    CHECK(line.send(100, t0) == t0 + 10ms);
    CHECK(line.send(100, t0 + 3ms) == t0 + 13ms);
    CHECK(line.undelivered() == 2);
    CHECK(line.in_flight() == 200);
    // A time earlier than the last read (not from a steady clock) still releases in order.
    CHECK(line.send(1, t0 + 1ms) == t0 + 13ms);
}

TEST_CASE("delay line: zero delay and no limits release at once") {
    delay_line line(delay_line::settings{});
    CHECK(line.send(MiB, t0) == t0);
    line.delivered(t0);
    CHECK(line.room(t0) == std::numeric_limits<std::uint64_t>::max());
    CHECK(line.in_flight() == 0);
    CHECK_FALSE(line.next_room());
}

TEST_CASE("delay line: nothing leaves before the start (the handshake's round trip)") {
    delay_line line(delay_only(10ms), t0 + 20ms);
    CHECK(line.send(10, t0) == t0 + 30ms);
    CHECK(line.send(10, t0 + 25ms) == t0 + 35ms);
}

TEST_CASE("delay line: the window bounds the bytes in flight until their acknowledgement") {
    delay_line::settings s = delay_only(10ms);
    s.window = 64 * KiB;
    delay_line line(s);
    CHECK(line.room(t0) == 64 * KiB);
    auto r1 = line.send(40 * KiB, t0);
    CHECK(line.room(t0) == 24 * KiB);
    auto r2 = line.send(24 * KiB, t0 + 1ms);
    CHECK(line.room(t0 + 1ms) == 0);
    CHECK_FALSE(line.next_room()); // nothing delivered yet: no acknowledgement is scheduled

    // Delivered on time: acknowledged one delay later, a full round trip after the read.
    line.delivered(r1);
    REQUIRE(line.next_room());
    CHECK(*line.next_room() == t0 + 20ms);
    CHECK(line.room(t0 + 20ms - 1ns) == 0);
    CHECK(line.room(t0 + 20ms) == 40 * KiB);

    // Delivered late (a slow receiver): the acknowledgement waits for the delivery.
    line.delivered(r2 + 50ms);
    CHECK(*line.next_room() == r2 + 60ms);
    CHECK(line.room(r2 + 59ms) == 40 * KiB);
    CHECK(line.room(r2 + 60ms) == 64 * KiB);
    CHECK(line.in_flight() == 0);
    CHECK_FALSE(line.next_room());
    line.delivered(t0 + 1s); // nothing left to deliver: no-op
    CHECK(line.in_flight() == 0);
}

TEST_CASE("delay line: the window caps one connection at window / round trip") {
    delay_line::settings s = delay_only(25ms); // 50 ms round trip
    s.window = 1 * MiB;
    delay_line line(s);
    // A sender always ready and a receiver reading at once: read whatever room there is (in
    // pieces of at most 256 KiB), deliver each chunk at its release; the clock jumps from event
    // to event.
    struct chunk {
        std::uint64_t bytes;
        delay_line::time_point release;
    };
    std::deque<chunk> chunks;
    std::uint64_t delivered = 0;
    auto now = t0;
    for (int step = 0; step < 10'000 && now < t0 + 1s; ++step) {
        if (auto room = line.room(now); room > 0) {
            auto n = std::min<std::uint64_t>(room, 256 * KiB);
            chunks.push_back({n, line.send(n, now)});
            continue;
        }
        auto next = chunks.empty() ? delay_line::time_point::max() : chunks.front().release;
        if (auto ack = line.next_room(); ack && *ack < next)
            next = *ack;
        REQUIRE(next != delay_line::time_point::max());
        now = next;
        while (!chunks.empty() && chunks.front().release <= now) {
            delivered += chunks.front().bytes;
            chunks.pop_front();
            line.delivered(now);
        }
    }
    // 1 s at 1 MiB per 50 ms round trip: 20 MiB, less the first one-way delay (half a window).
    CHECK(delivered >= 19 * MiB);
    CHECK(delivered <= 20 * MiB);
    CHECK(line.in_flight() <= 1 * MiB);
}

TEST_CASE("delay line: the rate spaces chunks as a bottleneck link does") {
    delay_line::settings s = delay_only(10ms);
    s.rate = 1 * MiB; // a MiB per second
    delay_line line(s);
    CHECK(line.send(MiB / 2, t0) == t0 + 500ms + 10ms);
    // Read while the first is still on the link: it queues behind it.
    CHECK(line.send(MiB / 4, t0 + 100ms) == t0 + 750ms + 10ms);
    // Read after the link went idle: it leaves at once.
    CHECK(line.send(MiB / 4, t0 + 2s) == t0 + 2s + 250ms + 10ms);
    // Fractions round up to a whole tick (never faster than the rate).
    delay_line line2(delay_line::settings{.delay = 0ms, .window = 0, .rate = 3});
    CHECK(line2.send(1, t0) == t0 + 333'333'334ns);
}

TEST_CASE("delay line: a negative delay counts as none") {
    delay_line line(delay_only(-5ms));
    CHECK(line.config().delay == 0ms);
    CHECK(line.send(1, t0) == t0);
}
