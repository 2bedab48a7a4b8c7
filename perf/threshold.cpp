#include "perf/threshold.hpp"

#include <charconv>
#include <cmath>

namespace ferry {
namespace {

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t");
    return first == std::string_view::npos ? std::string_view() : s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

std::optional<double> number(std::string_view s) {
    s = trim(s);
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v))
        return std::nullopt;
    return v;
}

} // namespace

bool threshold_expression::holds(double observed) const noexcept {
    switch (op) {
    case comparison::less: return observed < bound;
    case comparison::less_equal: return observed <= bound;
    case comparison::greater: return observed > bound;
    case comparison::greater_equal: return observed >= bound;
    case comparison::equal: return observed == bound;
    case comparison::not_equal: return observed != bound;
    }
    return false;
}

std::optional<threshold_expression> parse_threshold(std::string_view text, std::string& error) {
    threshold_expression e;
    e.text = std::string(trim(text));
    const std::string_view s = e.text;
    const auto at = s.find_first_of("<>=!");
    if (at == std::string_view::npos) {
        error = "threshold '" + e.text + "' has no comparison (<, <=, >, >=, ==, !=)";
        return std::nullopt;
    }
    const std::string_view left = trim(s.substr(0, at));
    std::string_view rest = s.substr(at);
    using cmp = threshold_expression::comparison;
    struct op_text { std::string_view text; cmp op; };
    constexpr op_text ops[] = {{"<=", cmp::less_equal}, {">=", cmp::greater_equal}, {"==", cmp::equal},
                               {"!=", cmp::not_equal},  {"<", cmp::less},           {">", cmp::greater},
                               {"=", cmp::equal}};
    bool found = false;
    for (auto& o : ops)
        if (rest.starts_with(o.text)) {
            e.op = o.op;
            rest.remove_prefix(o.text.size());
            found = true;
            break;
        }
    auto bound = number(rest);
    if (!found || !bound) {
        error = "threshold '" + e.text + "': expected a number after the comparison";
        return std::nullopt;
    }
    e.bound = *bound;
    using agg = threshold_expression::aggregate;
    if (left == "avg") e.what = agg::avg;
    else if (left == "min") e.what = agg::min;
    else if (left == "med") e.what = agg::med;
    else if (left == "max") e.what = agg::max;
    else if (left == "rate") e.what = agg::rate;
    else if (left == "count") e.what = agg::count;
    else if (left.starts_with("p(") && left.ends_with(")")) {
        auto p = number(left.substr(2, left.size() - 3));
        if (!p || *p <= 0 || *p > 100) {
            error = "threshold '" + e.text + "': a percentile is p(N) with 0 < N <= 100";
            return std::nullopt;
        }
        e.what = agg::percentile;
        e.percentile = *p;
    } else {
        error = "threshold '" + e.text + "': unknown aggregation '" + std::string(left) +
                "' (avg, min, med, max, p(N), rate, count)";
        return std::nullopt;
    }
    return e;
}

std::optional<double> observe(const threshold_expression& e, const metric_reading& r) {
    using agg = threshold_expression::aggregate;
    if (r.trend) {
        const auto& h = *r.trend;
        if (h.total_count() == 0)
            return e.what == agg::count ? std::optional(0.0) : std::nullopt;
        switch (e.what) {
        case agg::avg: return h.mean() / 1000.0;
        case agg::min: return double(h.min()) / 1000.0;
        case agg::med: return double(h.value_at_percentile(50)) / 1000.0;
        case agg::max: return double(h.max()) / 1000.0;
        case agg::percentile: return double(h.value_at_percentile(e.percentile)) / 1000.0;
        case agg::count: return double(h.total_count());
        case agg::rate: return r.seconds > 0 ? std::optional(double(h.total_count()) / r.seconds) : std::nullopt;
        }
        return std::nullopt;
    }
    const auto samples = r.passes + r.fails;
    switch (e.what) {
    case agg::rate:
        if (samples)
            return double(r.passes) / double(samples);
        return r.seconds > 0 ? std::optional(r.count / r.seconds) : std::nullopt;
    case agg::count: return samples ? double(samples) : r.count;
    default: return std::nullopt;
    }
}

sliding_window::sliding_window() = default;

sliding_window::slot& sliding_window::current() {
    auto& s = ring_[std::size_t(now_) % slots];
    if (!s || s->second != now_) {
        if (!s)
            s.emplace();
        else {
            s->trend.reset();
            s->passes = s->fails = 0;
            s->count = 0;
        }
        s->second = now_;
    }
    return *s;
}

void sliding_window::advance(std::int64_t second) {
    if (second > now_)
        now_ = second;
}

void sliding_window::record_time(std::int64_t us) {
    has_trend_ = true;
    current().trend.record(us);
}
void sliding_window::record_rate(bool passed) {
    auto& s = current();
    (passed ? s.passes : s.fails) += 1;
}
void sliding_window::record_count(double amount) { current().count += amount; }

metric_reading sliding_window::read(hdr_histogram& merged) const {
    metric_reading r;
    merged.reset();
    for (auto& s : ring_) {
        if (!s || s->second <= now_ - std::int64_t(slots) || s->second > now_)
            continue;
        merged.merge(s->trend);
        r.passes += s->passes;
        r.fails += s->fails;
        r.count += s->count;
    }
    if (has_trend_)
        r.trend = &merged;
    r.seconds = double(std::min<std::int64_t>(now_ + 1, slots));
    return r;
}

} // namespace ferry
