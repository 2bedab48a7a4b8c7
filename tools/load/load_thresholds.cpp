#include "tools/load/load_thresholds.hpp"

#include <chrono>

namespace ferry::load {
namespace {

std::optional<trend> trend_of(const std::string& metric) {
    for (std::size_t i = 0; i < trend_count; ++i)
        if (metric == trend_name(trend(i)))
            return trend(i);
    return std::nullopt;
}

} // namespace

metric_reading reading_of(const std::string& metric, const metric_set& m, double seconds) {
    metric_reading r;
    r.seconds = seconds;
    if (auto t = trend_of(metric)) {
        r.trend = &m.of(*t);
    } else if (metric == "http_req_failed") {
        r.passes = m.failed;
        r.fails = m.requests - m.failed;
    } else if (metric == "http_reqs") {
        r.count = double(m.requests);
    } else if (metric == "iterations") {
        r.count = double(m.iterations);
    } else if (metric == "dropped_iterations") {
        r.count = double(m.dropped);
    } else if (metric == "data_received") {
        r.count = double(m.bytes);
    }
    return r;
}

threshold_book::threshold_book(const load_spec& spec) : spec_(spec) {
    for (auto& t : spec.thresholds)
        if (t.abort_on_fail)
            watches_.push_back(std::make_unique<watch>(watch{&t, scenario_index(t), {}}));
}

std::optional<std::size_t> threshold_book::scenario_index(const threshold_spec& t) const {
    if (t.scenario.empty())
        return std::nullopt;
    for (std::size_t i = 0; i < spec_.scenarios.size(); ++i)
        if (spec_.scenarios[i].name == t.scenario)
            return i;
    return std::nullopt;
}

void threshold_book::add(std::size_t scenario, std::int64_t second, const request_sample& s) {
    for (auto& w : watches_) {
        if (w->scenario && *w->scenario != scenario)
            continue;
        w->window.advance(second);
        const auto& metric = w->spec->metric;
        if (auto t = trend_of(metric)) {
            using std::chrono::duration_cast;
            using us = std::chrono::microseconds;
            switch (*t) {
            case trend::duration: w->window.record_time(duration_cast<us>(s.done - s.intended).count()); break;
            case trend::duration_uncorrected: w->window.record_time(duration_cast<us>(s.done - s.sent).count()); break;
            case trend::waiting:
                if (s.got_head)
                    w->window.record_time(duration_cast<us>(s.head - s.sent).count());
                break;
            case trend::connecting: w->window.record_time(duration_cast<us>(s.connecting).count()); break;
            case trend::tls_handshaking: w->window.record_time(duration_cast<us>(s.tls_handshaking).count()); break;
            }
        } else if (metric == "http_req_failed") {
            w->window.record_rate(s.failed);
        } else if (metric == "http_reqs") {
            w->window.record_count(1);
        } else if (metric == "data_received") {
            w->window.record_count(double(s.bytes));
        }
    }
}

void threshold_book::add_iteration(std::size_t scenario, std::int64_t second) {
    for (auto& w : watches_)
        if (w->spec->metric == "iterations" && (!w->scenario || *w->scenario == scenario)) {
            w->window.advance(second);
            w->window.record_count(1);
        }
}

void threshold_book::add_dropped(std::size_t scenario, std::int64_t second) {
    for (auto& w : watches_)
        if (w->spec->metric == "dropped_iterations" && (!w->scenario || *w->scenario == scenario)) {
            w->window.advance(second);
            w->window.record_count(1);
        }
}

std::optional<threshold_result> threshold_book::check_abort(std::int64_t second) {
    for (auto& w : watches_) {
        w->window.advance(second);
        const auto reading = w->window.read(merged_);
        auto observed = observe(w->spec->expression, reading);
        if (observed && !w->spec->expression.holds(*observed))
            return threshold_result{w->spec, false, observed};
    }
    return std::nullopt;
}

std::vector<threshold_result> threshold_book::evaluate(const std::vector<const metric_set*>& per_scenario,
                                                       const metric_set& overall, double seconds) const {
    std::vector<threshold_result> results;
    for (auto& t : spec_.thresholds) {
        auto index = scenario_index(t);
        const metric_set& m = index ? *per_scenario[*index] : overall;
        auto observed = observe(t.expression, reading_of(t.metric, m, seconds));
        results.push_back({&t, !observed || t.expression.holds(*observed), observed});
    }
    return results;
}

} // namespace ferry::load
