#include "tools/load/load_scenario.hpp"

#include "net/url.hpp"
#include "perf/byte_size.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

namespace ferry::load {
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& what) {
    throw scenario_error(where + ": " + what);
}

std::string kind_name(const json::value& v) {
    switch (v.kind()) {
    case json::kind::string: return "a string";
    case json::kind::object: return "an object";
    case json::kind::array: return "an array";
    case json::kind::bool_: return "a boolean";
    case json::kind::null: return "null";
    default: return "a number";
    }
}

double number_at(const json::value& v, const std::string& where) {
    if (v.is_int64())
        return double(v.as_int64());
    if (v.is_uint64())
        return double(v.as_uint64());
    if (v.is_double() && std::isfinite(v.as_double()))
        return v.as_double();
    fail(where, "expected a number, got " + kind_name(v));
}

std::uint64_t count_at(const json::value& v, const std::string& where, bool allow_zero = false) {
    const double d = number_at(v, where);
    if (d != std::floor(d) || d < 0 || (!allow_zero && d == 0) || d > 1e9)
        fail(where, allow_zero ? "expected a whole number of 0 or more" : "expected a whole number of 1 or more");
    return std::uint64_t(d);
}

std::chrono::nanoseconds duration_at(const json::value& v, const std::string& where) {
    std::optional<std::chrono::nanoseconds> d;
    if (v.is_string())
        d = parse_duration(v.as_string());
    else if (v.is_number())
        d = std::chrono::nanoseconds(std::int64_t(number_at(v, where) * 1e6));
    if (!d || d->count() < 0)
        fail(where, "expected a duration such as \"30s\", \"1m30s\" or \"250ms\"");
    return *d;
}

const json::object& object_at(const json::value& v, const std::string& where) {
    if (!v.is_object())
        fail(where, "expected an object, got " + kind_name(v));
    return v.as_object();
}

std::string string_at(const json::value& v, const std::string& where) {
    if (!v.is_string())
        fail(where, "expected a string, got " + kind_name(v));
    return std::string(v.as_string());
}

request_spec parse_request(const json::value& v, const std::string& where) {
    request_spec r;
    for (auto& [key, value] : object_at(v, where)) {
        const std::string at = where + "." + std::string(key);
        if (key == "url") {
            r.url = string_at(value, at);
            auto parsed = parse_url(r.url);
            if (!parsed)
                fail(at, "not an http(s) URL: " + r.url);
        } else if (key == "weight") {
            const auto w = count_at(value, at);
            if (w > 1'000'000)
                fail(at, "at most 1000000");
            r.weight = unsigned(w);
        } else if (key == "range") {
            const std::string text = string_at(value, at);
            if (text == "none")
                continue;
            const auto colon = text.find(':');
            const std::string how = text.substr(0, colon);
            const std::uint64_t bytes =
                colon == std::string::npos ? 0 : parse_byte_size(std::string_view(text).substr(colon + 1)).value_or(0);
            if ((how != "first" && how != "random") || bytes == 0)
                fail(at, "expected \"none\", \"first:SIZE\" or \"random:SIZE\" (SIZE such as 64K, 1M), got \"" + text + "\"");
            r.range.how = how == "first" ? range_spec::kind::first : range_spec::kind::random;
            r.range.bytes = bytes;
        } else if (key == "method") {
            r.method = string_at(value, at);
            if (r.method != "GET" && r.method != "HEAD")
                fail(at, "GET or HEAD, got \"" + r.method + "\"");
        } else if (key == "headers") {
            for (auto& [name, field] : object_at(value, at))
                r.headers.emplace_back(std::string(name), string_at(field, at + "." + std::string(name)));
        } else {
            fail(at, "unknown key (url, weight, range, method, headers)");
        }
    }
    if (r.url.empty())
        fail(where, "a request needs a \"url\"");
    return r;
}

struct executor_entry {
    std::string_view name;
    executor_kind kind;
    std::initializer_list<std::string_view> options; ///< beyond executor, startTime, gracefulStop
};
const executor_entry executors[] = {
    {"constant-vus", executor_kind::constant_vus, {"vus", "duration"}},
    {"ramping-vus", executor_kind::ramping_vus, {"startVUs", "stages", "gracefulRampDown"}},
    {"constant-arrival-rate", executor_kind::constant_arrival_rate,
     {"rate", "timeUnit", "duration", "preAllocatedVUs", "maxVUs"}},
    {"ramping-arrival-rate", executor_kind::ramping_arrival_rate,
     {"startRate", "timeUnit", "stages", "preAllocatedVUs", "maxVUs"}},
    {"shared-iterations", executor_kind::shared_iterations, {"vus", "iterations", "maxDuration"}},
};

