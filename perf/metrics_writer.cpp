#include "perf/metrics_writer.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace ferry {

namespace {

bool name_char(char c, bool first, bool colon_allowed) {
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_allowed && c == ':');
    return letter || (!first && c >= '0' && c <= '9');
}

/// [a-zA-Z_:][a-zA-Z0-9_:]* for metric names, the same without ':' for label names.
bool valid_name(std::string_view name, bool colon_allowed) {
    if (name.empty())
        return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (!name_char(name[i], i == 0, colon_allowed))
            return false;
    return true;
}

void require(bool condition, const char* what, std::string_view name) {
    if (!condition)
        throw std::invalid_argument(std::string("metrics_writer: ") + what + ": '" + std::string(name) + "'");
}

const char* type_name(metric_type t) {
    switch (t) {
    case metric_type::counter: return "counter";
    case metric_type::histogram: return "histogram";
    case metric_type::gauge: break;
    }
    return "gauge";
}

/// Backslash and newline always; double quotes too in label values, and in OpenMetrics's HELP.
void append_escaped(std::string& out, std::string_view text, bool quotes) {
    for (char c : text) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (c == '"' && quotes)
            out += "\\\"";
        else
            out += c;
    }
}

/// The shortest text that reads back the same: whole numbers as integers (counts, bytes), others
/// in plain decimals (0.0001, not 1e-04) unless very large or small; NaN, +Inf and -Inf as both
/// formats spell them.
std::string number_text(double value) {
    if (std::isnan(value))
        return "NaN";
    if (std::isinf(value))
        return value > 0 ? "+Inf" : "-Inf";
    char buffer[400]; // room for any double in fixed notation
    auto magnitude = std::fabs(value);
    std::to_chars_result written;
    if (magnitude < 1e15 && value == std::trunc(value))
        written = std::to_chars(buffer, buffer + sizeof buffer, static_cast<long long>(value));
    else if (magnitude >= 1e-6 && magnitude < 1e15)
        written = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed);
    else
        written = std::to_chars(buffer, buffer + sizeof buffer, value);
    return std::string(buffer, written.ptr);
}

} // namespace

void metrics_writer::begin(metric_type type, std::string_view name, std::string_view help, std::string_view unit) {
    require(valid_name(name, true), "invalid metric name", name);
    bool counter = type == metric_type::counter;
    require(!counter || !name.ends_with("_total"), "a counter is named without _total", name);
    if (!unit.empty()) {
        require(valid_name(unit, true), "invalid unit", unit);
        require(name.size() > unit.size() + 1 && name.ends_with(unit) && name[name.size() - unit.size() - 1] == '_',
                "the unit must end the name", name);
    }
    // The text format names a counter's family after its samples; OpenMetrics after the metric.
    std::string family(name);
    if (counter && format_ == exposition_format::prometheus_text)
        family += "_total";
    // Names in use: the family's, and its samples' when they differ (an OpenMetrics counter).
    require(families_.insert(family).second, "family begun twice", family);
    if (counter && format_ == exposition_format::openmetrics)
        require(families_.insert(family + "_total").second, "family begun twice", family + "_total");

    bool openmetrics = format_ == exposition_format::openmetrics;
    out_ += "# HELP " + family + ' ';
    append_escaped(out_, help, openmetrics);
    out_ += "\n# TYPE " + family + ' ' + type_name(type) + '\n';
    if (openmetrics && !unit.empty())
        out_ += "# UNIT " + family + ' ' + std::string(unit) + '\n';
    family_ = std::string(name);
    type_ = type;
    in_family_ = true;
}

void metrics_writer::sample(double value, const metric_labels& labels) {
    require(in_family_ && type_ != metric_type::histogram, "a value outside a counter or gauge family", family_);
    write_series(type_ == metric_type::counter ? "_total" : "", labels, nullptr, value);
}

void metrics_writer::sample(const histogram_snapshot& histogram, const metric_labels& labels) {
    require(in_family_ && type_ == metric_type::histogram, "a histogram outside a histogram family", family_);
    for (auto& [name, value] : labels)
        require(name != "le", "a histogram's series cannot have a label 'le'", family_);
    double previous_bound = -INFINITY;
    std::uint64_t previous_count = 0;
    for (auto& [bound, count] : histogram.buckets) {
        require(std::isfinite(bound) && bound > previous_bound, "bucket bounds must increase", family_);
        require(count >= previous_count && count <= histogram.count, "bucket counts must be cumulative", family_);
        previous_bound = bound;
        previous_count = count;
        // OpenMetrics wants le in its canonical form: 1.0, not 1.
        auto le = number_text(bound);
        if (format_ == exposition_format::openmetrics && le.find_first_of(".eI") == std::string::npos)
            le += ".0";
        write_series("_bucket", labels, &le, double(count));
    }
    static const std::string infinity = "+Inf";
    write_series("_bucket", labels, &infinity, double(histogram.count));
    write_series("_sum", labels, nullptr, histogram.sum);
    write_series("_count", labels, nullptr, double(histogram.count));
}

void metrics_writer::write_series(std::string_view suffix, const metric_labels& labels, const std::string* le,
                                  double value) {
    out_ += family_;
    out_ += suffix;
    if (!labels.empty() || le) {
        char separator = '{';
        auto label = [&](std::string_view name, std::string_view text) {
            out_ += separator;
            out_ += name;
            out_ += "=\"";
            append_escaped(out_, text, true);
            out_ += '"';
            separator = ',';
        };
        for (auto& [name, text] : labels) {
            require(valid_name(name, false) && !name.starts_with("__"), "invalid label name", name);
            label(name, text);
        }
        if (le)
            label("le", *le);
        out_ += '}';
    }
    out_ += ' ';
    out_ += number_text(value);
    out_ += '\n';
}

std::string metrics_writer::finish() {
    if (format_ == exposition_format::openmetrics)
        out_ += "# EOF\n";
    in_family_ = false;
    return std::move(out_);
}

} // namespace ferry
