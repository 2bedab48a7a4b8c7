#include "tools/load/load_metrics.hpp"

#include <algorithm>

namespace ferry::load {
namespace {

std::int64_t micros(std::chrono::steady_clock::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

/// Merges b into a (b the later span).
void combine(series_point& a, const series_point& b) {
    const double total = a.seconds + b.seconds;
    auto weighted = [&](double x, double y) { return (x * a.seconds + y * b.seconds) / total; };
    a.requests_per_s = weighted(a.requests_per_s, b.requests_per_s);
    a.bytes_per_s = weighted(a.bytes_per_s, b.bytes_per_s);
    a.errors_per_s = weighted(a.errors_per_s, b.errors_per_s);
    a.vus = std::max(a.vus, b.vus);
    a.p50 = std::max(a.p50, b.p50);
    a.p90 = std::max(a.p90, b.p90);
    a.p95 = std::max(a.p95, b.p95);
    a.p99 = std::max(a.p99, b.p99);
    a.p99_uncorrected = std::max(a.p99_uncorrected, b.p99_uncorrected);
    a.t = b.t;
    a.seconds = total;
}

} // namespace

const char* trend_name(trend t) noexcept {
    switch (t) {
    case trend::duration: return "http_req_duration";
    case trend::duration_uncorrected: return "http_req_duration_uncorrected";
    case trend::waiting: return "http_req_waiting";
    case trend::connecting: return "http_req_connecting";
    case trend::tls_handshaking: return "http_req_tls_handshaking";
    }
    return "?";
}

void metric_set::add(const request_sample& s) {
    ++requests;
    bytes += s.bytes;
    if (s.failed) {
        ++failed;
        const std::string& name =
            errors.size() < error_classes_kept || errors.count(s.error_class) ? s.error_class : std::string("other");
        ++errors[name];
    }
    trends[std::size_t(trend::duration)].record(micros(s.done - s.intended));
    trends[std::size_t(trend::duration_uncorrected)].record(micros(s.done - s.sent));
    if (s.got_head)
        trends[std::size_t(trend::waiting)].record(micros(s.head - s.sent));
    trends[std::size_t(trend::connecting)].record(micros(s.connecting));
    trends[std::size_t(trend::tls_handshaking)].record(micros(s.tls_handshaking));
}

void metric_set::merge(const metric_set& o) {
    for (std::size_t i = 0; i < trend_count; ++i)
        trends[i].merge(o.trends[i]);
    requests += o.requests;
    failed += o.failed;
    bytes += o.bytes;
    iterations += o.iterations;
    dropped += o.dropped;
    for (auto& [name, n] : o.errors) {
        const std::string& key = errors.size() < error_classes_kept || errors.count(name) ? name : std::string("other");
        errors[key] += n;
    }
}

void metric_set::reset() {
    for (auto& h : trends)
        h.reset();
    requests = failed = bytes = iterations = dropped = 0;
    errors.clear();
}

void bounded_series::add(const series_point& p) {
    if (pending_count_ == 0)
        pending_ = p;
    else
        combine(pending_, p);
    if (++pending_count_ < stride_)
        return;
    pending_count_ = 0;
    points_.push_back(pending_);
    if (points_.size() < limit)
        return;
    std::vector<series_point> halved;
    halved.reserve(limit / 2 + 1);
    for (std::size_t i = 0; i + 1 < points_.size(); i += 2) {
        series_point merged = points_[i];
        combine(merged, points_[i + 1]);
        halved.push_back(merged);
    }
    points_ = std::move(halved);
    stride_ *= 2;
}

} // namespace ferry::load
