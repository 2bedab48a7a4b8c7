#include "engine/stats_json.hpp"

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
    o["reuse_ratio"] = p.reuse_ratio();
    o["circuit"] = p.circuit;
    return o;
}

} // namespace

boost::json::object to_json(const engine_stats& stats) {
    boost::json::object o;
    boost::json::array models;
    for (auto& m : stats.models) {
        boost::json::object mo;
        mo["id"] = m.id;
        mo["priority"] = to_string(m.prio);
        mo["files_total"] = m.files_total;
        mo["files_done"] = m.files_done;
        mo["files_failed"] = m.files_failed;
        mo["files_running"] = m.files_running;
        mo["bytes_done"] = m.bytes_done;
        mo["bytes_total"] = m.bytes_total;
        mo["completion"] = m.bytes_total ? double(m.bytes_done) / double(m.bytes_total) : 0.0;
        mo["paused"] = m.paused;
        models.push_back(std::move(mo));
    }
    o["models"] = std::move(models);
    boost::json::object hosts;
    for (auto& [origin, p] : stats.hosts)
        hosts[origin] = to_json(p);
    o["hosts"] = std::move(hosts);
    o["connections"] = to_json(stats.pool);
    o["files_running"] = stats.files_running;
    o["connections_active"] = stats.connections_active;
    o["bytes_fetched"] = stats.bytes_fetched;
    o["buffers_allocated"] = stats.buffers_allocated;
    o["buffer_size"] = stats.buffer_size;
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
