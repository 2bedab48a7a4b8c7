#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace ferry {

/// How many bytes a ranged request must ask for so that the round trip before its first byte
/// costs a connection little: `round_trips` round trips' worth of data at the rate its
/// responses arrive. No I/O and no clock of its own (the caller passes durations), not
/// thread-safe: one file's coroutine owns one.
///
/// Each new request on a keep-alive connection leaves it idle for a round trip (the request goes
/// out, the first byte comes back). A request of n round trips of data keeps that idle time to
/// 1/(n + 1) of the connection's time; on loopback a round trip is a fraction of a millisecond
/// and the answer is small, on a 100 ms path at 10 MiB/s it is some MiB.
///
/// Measures, smoothed over the requests of a file (all its connections go the same way):
/// - the round trip: the shortest time to first byte of its requests (sent → response head: one
///   round trip plus the server's time). The shortest, as BBR keeps its min_rtt: a slow server
///   or a queue adds to a sample, never takes from it, and a window sized from a head that took
///   a second would let no steal split a response that crawls;
/// - the rate: each response's body bytes over the time from sending its request to its last
///   byte, for bodies of at least `min_body` bytes (a half of each new sample). Counting the
///   round trip in keeps the estimate from above: a short body that arrives in one burst does not
///   pass for a fast path. A request of b bytes measures at most b / round trip, so the next is at
///   most k × b: from a short first request the window grows, as TCP's slow start does, towards
///   (k − 1) round trips of data at the rate the path sustains.
class round_trip_window {
public:
    using clock = std::chrono::steady_clock;

    struct settings {
        /// k: requests settle at (k − 1) round trips of data, a connection idle 1/k of its time,
        /// and a file's last requests end at most about that many round trips apart.
        double round_trips = 5;
        /// Bodies shorter than this tell nothing reliable about the rate.
        std::uint64_t min_body = 64 * 1024;
    };

    round_trip_window() = default;
    explicit round_trip_window(settings s) : settings_(s) {}

    /// A request's time from being sent to its response head.
    void first_byte(clock::duration d);
    /// A response's body of `bytes`, its last byte read `d` after its request was sent.
    void body(std::uint64_t bytes, clock::duration d);

    /// The shortest round trip seen; nullopt before a first sample.
    std::optional<clock::duration> round_trip() const;
    /// The smoothed rate of a connection's responses in bytes/s; nullopt before a first sample.
    std::optional<double> rate() const;
    /// round_trips × round trip × rate: the smallest request that keeps a connection's pipe
    /// full. 0 until both are measured.
    std::uint64_t bytes() const;
    /// One round trip × rate: what a connection receives while a request travels. 0 until both
    /// are measured.
    std::uint64_t round_trip_bytes() const;

private:
    settings settings_;
    double rtt_ = -1;  ///< seconds; -1 before a sample
    double rate_ = -1; ///< bytes/s; -1 before a sample
};

} // namespace ferry
