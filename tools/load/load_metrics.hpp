#pragma once

#include "perf/hdr_histogram.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ferry::load {

/// What one request measured. Times are steady_clock points; `intended` is when an arrival-rate
/// executor meant to send it (equal to `started` for the closed-model executors).
struct request_sample {
    std::chrono::steady_clock::time_point intended, started, sent, head, done;
    std::chrono::steady_clock::duration connecting{}, tls_handshaking{}; ///< zero on a reused connection
    bool new_connection = false;
    bool got_head = false;
    bool failed = false;         ///< an error, or a status of 400 or more (k6's http_req_failed)
    unsigned status = 0;
    std::uint64_t bytes = 0;     ///< body bytes received
    std::string error_class;     ///< "" when none: `http_503`, `connect_timeout`, ...
};

/// The trend metrics, in microseconds. http_req_duration counts from the intended send time
/// (coordinated omission corrected) for arrival-rate executors; its _uncorrected twin from the
/// moment the request went out. The others are k6's.
enum class trend { duration, duration_uncorrected, waiting, connecting, tls_handshaking };
constexpr std::size_t trend_count = 5;
const char* trend_name(trend t) noexcept;

/// A set of counters and trends over some span (the whole run, or one second). Fixed memory:
/// five histograms and a bounded map of error classes.
struct metric_set {
    static constexpr std::size_t error_classes_kept = 32; ///< beyond them, errors count as "other"

    std::array<hdr_histogram, trend_count> trends;
    std::uint64_t requests = 0;
    std::uint64_t failed = 0;
    std::uint64_t bytes = 0;
    std::uint64_t iterations = 0;
    std::uint64_t dropped = 0;
    std::map<std::string, std::uint64_t> errors;

    void add(const request_sample& sample);
    void merge(const metric_set& other);
    void reset();
    const hdr_histogram& of(trend t) const { return trends[std::size_t(t)]; }
};

/// One point of a scenario's time series (the plot): per second, or per several seconds once a long
/// run has made the series coarser.
struct series_point {
    double t = 0;        ///< seconds since the run started, end of the span
    double seconds = 1;  ///< span length
    double p50 = 0, p90 = 0, p95 = 0, p99 = 0, p99_uncorrected = 0; ///< milliseconds
    double requests_per_s = 0, bytes_per_s = 0;
    double errors_per_s = 0;
    double vus = 0;
};

/// A series of at most `limit` points: when full, neighbours are merged in pairs (their
/// percentiles by the larger, their rates averaged), so a long soak keeps the same memory.
class bounded_series {
public:
    static constexpr std::size_t limit = 1024;
    void add(const series_point& p);
    const std::vector<series_point>& points() const noexcept { return points_; }

private:
    std::vector<series_point> points_;
    std::size_t stride_ = 1;      ///< seconds per point now
    std::size_t pending_count_ = 0;
    series_point pending_;
};

} // namespace ferry::load
