// /metrics from a real download: the engine's statistics rendered in both formats, checked by
// Prometheus's own promtool, with values matched against what the origin counted.
#include "engine_fixture.hpp"

#include "cli/child_process.hpp"
#include "engine/metrics.hpp"

#include <cstdlib>
#include <map>
#include <sstream>
#include <unistd.h>

using namespace ferry;
using ferry::test::engine_fixture;
namespace asio = boost::asio;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

/// promtool from PATH (Debian's `prometheus` package installs /usr/bin/promtool).
std::string promtool() { return test::find_in_path("promtool"); }

/// `promtool check metrics < file`: the exposition on stdin, as the documentation runs it.
test::run_result check_metrics(const std::string& tool, const std::filesystem::path& file,
                               const std::filesystem::path& dir) {
    return test::run_program({"/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\"", tool, file.string()}, dir);
}

/// Each sample line of an exposition: its series (name and labels) to its value.
std::map<std::string, double> samples_of(const std::string& text) {
    std::map<std::string, double> out;
    for (auto& line : test::lines_of(text)) {
        if (line.starts_with("#"))
            continue;
        auto space = line.rfind(' ');
        out[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
    }
    return out;
}

/// The counters' names of an OpenMetrics exposition (from its `# TYPE NAME counter` lines).
std::vector<std::string> counter_families(const std::string& text) {
    std::vector<std::string> out;
    for (auto& line : test::lines_of(text))
        if (line.starts_with("# TYPE ") && line.ends_with(" counter"))
            out.push_back(line.substr(7, line.size() - 7 - 8));
    return out;
}

/// A setup for engine_fixture::run() that takes a snapshot once model "test" is done, then runs
/// `more` (control calls, a subscriber).
std::function<void(engine&)> snapshot_when_done(std::optional<engine_stats>& stats,
                                                std::function<void(engine&)> more = {}) {
    return [&stats, more](engine& e) {
        asio::co_spawn(
            e.get_executor(),
            [&]() -> asio::awaitable<void> {
                auto waiting = e.wait("test");
                co_await std::move(waiting);
                auto snapshot = e.stats();
                stats = co_await std::move(snapshot);
            },
            asio::detached);
        if (more)
            more(e);
    };
}

} // namespace

