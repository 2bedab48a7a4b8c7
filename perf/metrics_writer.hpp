#pragma once

#include "perf/exposition_format.hpp"

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry {

/// Label names and values of one series, written in this order. Values may hold any bytes:
/// backslash, double quote and newline are escaped.
using metric_labels = std::vector<std::pair<std::string, std::string>>;

/// A histogram as exposed: cumulative counts at increasing upper bounds, in the unit of the
/// family (seconds, bytes). The +Inf bucket is not listed: it is `count`.
struct histogram_snapshot {
    std::vector<std::pair<double, std::uint64_t>> buckets; ///< {le, observations ≤ le}
    double sum = 0;
    std::uint64_t count = 0;
};

enum class metric_type { counter, gauge, histogram };

/// Writes metric families into a string, in one format. No I/O, not thread-safe.
///
/// begin() starts a family (its `# HELP`, `# TYPE`, and `# UNIT` in OpenMetrics), sample() adds its
/// series, finish() returns the text (ending with `# EOF` in OpenMetrics). Names follow
/// Prometheus's rules: a counter is named without `_total`, which its samples get (and its family
/// too in the text format); a unit, when given, is the last word of the name (`..._seconds`).
/// A family may have no samples.
///
/// Programming errors throw std::invalid_argument: a name or label name the formats do not allow,
/// a counter named `..._total`, a unit that does not end the name, a family begun twice, a sample
/// before any family or of another type than its family's, a label `le` on a histogram, bounds
/// not increasing or counts not cumulative.
class metrics_writer {
public:
    explicit metrics_writer(exposition_format format) : format_(format) {}

    exposition_format format() const noexcept { return format_; }

    void begin(metric_type type, std::string_view name, std::string_view help, std::string_view unit = {});
    /// A counter's or gauge's value.
    void sample(double value, const metric_labels& labels = {});
    /// A histogram's buckets (then +Inf), sum and count.
    void sample(const histogram_snapshot& histogram, const metric_labels& labels = {});

    /// The text written so far, closed (`# EOF` in OpenMetrics). The writer is spent.
    std::string finish();

private:
    void write_series(std::string_view suffix, const metric_labels& labels, const std::string* le, double value);

    exposition_format format_;
    std::string out_;
    std::string family_; ///< the current family's name as its samples start
    metric_type type_ = metric_type::gauge;
    bool in_family_ = false;
    std::set<std::string, std::less<>> families_; ///< names begun, and a counter's sample name
};

} // namespace ferry
