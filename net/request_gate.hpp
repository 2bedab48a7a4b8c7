#pragma once

#include "queue/request_queue.hpp"

#include <chrono>
#include <optional>
#include <unordered_map>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace ferry {

/// Drives a request_queue for coroutines: a call waits here for its turn, runs while it holds a
/// pass, and gives the turn to the next waiting call when the pass is dropped. A refused call (over
/// the bounds, evicted by a control call, or waiting longer than `max_wait`) gets no pass: the
/// server answers 503 with Retry-After.
///
/// Not thread-safe: use from one executor (the server's). Must outlive every pass and waiter.
class request_gate {
public:
    struct settings {
        request_queue::limits limits;
        /// A call waits at most this long for its turn, then is refused.
        std::chrono::milliseconds max_wait{10000};
        /// What a refused call is told (Retry-After, in seconds).
        std::chrono::seconds retry_after{1};
    };

    /// A turn to run; the turn ends when the pass is destroyed (or reset).
    class pass {
    public:
        pass() = default;
        explicit pass(request_gate* gate) : gate_(gate) {}
        pass(pass&& other) noexcept : gate_(std::exchange(other.gate_, nullptr)) {}
        pass& operator=(pass&& other) noexcept;
        ~pass() { reset(); }
        void reset() noexcept;
        explicit operator bool() const noexcept { return gate_ != nullptr; }

    private:
        request_gate* gate_ = nullptr;
    };

    request_gate(boost::asio::any_io_executor executor, settings s);
    request_gate(const request_gate&) = delete;
    request_gate& operator=(const request_gate&) = delete;

    /// Waits for a turn. An empty pass means refused. Cancelling the caller abandons the wait.
    boost::asio::awaitable<pass> enter(request_class what);
    /// A turn at once if one is free and no call waits for one; else an empty pass (and nothing
    /// changed: the call may still enter()).
    pass try_enter(request_class what);

    const request_queue& queue() const noexcept { return queue_; }
    std::chrono::seconds retry_after() const noexcept { return settings_.retry_after; }

private:
    struct waiter;
    void release() noexcept;
    bool wake(request_queue::ticket id, bool started) noexcept;

    boost::asio::any_io_executor executor_;
    settings settings_;
    request_queue queue_;
    std::unordered_map<request_queue::ticket, waiter*> waiters_;
};

} // namespace ferry
