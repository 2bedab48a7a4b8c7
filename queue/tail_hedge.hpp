#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace ferry {

/// Which claim of a file deserves a duplicate request at the file's tail: one whose connection
/// has gone slow. No I/O and no clock of its own (the caller passes the time), not thread-safe.
///
/// Each claim's connection is measured over windows of `window`; every closed window's rate
/// joins a sample of the file's recent rates (the last `samples`), whose median is the file's
/// typical connection rate. A claim is slow when, for at least `slow_for`, its last closed window
/// and the current one (at least half a window long) ran below typical / `slowness`.
class tail_hedge {
public:
    using clock = std::chrono::steady_clock;

    struct settings {
        std::chrono::milliseconds window{500};
        std::chrono::milliseconds slow_for{1000};
        double slowness = 8;
        /// 16 s of one connection's windows, 2 s of 16 connections': a median that one odd window
        /// does not move, in an eighth of a KiB per file.
        std::size_t samples = 32;
    };

    tail_hedge();
    explicit tail_hedge(settings s);

    /// A claim's connection starts fetching.
    void started(std::size_t claim, clock::time_point now);
    /// It received `bytes` more.
    void received(std::size_t claim, std::uint64_t bytes, clock::time_point now);
    /// It stopped (released); unknown ids are ignored.
    void ended(std::size_t claim);

    /// A claim still being fetched, with the bytes it has left.
    struct candidate {
        std::size_t claim = 0;
        std::uint64_t left = 0;
    };
    /// Of `candidates` (claims that could be hedged), the slow one with the most bytes left.
    std::optional<std::size_t> pick(const std::vector<candidate>& candidates, clock::time_point now) const;
    /// Whether `claim`'s connection has been slow for at least `for_at_least` (at least
    /// settings::slow_for): worth replacing, not only hedging.
    bool slow(std::size_t claim, clock::time_point now, clock::duration for_at_least) const;

    std::size_t measured() const noexcept { return meters_.size(); }

private:
    struct meter {
        clock::time_point started{};
        clock::time_point window_start{};
        std::uint64_t window_bytes = 0;
        double last_rate = -1; ///< bytes/s of the last closed window; -1 before one closed
    };
    /// The rate below which a connection is slow; nullopt before enough windows closed.
    std::optional<double> slow_rate() const;
    bool went_slow(const meter& m, clock::time_point now, double slow) const;

    settings settings_;
    std::map<std::size_t, meter> meters_;
    /// Rates of the last closed windows of all claims, a ring of at most settings::samples (a
    /// vector: an empty std::deque allocates half a KiB, and every file holds one of these; in
    /// floats, a quarter KiB when full: 10,000 slow files fill theirs).
    std::vector<float> recent_;
    std::size_t oldest_ = 0; ///< once recent_ is full, the next one to replace
    double typical_ = 0;        ///< median of recent_, updated as windows close
};

} // namespace ferry
