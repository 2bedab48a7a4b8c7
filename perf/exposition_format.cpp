#include "perf/exposition_format.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <string>

namespace ferry {

namespace {

/// Without the spaces and tabs around it (perf does not link net, whose header parsers have one).
std::string_view trim(std::string_view s) {
    auto first = s.find_first_not_of(" \t");
    return first == std::string_view::npos ? std::string_view() : s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return out;
}

/// Splits off the text before the first `sep` (all of `s` when there is none).
std::string_view take(std::string_view& s, char sep) {
    auto at = s.find(sep);
    auto head = s.substr(0, at);
    s.remove_prefix(at == std::string_view::npos ? s.size() : at + 1);
    return head;
}

/// q=0.5 → 0.5; nullopt when it is not a number from 0 to 1.
std::optional<double> parse_q(std::string_view text) {
    double q = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), q);
    if (ec != std::errc() || end != text.data() + text.size() || q < 0 || q > 1)
        return std::nullopt;
    return q;
}

/// One media range of an Accept header and what it would get from us.
struct offer {
    exposition_format format = exposition_format::prometheus_text;
    double q = 1;
    int specificity = 0; ///< */* 0, type/* 1, type/subtype 2
};

/// nullopt when the range is unreadable or names nothing we answer with.
std::optional<offer> read_range(std::string_view range) {
    auto type = lower(trim(take(range, ';')));
    offer o;
    std::optional<std::string> version;
    while (!range.empty()) {
        auto param = take(range, ';');
        auto name = lower(trim(take(param, '=')));
        auto value = trim(param);
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
            value = value.substr(1, value.size() - 2);
        if (name == "q") {
            auto q = parse_q(value);
            if (!q)
                return std::nullopt;
            o.q = *q;
        } else if (name == "version") {
            version = std::string(value);
        }
    }
    if (type == "application/openmetrics-text") {
        if (version && *version != "1.0.0" && *version != "0.0.1")
            return std::nullopt; // a version we do not write
        o.format = exposition_format::openmetrics;
        o.specificity = 2;
    } else if (type == "text/plain") {
        o.specificity = 2; // any version: 0.0.4 is the one every Prometheus reads
    } else if (type == "text/*") {
        o.specificity = 1;
    } else if (type != "*/*") {
        return std::nullopt;
    }
    return o;
}

} // namespace

std::string_view content_type(exposition_format format) noexcept {
    switch (format) {
    case exposition_format::openmetrics: return "application/openmetrics-text; version=1.0.0; charset=utf-8";
    case exposition_format::prometheus_text: break;
    }
    return "text/plain; version=0.0.4; charset=utf-8";
}

exposition_format negotiate_exposition(std::string_view accept) {
    std::optional<offer> best;
    while (!accept.empty()) {
        auto o = read_range(take(accept, ','));
        if (!o || o->q <= 0)
            continue;
        // Strictly better only: on a full tie the range listed first stays.
        if (!best || std::pair(o->q, o->specificity) > std::pair(best->q, best->specificity))
            best = o;
    }
    return best ? best->format : exposition_format::prometheus_text;
}

} // namespace ferry
