#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace ferry::origin {

/// One request as the origin saw it (header values are "" when absent).
struct request_record {
    std::uint64_t sequence = 0;   ///< arrival order since the last reset, from 0
    std::uint64_t connection = 0; ///< id of the connection it came on (from 1, never reset)
    std::string method;
    std::string target;           ///< as sent, with any query
    std::string path;             ///< decoded, without the query
    std::string host;
    std::string range;
    std::string if_range;
    std::string authorization;
    std::string cookie;
    std::string if_none_match;
    std::string if_modified_since;
    std::string accept_encoding;
    std::string proxy_authorization; ///< must never reach an origin through a proxy
    std::chrono::steady_clock::time_point received{}; ///< when its head was read
    unsigned status = 0;          ///< what the origin answered
    bool faulted = false;         ///< a fault rule applied to it
};

/// A snapshot of what the origin did since start or the last reset_stats().
struct origin_stats {
    std::uint64_t connections_accepted = 0;
    std::uint64_t tls_handshakes = 0;        ///< completed
    std::uint64_t tls_resumed = 0;           ///< of those, resumed TLS sessions
    std::uint64_t tls_handshake_failures = 0;///< e.g. the client rejected the certificate
    std::uint64_t requests = 0;
    std::uint64_t body_bytes_sent = 0;
    std::uint64_t connections_open = 0;      ///< now (not reset)
    std::uint64_t peak_connections_open = 0; ///< highest connections_open (reset to the current value)
    std::map<unsigned, std::uint64_t> statuses; ///< requests answered with each status
    std::uint64_t faulted = 0;               ///< requests a fault rule applied to
    std::uint64_t signed_redirects = 0;      ///< redirects to a signed URL issued
    std::uint64_t signed_accepted = 0;       ///< signed requests served
    std::uint64_t signed_expired = 0;        ///< signed requests refused (403) as expired
    std::uint64_t signed_forged = 0;         ///< signed requests refused (403) for a bad signature
    /// Requests that had arrived before the response ahead of them on their connection was sent
    /// out (HTTP/1.1 pipelining).
    std::uint64_t requests_sent_ahead = 0;
    std::vector<request_record> log;         ///< in arrival order, at most stats_recorder::log_limit
};

/// The counters of `stats` (not the log) as one JSON object: the fields above by their names,
/// `statuses` as an object from status (a string) to count. For `ferry origin --stats-file`.
std::string stats_json(const origin_stats& stats);

/// Counters of a running origin. Thread-safe: counters are atomics, the request log has a mutex.
class stats_recorder {
public:
    /// The log keeps the first records since a reset; requests past it are counted, not logged.
    static constexpr std::size_t log_limit = 1'000'000;

    /// A new connection: returns its id.
    std::uint64_t connection_opened();
    void connection_closed();
    void handshake_done(bool resumed);
    void handshake_failed();
    /// Logs a request (its sequence is set here) and counts it.
    void request(request_record record);
    void body_sent(std::uint64_t bytes) { body_bytes_.fetch_add(bytes, std::memory_order_relaxed); }
    void signed_redirect_issued() { signed_redirects_.fetch_add(1, std::memory_order_relaxed); }
    void request_sent_ahead() { sent_ahead_.fetch_add(1, std::memory_order_relaxed); }
    /// A signed request: `accepted`, or else refused as `expired` or forged.
    void signed_request(bool accepted, bool expired);

    /// `with_log`: copy the request log too (up to log_limit records).
    origin_stats snapshot(bool with_log = true) const;
    void reset();

private:
    std::atomic<std::uint64_t> next_connection_{1};
    std::atomic<std::uint64_t> accepted_{0}, handshakes_{0}, resumed_{0}, handshake_failures_{0};
    std::atomic<std::uint64_t> requests_{0}, body_bytes_{0}, open_{0}, peak_{0};
    std::atomic<std::uint64_t> signed_redirects_{0}, signed_accepted_{0}, signed_expired_{0}, signed_forged_{0};
    std::atomic<std::uint64_t> sent_ahead_{0};
    mutable std::mutex log_mutex_; ///< guards the log, the status counts and `faulted_`
    std::vector<request_record> log_;
    std::map<unsigned, std::uint64_t> statuses_;
    std::uint64_t faulted_ = 0;
};

} // namespace ferry::origin
