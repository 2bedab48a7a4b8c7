// ferry load: k6-style scripted load tests (tools/load).
#include "tools/arguments.hpp"
#include "tools/commands.hpp"
#include "tools/load/load_plot.hpp"
#include "tools/load/load_report.hpp"
#include "tools/load/load_runner.hpp"
#include "tools/load/load_scenario.hpp"
#include "perf/hdr_log_writer.hpp"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json/serialize.hpp>

#include <csignal>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>

namespace ferry::cli {
namespace {

constexpr const char* load_usage =
    "usage: ferry load [OPTIONS] SCENARIO.json\n"
    "\n"
    "Runs a k6-style load test: requests (url, weight, range, method, headers) driven by\n"
    "scenarios (constant-vus, ramping-vus, constant-arrival-rate, ramping-arrival-rate,\n"
    "shared-iterations) with thresholds (README.md, Load tests). A table on stderr each second.\n"
    "Exit status: 0 passed, 99 a threshold failed, 2 usage or scenario errors, 1 other failures.\n"
    "\n"
    "  --summary-export FILE   the end-of-test summary as JSON (k6's shape)\n"
    "  --out hdr=FILE          per-second latency histograms, HdrHistogram log format (µs values,\n"
    "                          max in ms): http_req_duration{scenario:NAME} and its _uncorrected\n"
    "                          twin, http_req_waiting{scenario:NAME}\n"
    "  --plot FILE.svg         latency percentiles and throughput over time, per scenario\n"
    "  --ca-cert FILE          trust this PEM bundle as well as the system store\n"
    "  --proxy URL, --noproxy LIST   as ferry get (default: the curl environment variables)\n"
    "  --connect-timeout SECONDS     resolve + connect + proxy limit (default 15)\n"
    "  --timeout SECONDS       first byte and stall limit of each request (default 30)\n"
    "  --max-connections N     open connections (default: one per VU); fewer makes requests\n"
    "                          queue for one, as wrk's fixed connections do\n"
    "  --max-connecting N      connections being established at once (default 64)\n"
    "  --seed N                seed of the weighted picks and random ranges (default 1)\n"
    "  -q, --quiet             no table while running\n";

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw usage_error("cannot read scenario file " + path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::ofstream open_output(const std::string& path, const char* what) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out)
        throw usage_error(std::string("cannot write ") + what + " " + path);
    return out;
}

} // namespace

int run_load(std::span<const std::string_view> args) {
    arguments a(args);
    load::runner_options options;
    std::string scenario_path, summary_path, hdr_path, plot_path, value;
    bool quiet = false;
    while (!a.done()) {
        auto arg = a.take();
        if (arg == "-h" || arg == "--help") {
            std::cout << load_usage;
            return 0;
        } else if (a.value(arg, "--summary-export", value)) {
            summary_path = value;
        } else if (a.value(arg, "--out", value)) {
            if (!value.starts_with("hdr=") || value.size() == 4)
                throw usage_error("--out takes hdr=FILE, not '" + value + "'");
            hdr_path = value.substr(4);
        } else if (a.value(arg, "--plot", value)) {
            plot_path = value;
        } else if (a.value(arg, "--ca-cert", value)) {
            options.ca_file = value;
        } else if (a.value(arg, "--proxy", value)) {
            options.proxy.proxy = value;
        } else if (a.value(arg, "--noproxy", value)) {
            options.proxy.no_proxy = value;
        } else if (a.value(arg, "--connect-timeout", value)) {
            options.timeouts.connect = parse_seconds("--connect-timeout", value);
        } else if (a.value(arg, "--timeout", value)) {
            options.timeouts.first_byte = options.timeouts.stall = parse_seconds("--timeout", value);
        } else if (a.value(arg, "--max-connections", value)) {
            options.max_connections = parse_count("--max-connections", value);
        } else if (a.value(arg, "--max-connecting", value)) {
            options.max_connecting = parse_count("--max-connecting", value);
        } else if (a.value(arg, "--seed", value)) {
            options.seed = parse_count("--seed", value, true);
        } else if (arg == "-q" || arg == "--quiet") {
            quiet = true;
        } else if (arg.starts_with("-")) {
            throw usage_error("load: unknown option '" + std::string(arg) + "' (ferry load --help)");
        } else if (scenario_path.empty()) {
            scenario_path = arg;
        } else {
            throw usage_error("load: one scenario file only");
        }
    }
    if (scenario_path.empty())
        throw usage_error("load: a scenario file is needed (ferry load --help)");

    load::load_spec spec;
    try {
        spec = load::parse_load_spec(read_file(scenario_path));
    } catch (const load::scenario_error& e) {
        std::cerr << "ferry: " << scenario_path << ": " << e.what() << "\n";
        return 2;
    }
    std::optional<std::ofstream> hdr_file;
    if (!hdr_path.empty())
        hdr_file = open_output(hdr_path, "HDR log");
    std::optional<std::ofstream> summary_file, plot_file;
    if (!summary_path.empty())
        summary_file = open_output(summary_path, "summary");
    if (!plot_path.empty())
        plot_file = open_output(plot_path, "plot");

    boost::asio::io_context io(1);
    load::load_runner runner(io, spec, options);
    std::optional<hdr_log_writer> hdr_log;
    if (hdr_file)
        hdr_log.emplace(*hdr_file);
    load::live_table table(std::cerr, isatty(STDERR_FILENO) == 1);
    bool header_written = false;
    runner.on_report([&](double t, double span) {
        if (!quiet)
            table.update(runner, t, span);
        if (!hdr_log)
            return;
        if (!header_written) {
            hdr_log->write_header(std::chrono::duration<double>(runner.started_wall().time_since_epoch()).count());
            header_written = true;
        }
        for (auto& s : runner.scenarios()) {
            if (s->interval.requests == 0)
                continue;
            const std::string tag = "{scenario:" + s->spec->name + "}";
            for (auto which : {load::trend::duration, load::trend::duration_uncorrected, load::trend::waiting})
                hdr_log->write_interval(load::trend_name(which) + tag, t - span, span, s->interval.of(which));
        }
    });

    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (!ec) {
            std::cerr << "ferry load: stopping\n";
            runner.stop();
        }
    });
    bool finished = false;
    auto run = [&]() -> boost::asio::awaitable<void> {
        co_await runner.run();
        finished = true;
        signals.cancel();
    };
    auto job = run();
    boost::asio::co_spawn(io, std::move(job), [](std::exception_ptr e) {
        if (e)
            std::rethrow_exception(e);
    });
    io.run();
    if (!finished)
        throw std::runtime_error("load: the run ended before its scenarios did");

    std::vector<const load::metric_set*> totals;
    for (auto& s : runner.scenarios())
        totals.push_back(&s->total);
    const auto all = runner.overall();
    const auto results = runner.thresholds().evaluate(totals, all, runner.elapsed_seconds());
    const auto warnings = load::run_warnings(runner);
    for (auto& w : warnings)
        std::cerr << "ferry load: warning: " << w << "\n";
    load::print_summary(std::cout, runner, results, warnings);
    if (summary_file)
        *summary_file << boost::json::serialize(load::summary_export(runner, results, warnings)) << "\n";
    if (plot_file)
        load::write_plot_svg(*plot_file, runner);
    if (hdr_file)
        hdr_file->flush();
    bool failed = runner.aborted_by().has_value();
    for (auto& r : results)
        failed = failed || !r.ok;
    return failed ? 99 : 0;
}

} // namespace ferry::cli
