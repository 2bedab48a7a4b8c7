#include "tools/load/load_scenario.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace ferry::load;
using namespace std::chrono_literals;

namespace {

/// The one-line error a scenario file gets ("" when it parses).
std::string error_of(const std::string& json) {
    try {
        parse_load_spec(json);
        return "";
    } catch (const scenario_error& e) {
        std::string what = e.what();
        CHECK(what.find('\n') == std::string::npos);
        return what;
    }
}

const std::string requests = R"("requests": [{"url": "https://127.0.0.1:8443/a.bin"}])";

std::string with_scenario(const std::string& scenario) {
    return "{" + requests + R"(, "scenarios": {"s": )" + scenario + "}}";
}

} // namespace

TEST_CASE("parse_duration: k6's forms") {
    CHECK(parse_duration("30s") == 30s);
    CHECK(parse_duration("1m30s") == 90s);
    CHECK(parse_duration("1h") == 1h);
    CHECK(parse_duration("250ms") == 250ms);
    CHECK(parse_duration("1.5s") == 1500ms);
    CHECK(parse_duration("10us") == 10us);
    CHECK(parse_duration("100") == 100ms);
    CHECK_FALSE(parse_duration(""));
    CHECK_FALSE(parse_duration("5x"));
    CHECK_FALSE(parse_duration("s"));
    CHECK_FALSE(parse_duration("-1s"));
    CHECK_FALSE(parse_duration("1s5"));
}

TEST_CASE("parse_load_spec: the issue's example, every executor and the threshold forms") {
    const auto spec = parse_load_spec(R"({
      "requests": [ {"url": "https://127.0.0.1:8443/a.bin", "weight": 3, "range": "first:1M",
                     "method": "GET", "headers": {"X-Test": "1"}},
                    {"url": "https://127.0.0.1:8443/b.bin", "range": "random:4M", "method": "HEAD"} ],
      "scenarios": {
        "steady": {"executor": "constant-vus", "vus": 64, "duration": "30s"},
        "ramp": {"executor": "ramping-vus", "startVUs": 0, "stages": [{"duration": "10s", "target": 500}],
                 "startTime": "30s", "gracefulStop": "5s"},
        "open": {"executor": "constant-arrival-rate", "rate": 2000, "timeUnit": "1s", "duration": "1m",
                 "preAllocatedVUs": 64, "maxVUs": 5000},
        "spike": {"executor": "ramping-arrival-rate", "startRate": 0, "preAllocatedVUs": 10,
                  "stages": [{"duration": "5s", "target": 100}, {"duration": "5s", "target": 0}]},
        "batch": {"executor": "shared-iterations", "vus": 4, "iterations": 1000, "maxDuration": "20s"} },
      "thresholds": { "http_req_duration{scenario:ramp}": ["p(95)<500"], "http_req_failed": ["rate<0.01"],
                      "http_req_waiting": [{"threshold": "p(99)<200", "abortOnFail": true}],
                      "http_reqs": ["count>10"] } })");
    REQUIRE(spec.requests.size() == 2);
    CHECK(spec.requests[0].weight == 3);
    CHECK(spec.requests[0].range.how == range_spec::kind::first);
    CHECK(spec.requests[0].range.bytes == 1024 * 1024);
    CHECK(spec.requests[0].headers.size() == 1);
    CHECK(spec.requests[1].method == "HEAD");
    CHECK(spec.requests[1].range.how == range_spec::kind::random);
    REQUIRE(spec.scenarios.size() == 5);
    CHECK(spec.scenarios[0].name == "steady");
    CHECK(spec.scenarios[0].vus == 64);
    CHECK(spec.scenarios[0].graceful_stop == 30s);
    CHECK(spec.scenarios[1].executor == executor_kind::ramping_vus);
    CHECK(spec.scenarios[1].start_time == 30s);
    CHECK(spec.scenarios[1].peak_vus() == 500);
    CHECK(spec.scenarios[1].length() == 10s);
    CHECK(spec.scenarios[2].max_vus == 5000);
    CHECK(spec.scenarios[3].max_vus == 10); // defaults to preAllocatedVUs
    CHECK(spec.scenarios[3].length() == 10s);
    CHECK(spec.scenarios[4].iterations == 1000);
    CHECK(spec.length() == 1min + 30s);
    REQUIRE(spec.thresholds.size() == 4);
    for (auto& t : spec.thresholds) {
        if (t.metric == "http_req_duration") {
            CHECK(t.scenario == "ramp");
            CHECK(t.key == "http_req_duration{scenario:ramp}");
        }
        if (t.metric == "http_req_waiting")
            CHECK(t.abort_on_fail);
    }
}

