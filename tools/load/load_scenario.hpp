#pragma once

#include "perf/threshold.hpp"
#include "queue/load_plan.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry::load {

/// A scenario file that cannot be run; what() is one line naming the place (`scenarios.ramp.vus:
/// ...`).
struct scenario_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Which bytes a request asks for: the whole file, its first N bytes, or N bytes at a random
/// offset (within the size learnt from the first response).
struct range_spec {
    enum class kind { none, first, random };
    kind how = kind::none;
    std::uint64_t bytes = 0;
};

struct request_spec {
    std::string url;
    unsigned weight = 1; ///< picked with probability weight / sum of weights
    range_spec range;
    std::string method = "GET"; ///< GET or HEAD
    std::vector<std::pair<std::string, std::string>> headers;
};

enum class executor_kind { constant_vus, ramping_vus, constant_arrival_rate, ramping_arrival_rate, shared_iterations };
std::string_view executor_name(executor_kind kind) noexcept;
inline bool open_model(executor_kind k) noexcept {
    return k == executor_kind::constant_arrival_rate || k == executor_kind::ramping_arrival_rate;
}

/// One scenario, with k6's option names and defaults.
struct scenario_spec {
    std::string name;
    executor_kind executor = executor_kind::constant_vus;
    std::uint64_t vus = 1;               ///< constant-vus, shared-iterations
    std::uint64_t start_vus = 1;         ///< ramping-vus: startVUs
    std::chrono::nanoseconds duration{0}; ///< constant-vus, constant-arrival-rate
    std::vector<load_stage> stages;      ///< ramping-vus, ramping-arrival-rate
    double rate = 0;                     ///< constant-arrival-rate
    double start_rate = 0;               ///< ramping-arrival-rate: startRate
    std::chrono::nanoseconds time_unit = std::chrono::seconds(1);
    std::uint64_t pre_allocated_vus = 0; ///< arrival-rate executors (required)
    std::uint64_t max_vus = 0;           ///< arrival-rate executors; default preAllocatedVUs
    std::uint64_t iterations = 1;        ///< shared-iterations
    std::chrono::nanoseconds max_duration = std::chrono::minutes(10); ///< shared-iterations
    std::chrono::nanoseconds start_time{0};
    std::chrono::nanoseconds graceful_stop = std::chrono::seconds(30);

    /// How long the scenario runs before its graceful stop (the longest for shared-iterations).
    std::chrono::nanoseconds length() const;
    /// VUs the scenario may need at once.
    std::uint64_t peak_vus() const;
};

/// The metrics thresholds may name (k6's, plus http_req_duration_uncorrected).
enum class metric_kind { trend, rate, counter };
std::optional<metric_kind> metric_of(std::string_view name) noexcept;

struct threshold_spec {
    std::string key;      ///< as written: `http_req_duration{scenario:ramp}`
    std::string metric;   ///< `http_req_duration`
    std::string scenario; ///< the `{scenario:NAME}` tag; "" for all
    threshold_expression expression;
    bool abort_on_fail = false;
};

struct load_spec {
    std::vector<request_spec> requests;
    std::vector<scenario_spec> scenarios; ///< as in the file
    std::vector<threshold_spec> thresholds;

    /// When the last scenario's graceful stop ends.
    std::chrono::nanoseconds length() const;
};

/// k6 durations: "30s", "1m30s", "1h", "250ms", "1.5s", "10us"; a bare number is milliseconds.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

/// Parses and checks a scenario file (JSON); throws scenario_error.
load_spec parse_load_spec(std::string_view json);

} // namespace ferry::load