TEST_CASE("/metrics after a real download: promtool accepts both formats, values match the origin's counts") {
    auto tool = promtool();
    REQUIRE_MESSAGE(!tool.empty(), "promtool is not in PATH: install Debian's `prometheus` package "
                                   "(tools/install-deps.sh does) to run this test");

    engine_fixture f;
    origin::fault busy; // one 503 first: a retry
    busy.status = 503;
    busy.retry_after = "0";
    busy.times = 1;
    f.server.add_fault("/busy.bin", busy);
    auto m = f.model({{"big.bin", 3 * MiB}, {"busy.bin", 100'000}});
    auto missing = f.single("missing.bin"); // 404: a failed file
    m.files.push_back(missing.files.front());
    auto c = f.config();
    c.connections_per_file = 1; // no stolen ranges: every byte the origin sends is read

    std::optional<engine_stats> stats;
    auto result = f.run(c, m, snapshot_when_done(stats));
    REQUIRE(stats.has_value());
    CHECK(result.files.size() == 3);
    auto seen = f.server.stats();
    CAPTURE(seen.requests);

    auto process = read_process_stats();
    auto text = metrics_text(exposition_format::prometheus_text, *stats, process);
    auto openmetrics = metrics_text(exposition_format::openmetrics, *stats, process);
    test::spit(f.dir / "metrics.txt", text);
    test::spit(f.dir / "metrics.om", openmetrics);

    { // The text format passes promtool's lint without a word.
        auto checked = check_metrics(tool, f.dir / "metrics.txt", f.dir);
        INFO("promtool said: ", checked.out, checked.err);
        INFO(text);
        CHECK(checked.status == 0);
        CHECK(checked.out.empty());
        CHECK(checked.err.empty());
    }

    { // OpenMetrics: Prometheus's OpenMetrics parser takes it; promtool's lint finds nothing else.
        // promtool 2.42 lints with the text-format parser only: there an OpenMetrics counter's
        // `NAME_total` samples are a family of their own, without HELP. That, and nothing else.
        auto checked = check_metrics(tool, f.dir / "metrics.om", f.dir);
        INFO("promtool said: ", checked.out, checked.err);
        std::vector<std::string> expected;
        for (auto& name : counter_families(openmetrics))
            expected.push_back(name + "_total no help text");
        CHECK(expected.size() >= 5);
        auto said = test::lines_of(checked.err);
        std::sort(said.begin(), said.end());
        std::sort(expected.begin(), expected.end());
        CHECK(said == expected);
        CHECK(checked.out.empty());
        CHECK(checked.status == 3); // lint problems, not a parse error (1)

        // The strict parser (Prometheus's OpenMetrics one: # EOF, UNIT a suffix of the name,
        // canonical syntax) reads it when backfilling, which wants a timestamp on each sample.
        std::string stamped;
        for (auto& line : test::lines_of(openmetrics))
            stamped += line.starts_with("#") ? line + "\n" : line + " 1700000000\n";
        test::spit(f.dir / "stamped.om", stamped);
        auto parsed = test::run_program(
            {tool, "tsdb", "create-blocks-from", "openmetrics", (f.dir / "stamped.om").string(), (f.dir / "blocks").string()},
            f.dir);
        INFO("promtool tsdb said: ", parsed.out, parsed.err);
        CHECK(parsed.status == 0);
        CHECK(samples_of(openmetrics).size() == samples_of(text).size());
    }

    { // Values: bytes as the origin sent them, a request per histogram count, files and retries.
        auto values = samples_of(text);
        CHECK(values["ferry_received_bytes_total"] == double(seen.body_bytes_sent));
        CHECK(values["ferry_received_bytes_total"] == double(3 * MiB + 100'000));
        CHECK(values["ferry_files_ended_total{outcome=\"done\"}"] == 2);
        CHECK(values["ferry_files_ended_total{outcome=\"failed\"}"] == 1);
        CHECK(values["ferry_files_ended_total{outcome=\"skipped\"}"] == 0);
        CHECK(values["ferry_files_ended_total{outcome=\"cancelled\"}"] == 0);
        CHECK(values["ferry_retries_total"] == 1);
        CHECK(values["ferry_files_running"] == 0);
        CHECK(values["ferry_files_queued"] == 0);

        REQUIRE(stats->latency.size() == 1);
        auto host = "{host=\"" + stats->latency.begin()->first + "\"}";
        CHECK(seen.requests >= 4); // big (in windows of ranges), busy twice, missing
        CHECK(values["ferry_request_duration_seconds_count" + host] == double(seen.requests));
        CHECK(values["ferry_request_first_byte_seconds_count" + host] == double(seen.requests));
        auto inf = "ferry_request_duration_seconds_bucket{host=\"" + stats->latency.begin()->first + "\",le=\"+Inf\"}";
        CHECK(values[inf] == double(seen.requests));
        CHECK(values["ferry_request_duration_seconds_sum" + host] > 0);
        CHECK(values["ferry_connections_opened_total" + host] == double(seen.connections_accepted));
        // Requests by class of answer: what the origin answered, counted the same way.
        std::map<std::string, double> by_class;
        for (auto& [status, n] : seen.statuses)
            by_class[std::to_string(status / 100) + "xx"] += double(n);
        for (auto& [cls, n] : by_class) {
            CAPTURE(cls);
            CHECK(values["ferry_requests_total{host=\"" + stats->latency.begin()->first + "\",class=\"" + cls + "\"}"] == n);
        }
        CHECK(by_class["5xx"] == 1);
        CHECK(by_class["4xx"] == 1);

        CHECK(values["process_cpu_seconds_total"] > 0);
        CHECK(values["process_resident_memory_bytes"] > 1e6);
        CHECK(values["process_open_fds"] > 0);
        CHECK(values["process_max_fds"] >= values["process_open_fds"]);
        CHECK(values["ferry_buffer_size_bytes"] == double(c.buffer_size));
    }
}

TEST_CASE("the daemon's families render and pass promtool too") {
    auto tool = promtool();
    REQUIRE_MESSAGE(!tool.empty(), "promtool is not in PATH: install Debian's `prometheus` package");
    daemon_stats daemon;
    daemon.rpc["aria2.tellStatus"].duration.record(std::chrono::microseconds(250));
    daemon.rpc["aria2.tellStatus"].duration.record(std::chrono::milliseconds(3));
    daemon.rpc["aria2.addUri"].errors = 1;
    daemon.loop_lag.record(std::chrono::microseconds(40));
    auto text = metrics_text(exposition_format::prometheus_text, engine_stats{}, process_stats{}, &daemon);
    auto dir = test::make_temp_dir();
    test::spit(dir / "daemon.txt", text);
    auto checked = check_metrics(tool, dir / "daemon.txt", dir);
    std::filesystem::remove_all(dir);
    INFO("promtool said: ", checked.out, checked.err);
    INFO(text);
    CHECK(checked.status == 0);
    CHECK(checked.err.empty());
    auto values = samples_of(text);
    CHECK(values["ferry_rpc_duration_seconds_count{method=\"aria2.tellStatus\"}"] == 2);
    CHECK(values["ferry_rpc_duration_seconds_bucket{method=\"aria2.tellStatus\",le=\"0.000316228\"}"] == 1);
    CHECK(values["ferry_rpc_errors_total{method=\"aria2.addUri\"}"] == 1);
    CHECK(values["ferry_event_loop_lag_seconds_count"] == 1);
}

TEST_CASE("files are counted once when they end: not when a pause sends them back, and cancelled while queued") {
    engine_fixture f;
    f.cap_rate("/slow.bin", 512 * 1024); // about a second: the pause lands mid-transfer
    auto c = f.config();
    c.max_files = 1;
    auto other = f.model({{"never.bin", 1000}});
    other.id = "other";
    std::optional<engine_stats> stats;
    bool paused = false;
    auto result = f.run(c, f.model({{"slow.bin", 512 * 1024}, {"after.bin", 1000}}),
                        snapshot_when_done(stats, [&](engine& e) {
                            // Queued behind the cap of one file, then cancelled before it starts.
                            REQUIRE(e.add(other));
                            e.cancel("other");
                            e.subscribe([&](const event& ev) {
                                if (ev.what == event::kind::progress && !paused) {
                                    paused = true;
                                    e.pause();
                                    e.resume();
                                }
                            });
                        }));
    REQUIRE(result.ok());
    REQUIRE(stats.has_value());
    CHECK(paused);
    CHECK(stats->files_ended.done == 2);
    CHECK(stats->files_ended.cancelled == 1);
    CHECK(stats->files_ended.failed == 0);
    CHECK(stats->files_ended.skipped == 0);
    CHECK(stats->retries == 0);
    CHECK(stats->files_queued == 0);
    CHECK(stats->files_running == 0);
    auto values = samples_of(metrics_text(exposition_format::prometheus_text, *stats, process_stats{}));
    CHECK(values["ferry_files_ended_total{outcome=\"done\"}"] == 2);
    CHECK(values["ferry_files_ended_total{outcome=\"cancelled\"}"] == 1);
}
