#include "engine/stats_json.hpp"

#include <chrono>
#include <optional>

#include <boost/json/array.hpp>

namespace ferry {

namespace {

boost::json::object to_json(const pool_stats& p) {
    boost::json::object o;
    o["opened"] = p.opened;
    o["reused"] = p.reused;
    o["failed"] = p.failed;
    o["tls_resumed"] = p.tls_resumed;
    o["open"] = p.open;
    o["idle"] = p.idle;
    o["peak_open"] = p.peak_open;
    o["held_for"] = p.held_for;
    o["reuse_ratio"] = p.reuse_ratio();
    o["circuit"] = p.circuit;
    return o;
}

boost::json::value seconds_or_null(std::optional<latency_histogram::duration> d) {
    if (!d)
        return nullptr;
    return std::chrono::duration<double>(*d).count();
}

/// {"count", "p50", "p95", "p99", "max"}: seconds, null while nothing was recorded.
boost::json::object to_json(const latency_histogram& h) {
    boost::json::object o;
    o["count"] = h.count();
    o["p50"] = seconds_or_null(h.percentile(50));
    o["p95"] = seconds_or_null(h.percentile(95));
    o["p99"] = seconds_or_null(h.percentile(99));
    o["max"] = seconds_or_null(h.max());
    return o;
}

boost::json::object to_json(const pool_stats& connections, const host_latency& latency) {
    auto o = to_json(connections);
    o["ttfb"] = to_json(latency.ttfb);
    o["duration"] = to_json(latency.duration);
    return o;
}

boost::json::object to_json(const resource_usage& r) {
    auto maybe = [](const auto& v) { return v ? boost::json::value(*v) : boost::json::value(nullptr); };
    boost::json::object o;
    o["cpu_seconds"] = r.cpu_seconds;
    o["cpu_load"] = maybe(r.cpu_load);
    o["cpus"] = r.cpus;
    o["resident_bytes"] = r.resident_bytes;
    o["open_fds"] = r.open_fds;
    o["max_fds"] = r.max_fds;
    o["cgroup"] = {{"memory_max", maybe(r.cgroup.memory_max)},
                   {"memory_used", maybe(r.cgroup.memory_used)},
                   {"cpu_cores", maybe(r.cgroup.cpu_cores)}};
    boost::json::array disks;
    for (auto& d : r.disks)
        disks.push_back({{"dir", d.dir}, {"free_bytes", d.free_bytes}, {"total_bytes", d.total_bytes}});
    o["disks"] = std::move(disks);
    return o;
}

} // namespace

boost::json::object to_json(const model_stats& m) {
    boost::json::object mo;
    mo["id"] = m.id;
    mo["priority"] = to_string(m.prio);
    mo["files_total"] = m.files_total;
    mo["files_done"] = m.files_done;
    mo["files_failed"] = m.files_failed;
    mo["files_running"] = m.files_running;
    mo["bytes_done"] = m.bytes_done;
    mo["bytes_total"] = m.bytes_total;
    mo["completion"] = m.completion();
    mo["speed"] = m.speed;
    if (m.eta_seconds)
        mo["eta_seconds"] = *m.eta_seconds;
    mo["paused"] = m.paused;
    mo["state"] = to_string(m.state);
    if (m.position)
        mo["position"] = *m.position;
    return mo;
}

boost::json::object to_json(const engine_stats& stats) {
    boost::json::object o;
    boost::json::array models;
    for (auto& m : stats.models)
        models.push_back(to_json(m));
    o["models"] = std::move(models);
    boost::json::object hosts;
    static const host_latency no_requests;
    for (auto& [origin, p] : stats.hosts) {
        auto latency = stats.latency.find(origin);
        hosts[origin] = to_json(p, latency == stats.latency.end() ? no_requests : latency->second);
    }
    o["hosts"] = std::move(hosts);
    o["connections"] = to_json(stats.pool);
    o["files_running"] = stats.files_running;
    o["connections_active"] = stats.connections_active;
    o["bytes_fetched"] = stats.bytes_fetched;
    o["speed"] = stats.speed;
    o["buffers_allocated"] = stats.buffers_allocated;
    o["buffer_size"] = stats.buffer_size;
    o["limit_rate"] = stats.limit_rate;
    if (stats.yielding)
        o["yielding"] = {{"base_delay_ms", static_cast<double>(stats.yielding->base_delay_us) / 1000},
                         {"queueing_delay_ms", static_cast<double>(stats.yielding->queueing_delay_us) / 1000}};
    o["resources"] = to_json(stats.resources);
    o["files_queued"] = stats.files_queued;
    o["files_ended"] = {{"done", stats.files_ended.done},
                        {"skipped", stats.files_ended.skipped},
                        {"failed", stats.files_ended.failed},
                        {"cancelled", stats.files_ended.cancelled}};
    o["retries"] = stats.retries;
    return o;
}

boost::json::object to_json(const file_result& r) {
    boost::json::object o;
    o["path"] = r.path.generic_string();
    o["url"] = r.url;
    o["outcome"] = to_string(r.outcome);
    o["size"] = r.size;
    o["bytes_fetched"] = r.bytes_fetched;
    o["bytes_resumed"] = r.bytes_resumed;
    o["retries"] = r.retries;
    if (!r.message.empty())
        o["message"] = r.message;
    return o;
}

} // namespace ferry
