#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

namespace ferry {

/// Retry settings. Defaults suit a long download through a flaky network.
struct retry_config {
    /// Rounds of failures without progress before giving up (0: never retry). Progress (body
    /// bytes written) starts the count again, so a 300 GB file on a network that drops every few
    /// minutes still finishes.
    int max_retries = 5;
    /// Backoff ceiling of the first round; it doubles with each round, up to max_delay.
    /// The defaults give rounds of 0.25–0.5, 0.5–1, 1–2, 2–4, 4–8 s, then until give_up_after.
    std::chrono::milliseconds base_delay{500};
    std::chrono::milliseconds max_delay{30'000};
    /// A file gives up only when it has also gone this long without progress: a host that is
    /// down for half a minute does not fail every file at once (with max_retries 0 it is ignored).
    std::chrono::milliseconds give_up_after{30'000};
    /// Longest Retry-After honoured; a server asking for more fails the attempt for good.
    std::chrono::milliseconds max_retry_after{300'000};
};

/// A failed request that is worth another try (what is, response_verdict and is_transient say).
struct attempt_failure {
    std::optional<std::chrono::milliseconds> retry_after; ///< from the response, already parsed
    bool made_progress = false; ///< body bytes were written since the last failure reported
};

/// Decides when to retry and when to give up, for all the connections of one file. No I/O, no
/// clock of its own, not thread-safe.
///
/// Failures come in rounds: the first failure after a back-off has ended opens a round and is
/// counted; failures of the file's other connections while its back-off runs join that round
/// (they wait for its end and are not counted), so eight connections dropped by one network
/// blip cost one retry, not eight. Backoff is exponential with jitter: the n-th round waits a
/// uniform delay in [c/2, c], c = min(max_delay, base_delay * 2^(n-1)) (half of it fixed, so a
/// round is never so short that connections failing together fall into separate rounds). A Retry-After replaces the
/// computed delay (beyond max_retry_after: give up). The file gives up after more than
/// `max_retries` rounds without progress, once `give_up_after` has passed since the first of
/// them.
class retry_policy {
public:
    using clock = std::chrono::steady_clock;

    /// Without a seed, each policy draws one from a per-thread generator (seeded once: opening
    /// the system's entropy source per file shows up in profiles of many small files).
    explicit retry_policy(retry_config config = {}, std::uint64_t seed = fresh_seed());

    static std::uint64_t fresh_seed();

    /// Records a failure at `now`. nullopt: give up. Otherwise how long to wait before trying again.
    std::optional<std::chrono::milliseconds> next_delay(const attempt_failure& failure, clock::time_point now);

    /// Rounds counted since the last progress.
    int failures() const noexcept { return failures_; }

private:
    retry_config config_;
    std::minstd_rand random_; ///< jitter needs little: 8 bytes a file, not mt19937's 2.5 KiB
    int failures_ = 0;
    bool gave_up_ = false;
    clock::time_point first_failure_{};  ///< first round since the last progress
    clock::time_point round_ends_{};     ///< end of the current round's back-off
};

} // namespace ferry
