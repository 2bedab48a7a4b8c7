#pragma once

// The engine's statistics as Prometheus metrics: what `ferry serve` answers on /metrics.

#include "engine/engine.hpp"
#include "perf/exposition_format.hpp"
#include "perf/latency_histogram.hpp"
#include "perf/metrics_writer.hpp"
#include "perf/process_stats.hpp"

#include <cstdint>
#include <map>
#include <string>

namespace ferry {

/// One RPC method of the daemon: its calls (timed from request read to answer written) and how
/// many ended in an error answer.
struct rpc_method_stats {
    latency_histogram duration;
    std::uint64_t errors = 0;
};

/// What a daemon embedding the engine adds to its metrics. The daemon keeps these itself; the
/// engine knows nothing of them.
struct daemon_stats {
    std::map<std::string, rpc_method_stats> rpc; ///< by method name (aria2.tellStatus, ferry.stats...)
    /// How late the event loop ran a timer, one sample per tick.
    latency_histogram loop_lag;
};

/// The engine's families (names under `ferry_`, base units, counters `_total`):
/// ferry_received_bytes_total, ferry_files_ended_total{outcome}, ferry_retries_total,
/// ferry_files_running, ferry_files_queued, ferry_connections_active,
/// per host (label `host`, the origin): ferry_request_first_byte_seconds and
/// ferry_request_duration_seconds (histograms), ferry_connections_opened_total,
/// ferry_connections_reused_total, ferry_connections_failed_total, ferry_connections_open,
/// ferry_connections_idle; buffers: ferry_buffers_allocated, ferry_buffers_in_use,
/// ferry_buffer_size_bytes.
void write_engine_metrics(metrics_writer& out, const engine_stats& stats);

/// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
/// process_open_fds, process_max_fds, process_start_time_seconds: the names every Prometheus
/// client library uses.
void write_process_metrics(metrics_writer& out, const process_stats& process);

/// ferry_rpc_duration_seconds{method} (a histogram: its _count is the calls),
/// ferry_rpc_errors_total{method}, ferry_event_loop_lag_seconds.
void write_daemon_metrics(metrics_writer& out, const daemon_stats& daemon);

/// A whole exposition in `format`: the engine's families, then the daemon's when given, then the
/// process's.
std::string metrics_text(exposition_format format, const engine_stats& stats, const process_stats& process,
                         const daemon_stats* daemon = nullptr);

} // namespace ferry
