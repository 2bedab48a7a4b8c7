#include "memory/buffer_pool.hpp"

#include <doctest/doctest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <set>
#include <variant>
#include <vector>

using namespace ferry;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

/// Runs until nothing is left to do; a coroutine still waiting keeps it going until the limit,
/// so tests check a did-it-finish flag afterwards instead of sleeping.
void run_until_idle(asio::io_context& io) {
    io.restart();
    io.run_for(5s);
}

/// Why a spawned coroutine ended: empty when it returned normally.
struct outcome {
    bool finished = false;
    std::exception_ptr error;

    bool aborted() const {
        if (!error)
            return false;
        try {
            std::rethrow_exception(error);
        } catch (const boost::system::system_error& e) {
            return e.code() == asio::error::operation_aborted;
        } catch (...) {
            return false;
        }
    }
};

auto record(outcome& o) {
    return [&o](std::exception_ptr e) {
        o.finished = true;
        o.error = e;
    };
}

} // namespace

TEST_CASE("buffer_pool respects its budget and reuses buffers") {
    asio::io_context io;
    buffer_pool pool(io.get_executor(), 3 * 1024 + 100, 1024);
    CHECK(pool.capacity() == 3);
    CHECK(pool.buffer_size() == 1024);
    CHECK(pool.allocated() == 0); // lazily

    std::vector<buffer_pool::lease> held;
    std::set<std::byte*> seen;
    for (int i = 0; i < 3; ++i) {
        auto l = pool.try_acquire();
        REQUIRE(l);
        CHECK(l.size() == 1024);
        CHECK(pool.allocated() == std::size_t(i + 1));
        seen.insert(l.data());
        held.push_back(std::move(l));
    }
    CHECK(seen.size() == 3);
    CHECK(pool.in_use() == 3);
    CHECK_FALSE(pool.try_acquire());
    CHECK(pool.in_use() == 3);

    held.pop_back();
    CHECK(pool.in_use() == 2);
    auto again = pool.try_acquire();
    REQUIRE(again);
    CHECK(seen.count(again.data()) == 1); // reused, not a new allocation
    CHECK(pool.allocated() == 3);

    // Moving a lease moves ownership; assigning an empty one returns it.
    buffer_pool::lease moved = std::move(again);
    CHECK_FALSE(again);
    CHECK(pool.in_use() == 3);
    moved = buffer_pool::lease();
    CHECK(pool.in_use() == 2);
    held.clear();
    CHECK(pool.in_use() == 0);
    CHECK(pool.allocated() == 3);

    buffer_pool tiny(io.get_executor(), 10, 4096);
    CHECK(tiny.capacity() == 1); // always at least one buffer
}

TEST_CASE("acquire completes at once when a buffer is free") {
    asio::io_context io;
    buffer_pool pool(io.get_executor(), 2048, 1024);
    outcome done;
    std::size_t size = 0;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        auto l = co_await pool.acquire();
        size = l.size();
    }, record(done));
    run_until_idle(io);
    CHECK(done.finished);
    CHECK_FALSE(done.error);
    CHECK(size == 1024);
    CHECK(pool.in_use() == 0);
}

TEST_CASE("a waiter gets the buffer when another is released") {
    asio::io_context io;
    buffer_pool pool(io.get_executor(), 1024, 1024);
    auto held = pool.try_acquire();
    REQUIRE(held);
    std::byte* first = held.data();

    outcome done;
    std::byte* got = nullptr;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        auto l = co_await pool.acquire();
        got = l.data();
    }, record(done));
    io.poll();
    CHECK_FALSE(done.finished);
    CHECK(pool.waiting() == 1);
    CHECK_FALSE(pool.try_acquire()); // no barging past the waiter

    held = buffer_pool::lease();
    CHECK(pool.waiting() == 0);
    run_until_idle(io);
    CHECK(done.finished);
    CHECK_FALSE(done.error);
    CHECK(got == first);
    CHECK(pool.in_use() == 0);
    CHECK(pool.allocated() == 1);
}

TEST_CASE("waiters are served in order") {
    asio::io_context io;
    buffer_pool pool(io.get_executor(), 1024, 1024);
    auto held = pool.try_acquire();
    REQUIRE(held);

    std::vector<int> order;
    std::vector<outcome> done(5);
    for (int i = 0; i < 5; ++i) {
        asio::co_spawn(io, [&, i]() -> asio::awaitable<void> {
            auto l = co_await pool.acquire();
            order.push_back(i);
            // Hold it across a suspension, so the next waiter must wait for this one.
            co_await asio::post(io, asio::use_awaitable);
        }, record(done[std::size_t(i)]));
        io.poll(); // each enters the line before the next is spawned
    }
    CHECK(pool.waiting() == 5);
    CHECK(order.empty());

    held = buffer_pool::lease();
    run_until_idle(io);
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
    for (auto& d : done)
        CHECK((d.finished && !d.error));
    CHECK(pool.in_use() == 0);
    CHECK(pool.waiting() == 0);
}

