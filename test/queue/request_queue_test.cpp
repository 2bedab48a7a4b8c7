// The daemon's request queue, step by step: bounded running calls, control before status, FIFO
// within a class, refusal beyond the waiting bound, eviction of a status call for a control call.

#include "queue/request_queue.hpp"

#include <doctest/doctest.h>

using ferry::request_class;
using ferry::request_queue;
using verdict = request_queue::verdict;

TEST_CASE("request_queue: calls run at once up to the running bound, then wait, then are refused") {
    request_queue q({.running = 2, .waiting = 2});
    auto a = q.arrive(request_class::status);
    auto b = q.arrive(request_class::status);
    CHECK(a.what == verdict::run);
    CHECK(b.what == verdict::run);
    CHECK(a.id != b.id);
    CHECK(q.running() == 2);

    auto c = q.arrive(request_class::status);
    auto d = q.arrive(request_class::status);
    CHECK(c.what == verdict::wait);
    CHECK(d.what == verdict::wait);
    CHECK(q.waiting() == 2);

    auto e = q.arrive(request_class::status);
    CHECK(e.what == verdict::refuse);
    CHECK_FALSE(e.evicted);
    CHECK(q.refused() == 1);
    CHECK(q.waiting() == 2); // a refused call holds nothing

    // Waiting calls start in arrival order as running ones finish.
    CHECK(q.finished() == c.id);
    CHECK(q.running() == 2);
    CHECK(q.finished() == d.id);
    CHECK(q.finished() == std::nullopt);
    CHECK(q.running() == 1);
    CHECK(q.finished() == std::nullopt);
    CHECK(q.running() == 0);
}

TEST_CASE("request_queue: waiting control calls go before waiting status calls, FIFO within each") {
    request_queue q({.running = 1, .waiting = 10});
    REQUIRE(q.arrive(request_class::status).what == verdict::run);
    auto s1 = q.arrive(request_class::status);
    auto c1 = q.arrive(request_class::control);
    auto s2 = q.arrive(request_class::status);
    auto c2 = q.arrive(request_class::control);
    CHECK(q.waiting(request_class::control) == 2);
    CHECK(q.waiting(request_class::status) == 2);

    CHECK(q.finished() == c1.id);
    CHECK(q.finished() == c2.id);
    CHECK(q.finished() == s1.id);
    CHECK(q.finished() == s2.id);
    CHECK(q.finished() == std::nullopt);
}

TEST_CASE("request_queue: a new call does not overtake waiting ones even when a slot looks free") {
    // Only finished() starts waiting calls, so a call that arrives while others wait waits too.
    request_queue q({.running = 1, .waiting = 4});
    REQUIRE(q.arrive(request_class::control).what == verdict::run);
    auto waiting = q.arrive(request_class::status);
    REQUIRE(waiting.what == verdict::wait);
    CHECK(q.arrive(request_class::control).what == verdict::wait);
}

TEST_CASE("request_queue: a control call evicts the newest waiting status call when the room is full") {
    request_queue q({.running = 1, .waiting = 2});
    REQUIRE(q.arrive(request_class::status).what == verdict::run);
    auto s1 = q.arrive(request_class::status);
    auto s2 = q.arrive(request_class::status);
    REQUIRE(s2.what == verdict::wait);

    auto c = q.arrive(request_class::control);
    CHECK(c.what == verdict::wait);
    REQUIRE(c.evicted);
    CHECK(*c.evicted == s2.id);
    CHECK(q.refused() == 1);
    CHECK(q.waiting() == 2);
    CHECK_FALSE(q.abandon(s2.id)); // already gone

    // Once only control calls wait, a further control call is refused like any other.
    auto c2 = q.arrive(request_class::control);
    CHECK(c2.what == verdict::wait);
    CHECK(c2.evicted == s1.id);
    auto c3 = q.arrive(request_class::control);
    CHECK(c3.what == verdict::refuse);
    CHECK_FALSE(c3.evicted);
    CHECK(q.refused() == 3);

    CHECK(q.finished() == c.id);
    CHECK(q.finished() == c2.id);
}

TEST_CASE("request_queue: an abandoned waiting call leaves its place; a started one cannot be abandoned") {
    request_queue q({.running = 1, .waiting = 3});
    auto first = q.arrive(request_class::status);
    auto a = q.arrive(request_class::status);
    auto b = q.arrive(request_class::control);
    auto c = q.arrive(request_class::status);
    CHECK(q.abandon(b.id));
    CHECK(q.abandon(a.id));
    CHECK_FALSE(q.abandon(a.id));
    CHECK_FALSE(q.abandon(first.id)); // running, not waiting
    CHECK(q.waiting() == 1);
    CHECK(q.finished() == c.id);
    CHECK_FALSE(q.abandon(c.id));
}

TEST_CASE("request_queue: no waiting room refuses whenever every slot runs; running is at least 1") {
    request_queue q({.running = 0, .waiting = 0});
    CHECK(q.bounds().running == 1);
    CHECK(q.arrive(request_class::control).what == verdict::run);
    CHECK(q.arrive(request_class::control).what == verdict::refuse);
    CHECK(q.arrive(request_class::status).what == verdict::refuse);
    CHECK(q.finished() == std::nullopt);
    CHECK(q.arrive(request_class::status).what == verdict::run);
}
