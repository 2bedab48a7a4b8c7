#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

#include <boost/system/error_code.hpp>

namespace ferry {

/// Retry settings. Defaults suit a long download through a flaky network.
struct retry_config {
    /// Retries allowed per file: the (max_retries + 1)-th failure in a row gives up (0: never
    /// retry). A failure after an attempt that made progress (wrote body bytes) starts the count
    /// again, so a 300 GB file on a network that drops every few minutes still finishes.
    int max_retries = 5;
    /// Backoff ceiling of the first retry; it doubles with each failure in a row, up to max_delay.
    std::chrono::milliseconds base_delay{250};
    std::chrono::milliseconds max_delay{30'000};
    /// Longest Retry-After honoured; a server asking for more fails the attempt for good.
    std::chrono::milliseconds max_retry_after{300'000};
};

/// What went wrong with one attempt.
struct attempt_failure {
    boost::system::error_code error;            ///< transport or protocol error, if any
    unsigned http_status = 0;                   ///< status of a response that failed the attempt
    std::optional<std::chrono::milliseconds> retry_after; ///< from the response, already parsed
    bool made_progress = false;                 ///< the attempt wrote body bytes before failing
    /// The engine's classifier (net/error.hpp `is_transient`) says `error` is worth a retry:
    /// resets, refused or aborted connections, timeouts, truncated bodies. Cancellation,
    /// certificate failures and protocol violations are not.
    bool transient = false;
};

/// Decides whether and when to retry. No I/O, not thread-safe; one per file.
/// Backoff is exponential with full jitter: after the n-th failure in a row, a uniform delay in
/// [0, min(max_delay, base_delay * 2^(n-1))]. A Retry-After from the server replaces the computed
/// delay (beyond max_retry_after: give up).
class retry_policy {
public:
    /// Without a seed, each policy draws one from a per-thread generator (seeded once: opening
    /// the system's entropy source per file shows up in profiles of many small files).
    explicit retry_policy(retry_config config = {}, std::uint64_t seed = fresh_seed());

    static std::uint64_t fresh_seed();

    /// Records a failed attempt. nullopt: give up (not retryable, Retry-After too long, or out of
    /// retries). Otherwise, how long to wait before the next attempt.
    /// A non-retryable failure gives up without being counted.
    std::optional<std::chrono::milliseconds> next_delay(const attempt_failure& failure);

    /// Failed attempts in a row counted against the budget so far (reset by progress). After a
    /// give-up for lack of retries it is max_retries + 1.
    int failures() const noexcept { return failures_; }

    /// Worth retrying at all: `failure.transient` is set, or the status is 408, 429 or 5xx.
    /// `failure.error` itself is not inspected: the engine's classifier decides for error codes,
    /// which keeps this policy free of the transport's error categories. Anything else (other
    /// 4xx, 3xx without a redirect, errors not marked transient) is not.
    static bool is_retryable(const attempt_failure& failure);

private:
    retry_config config_;
    std::mt19937_64 random_;
    int failures_ = 0;
};

} // namespace ferry
