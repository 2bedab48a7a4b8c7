#pragma once

#include "perf/token_bucket.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace ferry {

/// A token bucket shared by transfers, refilled by a steady_timer. Transfers ask for bytes before
/// each read and are served in turn (first come, first served, so sharers get fair shares). While
/// nobody waits the timer does not run, so an idle or unlimited limiter costs nothing.
///
/// Not thread-safe: use from one strand (the engine's). Must outlive its waiters.
class rate_limiter {
public:
    /// `rate` in bytes/s; 0 = unlimited. `tick`: how often waiting transfers are served.
    rate_limiter(boost::asio::any_io_executor executor, std::uint64_t rate,
                 std::chrono::milliseconds tick = std::chrono::milliseconds(10));

    /// Changes the rate; takes effect within a tick. Waiting transfers are re-served at once.
    void set_rate(std::uint64_t rate);
    std::uint64_t rate() const noexcept { return bucket_.rate(); }
    /// True at rate 0. Callers may then skip acquire() altogether: it would grant all at once.
    bool unlimited() const noexcept { return bucket_.unlimited(); }

    /// Permission to read up to `want` bytes: returns between 1 and `want`. Waits when the bucket
    /// is empty. Throws system_error(operation_aborted) when the caller is cancelled.
    boost::asio::awaitable<std::size_t> acquire(std::size_t want);
    /// Returns granted bytes that were not used.
    void give_back(std::size_t n) noexcept { bucket_.give_back(n); }

private:
    struct waiter {
        std::size_t want;
        std::size_t granted = 0;
        boost::asio::steady_timer* wake;
        waiter* next = nullptr;
    };

    void serve();
    void schedule_tick();
    void enqueue(waiter& w) noexcept;
    /// Takes `w` out of the queue when it is still there.
    void remove(waiter& w) noexcept;

    boost::asio::any_io_executor executor_;
    token_bucket bucket_;
    std::chrono::milliseconds tick_;
    boost::asio::steady_timer ticker_;
    bool ticking_ = false;
    /// Waiting transfers, oldest first, linked through their own frames: no allocation per wait,
    /// and none for a limiter nobody waits on (every file has one; an empty std::deque takes half
    /// a KiB).
    waiter* first_ = nullptr;
    waiter* last_ = nullptr;
};

/// Permission from several limiters at once (overall, per model, per file...): asks each limited
/// one in turn, the slowest first, for what the previous ones granted, then gives back to each what
/// it granted beyond the smallest grant (at most 8 limiters are asked). Null and unlimited limiters
/// are skipped; when all are, this returns `want` without waiting. Returns between 1 and `want`. Throws
/// system_error(operation_aborted) when the caller is cancelled, after giving back what it held.
boost::asio::awaitable<std::size_t> acquire_all(std::span<rate_limiter* const> limiters, std::size_t want);
/// Gives `n` unused bytes back to every limiter of an acquire_all() (unlimited ones ignore it).
void give_back_all(std::span<rate_limiter* const> limiters, std::size_t n) noexcept;
/// True when at least one of `limiters` is limited (acquire_all would have to ask).
bool any_limited(std::span<rate_limiter* const> limiters) noexcept;

} // namespace ferry