TEST_CASE("a cancelled waiter leaves the line and leaks nothing") {
    asio::io_context io;
    buffer_pool pool(io.get_executor(), 1024, 1024);
    auto held = pool.try_acquire();
    REQUIRE(held);

    SUBCASE("through a cancellation slot") {
        asio::cancellation_signal cancel;
        outcome cancelled, next;
        bool next_got = false;
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            auto l = co_await pool.acquire();
        }, asio::bind_cancellation_slot(cancel.slot(), record(cancelled)));
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            auto l = co_await pool.acquire();
            next_got = bool(l);
        }, record(next));
        io.poll();
        CHECK(pool.waiting() == 2);

        cancel.emit(asio::cancellation_type::terminal);
        io.poll();
        CHECK(cancelled.finished);
        CHECK(cancelled.aborted());
        CHECK(pool.waiting() == 1);

        // The buffer goes to the waiter behind it, not to the one that left.
        held = buffer_pool::lease();
        run_until_idle(io);
        CHECK(next.finished);
        CHECK_FALSE(next.error);
        CHECK(next_got);
    }

    SUBCASE("as the losing side of ||") {
        using namespace asio::experimental::awaitable_operators;
        outcome done;
        std::optional<std::size_t> winner;
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            asio::steady_timer deadline(io, 1ms);
            auto result = co_await (pool.acquire() || deadline.async_wait(asio::use_awaitable));
            winner = result.index();
        }, record(done));
        run_until_idle(io);
        CHECK(done.finished);
        CHECK_FALSE(done.error);
        CHECK(winner == 1u);
        CHECK(pool.waiting() == 0);
        held = buffer_pool::lease();
    }

    SUBCASE("cancelled before it started waiting") {
        asio::cancellation_signal cancel;
        outcome cancelled;
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            co_await asio::post(io, asio::use_awaitable);
            auto l = co_await pool.acquire(); // the coroutine is already cancelled here
        }, asio::bind_cancellation_slot(cancel.slot(), record(cancelled)));
        io.poll_one(); // runs up to the post
        cancel.emit(asio::cancellation_type::terminal);
        run_until_idle(io);
        CHECK(cancelled.finished);
        CHECK(cancelled.aborted());
        CHECK(pool.waiting() == 0);
        held = buffer_pool::lease();
    }

    SUBCASE("cancelled just after a buffer was handed over") {
        asio::cancellation_signal cancel;
        outcome done;
        std::optional<buffer_pool::lease> kept;
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            kept = co_await pool.acquire();
        }, asio::bind_cancellation_slot(cancel.slot(), record(done)));
        io.poll();
        REQUIRE(pool.waiting() == 1);
        held = buffer_pool::lease(); // handed over; the waiter has not run yet
        cancel.emit(asio::cancellation_type::terminal);
        run_until_idle(io);
        CHECK(done.finished);
        // Either way the buffer is accounted for: in the lease, or back in the pool.
        if (done.error) {
            CHECK(done.aborted());
            CHECK(pool.in_use() == 0);
        } else {
            REQUIRE(kept);
            CHECK(bool(*kept));
            CHECK(pool.in_use() == 1);
            kept.reset();
        }
    }

    CHECK(pool.waiting() == 0);
    CHECK(pool.in_use() == 0);
    CHECK(pool.allocated() == 1);
    CHECK(pool.try_acquire());
}

TEST_CASE("many transfers share a small pool without exceeding it") {
    asio::io_context io;
    buffer_pool pool(io.get_executor(), 4 * 4096, 4096);
    std::size_t peak = 0;
    int finished = 0;
    for (int t = 0; t < 32; ++t) {
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            for (int chunk = 0; chunk < 20; ++chunk) {
                auto l = co_await pool.acquire();
                peak = std::max(peak, pool.in_use());
                co_await asio::post(io, asio::use_awaitable);
            }
            ++finished;
        }, asio::detached);
    }
    run_until_idle(io);
    CHECK(finished == 32);
    CHECK(peak == 4);
    CHECK(pool.allocated() == 4);
    CHECK(pool.in_use() == 0);
    CHECK(pool.waiting() == 0);
}
