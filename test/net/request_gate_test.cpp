// request_gate on a real io_context: turns handed on as passes drop, refusal after max_wait, and
// a waiting call that is cancelled leaves the queue.
#include "server_harness.hpp"

#include "net/request_gate.hpp"

#include <doctest/doctest.h>

#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using ferry::request_class;
using ferry::request_gate;
using ferry::test::run_until_done;
using ferry::test::use_nothrow;

TEST_CASE("request_gate: a dropped pass starts the next waiting call; waiting too long is a refusal") {
    asio::io_context io;
    request_gate gate(io.get_executor(), {.limits = {.running = 1, .waiting = 4}, .max_wait = 100ms});
    std::vector<std::string> log;
    auto wait_turn = [&](std::string name, request_class what) -> asio::awaitable<void> {
        auto entering = gate.enter(what);
        auto pass = co_await std::move(entering);
        log.push_back(name + (pass ? " runs" : " refused"));
    };
    CHECK(run_until_done(io, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto first = co_await gate.enter(request_class::status);
        REQUIRE(first);
        auto waiter = wait_turn("poll", request_class::status);
        asio::co_spawn(ex, std::move(waiter), asio::detached);
        auto control = wait_turn("pause", request_class::control);
        asio::co_spawn(ex, std::move(control), asio::detached);
        asio::steady_timer tick(ex);
        while (gate.queue().waiting() < 2) {
            tick.expires_after(1ms);
            co_await tick.async_wait(use_nothrow);
        }
        first.reset(); // the control call goes first; its pass drops at once, then the poll runs
        while (log.size() < 2) {
            tick.expires_after(1ms);
            co_await tick.async_wait(use_nothrow);
        }
        CHECK(log == std::vector<std::string>{"pause runs", "poll runs"});
        CHECK(gate.queue().running() == 0);

        // Held: the next call waits 100 ms and is refused; its place is free again.
        auto held = co_await gate.enter(request_class::control);
        auto start = std::chrono::steady_clock::now();
        auto late = co_await gate.enter(request_class::status);
        CHECK_FALSE(late);
        CHECK(std::chrono::steady_clock::now() - start >= 90ms);
        CHECK(gate.queue().waiting() == 0);
        CHECK(gate.queue().running() == 1);
    }()));
}

TEST_CASE("request_gate: a cancelled waiting call leaves the queue") {
    asio::io_context io;
    request_gate gate(io.get_executor(), {.limits = {.running = 1, .waiting = 4}});
    asio::cancellation_signal cancel;
    bool refused = false;
    CHECK(run_until_done(io, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto held = co_await gate.enter(request_class::status);
        auto waiting = gate.enter(request_class::status);
        asio::co_spawn(ex, std::move(waiting),
                       asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr, request_gate::pass p) {
                           refused = !p;
                       }));
        asio::steady_timer tick(ex);
        while (gate.queue().waiting() < 1) {
            tick.expires_after(1ms);
            co_await tick.async_wait(use_nothrow);
        }
        cancel.emit(asio::cancellation_type::terminal);
        while (!refused) {
            tick.expires_after(1ms);
            co_await tick.async_wait(use_nothrow);
        }
        CHECK(gate.queue().waiting() == 0);
        held.reset();
        CHECK(gate.queue().running() == 0);
    }()));
    CHECK(refused);
}

TEST_CASE("request_gate: try_enter takes a free turn only when nobody waits for one") {
    asio::io_context io;
    request_gate gate(io.get_executor(), {.limits = {.running = 2, .waiting = 4}, .max_wait = 10s});
    CHECK(run_until_done(io, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto first = gate.try_enter(request_class::status);
        REQUIRE(first);
        CHECK(gate.queue().running() == 1);
        auto second = co_await gate.enter(request_class::status);
        REQUIRE(second);
        // Every turn taken: no pass, and nothing queued by asking.
        CHECK_FALSE(gate.try_enter(request_class::control));
        CHECK(gate.queue().running() == 2);
        CHECK(gate.queue().waiting() == 0);

        bool waiter_ran = false;
        auto waiting = [&]() -> asio::awaitable<void> {
            auto pass = co_await gate.enter(request_class::status);
            waiter_ran = static_cast<bool>(pass);
        };
        asio::co_spawn(ex, waiting(), asio::detached);
        asio::steady_timer tick(ex);
        while (gate.queue().waiting() < 1) {
            tick.expires_after(1ms);
            co_await tick.async_wait(use_nothrow);
        }
        // A turn frees up and goes to the waiting call, not to a call that asks now.
        first.reset();
        CHECK_FALSE(gate.try_enter(request_class::control));
        while (!waiter_ran) {
            tick.expires_after(1ms);
            co_await tick.async_wait(use_nothrow);
        }
        CHECK(gate.queue().running() == 1);
        auto third = gate.try_enter(request_class::status);
        CHECK(third);
        CHECK(gate.queue().running() == 2);
        third.reset();
        second.reset();
        CHECK(gate.queue().running() == 0);
    }()));
}
