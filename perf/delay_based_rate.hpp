#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>

namespace ferry {

/// How a delay_based_rate yields.
struct delay_target {
    /// Queueing delay to stay under: the round-trip time above the lowest one seen. Below it the
    /// rate grows, above it the rate falls. LEDBAT allows 100 ms at most; the kernel's estimates
    /// lean low, and a flow that competes on a path of short round trips builds little queue:
    /// 25 ms was what made a download yield to one (docs/benchmarks.md, background).
    std::chrono::milliseconds target{25};
    std::uint64_t min_rate = 64 * 1024; ///< bytes/s a yielding download keeps even so
    std::uint64_t start_rate = 1024 * 1024;
    /// The lowest round trip is kept per bucket of this length, over `base_buckets` buckets: a
    /// route that became slower for good is learnt once its old buckets have expired.
    std::chrono::seconds base_bucket{60};
};

/// A rate that yields to other traffic, LEDBAT-style (RFC 6817) but on a download's rate
/// instead of a sender's window: round-trip samples of the connections say how much the
/// bottleneck's queue holds (a sample minus the lowest round trip seen); while it holds less
/// than the target the rate grows (doubling until the queue first fills, then fast up to the
/// rate that last filled it, then probing past it, slowly at first), never past twice what is
/// used; above it the rate falls at once, down to what was used and halved at twice the target.
/// A flow sharing the link that fills the queue (a loss-based one on a path with a real round
/// trip) makes this one back off to `min_rate`; alone on the link it keeps the queue near the
/// target and uses the rest.
///
/// The rate is read by a limiter on the transfers' reads; each connection's receive buffer
/// (receive_window) is kept small enough that a slower reader slows the sender within a round trip.
///
/// A plain value: no clock or I/O of its own. Feed it samples and call update() every tick.
class delay_based_rate {
public:
    static constexpr std::size_t base_buckets = 10;

    explicit delay_based_rate(delay_target target = {});

    /// Whether a sample taken now would be used (one every 10 ms is enough): callers can skip
    /// asking a socket for its round-trip time otherwise.
    bool wants_sample(std::chrono::steady_clock::time_point now) const noexcept;
    /// A connection's round-trip time (smoothed by the kernel), taken at `now`.
    void add_sample(std::chrono::steady_clock::time_point now, std::chrono::microseconds rtt);

    /// The rate to allow from now on, given the rate used since the previous update (bytes/s).
    /// Without samples the rate stays for 200 ms; then, after a queue was last seen, it creeps
    /// up, and after none it grows as over an empty queue.
    std::uint64_t update(std::chrono::steady_clock::time_point now, std::uint64_t used_rate);

    std::uint64_t rate() const noexcept { return rate_; }

    /// The connections that share the rate (the engine says, on every update).
    void set_connections(std::size_t n) noexcept { connections_ = n; }
    /// The receive buffer to give each connection: what lets it reach twice its share of the rate
    /// over a round trip at the target delay (64 KiB to 16 MiB). A reader that slows down only
    /// slows its peer once the kernel's buffers are full, and autotuned ones hold megabytes each:
    /// with them the link would stay full (and its queue with it) for seconds after a cut.
    std::size_t receive_window() const noexcept;

    /// The lowest round trip of the history (none before the first sample).
    std::optional<std::chrono::microseconds> base_delay() const noexcept;
    /// The queueing delay of the last update (the median sample since the one before, minus the
    /// base delay).
    std::chrono::microseconds queueing_delay() const noexcept { return queueing_; }

private:
    delay_target config_;
    std::uint64_t rate_;
    struct bucket {
        std::chrono::steady_clock::time_point start{};
        std::chrono::microseconds lowest = std::chrono::microseconds::max();
    };
    std::array<bucket, base_buckets> history_{}; ///< a ring, newest at `newest_`
    std::size_t newest_ = 0;
    bool any_sample_ = false;
    std::array<std::chrono::microseconds, 64> recent_{}; ///< samples since update() (the first 64)
    std::size_t recent_count_ = 0;
    std::size_t connections_ = 1;
    std::chrono::steady_clock::time_point last_sample_{};
    std::chrono::steady_clock::time_point decreased_at_{};
    std::uint64_t saturated_ = 0; ///< the rate used when the queue last went over the target
    std::chrono::microseconds queueing_{0};
};

} // namespace ferry
