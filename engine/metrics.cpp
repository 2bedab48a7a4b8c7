#include "engine/metrics.hpp"

#include "perf/latency_exposition.hpp"

namespace ferry {

namespace {

metric_labels host_label(const std::string& origin) { return {{"host", origin}}; }

/// One family with a series per host, its value taken from the host's pool counters.
template <class Value>
void per_host(metrics_writer& out, metric_type type, std::string_view name, std::string_view help,
              const std::map<std::string, pool_stats>& hosts, Value value) {
    out.begin(type, name, help);
    for (auto& [origin, pool] : hosts)
        out.sample(double(value(pool)), host_label(origin));
}

/// One histogram family with a series per host.
template <class Histogram>
void per_host_latency(metrics_writer& out, std::string_view name, std::string_view help,
                      const std::map<std::string, host_latency>& latency, Histogram histogram) {
    out.begin(metric_type::histogram, name, help, "seconds");
    for (auto& [origin, host] : latency)
        out.sample(seconds_histogram(histogram(host)), host_label(origin));
}

void gauge(metrics_writer& out, std::string_view name, std::string_view help, double value,
           std::string_view unit = {}) {
    out.begin(metric_type::gauge, name, help, unit);
    out.sample(value);
}

void counter(metrics_writer& out, std::string_view name, std::string_view help, double value,
             std::string_view unit = {}) {
    out.begin(metric_type::counter, name, help, unit);
    out.sample(value);
}

} // namespace

void write_engine_metrics(metrics_writer& out, const engine_stats& stats) {
    counter(out, "ferry_received_bytes", "Response body bytes received from servers since the engine started.",
            double(stats.bytes_fetched), "bytes");
    out.begin(metric_type::counter, "ferry_files_ended", "Files that ended since the engine started, by outcome.");
    for (auto outcome : {file_outcome::done, file_outcome::skipped, file_outcome::failed, file_outcome::cancelled})
        out.sample(double(stats.files_ended[outcome]), {{"outcome", to_string(outcome)}});
    counter(out, "ferry_retries", "Requests retried after a backoff.", double(stats.retries));
    gauge(out, "ferry_files_running", "Files being transferred now.", double(stats.files_running));
    gauge(out, "ferry_files_queued", "Files waiting to start (paused ones included).", double(stats.files_queued));
    gauge(out, "ferry_connections_active", "Connections transfers are using now.", double(stats.connections_active));

    per_host_latency(out, "ferry_request_first_byte_seconds",
                     "Time from a request sent to its response head received, per host.", stats.latency,
                     [](const host_latency& h) -> const latency_histogram& { return h.ttfb; });
    per_host_latency(out, "ferry_request_duration_seconds",
                     "Time from a request sent to its last body byte read or its failure, per host.", stats.latency,
                     [](const host_latency& h) -> const latency_histogram& { return h.duration; });
    out.begin(metric_type::counter, "ferry_requests", "Requests made, per host and class of answer (none: no answer).");
    for (auto& [origin, host] : stats.latency)
        for (std::size_t c = 0; c < host.responses.size(); ++c)
            if (host.responses[c])
                out.sample(double(host.responses[c]),
                           {{"host", origin}, {"class", c == 0 ? std::string("none") : std::to_string(c) + "xx"}});
    per_host(out, metric_type::counter, "ferry_connections_opened", "Connections established, per host.", stats.hosts,
             [](const pool_stats& p) { return p.opened; });
    per_host(out, metric_type::counter, "ferry_connections_reused",
             "Requests served by a kept-alive connection, per host.", stats.hosts,
             [](const pool_stats& p) { return p.reused; });
    per_host(out, metric_type::counter, "ferry_connections_failed", "Connection attempts that failed, per host.",
             stats.hosts, [](const pool_stats& p) { return p.failed; });
    per_host(out, metric_type::gauge, "ferry_connections_open", "Connections open now (in use and idle), per host.",
             stats.hosts, [](const pool_stats& p) { return p.open; });
    per_host(out, metric_type::gauge, "ferry_connections_idle", "Kept-alive connections idle now, per host.",
             stats.hosts, [](const pool_stats& p) { return p.idle; });

    gauge(out, "ferry_buffers_allocated", "I/O buffers made so far (they are kept until the engine ends).",
          double(stats.buffers_allocated));
    gauge(out, "ferry_buffers_in_use", "I/O buffers leased to transfers now.", double(stats.buffers_in_use));
    gauge(out, "ferry_buffer_size_bytes", "Size of each I/O buffer.", double(stats.buffer_size), "bytes");
}

void write_process_metrics(metrics_writer& out, const process_stats& process) {
    counter(out, "process_cpu_seconds", "Total user and system CPU time spent in seconds.", process.cpu_seconds,
            "seconds");
    gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.", double(process.resident_bytes),
          "bytes");
    gauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", double(process.virtual_bytes),
          "bytes");
    gauge(out, "process_open_fds", "Number of open file descriptors.", double(process.open_fds));
    gauge(out, "process_max_fds", "Maximum number of open file descriptors.", double(process.max_fds));
    gauge(out, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
          process.start_time_seconds, "seconds");
}

void write_daemon_metrics(metrics_writer& out, const daemon_stats& daemon) {
    out.begin(metric_type::histogram, "ferry_rpc_duration_seconds", "Time to answer an RPC call, per method.",
              "seconds");
    for (auto& [method, calls] : daemon.rpc)
        out.sample(seconds_histogram(calls.duration), {{"method", method}});
    out.begin(metric_type::counter, "ferry_rpc_errors", "RPC calls answered with an error, per method.");
    for (auto& [method, calls] : daemon.rpc)
        out.sample(double(calls.errors), {{"method", method}});
    out.begin(metric_type::histogram, "ferry_event_loop_lag_seconds", "How late the event loop ran a timer.",
              "seconds");
    // Every bound the histogram keeps (…, 3.98, 4.47, 5.01 ms…): whether a lag target of a few
    // milliseconds is met should not hang on a bucket that straddles it.
    out.sample(seconds_histogram(daemon.loop_lag, 1));
}

std::string metrics_text(exposition_format format, const engine_stats& stats, const process_stats& process,
                         const daemon_stats* daemon) {
    metrics_writer out(format);
    write_engine_metrics(out, stats);
    if (daemon)
        write_daemon_metrics(out, *daemon);
    write_process_metrics(out, process);
    return out.finish();
}

} // namespace ferry
