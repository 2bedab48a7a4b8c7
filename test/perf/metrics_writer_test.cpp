// The exposition writer, family by family, in both formats: names, suffixes, labels and their
// escapes, histograms, numbers, and the programming errors it refuses.
#include "perf/metrics_writer.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>

using namespace ferry;

namespace {

std::string counter_in(exposition_format format) {
    metrics_writer w(format);
    w.begin(metric_type::counter, "ferry_received_bytes", "Body bytes received.", "bytes");
    w.sample(1234);
    return w.finish();
}

} // namespace

TEST_CASE("a counter in the text format: its family and its sample are named _total, no unit line") {
    CHECK(counter_in(exposition_format::prometheus_text) == "# HELP ferry_received_bytes_total Body bytes received.\n"
                                                          "# TYPE ferry_received_bytes_total counter\n"
                                                          "ferry_received_bytes_total 1234\n");
}

TEST_CASE("a counter in OpenMetrics: the family without _total, its unit, the sample with _total, # EOF") {
    CHECK(counter_in(exposition_format::openmetrics) == "# HELP ferry_received_bytes Body bytes received.\n"
                                                       "# TYPE ferry_received_bytes counter\n"
                                                       "# UNIT ferry_received_bytes bytes\n"
                                                       "ferry_received_bytes_total 1234\n"
                                                       "# EOF\n");
}

TEST_CASE("gauges with labels, in the order given, values escaped") {
    metrics_writer w(exposition_format::prometheus_text);
    w.begin(metric_type::gauge, "ferry_connections_open", "Open connections.");
    w.sample(2, {{"host", "https://a.example:443"}, {"kind", "tls"}});
    w.sample(0, {{"host", "back\\slash \"quoted\"\nnew line"}});
    CHECK(w.finish() == "# HELP ferry_connections_open Open connections.\n"
                        "# TYPE ferry_connections_open gauge\n"
                        "ferry_connections_open{host=\"https://a.example:443\",kind=\"tls\"} 2\n"
                        "ferry_connections_open{host=\"back\\\\slash \\\"quoted\\\"\\nnew line\"} 0\n");
}

TEST_CASE("HELP escapes backslash and newline; double quotes only in OpenMetrics") {
    auto help_line = [](exposition_format format) {
        metrics_writer w(format);
        w.begin(metric_type::gauge, "g", "a \\ b \"c\"\nd");
        auto text = w.finish();
        return text.substr(0, text.find('\n'));
    };
    CHECK(help_line(exposition_format::prometheus_text) == "# HELP g a \\\\ b \"c\"\\nd");
    CHECK(help_line(exposition_format::openmetrics) == "# HELP g a \\\\ b \\\"c\\\"\\nd");
}

TEST_CASE("a histogram: cumulative buckets with le, then +Inf, _sum and _count, labels first") {
    histogram_snapshot h;
    h.buckets = {{0.001, 1}, {0.5, 3}, {1, 3}};
    h.sum = 2.25;
    h.count = 4;
    metrics_writer text(exposition_format::prometheus_text);
    text.begin(metric_type::histogram, "ferry_request_duration_seconds", "Request durations.", "seconds");
    text.sample(h, {{"host", "h"}});
    CHECK(text.finish() == "# HELP ferry_request_duration_seconds Request durations.\n"
                           "# TYPE ferry_request_duration_seconds histogram\n"
                           "ferry_request_duration_seconds_bucket{host=\"h\",le=\"0.001\"} 1\n"
                           "ferry_request_duration_seconds_bucket{host=\"h\",le=\"0.5\"} 3\n"
                           "ferry_request_duration_seconds_bucket{host=\"h\",le=\"1\"} 3\n"
                           "ferry_request_duration_seconds_bucket{host=\"h\",le=\"+Inf\"} 4\n"
                           "ferry_request_duration_seconds_sum{host=\"h\"} 2.25\n"
                           "ferry_request_duration_seconds_count{host=\"h\"} 4\n");

    // OpenMetrics: its unit line, and le in canonical form (1.0, not 1).
    metrics_writer om(exposition_format::openmetrics);
    om.begin(metric_type::histogram, "ferry_request_duration_seconds", "Request durations.", "seconds");
    om.sample(h);
    auto out = om.finish();
    CHECK(out.find("# UNIT ferry_request_duration_seconds seconds\n") != std::string::npos);
    CHECK(out.find("ferry_request_duration_seconds_bucket{le=\"1.0\"} 3\n") != std::string::npos);
    CHECK(out.find("ferry_request_duration_seconds_bucket{le=\"0.001\"} 1\n") != std::string::npos);
    CHECK(out.find("ferry_request_duration_seconds_bucket{le=\"+Inf\"} 4\n") != std::string::npos);
    CHECK(out.ends_with("ferry_request_duration_seconds_count 4\n# EOF\n"));
}