TEST_CASE("parse_load_spec: bad input gets one line naming the place") {
    CHECK(error_of("{").rfind("not JSON", 0) == 0);
    CHECK(error_of(R"({"scenarios": {}})").find("requests") != std::string::npos);
    CHECK(error_of("{" + requests + "}").find("scenarios") != std::string::npos);
    CHECK(error_of(R"({"requests": [{"url": "ftp://x/a"}], "scenarios": {"s": {"executor": "constant-vus", "duration": "1s"}}})")
              .find("requests[0].url") != std::string::npos);
    CHECK(error_of(R"({"requests": [{"url": "https://h/a", "range": "last:1M"}], "scenarios": {"s": {"executor": "constant-vus", "duration": "1s"}}})")
              .find("requests[0].range") != std::string::npos);
    CHECK(error_of(R"({"requests": [{"url": "https://h/a", "method": "POST"}], "scenarios": {"s": {"executor": "constant-vus", "duration": "1s"}}})")
              .find("GET or HEAD") != std::string::npos);
    CHECK(error_of(with_scenario(R"({"executor": "per-vu-iterations"})")).find("unknown executor") != std::string::npos);
    CHECK(error_of(with_scenario(R"({"vus": 2})")).find("missing \"executor\"") != std::string::npos);
    CHECK(error_of(with_scenario(R"({"executor": "constant-vus", "vus": 2})")) ==
          "scenarios.s: constant-vus needs \"duration\"");
    CHECK(error_of(with_scenario(R"({"executor": "constant-vus", "duration": "10 s"})")).find("scenarios.s.duration") !=
          std::string::npos);
    CHECK(error_of(with_scenario(R"({"executor": "constant-vus", "duration": "1s", "rate": 5})"))
              .find("scenarios.s.rate: not an option of constant-vus") == 0);
    CHECK(error_of(with_scenario(R"({"executor": "constant-vus", "duration": "1s", "vus": 0})")).find("scenarios.s.vus") == 0);
    CHECK(error_of(with_scenario(R"({"executor": "constant-arrival-rate", "rate": 10, "duration": "1s"})"))
              .find("preAllocatedVUs") != std::string::npos);
    CHECK(error_of(with_scenario(R"({"executor": "constant-arrival-rate", "rate": 10, "duration": "1s", "preAllocatedVUs": 5, "maxVUs": 2})"))
              .find("maxVUs") != std::string::npos);
    CHECK(error_of(with_scenario(R"({"executor": "ramping-vus", "stages": []})")).find("stages") != std::string::npos);
    CHECK(error_of(with_scenario(R"({"executor": "ramping-vus", "stages": [{"duration": "1s"}]})")).find("target") != std::string::npos);
    CHECK(error_of(with_scenario(R"({"executor": "shared-iterations", "vus": 5, "iterations": 2})")).find("fewer iterations") !=
          std::string::npos);
    const std::string ok = R"({"executor": "constant-vus", "duration": "1s"})";
    auto with_threshold = [&](const std::string& t) {
        return "{" + requests + R"(, "scenarios": {"s": )" + ok + R"(}, "thresholds": )" + t + "}";
    };
    CHECK(error_of(with_threshold(R"({"http_req_duration": ["p(95)<500"]})")).empty());
    CHECK(error_of(with_threshold(R"({"http_req_latency": ["p(95)<500"]})")).find("unknown metric") != std::string::npos);
    CHECK(error_of(with_threshold(R"({"http_req_duration{scenario:x}": ["p(95)<500"]})")).find("no scenario named") !=
          std::string::npos);
    CHECK(error_of(with_threshold(R"({"http_req_duration{status:200}": ["p(95)<500"]})")).find("{scenario:NAME}") !=
          std::string::npos);
    CHECK(error_of(with_threshold(R"({"http_req_failed": ["p(95)<500"]})")).find("does not apply") != std::string::npos);
    CHECK(error_of(with_threshold(R"({"http_req_duration": ["p95<500"]})")).find("thresholds.http_req_duration[0]") == 0);
    CHECK(error_of(with_threshold(R"({"http_reqs": [{"threshold": "count>1", "abortOnFail": "yes"}]})")).find("abortOnFail") !=
          std::string::npos);
}
