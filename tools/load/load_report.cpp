#include "tools/load/load_report.hpp"

#include <boost/json.hpp>

#include <cstdio>
#include <ostream>

namespace ferry::load {
namespace json = boost::json;

namespace {

double ms(std::int64_t us) { return double(us) / 1000.0; }

json::object trend_values(const hdr_histogram& h) {
    json::object v;
    v["avg"] = h.mean() / 1000.0;
    v["min"] = ms(h.min());
    v["med"] = ms(h.value_at_percentile(50));
    v["max"] = ms(h.max());
    v["p(90)"] = ms(h.value_at_percentile(90));
    v["p(95)"] = ms(h.value_at_percentile(95));
    v["p(99)"] = ms(h.value_at_percentile(99));
    v["count"] = h.total_count();
    return v;
}

json::object counter(const char* contains, double count, double seconds) {
    json::object m;
    m["type"] = "counter";
    m["contains"] = contains;
    m["values"] = json::object{{"count", count}, {"rate", seconds > 0 ? count / seconds : 0.0}};
    return m;
}

/// Every metric of one metric_set, under `suffix` ("" or "{scenario:NAME}").
void add_metrics(json::object& metrics, const metric_set& m, const std::string& suffix, double seconds) {
    for (std::size_t i = 0; i < trend_count; ++i) {
        json::object t;
        t["type"] = "trend";
        t["contains"] = "time";
        t["values"] = trend_values(m.trends[i]);
        metrics[trend_name(trend(i)) + suffix] = std::move(t);
    }
    json::object failed;
    failed["type"] = "rate";
    failed["contains"] = "default";
    failed["values"] = json::object{{"rate", m.requests ? double(m.failed) / double(m.requests) : 0.0},
                                    {"passes", m.failed},
                                    {"fails", m.requests - m.failed}};
    metrics["http_req_failed" + suffix] = std::move(failed);
    metrics["http_reqs" + suffix] = counter("default", double(m.requests), seconds);
    metrics["iterations" + suffix] = counter("default", double(m.iterations), seconds);
    metrics["dropped_iterations" + suffix] = counter("default", double(m.dropped), seconds);
    metrics["data_received" + suffix] = counter("data", double(m.bytes), seconds);
}

std::string format_ms(double v) {
    char buf[32];
    if (v >= 1000)
        std::snprintf(buf, sizeof buf, "%.2fs", v / 1000);
    else if (v >= 1)
        std::snprintf(buf, sizeof buf, "%.2fms", v);
    else
        std::snprintf(buf, sizeof buf, "%.0fµs", v * 1000);
    return buf;
}

} // namespace

void live_table::update(const load_runner& runner, double t, double span) {
    char line[256];
    if (terminal_) {
        if (lines_drawn_ > 0)
            out_ << "\x1b[" << lines_drawn_ << "A";
        lines_drawn_ = 0;
        std::snprintf(line, sizeof line, "\x1b[2K%6s  %-16s %7s %9s %9s %9s %9s %9s %7s\n", "time", "scenario", "vus",
                      "req/s", "MB/s", "p50 ms", "p95 ms", "p99 ms", "errors");
        out_ << line;
        ++lines_drawn_;
    }
    for (auto& s : runner.scenarios()) {
        if (!s->running && s->interval.requests == 0 && terminal_ && !s->done)
            continue;
        if (!terminal_ && !s->running && s->interval.requests == 0)
            continue;
        const auto& d = s->interval.of(trend::duration);
        const double rps = span > 0 ? double(s->interval.requests) / span : 0;
        const double mbps = span > 0 ? double(s->interval.bytes) / span / 1e6 : 0;
        if (terminal_)
            std::snprintf(line, sizeof line, "\x1b[2K%5.0fs  %-16.16s %7llu %9.0f %9.1f %9.2f %9.2f %9.2f %7llu\n", t,
                          s->spec->name.c_str(), (unsigned long long)s->vus, rps, mbps,
                          ms(d.value_at_percentile(50)), ms(d.value_at_percentile(95)), ms(d.value_at_percentile(99)),
                          (unsigned long long)s->total.failed);
        else
            std::snprintf(line, sizeof line,
                          "t=%.0fs scenario=%s vus=%llu rps=%.0f MB/s=%.1f p50=%.2fms p95=%.2fms p99=%.2fms errors=%llu\n",
                          t, s->spec->name.c_str(), (unsigned long long)s->vus, rps, mbps,
                          ms(d.value_at_percentile(50)), ms(d.value_at_percentile(95)), ms(d.value_at_percentile(99)),
                          (unsigned long long)s->total.failed);
        out_ << line;
        ++lines_drawn_;
    }
    out_.flush();
}

std::vector<std::string> run_warnings(const load_runner& runner) {
    std::vector<std::string> warnings;
    for (auto& s : runner.scenarios()) {
        if (s->rate_missed()) {
            char text[256];
            std::snprintf(text, sizeof text,
                          "scenario %s missed its target rate: %llu of %.0f iterations started (%.1f%%), %llu dropped",
                          s->spec->name.c_str(), (unsigned long long)s->started, s->due,
                          100.0 * double(s->started) / s->due, (unsigned long long)s->total.dropped);
            warnings.emplace_back(text);
        } else if (s->total.dropped > 0) {
            warnings.push_back("scenario " + s->spec->name + " dropped " + std::to_string(s->total.dropped) +
                               " iterations (maxVUs reached)");
        }
    }
    return warnings;
}

json::object summary_export(const load_runner& runner, const std::vector<threshold_result>& results,
                            const std::vector<std::string>& warnings) {
    const double seconds = runner.elapsed_seconds();
    json::object metrics;
    add_metrics(metrics, runner.overall(), "", seconds);
    std::uint64_t vus_max = 0;
    for (auto& s : runner.scenarios()) {
        add_metrics(metrics, s->total, "{scenario:" + s->spec->name + "}", s->ran_seconds);
        vus_max += s->vus_max;
    }
    metrics["vus_max"] = json::object{{"type", "gauge"}, {"contains", "default"},
                                      {"values", json::object{{"value", vus_max}, {"min", 0}, {"max", vus_max}}}};
    bool failed = false;
    for (auto& r : results) {
        auto& m = metrics[r.spec->key];
        if (!m.is_object())
            m = json::object{};
        auto& t = m.as_object()["thresholds"];
        if (!t.is_object())
            t = json::object{};
        t.as_object()[r.spec->expression.text] = json::object{{"ok", r.ok}};
        failed = failed || !r.ok;
    }

    json::object scenarios;
    for (auto& s : runner.scenarios()) {
        json::object o;
        o["executor"] = executor_name(s->spec->executor);
        o["vus_max"] = s->vus_max;
        o["iterations_started"] = s->started;
        o["duration_s"] = s->ran_seconds;
        o["dropped_iterations"] = s->total.dropped;
        if (open_model(s->spec->executor)) {
            const double length = std::chrono::duration<double>(s->spec->length()).count();
            o["target_rate"] = length > 0 ? s->due / length : 0.0;
            o["achieved_rate"] = length > 0 ? double(s->started) / length : 0.0;
            o["rate_missed"] = s->rate_missed();
        }
        json::object errors;
        for (auto& [name, n] : s->total.errors)
            errors[name] = n;
        o["errors"] = std::move(errors);
        scenarios[s->spec->name] = std::move(o);
    }
    json::array warning_list;
    for (auto& w : warnings)
        warning_list.emplace_back(w);
    json::object errors;
    for (auto& [name, n] : runner.overall().errors)
        errors[name] = n;
    const auto pool = runner.pool_totals();

    json::object ferry;
    ferry["scenarios"] = std::move(scenarios);
    ferry["errors"] = std::move(errors);
    ferry["warnings"] = std::move(warning_list);
    ferry["thresholds_failed"] = failed || runner.aborted_by().has_value();
    ferry["aborted_by"] = runner.aborted_by() ? json::value(runner.aborted_by()->spec->key + ": " +
                                                            runner.aborted_by()->spec->expression.text)
                                              : json::value(nullptr);
    ferry["connections_opened"] = pool.opened;
    ferry["connections_reused"] = pool.reused;
    ferry["latency_corrected"] = "http_req_duration of arrival-rate scenarios counts from the intended send time";

    json::object root;
    root["root_group"] = json::object{{"name", ""}, {"path", ""}, {"id", "d41d8cd98f00b204e9800998ecf8427e"},
                                      {"groups", json::array{}}, {"checks", json::array{}}};
    root["options"] = json::object{{"summaryTrendStats", json::array{"avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"}},
                                   {"summaryTimeUnit", ""}, {"noColor", false}};
    root["state"] = json::object{{"isStdOutTTY", false}, {"isStdErrTTY", false}, {"testRunDurationMs", seconds * 1000}};
    root["metrics"] = std::move(metrics);
    root["ferry"] = std::move(ferry);
    return root;
}

void print_summary(std::ostream& out, const load_runner& runner, const std::vector<threshold_result>& results,
                   const std::vector<std::string>& warnings) {
    const auto all = runner.overall();
    const double seconds = runner.elapsed_seconds();
    char line[320];
    auto trend_line = [&](const char* name, const hdr_histogram& h) {
        std::snprintf(line, sizeof line, "  %-30s avg=%-9s min=%-9s med=%-9s max=%-9s p(90)=%-9s p(95)=%-9s p(99)=%s\n",
                      name, format_ms(h.mean() / 1000).c_str(), format_ms(ms(h.min())).c_str(),
                      format_ms(ms(h.value_at_percentile(50))).c_str(), format_ms(ms(h.max())).c_str(),
                      format_ms(ms(h.value_at_percentile(90))).c_str(), format_ms(ms(h.value_at_percentile(95))).c_str(),
                      format_ms(ms(h.value_at_percentile(99))).c_str());
        out << line;
    };
    for (auto& r : results) {
        char value[64] = "no samples";
        if (r.observed)
            std::snprintf(value, sizeof value, "%g", *r.observed);
        out << "  " << (r.ok ? "✓" : "✗") << " " << r.spec->key << " " << r.spec->expression.text << " (" << value
            << ")\n";
    }
    for (std::size_t i = 0; i < trend_count; ++i)
        trend_line(trend_name(trend(i)), all.trends[i]);
    std::snprintf(line, sizeof line,
                  "  %-30s %llu (%.1f/s), failed %llu (%.2f%%), %.1f MB received (%.1f MB/s), %llu iterations, %llu dropped\n",
                  "http_reqs", (unsigned long long)all.requests, seconds > 0 ? double(all.requests) / seconds : 0.0,
                  (unsigned long long)all.failed, all.requests ? 100.0 * double(all.failed) / double(all.requests) : 0.0,
                  double(all.bytes) / 1e6, seconds > 0 ? double(all.bytes) / 1e6 / seconds : 0.0,
                  (unsigned long long)all.iterations, (unsigned long long)all.dropped);
    out << line;
    for (auto& [name, n] : all.errors)
        out << "  error " << name << ": " << n << "\n";
    for (auto& w : warnings)
        out << "  warning: " << w << "\n";
    if (runner.aborted_by())
        out << "  aborted: threshold " << runner.aborted_by()->spec->key << " "
            << runner.aborted_by()->spec->expression.text << " failed over the last 10 s\n";
}

} // namespace ferry::load
