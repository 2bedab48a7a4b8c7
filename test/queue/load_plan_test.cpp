#include "queue/load_plan.hpp"

#include <doctest/doctest.h>

using namespace ferry;
using namespace std::chrono_literals;
using ns = std::chrono::nanoseconds;

TEST_CASE("vu_ramp: linear between stage targets, from startVUs, 0 after the end") {
    vu_ramp ramp(0, {{10s, 100}, {5s, 100}, {10s, 0}});
    CHECK(ramp.length() == 25s);
    CHECK(ramp.peak() == 100);
    CHECK(ramp.target_at(0s) == 0);
    CHECK(ramp.target_at(1s) == 10);
    CHECK(ramp.target_at(5s) == 50);
    CHECK(ramp.target_at(12s) == 100);
    CHECK(ramp.target_at(20s) == 50);
    CHECK(ramp.target_at(25s) == 0);
    CHECK(ramp.target_at(-1s) == 0);
}

TEST_CASE("vu_ramp: next_change lands on each whole VU, up and down, without skipping one") {
    vu_ramp ramp(2, {{1s, 6}, {1s, 6}, {1s, 3}});
    ns t{0};
    std::uint64_t last = ramp.target_at(t);
    int wakes = 0;
    std::vector<std::uint64_t> seen{last};
    while (auto next = ramp.next_change(t)) {
        REQUIRE(*next > t);
        t = *next;
        ++wakes;
        REQUIRE(wakes < 100);
        auto now = ramp.target_at(t);
        if (now != last) {
            CHECK((now + 1 == last || now == last + 1 || now == 0));
            seen.push_back(now);
            last = now;
        }
    }
    CHECK(seen == std::vector<std::uint64_t>{2, 3, 4, 5, 6, 5, 4, 3, 0});
    CHECK(t == 3s);
}

TEST_CASE("arrival_schedule: a constant rate sends iteration i at i / rate") {
    auto plan = arrival_schedule::constant(200, 2s, 1s);
    CHECK(plan.send_time(0) == ns(0));
    CHECK(plan.send_time(1) == 5ms);
    CHECK(plan.send_time(399) == 1995ms);
    CHECK_FALSE(plan.send_time(400).has_value());
    CHECK(plan.total() == doctest::Approx(400));
    // timeUnit: 30 per minute is one every 2 s.
    auto slow = arrival_schedule::constant(30, 10s, 60s);
    CHECK(slow.send_time(1) == 2s);
    CHECK(slow.total() == doctest::Approx(5));
}

TEST_CASE("arrival_schedule: a ramp's sends follow the integral of its rate") {
    // 0 → 100/s over 10 s: 500 iterations; iteration n at sqrt(2n/10) s.
    arrival_schedule plan(0, {{10s, 100}, {5s, 100}}, 1s);
    CHECK(plan.total() == doctest::Approx(1000));
    CHECK(plan.send_time(0) == ns(0));
    auto t = plan.send_time(5);
    REQUIRE(t);
    CHECK(std::chrono::duration<double>(*t).count() == doctest::Approx(1.0));
    t = plan.send_time(500);
    REQUIRE(t);
    CHECK(std::chrono::duration<double>(*t).count() == doctest::Approx(10.0));
    t = plan.send_time(750);
    REQUIRE(t);
    CHECK(std::chrono::duration<double>(*t).count() == doctest::Approx(12.5));
    CHECK_FALSE(plan.send_time(1000));
    // Down again: sends never go backwards and stay within the plan.
    arrival_schedule down(50, {{4s, 10}}, 1s);
    ns last{-1};
    for (std::uint64_t i = 0;; ++i) {
        auto at = down.send_time(i);
        if (!at)
            break;
        CHECK(*at > last);
        CHECK(*at < 4s);
        last = *at;
        REQUIRE(i < 200);
    }
    CHECK(down.due_by(4s) == doctest::Approx(120));
}

TEST_CASE("vu_budget: idle first, then new VUs up to max, then dropped iterations") {
    vu_budget budget(2, 3);
    CHECK(budget.take() == vu_budget::outcome::idle);
    CHECK(budget.take() == vu_budget::outcome::idle);
    CHECK(budget.take() == vu_budget::outcome::spawn);
    CHECK(budget.take() == vu_budget::outcome::dropped);
    CHECK(budget.dropped() == 1);
    CHECK(budget.allocated() == 3);
    budget.give_back();
    CHECK(budget.take() == vu_budget::outcome::idle);
    iteration_pool pool(2);
    CHECK(pool.claim());
    CHECK(pool.claim());
    CHECK_FALSE(pool.claim());
}
