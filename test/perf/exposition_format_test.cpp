// Content negotiation for /metrics: OpenMetrics only when the scrape asks for it.
#include "perf/exposition_format.hpp"

#include <doctest/doctest.h>

using namespace ferry;

namespace {
constexpr auto text = exposition_format::prometheus_text;
constexpr auto om = exposition_format::openmetrics;
} // namespace

TEST_CASE("content types of the two formats") {
    CHECK(content_type(text) == "text/plain; version=0.0.4; charset=utf-8");
    CHECK(content_type(om) == "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

TEST_CASE("what Prometheus and common clients send") {
    // Prometheus 2.x scrapes.
    CHECK(negotiate_exposition("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                               "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1") == om);
    // Prometheus with OpenMetrics turned off, or older.
    CHECK(negotiate_exposition("text/plain;version=0.0.4;q=1,*/*;q=0.1") == text);
    CHECK(negotiate_exposition("*/*") == text);  // curl
    CHECK(negotiate_exposition("") == text);     // no header
    CHECK(negotiate_exposition("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8") == text);
    CHECK(negotiate_exposition("application/openmetrics-text") == om);
    CHECK(negotiate_exposition("application/openmetrics-text; version=0.0.1") == om);
}

TEST_CASE("the preferred range wins: by q, then the more specific, then the first listed") {
    CHECK(negotiate_exposition("text/plain;q=0.5, application/openmetrics-text;q=0.9") == om);
    CHECK(negotiate_exposition("application/openmetrics-text;q=0.4, text/plain;q=0.5") == text);
    CHECK(negotiate_exposition("*/*, application/openmetrics-text") == om);           // more specific
    CHECK(negotiate_exposition("text/*;q=1, application/openmetrics-text;q=1") == om); // more specific
    CHECK(negotiate_exposition("text/plain, application/openmetrics-text") == text);   // listed first
    CHECK(negotiate_exposition("application/openmetrics-text, text/plain") == om);
}

TEST_CASE("case, spaces and quotes do not matter; q=0 refuses") {
    CHECK(negotiate_exposition("  Application/OpenMetrics-Text ; Version=\"1.0.0\" ; Q=0.8 , text/plain;q=0.2") == om);
    CHECK(negotiate_exposition("application/openmetrics-text;q=0") == text);
    CHECK(negotiate_exposition("application/openmetrics-text;q=0, */*;q=0.1") == text);
}

TEST_CASE("what cannot be read or is not ours falls back to the text format") {
    CHECK(negotiate_exposition("application/openmetrics-text;version=2.0.0") == text); // not a version we write
    CHECK(negotiate_exposition("application/openmetrics-text;q=high") == text);
    CHECK(negotiate_exposition("application/openmetrics-text;q=1.5") == text);
    CHECK(negotiate_exposition("application/json") == text);
    CHECK(negotiate_exposition(",,;;=") == text);
    CHECK(negotiate_exposition("application/json, application/openmetrics-text;q=0.1") == om);
}
