#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace ferry {

/// Adaptive connections for one file (no -x): how many workers it should have. No I/O and no
/// clock of its own: the file's coroutine passes the time and its byte count.
///
/// A file starts with `initial` workers. At the end of every `interval` the file's rate over that
/// interval is compared with the best rate seen so far: while it is more than `rise` times higher,
/// the workers double (a server that caps each connection rewards every new one); `flat_to_stop`
/// intervals in a row that do not rise end the growth for good (the link, the server or our CPU
/// is the limit, and more connections would only cost memory and the server's patience; one
/// interval alone may be a dip: a server's pacing, a busy moment of this machine). The first
/// interval with bytes always grows the workers (doubles them, or by `first_growth`); an
/// interval without any bytes is not judged. Never more than `ceiling`.
///
/// After the first doubling, an interval is judged only with every worker flowing (its connection has delivered body
/// bytes): on a path with a long round trip a new connection takes several (connect, TLS
/// handshake, request) before it can show its rate, and an interval judged before that would
/// see no rise and end the growth. While some are not flowing, the interval starts over; after
/// `settle_limit` since the last doubling the judgement goes on without them (a worker waiting for
/// a pool slot or for work may never flow).
///
/// Pushback (on_pushback: the host answered 429 or 503, or reset a connection) halves the workers
/// wanted (at least 1) and ends the growth for good; from then on workers_wanted() never returns
/// more than that number, and the caller retires the surplus. Pushback within one `interval` of
/// the last halving does not halve again: the responses to requests already in flight all say the
/// same thing, and one halving per interval lets the host see the effect of the last one.
class connection_growth {
public:
    using clock = std::chrono::steady_clock;

    struct settings {
        std::size_t initial = 4;
        std::size_t ceiling = 32;
        std::chrono::milliseconds interval{100};
        double rise = 1.25;
        /// Longest wait for new workers to flow before an interval is judged without them.
        std::chrono::milliseconds settle_limit{2000};
        /// Whether the first interval with bytes doubles whatever it shows. false: it only sets
        /// the rate to beat, measured once every worker flows (a start that already skipped
        /// doublings, initial_for_round_trip, has no reason to take one more blind).
        bool double_first = true;
        /// The factor of that first, blind growth (2: a doubling). A host's cap past its usual
        /// takes a step of a quarter (host-wide, more connections cost handshakes and may find the
        /// machine's own limit rather than the server's); the doublings then need a rise.
        double first_growth = 2.0;
        /// Without double_first: the factor of one unmeasured step taken once the rate to beat is
        /// set (1: none), judged like a doubling. A start that skipped doublings on a long path
        /// would otherwise never learn whether more connections raise the rate (with the same
        /// workers it cannot rise), and stays at a peer's count where each connection is capped.
        double after_baseline = 1.0;
        /// Intervals in a row without a rise that end the growth (at least 1).
        std::size_t flat_to_stop = 2;
    };

    /// Workers a file with settings `s` starts with: min(initial, ceiling), at least 1.
    static std::size_t initial_workers(const settings& s) noexcept;

    /// Workers to start a file with on a path of round trip `rtt` (its first response's time to
    /// first byte), from `base` on a short one: twice as many for every `per_doubling` of round
    /// trip, within `ceiling`. Each doubling costs a few round trips (connect, TLS, the request)
    /// before its connections can be judged, a fraction of a second on a long path: there the
    /// start skips the doublings that cheap paths take one by one.
    static std::size_t initial_for_round_trip(clock::duration rtt, std::size_t base, std::size_t ceiling,
                                              clock::duration per_doubling = std::chrono::milliseconds(6));

    /// The interval a file's growth judges its rate over on a path of round trip `rtt`: `usual`,
    /// or half of it on a path under 2 ms (loopback, a LAN), where a new connection delivers
    /// within a few milliseconds and the rate of a half interval is as clear; a file capped per
    /// connection reaches its share of the host in half the time.
    static std::chrono::milliseconds interval_for_round_trip(clock::duration rtt,
                                                             std::chrono::milliseconds usual = std::chrono::milliseconds(100));

    /// Whether a connection added now would deliver before those open fetch the `left` bytes
    /// (nullopt: unknown) at `rate` bytes/s: a new one needs about four times to first byte
    /// (connect, TLS, its request, its ramp-up). True when `left` or `rate` is unknown.
    static bool worth_adding(std::optional<std::uint64_t> left, double rate, clock::duration first_byte);

    /// The file's workers start at `start`, when `bytes_done` bytes are already done.
    connection_growth(settings s, clock::time_point start, std::uint64_t bytes_done);

    /// The workers the file should have now that it has `bytes_done` bytes and runs `workers`,
    /// `flowing` of which have delivered body bytes: `workers` itself, or twice as many (within
    /// the ceiling) at the end of an interval whose rate rose; after pushback, no more than the
    /// halved number (fewer than `workers` means: retire the rest). Cheap to call on every write.
    std::size_t workers_wanted(clock::time_point now, std::uint64_t bytes_done, std::size_t workers,
                               std::size_t flowing);

    /// The host pushed back at `now`: halves the workers wanted unless it already did so less
    /// than one interval ago, and stops the growth.
    void on_pushback(clock::time_point now);

    /// False once the rate has stopped rising, the ceiling is reached or the host pushed back.
    bool growing() const { return growing_; }
    /// The best rate of an interval so far, in bytes per second (0 before one was judged).
    double best_rate() const noexcept { return best_rate_; }
    /// The cap the last halving set (workers_wanted() never returns more); nullopt before any
    /// pushback.
    std::optional<std::size_t> pushback_limit() const { return limit_; }

private:
    /// workers_wanted() before any pushback.
    std::size_t grow(clock::time_point now, std::uint64_t bytes_done, std::size_t workers, std::size_t flowing);

    settings settings_;
    clock::time_point next_check_;
    clock::time_point interval_start_;
    clock::time_point last_doubling_; ///< or the start
    std::uint64_t bytes_at_interval_start_;
    double best_rate_ = 0;
    bool growing_ = true;
    bool settling_ = false; ///< some workers were not flowing at the last call
    std::size_t flat_ = 0;  ///< intervals in a row judged without a rise
    std::size_t wanted_; ///< the last number of workers wanted (or started with)
    std::optional<std::size_t> limit_;
    std::optional<clock::time_point> last_halving_;
};

} // namespace ferry
