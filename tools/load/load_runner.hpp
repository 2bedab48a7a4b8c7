#pragma once

#include "net/connection_pool.hpp"
#include "net/url.hpp"
#include "net/proxy_config.hpp"
#include "tools/load/load_metrics.hpp"
#include "tools/load/load_scenario.hpp"
#include "tools/load/load_thresholds.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace ferry::load {

struct runner_options {
    std::filesystem::path ca_file;  ///< trusted beside the system store
    proxy_config proxy;             ///< as `ferry get` (--proxy, --noproxy, the environment)
    connection_timeouts timeouts;
    std::size_t max_connecting = 64; ///< connections being established at once
    /// Open connections in total and per host; 0: as many as the scenarios have VUs. Fewer than the
    /// VUs makes requests queue for a connection (as wrk's fixed connections do).
    std::size_t max_connections = 0;
    std::uint64_t seed = 1;          ///< weighted picks and random ranges
};

/// One scenario as it ran.
struct scenario_report {
    const scenario_spec* spec = nullptr;
    metric_set total;
    metric_set interval;       ///< the current second (reset after each report)
    bounded_series series;     ///< per-second points for the plot
    std::uint64_t vus = 0;     ///< VUs busy or ready now
    std::uint64_t vus_max = 0; ///< most VUs it had
    double due = 0;            ///< arrival-rate executors: iterations its plan wanted
    std::uint64_t started = 0; ///< iterations started
    double ran_seconds = 0;    ///< from its start to its last iteration's end
    bool running = false;
    bool done = false;
    /// Arrival-rate executors: fewer than 99% of the due iterations started.
    bool rate_missed() const;
};

/// Runs a scenario file on one io_context: each scenario from its startTime, each VU a coroutine
/// issuing requests on one shared connection_pool (bodies read into one shared buffer and
/// discarded, their bytes counted), a report every second. Memory does not grow with the run's
/// length: histograms are fixed, series are bounded.
///
/// Closed-model executors (constant-vus, ramping-vus, shared-iterations) start the next request
/// when a VU's previous one ended; arrival-rate executors start iterations at the plan's times on
/// whatever VU is free (or a new one up to maxVUs, or drop it), and time http_req_duration from
/// that intended time, so a slow server's queueing shows (coordinated omission corrected).
/// Past a scenario's duration its iterations get gracefulStop to finish, then their connections
/// are closed and the interrupted requests are not counted.
///
/// Not thread-safe: one thread runs the io_context.
class load_runner {
public:
    /// Called after each second (and once for the last partial one) with the span it covered; the
    /// scenarios' `interval` sets hold that span's samples and are reset afterwards.
    using report_hook = std::function<void(double t, double span)>;

    load_runner(boost::asio::io_context& io, const load_spec& spec, runner_options options);
    ~load_runner();
    load_runner(const load_runner&) = delete;
    load_runner& operator=(const load_runner&) = delete;

    void on_report(report_hook hook) { hook_ = std::move(hook); }
    /// Ends the run early (SIGINT): no new iterations, requests in flight are cut.
    void stop() { abort_all(); }
    /// The run's start: wall clock (the HDR log's StartTime) and steady clock.
    std::chrono::system_clock::time_point started_wall() const noexcept { return start_wall_; }

    /// The whole test; ends when every scenario has.
    boost::asio::awaitable<void> run();

    const std::vector<std::unique_ptr<scenario_report>>& scenarios() const noexcept { return scenarios_; }
    /// Everyone's totals.
    metric_set overall() const;
    double elapsed_seconds() const;
    /// The abortOnFail threshold that stopped the run early.
    const std::optional<threshold_result>& aborted_by() const noexcept { return aborted_; }
    const threshold_book& thresholds() const noexcept { return thresholds_; }
    pool_stats pool_totals() const { return pool_->totals(); }

private:
    struct vu;
    struct scenario_run;

    boost::asio::awaitable<void> run_scenario(scenario_run& s);
    boost::asio::awaitable<void> guard_hard_stop(scenario_run& s);
    boost::asio::awaitable<void> closed_vu(scenario_run& s, vu& v);
    boost::asio::awaitable<void> open_vu(scenario_run& s, vu& v);
    boost::asio::awaitable<void> iteration(scenario_run& s, vu& v, std::chrono::steady_clock::time_point intended);
    boost::asio::awaitable<void> request(vu& v, const request_spec& r, std::size_t index, request_sample& sample);
    boost::asio::awaitable<void> report_loop();
    void report(std::chrono::steady_clock::time_point now);
    void start_vu(scenario_run& s, vu& v, bool open);
    vu& add_vu(scenario_run& s);
    void hard_stop(scenario_run& s);
    void abort_all();
    std::int64_t second_of(std::chrono::steady_clock::time_point t) const;
    std::size_t pick_request();
    std::string range_field(const request_spec& r, std::size_t index);

    boost::asio::io_context& io_;
    const load_spec& spec_;
    runner_options options_;
    boost::asio::ssl::context tls_;
    std::unique_ptr<connection_pool> pool_;
    std::vector<std::unique_ptr<scenario_report>> scenarios_;
    std::vector<std::unique_ptr<scenario_run>> runs_;
    threshold_book thresholds_;
    std::optional<threshold_result> aborted_;
    report_hook hook_;
    std::mt19937_64 random_;
    std::vector<std::uint64_t> cumulative_weights_;
    std::vector<std::optional<std::uint64_t>> sizes_; ///< per request: the file size once learnt
    /// Per request, made once: its parsed URL and its method and headers (a Range is added per
    /// request where it has one). Parsing the URL each time was 5% of a 1 KiB closed-model run.
    std::vector<boost::system::result<url>> targets_;
    std::vector<http_request> prepared_;
    std::vector<char> sink_;                           ///< every body goes here, unread
    std::chrono::steady_clock::time_point start_{};
    std::chrono::system_clock::time_point start_wall_{};
    std::chrono::steady_clock::time_point last_report_{};
    std::chrono::steady_clock::time_point finished_at_{};
    std::size_t scenarios_left_ = 0;
    bool finished_ = false;
    std::unique_ptr<boost::asio::steady_timer> all_done_;
    std::unique_ptr<boost::asio::steady_timer> report_timer_;
};

} // namespace ferry::load
