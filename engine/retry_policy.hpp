#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

#include <boost/system/error_code.hpp>

namespace ferry {

/// Retry settings. Defaults suit a long download through a flaky network.
struct retry_config {
    /// Failed attempts allowed per file before it fails. A failure after an attempt that made
    /// progress (wrote body bytes) starts the count again, so a 300 GB file on a network that
    /// drops every few minutes still finishes.
    int max_retries = 5;
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
    bool transient = false;                     ///< the engine's classifier (is_transient) says retry
};

/// Decides whether and when to retry. No I/O, not thread-safe; one per file.
/// Backoff is exponential with full jitter (a uniform delay in [0, min(max, base * 2^n)]);
/// a Retry-After from the server replaces the computed delay.
class retry_policy {
public:
    explicit retry_policy(retry_config config = {}, std::uint64_t seed = std::random_device{}());

    /// nullopt: give up (not retryable, or out of retries). Otherwise, how long to wait.
    std::optional<std::chrono::milliseconds> next_delay(const attempt_failure& failure);

    /// Failed attempts counted against the budget so far.
    int failures() const noexcept { return failures_; }

    /// Whether a status or error is worth retrying at all: connection failures, resets, truncated
    /// bodies, timeouts, 408, 429 and 5xx are; other 4xx and protocol violations are not.
    static bool is_retryable(const attempt_failure& failure);

private:
    retry_config config_;
    std::mt19937_64 random_;
    int failures_ = 0;
};

} // namespace ferry