std::vector<load_stage> parse_stages(const json::value& v, const std::string& where) {
    if (!v.is_array() || v.as_array().empty())
        fail(where, "expected a non-empty array of {\"duration\", \"target\"}");
    std::vector<load_stage> stages;
    for (std::size_t i = 0; i < v.as_array().size(); ++i) {
        const std::string at = where + "[" + std::to_string(i) + "]";
        const auto& o = object_at(v.as_array()[i], at);
        load_stage s;
        bool has_duration = false, has_target = false;
        for (auto& [key, value] : o) {
            if (key == "duration") {
                s.duration = duration_at(value, at + ".duration");
                has_duration = true;
            } else if (key == "target") {
                s.target = number_at(value, at + ".target");
                if (s.target < 0)
                    fail(at + ".target", "must not be negative");
                has_target = true;
            } else {
                fail(at + "." + std::string(key), "unknown key (duration, target)");
            }
        }
        if (!has_duration || !has_target)
            fail(at, "a stage needs \"duration\" and \"target\"");
        stages.push_back(s);
    }
    return stages;
}

scenario_spec parse_scenario(std::string name, const json::value& v) {
    const std::string where = "scenarios." + name;
    const auto& o = object_at(v, where);
    scenario_spec s;
    s.name = std::move(name);
    auto exec = o.find("executor");
    if (exec == o.end())
        fail(where, "missing \"executor\" (constant-vus, ramping-vus, constant-arrival-rate, ramping-arrival-rate, shared-iterations)");
    const std::string exec_name = string_at(exec->value(), where + ".executor");
    const executor_entry* entry = nullptr;
    for (auto& e : executors)
        if (e.name == exec_name)
            entry = &e;
    if (!entry)
        fail(where + ".executor", "unknown executor \"" + exec_name +
                                      "\" (constant-vus, ramping-vus, constant-arrival-rate, ramping-arrival-rate, shared-iterations)");
    s.executor = entry->kind;

    std::set<std::string> given;
    for (auto& [key, value] : o) {
        const std::string k(key);
        const std::string at = where + "." + k;
        given.insert(k);
        if (k == "executor")
            continue;
        if (k == "startTime") {
            s.start_time = duration_at(value, at);
            continue;
        }
        if (k == "gracefulStop") {
            s.graceful_stop = duration_at(value, at);
            continue;
        }
        if (std::find(entry->options.begin(), entry->options.end(), k) == entry->options.end()) {
            std::string allowed = "startTime, gracefulStop";
            for (auto option : entry->options)
                allowed.append(", ").append(option);
            fail(at, "not an option of " + exec_name + " (" + allowed + ")");
        }
        if (k == "vus") s.vus = count_at(value, at);
        else if (k == "startVUs") s.start_vus = count_at(value, at, true);
        else if (k == "duration") s.duration = duration_at(value, at);
        else if (k == "stages") s.stages = parse_stages(value, at);
        else if (k == "rate") s.rate = number_at(value, at);
        else if (k == "startRate") s.start_rate = number_at(value, at);
        else if (k == "timeUnit") s.time_unit = duration_at(value, at);
        else if (k == "preAllocatedVUs") s.pre_allocated_vus = count_at(value, at);
        else if (k == "maxVUs") s.max_vus = count_at(value, at);
        else if (k == "iterations") s.iterations = count_at(value, at);
        else if (k == "maxDuration") s.max_duration = duration_at(value, at);
        else if (k == "gracefulRampDown") duration_at(value, at); // VUs stop at once when a ramp goes down
    }
    auto require = [&](const char* key) {
        if (!given.count(key))
            fail(where, std::string(exec_name) + " needs \"" + key + "\"");
    };
    switch (s.executor) {
    case executor_kind::constant_vus:
        require("duration");
        break;
    case executor_kind::ramping_vus:
        require("stages");
        break;
    case executor_kind::constant_arrival_rate:
        require("rate");
        require("duration");
        require("preAllocatedVUs");
        if (s.rate <= 0)
            fail(where + ".rate", "must be above 0");
        break;
    case executor_kind::ramping_arrival_rate:
        require("stages");
        require("preAllocatedVUs");
        if (s.start_rate < 0)
            fail(where + ".startRate", "must not be negative");
        break;
    case executor_kind::shared_iterations:
        if (s.iterations < s.vus)
            fail(where + ".iterations", "fewer iterations (" + std::to_string(s.iterations) + ") than vus (" +
                                            std::to_string(s.vus) + ")");
        break;
    }
    if ((s.executor == executor_kind::constant_vus || s.executor == executor_kind::constant_arrival_rate) &&
        s.duration <= 0s)
        fail(where + ".duration", "must be above 0");
    if (s.time_unit <= 0s)
        fail(where + ".timeUnit", "must be above 0");
    if (open_model(s.executor)) {
        if (!given.count("maxVUs"))
            s.max_vus = s.pre_allocated_vus;
        if (s.max_vus < s.pre_allocated_vus)
            fail(where + ".maxVUs", "below preAllocatedVUs");
    }
    if (s.peak_vus() > 1'000'000)
        fail(where, "more than 1000000 VUs");
    return s;
}

