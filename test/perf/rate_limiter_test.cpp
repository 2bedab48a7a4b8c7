// rate_limiter on a real io_context: grants, rates over io_context time (loose bounds: these
// machines are loaded), FIFO fairness, rate changes and cancellation of a waiter.
#include "perf/rate_limiter.hpp"

#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

using ferry::rate_limiter;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t KiB = 1024;

/// Takes `chunk` bytes at a time until `until`; adds what was granted to `total`.
asio::awaitable<void> consume(rate_limiter& limiter, std::size_t chunk, clock_type::time_point until,
                              std::uint64_t& total, bool& finished) {
    while (clock_type::now() < until) {
        auto asked = limiter.acquire(chunk);
        auto granted = co_await std::move(asked);
        CHECK(granted >= 1);
        CHECK(granted <= chunk);
        total += granted;
    }
    finished = true;
}

} // namespace

TEST_CASE("an unlimited rate_limiter grants everything at once, without a timer") {
    asio::io_context io;
    rate_limiter limiter(io.get_executor(), 0);
    CHECK(limiter.unlimited());
    std::optional<std::size_t> granted;
    asio::co_spawn(io, limiter.acquire(5'000'000), [&](std::exception_ptr e, std::size_t n) {
        CHECK_FALSE(e);
        granted = n;
    });
    io.poll(); // no waiting: it completes without any time passing
    REQUIRE(granted.has_value());
    CHECK(*granted == 5'000'000);
    CHECK(io.stopped()); // nothing left behind (no ticker armed)
}

TEST_CASE("acquire_all with only unlimited limiters grants at once") {
    asio::io_context io;
    rate_limiter a(io.get_executor(), 0), b(io.get_executor(), 0);
    std::array<rate_limiter*, 3> all{&a, nullptr, &b};
    CHECK_FALSE(ferry::any_limited(all));
    std::optional<std::size_t> granted;
    asio::co_spawn(io, ferry::acquire_all(all, 123'456), [&](std::exception_ptr e, std::size_t n) {
        CHECK_FALSE(e);
        granted = n;
    });
    io.poll();
    REQUIRE(granted.has_value());
    CHECK(*granted == 123'456);
}

TEST_CASE("with a rate, grants over a second of io_context time stay near the rate") {
    asio::io_context io;
    const std::uint64_t rate = 1'000'000; // burst: 100'000
    rate_limiter limiter(io.get_executor(), rate);
    std::uint64_t total = 0;
    bool finished = false;
    auto start = clock_type::now();
    asio::co_spawn(io, consume(limiter, 64 * KiB, start + 1s, total, finished), asio::detached);
    io.run_for(10s);
    REQUIRE(finished);
    double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    CAPTURE(total);
    CAPTURE(seconds);
    // Never more than the burst plus the rate over the time that passed.
    CHECK(double(total) <= 100'000 + double(rate) * seconds * 1.05);
    // And not far below it, even on a loaded machine (a late tick finds the bucket fuller).
    CHECK(double(total) >= 0.6 * double(rate) * 1.0);
}

TEST_CASE("two waiters share a limiter fairly (first come, first served)") {
    asio::io_context io;
    rate_limiter limiter(io.get_executor(), 2'000'000);
    std::uint64_t first = 0, second = 0;
    bool first_done = false, second_done = false;
    auto until = clock_type::now() + 1s;
    asio::co_spawn(io, consume(limiter, 256 * KiB, until, first, first_done), asio::detached);
    asio::co_spawn(io, consume(limiter, 256 * KiB, until, second, second_done), asio::detached);
    io.run_for(10s);
    REQUIRE(first_done);
    REQUIRE(second_done);
    CAPTURE(first);
    CAPTURE(second);
    CHECK(first > 0);
    CHECK(second > 0);
    CHECK(first <= 2 * second);
    CHECK(second <= 2 * first);
    CHECK(first + second <= 200'000 + 2'000'000 * 1.2);
}

TEST_CASE("set_rate while a transfer waits takes effect at once") {
    asio::io_context io;
    // 1000 B/s: the bucket holds 16 KiB; once drained, the next 16 KiB take 16 seconds.
    rate_limiter limiter(io.get_executor(), 1000);
    std::optional<std::size_t> drained, waited;
    clock_type::time_point granted_at{};
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto first = limiter.acquire(16 * KiB);
            drained = co_await std::move(first);
            auto second = limiter.acquire(64 * KiB);
            waited = co_await std::move(second);
            granted_at = clock_type::now();
        },
        asio::detached);
    io.run_for(50ms);
    REQUIRE(drained.has_value());
    CHECK(*drained == 16 * KiB);
    REQUIRE_FALSE(waited.has_value()); // it waits

    SUBCASE("to a higher rate") {
        auto changed_at = clock_type::now();
        limiter.set_rate(10'000'000);
        io.run_for(2s);
        REQUIRE(waited.has_value());
        CHECK(*waited >= 16 * KiB);
        CHECK(granted_at - changed_at < 1s);
    }
    SUBCASE("to unlimited") {
        limiter.set_rate(0);
        io.poll();
        REQUIRE(waited.has_value());
        CHECK(*waited == 64 * KiB);
    }
    SUBCASE("to a lower rate: still waiting") {
        limiter.set_rate(10);
        io.run_for(100ms);
        CHECK_FALSE(waited.has_value());
        limiter.set_rate(0);
        io.poll();
        CHECK(waited.has_value());
    }
}

TEST_CASE("a cancelled waiter throws operation_aborted and leaves the queue working") {
    asio::io_context io;
    rate_limiter limiter(io.get_executor(), 1000);
    std::optional<std::size_t> drained;
    asio::co_spawn(io, limiter.acquire(16 * KiB), [&](std::exception_ptr e, std::size_t n) {
        CHECK_FALSE(e);
        drained = n;
    });
    io.poll();
    REQUIRE(drained.has_value());
    io.restart(); // it ran out of work

    // Two waiters: the first is cancelled, the second is served once the rate allows.
    asio::cancellation_signal signal;
    std::optional<std::exception_ptr> cancelled_outcome;
    asio::co_spawn(io, limiter.acquire(32 * KiB),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, std::size_t) {
                       cancelled_outcome = e;
                   }));
    std::optional<std::size_t> second;
    asio::co_spawn(io, limiter.acquire(32 * KiB), [&](std::exception_ptr e, std::size_t n) {
        CHECK_FALSE(e);
        second = n;
    });
    io.run_for(30ms);
    REQUIRE_FALSE(cancelled_outcome.has_value());
    REQUIRE_FALSE(second.has_value());

    signal.emit(asio::cancellation_type::terminal);
    io.run_for(30ms);
    REQUIRE(cancelled_outcome.has_value());
    REQUIRE(*cancelled_outcome);
    try {
        std::rethrow_exception(*cancelled_outcome);
    } catch (const boost::system::system_error& e) {
        CHECK(e.code() == asio::error::operation_aborted);
    }
    CHECK_FALSE(second.has_value());

    limiter.set_rate(100'000'000);
    io.run_for(1s);
    REQUIRE(second.has_value());
    CHECK(*second == 32 * KiB);
    // Nobody waits any more: the ticker stops and the io_context runs out of work.
    io.restart();
    io.run_for(1s);
    CHECK(io.stopped());
}