TEST_CASE("numbers: integers as integers, fractions read back exactly, NaN and infinities spelled out") {
    metrics_writer w(exposition_format::prometheus_text);
    w.begin(metric_type::gauge, "g", "h");
    w.sample(1e12);
    w.sample(0.1);
    w.sample(1.0 / 3);
    w.sample(-2);
    w.sample(1e300);
    w.sample(0.00001);
    w.sample(1e-9);
    w.sample(std::nan(""));
    w.sample(INFINITY);
    w.sample(-INFINITY);
    CHECK(w.finish() == "# HELP g h\n# TYPE g gauge\n"
                        "g 1000000000000\ng 0.1\ng 0.3333333333333333\ng -2\ng 1e+300\ng 0.00001\ng 1e-09\ng NaN\ng +Inf\ng -Inf\n");
}

TEST_CASE("a family may have no samples; an empty writer is an empty exposition") {
    metrics_writer w(exposition_format::openmetrics);
    w.begin(metric_type::histogram, "h_seconds", "none yet", "seconds");
    CHECK(w.finish() == "# HELP h_seconds none yet\n# TYPE h_seconds histogram\n# UNIT h_seconds seconds\n# EOF\n");
    CHECK(metrics_writer(exposition_format::prometheus_text).finish().empty());
    CHECK(metrics_writer(exposition_format::openmetrics).finish() == "# EOF\n");
}

TEST_CASE("programming errors are refused") {
    metrics_writer w(exposition_format::prometheus_text);
    CHECK_THROWS_AS(w.sample(1), std::invalid_argument); // no family yet
    CHECK_THROWS_AS(w.begin(metric_type::gauge, "1st", "h"), std::invalid_argument);
    CHECK_THROWS_AS(w.begin(metric_type::gauge, "has-dash", "h"), std::invalid_argument);
    CHECK_THROWS_AS(w.begin(metric_type::gauge, "", "h"), std::invalid_argument);
    CHECK_THROWS_AS(w.begin(metric_type::counter, "x_total", "h"), std::invalid_argument);
    CHECK_THROWS_AS(w.begin(metric_type::gauge, "x_bytes", "h", "seconds"), std::invalid_argument);
    CHECK_THROWS_AS(w.begin(metric_type::gauge, "xbytes", "h", "bytes"), std::invalid_argument);
    CHECK_THROWS_AS(w.begin(metric_type::gauge, "bytes", "h", "bytes"), std::invalid_argument);

    w.begin(metric_type::gauge, "ok:name_bytes", "h", "bytes");
    CHECK_THROWS_AS(w.begin(metric_type::gauge, "ok:name_bytes", "again"), std::invalid_argument);
    CHECK_THROWS_AS(w.sample(histogram_snapshot{}), std::invalid_argument);
    CHECK_THROWS_AS(w.sample(1, {{"bad-name", "v"}}), std::invalid_argument);
    CHECK_THROWS_AS(w.sample(1, {{"__reserved", "v"}}), std::invalid_argument);
    CHECK_THROWS_AS(w.sample(1, {{"colon:no", "v"}}), std::invalid_argument);

    w.begin(metric_type::histogram, "h_seconds", "h", "seconds");
    CHECK_THROWS_AS(w.sample(1), std::invalid_argument);
    histogram_snapshot h;
    h.count = 2;
    CHECK_THROWS_AS(w.sample(h, {{"le", "1"}}), std::invalid_argument);
    h.buckets = {{1, 1}, {0.5, 1}};
    CHECK_THROWS_AS(w.sample(h), std::invalid_argument); // bounds going down
    h.buckets = {{0.5, 2}, {1, 1}};
    CHECK_THROWS_AS(w.sample(h), std::invalid_argument); // counts going down
    h.buckets = {{0.5, 3}};
    CHECK_THROWS_AS(w.sample(h), std::invalid_argument); // more than the count
    h.buckets = {{INFINITY, 2}};
    CHECK_THROWS_AS(w.sample(h), std::invalid_argument); // +Inf is written by the writer
}

TEST_CASE("a counter's samples and another family may not share a name, in either format") {
    for (auto format : {exposition_format::prometheus_text, exposition_format::openmetrics}) {
        metrics_writer w(format);
        w.begin(metric_type::counter, "x", "h");
        CHECK_THROWS_AS(w.begin(metric_type::gauge, "x_total", "h"), std::invalid_argument);
    }
    metrics_writer om(exposition_format::openmetrics);
    om.begin(metric_type::counter, "x", "h");
    CHECK_THROWS_AS(om.begin(metric_type::gauge, "x", "h"), std::invalid_argument);
}