threshold_spec parse_threshold_entry(const std::string& key, const json::value& entry, const std::string& where,
                                     const std::vector<scenario_spec>& scenarios) {
    threshold_spec t;
    t.key = key;
    const auto brace = key.find('{');
    t.metric = key.substr(0, brace);
    if (brace != std::string::npos) {
        const std::string tag = key.substr(brace);
        if (tag.size() < 12 || !tag.starts_with("{scenario:") || tag.back() != '}')
            fail(where, "the only tag is {scenario:NAME}");
        t.scenario = tag.substr(10, tag.size() - 11);
        if (std::none_of(scenarios.begin(), scenarios.end(), [&](auto& s) { return s.name == t.scenario; }))
            fail(where, "no scenario named \"" + t.scenario + "\"");
    }
    auto kind = metric_of(t.metric);
    if (!kind)
        fail(where, "unknown metric \"" + t.metric +
                        "\" (http_req_duration, http_req_duration_uncorrected, http_req_waiting, http_req_connecting, "
                        "http_req_tls_handshaking, http_req_failed, http_reqs, iterations, dropped_iterations, data_received)");
    std::string text;
    if (entry.is_string()) {
        text = std::string(entry.as_string());
    } else {
        for (auto& [k, v] : object_at(entry, where)) {
            if (k == "threshold")
                text = string_at(v, where + ".threshold");
            else if (k == "abortOnFail") {
                if (!v.is_bool())
                    fail(where + ".abortOnFail", "expected true or false");
                t.abort_on_fail = v.as_bool();
            } else if (k == "delayAbortEval") {
                duration_at(v, where + ".delayAbortEval");
            } else {
                fail(where + "." + std::string(k), "unknown key (threshold, abortOnFail, delayAbortEval)");
            }
        }
    }
    std::string error;
    auto expression = parse_threshold(text, error);
    if (!expression)
        fail(where, error);
    using agg = threshold_expression::aggregate;
    const bool trend_stat = expression->what != agg::rate && expression->what != agg::count;
    if ((*kind == metric_kind::trend && !trend_stat) || (*kind == metric_kind::rate && expression->what != agg::rate) ||
        (*kind == metric_kind::counter && trend_stat))
        fail(where, "'" + expression->text + "' does not apply to " + t.metric +
                        (*kind == metric_kind::trend ? " (a trend: avg, min, med, max, p(N))"
                         : *kind == metric_kind::rate ? " (a rate: rate)"
                                                      : " (a counter: count, rate)"));
    t.expression = std::move(*expression);
    return t;
}

} // namespace

std::string_view executor_name(executor_kind kind) noexcept {
    for (auto& e : executors)
        if (e.kind == kind)
            return e.name;
    return "?";
}

std::optional<metric_kind> metric_of(std::string_view name) noexcept {
    if (name == "http_req_duration" || name == "http_req_duration_uncorrected" || name == "http_req_waiting" ||
        name == "http_req_connecting" || name == "http_req_tls_handshaking")
        return metric_kind::trend;
    if (name == "http_req_failed")
        return metric_kind::rate;
    if (name == "http_reqs" || name == "iterations" || name == "dropped_iterations" || name == "data_received")
        return metric_kind::counter;
    return std::nullopt;
}

