#pragma once

#include "perf/latency_histogram.hpp"

#include <chrono>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace ferry {

/// Measures how late the event loop runs a timer: every `interval` a timer is due, and how long
/// after its due time the loop gets to it (the loop's lag: time spent in handlers that did not
/// yield, hashing or syncing on the loop) goes into a latency histogram, exported as a metric.
/// The default interval, 10 ms, is the resolution of Node's monitorEventLoopDelay: a hundred
/// samples a second, so that a percentile is one of many samples rather than the worst of a few.
///
/// Not thread-safe: use it (and read it) on its executor. The measuring coroutine holds its own
/// state, so the probe may be destroyed at any time; it stops then.
class loop_lag_probe {
public:
    explicit loop_lag_probe(boost::asio::any_io_executor executor,
                            std::chrono::milliseconds interval = std::chrono::milliseconds(10));
    ~loop_lag_probe();
    loop_lag_probe(const loop_lag_probe&) = delete;
    loop_lag_probe& operator=(const loop_lag_probe&) = delete;

    /// Starts measuring (again after stop()).
    void start();
    void stop();

    /// Every lag measured since start (zero-lag wake-ups count too).
    const latency_histogram& lags() const noexcept;
    /// The lag of the latest wake-up.
    std::chrono::nanoseconds last() const noexcept;

private:
    struct state;
    static boost::asio::awaitable<void> measure(std::shared_ptr<state> s, std::uint64_t generation);
    std::shared_ptr<state> state_;
};

} // namespace ferry
