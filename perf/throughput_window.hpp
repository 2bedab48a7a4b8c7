#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>

namespace ferry {

/// Bytes per second over the last few seconds, from a running byte count sampled whenever it is
/// convenient (on progress, on a snapshot). Plain arithmetic with no clock of its own; not
/// thread-safe. Memory is bounded: samples closer than span / 20 to the one before are merged.
class throughput_window {
public:
    using clock = std::chrono::steady_clock;

    explicit throughput_window(clock::duration span = std::chrono::seconds(5));

    /// The running total as of `now` (times never go back). A total below the previous one counts
    /// as the previous one: the count only grows.
    void record(clock::time_point now, std::uint64_t total);

    /// Bytes/s over the window ending at `now`: what the total grew by since the window's start
    /// (since the first sample when it is younger than the window), over the time since then. A
    /// count that stopped growing decays to 0 within one span. nullopt until the samples cover
    /// span / 50 (100 ms of the default 5 s).
    std::optional<double> rate(clock::time_point now) const;

private:
    struct sample {
        clock::time_point at;
        std::uint64_t total;
    };

    clock::duration span_;
    clock::duration spacing_;
    std::deque<sample> samples_; ///< oldest first, at least spacing_ apart but for the newest
};

} // namespace ferry