std::chrono::nanoseconds scenario_spec::length() const {
    std::chrono::nanoseconds total{0};
    switch (executor) {
    case executor_kind::constant_vus:
    case executor_kind::constant_arrival_rate: return duration;
    case executor_kind::shared_iterations: return max_duration;
    case executor_kind::ramping_vus:
    case executor_kind::ramping_arrival_rate:
        for (auto& s : stages)
            total += s.duration;
        return total;
    }
    return total;
}

std::uint64_t scenario_spec::peak_vus() const {
    switch (executor) {
    case executor_kind::constant_vus:
    case executor_kind::shared_iterations: return vus;
    case executor_kind::ramping_vus: return vu_ramp(double(start_vus), stages).peak();
    default: return max_vus;
    }
}

std::chrono::nanoseconds load_spec::length() const {
    std::chrono::nanoseconds end{0};
    for (auto& s : scenarios)
        end = std::max(end, s.start_time + s.length() + s.graceful_stop);
    return end;
}

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
    if (text.empty())
        return std::nullopt;
    double total_ns = 0;
    bool bare = true;
    while (!text.empty()) {
        double value = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec != std::errc() || value < 0)
            return std::nullopt;
        text.remove_prefix(std::size_t(end - text.data()));
        std::size_t unit_len = 0;
        while (unit_len < text.size() && !(text[unit_len] >= '0' && text[unit_len] <= '9') && text[unit_len] != '.')
            ++unit_len;
        const std::string_view unit = text.substr(0, unit_len);
        text.remove_prefix(unit_len);
        double scale = 0;
        if (unit.empty() && bare && text.empty())
            scale = 1e6; // a bare number: milliseconds
        else if (unit == "h") scale = 3600e9;
        else if (unit == "m") scale = 60e9;
        else if (unit == "s") scale = 1e9;
        else if (unit == "ms") scale = 1e6;
        else if (unit == "us" || unit == "\xC2\xB5s") scale = 1e3;
        else if (unit == "ns") scale = 1;
        else return std::nullopt;
        bare = false;
        total_ns += value * scale;
    }
    if (total_ns > 1e18)
        return std::nullopt;
    return std::chrono::nanoseconds(std::int64_t(std::llround(total_ns)));
}

load_spec parse_load_spec(std::string_view text) {
    boost::system::error_code ec;
    json::value doc = json::parse(text, ec);
    if (ec)
        throw scenario_error("not JSON: " + ec.message());
    const auto& root = object_at(doc, "scenario file");
    load_spec spec;
    for (auto& [key, value] : root) {
        if (key != "requests" && key != "scenarios" && key != "thresholds")
            fail(std::string(key), "unknown key (requests, scenarios, thresholds)");
    }
    auto requests = root.find("requests");
    if (requests == root.end() || !requests->value().is_array() || requests->value().as_array().empty())
        throw scenario_error("requests: expected a non-empty array of {\"url\": ...}");
    for (std::size_t i = 0; i < requests->value().as_array().size(); ++i)
        spec.requests.push_back(parse_request(requests->value().as_array()[i], "requests[" + std::to_string(i) + "]"));
    auto scenarios = root.find("scenarios");
    if (scenarios == root.end() || object_at(scenarios->value(), "scenarios").empty())
        throw scenario_error("scenarios: expected an object of named scenarios");
    for (auto& [name, value] : scenarios->value().as_object()) {
        if (name.empty() || std::string_view(name).find_first_of("{}:,= \t\n") != std::string_view::npos)
            fail("scenarios", "a name may not be empty nor hold {}:,= or spaces: \"" + std::string(name) + "\"");
        spec.scenarios.push_back(parse_scenario(std::string(name), value));
    }
    if (auto thresholds = root.find("thresholds"); thresholds != root.end()) {
        for (auto& [key, value] : object_at(thresholds->value(), "thresholds")) {
            const std::string where = "thresholds." + std::string(key);
            if (!value.is_array())
                fail(where, "expected an array of expressions");
            for (std::size_t i = 0; i < value.as_array().size(); ++i)
                spec.thresholds.push_back(parse_threshold_entry(std::string(key), value.as_array()[i],
                                                                where + "[" + std::to_string(i) + "]", spec.scenarios));
        }
    }
    return spec;
}

} // namespace ferry::load