TEST_CASE("waiters cancelled from the middle and the end of the queue leave the rest in order") {
    asio::io_context io;
    rate_limiter limiter(io.get_executor(), 1000);
    bool drained = false;
    asio::co_spawn(io, limiter.acquire(16 * KiB), [&](std::exception_ptr, std::size_t) { drained = true; });
    io.poll();
    REQUIRE(drained);
    io.restart();

    std::vector<std::string> order;
    std::array<asio::cancellation_signal, 4> signals;
    auto wait_as = [&](std::string name, asio::cancellation_signal& signal) {
        asio::co_spawn(io, limiter.acquire(32 * KiB),
                       asio::bind_cancellation_slot(signal.slot(), [&order, name](std::exception_ptr e, std::size_t) {
                           order.push_back(e ? name + " cancelled" : name);
                       }));
    };
    wait_as("a", signals[0]);
    wait_as("b", signals[1]);
    wait_as("c", signals[2]);
    io.run_for(20ms);
    signals[1].emit(asio::cancellation_type::terminal); // the middle one
    io.run_for(20ms);
    signals[2].emit(asio::cancellation_type::terminal); // now the last one
    io.run_for(20ms);
    wait_as("d", signals[3]); // queued behind a, after the last one left
    io.run_for(20ms);
    limiter.set_rate(100'000'000);
    io.run_for(1s);
    CHECK(order == std::vector<std::string>{"b cancelled", "c cancelled", "a", "d"});
}

TEST_CASE("acquire_all takes the smallest grant and gives the rest back") {
    asio::io_context io;
    rate_limiter wide(io.get_executor(), 10'000'000);  // burst 1'000'000
    rate_limiter narrow(io.get_executor(), 200'000);   // burst 20'000
    rate_limiter none(io.get_executor(), 0);
    std::array<rate_limiter*, 3> all{&wide, &none, &narrow};
    std::optional<std::size_t> granted;
    asio::co_spawn(io, ferry::acquire_all(all, 256 * KiB), [&](std::exception_ptr e, std::size_t n) {
        CHECK_FALSE(e);
        granted = n;
    });
    io.run_for(1s);
    REQUIRE(granted.has_value());
    CHECK(*granted <= 20'000 + 2'000); // the narrow bucket's burst (and a tick of refill)
    CHECK(*granted >= 16 * KiB);
    // The wide limiter got back what it granted beyond that: it still has about its burst.
    std::optional<std::size_t> from_wide;
    io.restart(); // it ran out of work
    asio::co_spawn(io, wide.acquire(1'000'000), [&](std::exception_ptr, std::size_t n) { from_wide = n; });
    io.poll();
    REQUIRE(from_wide.has_value());
    CHECK(*from_wide >= 1'000'000 - *granted - 1);

    SUBCASE("cancelled while waiting: everything held is given back") {
        // `narrow` is empty now; `wide` too. Cancel a waiter of acquire_all.
        asio::cancellation_signal signal;
        std::optional<std::exception_ptr> outcome;
        io.restart();
        asio::co_spawn(io, ferry::acquire_all(all, 64 * KiB),
                       asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, std::size_t) {
                           outcome = e;
                       }));
        io.poll();
        CHECK_FALSE(outcome.has_value());
        signal.emit(asio::cancellation_type::terminal);
        io.run_for(50ms);
        REQUIRE(outcome.has_value());
        CHECK(*outcome);
    }
}
