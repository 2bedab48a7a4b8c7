// ferry origin: the HTTPS origin used by tests and benchmarks, as a server.
#include "tools/arguments.hpp"
#include "tools/commands.hpp"
#include "tools/origin/fault_spec.hpp"
#include "tools/origin/hub_catalog.hpp"
#include "tools/origin/origin_server.hpp"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <fstream>
#include <functional>
#include <iterator>
#include <iostream>
#include <stdexcept>
#include <vector>

namespace ferry::cli {

namespace {

constexpr const char* origin_usage =
    "usage: ferry origin [OPTIONS]\n"
    "\n"
    "Serves synthetic files and/or a directory over HTTPS (HTTP/1.1, keep-alive, byte ranges)\n"
    "until SIGINT or SIGTERM. Prints one line: ferry origin: serving URL (ca: FILE)\n"
    "\n"
    "  --host H                 listen address, an IP or localhost (default 127.0.0.1)\n"
    "  --port N                 port (default: an ephemeral one, printed)\n"
    "  --root DIR               serve the files beneath DIR\n"
    "  --synthetic PATH:SIZE    serve SIZE synthetic bytes at PATH (repeatable; 2G, 512M...)\n"
    "  --seed N                 seed of the synthetic bytes (default 0)\n"
    "  --cert FILE --key FILE   PEM certificate chain and key (default: a generated test CA)\n"
    "  --write-ca FILE          write the CA to trust to FILE (default: a temporary file,\n"
    "                           removed at exit)\n"
    "  --rate-per-connection R  strict cap per response body, bytes/s (750K, 20M, 1G)\n"
    "  --http                   plain HTTP instead of HTTPS\n"
    "  --threads N              server threads (default 1)\n"
    "  --fault PATH:SPEC        misbehave on PATH (a prefix when it ends in '*'), repeatable.\n"
    "                           SPEC: comma-separated items, e.g. status=503,retry-after=2,times=3\n"
    "                           drop-after=1M  stall-after=0  rate=10M  delay=500ms  ignore-range\n"
    "                           redirect=/other[,status=307]  shift-range=4096[,shifted-body]\n"
    "                           version=N  short-body=SIZE  long-body=SIZE  big-headers=SIZE\n"
    "                           close  skip=N  times=N  drop-mid  pause=20s  chance=0.05\n"
    "                           signed-redirect=TTL[,sign-style=amz|cloudfront|azure][,sign-host=H]\n"
    "                           ratelimit=REMAINING/RESET  (see tools/origin/fault_spec.hpp)\n"
    "  --fault-mix NAME         add a named mix of faults at this point of the rules; cdn:\n"
    "                           10% drop mid-body, 5% 503 and 2% 429 (Retry-After: 1), 1% a 20 s\n"
    "                           pause mid-body, 3% Range ignored, 2% drop before the body\n"
    "  --fault-seed N           seed of the faults' draws (chance=, where drops and pauses fall)\n"
    "  --etag-salt S            a different ETag for the same bytes (another CDN's)\n"
    "  --stats-file FILE        write the counters as JSON to FILE on SIGUSR1 and at exit:\n"
    "                           requests, body_bytes_sent, statuses, faulted, signed_*...\n"
    "  --hub FILE               also be a fake Hugging Face Hub serving the repos of the JSON\n"
    "                           spec FILE (README.md, ferry origin): /api/{models,datasets}/...,\n"
    "                           /{repo}/resolve/{rev}/{path}, LFS files 302 to signed CDN URLs\n"
    "                           on the other loopback name; set HF_ENDPOINT to the printed URL\n";

/// Replaces `path` with the counters, atomically (a reader never sees half a file).
void write_stats_file(const std::filesystem::path& path, const origin::origin_stats& stats) {
    auto temporary = path;
    temporary += ".tmp";
    {
        std::ofstream out(temporary, std::ios::trunc);
        out << origin::stats_json(stats) << "\n";
        if (!out.flush())
            throw std::runtime_error("cannot write " + temporary.string());
    }
    std::filesystem::rename(temporary, path);
}

std::uint64_t size_option(std::string_view option, std::string_view text) {
    auto n = parse_byte_size(text);
    if (!n)
        throw usage_error("option " + std::string(option) + " needs a size like 512K, 20M or 2G, not '" +
                          std::string(text) + "'");
    return *n;
}

} // namespace

int run_origin(std::span<const std::string_view> args) {
    origin::origin_config config;
    std::vector<std::pair<std::string, std::uint64_t>> synthetic;
    std::vector<origin::fault_rule_text> faults;
    std::filesystem::path ca_file, stats_file, hub_file;
    arguments a(args);
    std::string value;
    while (!a.done()) {
        auto arg = a.take();
        if (arg == "--help" || arg == "-h") {
            std::cout << origin_usage;
            return 0;
        }
        if (a.value(arg, "--host", value)) {
            config.host = value;
        } else if (a.value(arg, "--port", value)) {
            auto port = value == "0" ? 0 : parse_count("--port", value); // 0: any free port
            if (port > 65535)
                throw usage_error("option --port needs a port number, not '" + value + "'");
            config.port = static_cast<std::uint16_t>(port);
        } else if (a.value(arg, "--root", value)) {
            if (!std::filesystem::is_directory(value))
                throw usage_error("--root " + value + " is not a directory");
            config.root = value;
        } else if (a.value(arg, "--synthetic", value)) {
            auto colon = value.rfind(':');
            if (colon == std::string::npos || colon == 0)
                throw usage_error("--synthetic takes PATH:SIZE, not '" + value + "'");
            synthetic.emplace_back(value.substr(0, colon), size_option("--synthetic", value.substr(colon + 1)));
        } else if (a.value(arg, "--seed", value)) {
            config.seed = value == "0" ? 0 : parse_count("--seed", value);
        } else if (a.value(arg, "--cert", value)) {
            config.cert_file = value;
        } else if (a.value(arg, "--key", value)) {
            config.key_file = value;
        } else if (a.value(arg, "--write-ca", value)) {
            ca_file = value;
        } else if (a.value(arg, "--rate-per-connection", value)) {
            config.rate_per_connection = size_option("--rate-per-connection", value);
        } else if (arg == "--http") {
            config.tls = false;
        } else if (a.value(arg, "--threads", value)) {
            config.threads = static_cast<unsigned>(std::min<std::uint64_t>(parse_count("--threads", value), 256));
        } else if (a.value(arg, "--fault", value)) {
            try {
                faults.push_back(origin::parse_fault_rule(value));
            } catch (const std::invalid_argument& e) {
                throw usage_error(std::string("--fault: ") + e.what());
            }
        } else if (a.value(arg, "--fault-mix", value)) {
            try {
                for (auto& rule : origin::fault_mix(value))
                    faults.push_back(std::move(rule));
            } catch (const std::invalid_argument& e) {
                throw usage_error(std::string("--fault-mix: ") + e.what());
            }
        } else if (a.value(arg, "--fault-seed", value)) {
            config.fault_seed = value == "0" ? 0 : parse_count("--fault-seed", value);
        } else if (a.value(arg, "--etag-salt", value)) {
            config.etag_salt = value;
        } else if (a.value(arg, "--stats-file", value)) {
            stats_file = value;
        } else if (a.value(arg, "--hub", value)) {
            hub_file = value;
        } else {
            throw usage_error("origin: unknown option '" + std::string(arg) + "' (ferry origin --help)");
        }
    }
    if (config.cert_file.empty() != config.key_file.empty())
        throw usage_error("--cert and --key go together");
    if (!config.tls && (!config.cert_file.empty() || !ca_file.empty()))
        throw usage_error("--http serves no certificate: --cert, --key and --write-ca do not apply");

    if (!hub_file.empty()) {
        std::ifstream in(hub_file, std::ios::binary);
        if (!in)
            throw usage_error("--hub: cannot read " + hub_file.string());
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        try {
            config.hub = std::make_shared<origin::hub_catalog>(origin::parse_hub_spec(text, config.seed));
        } catch (const std::invalid_argument& e) {
            throw usage_error("--hub " + hub_file.string() + ": " + e.what());
        }
    }

    std::unique_ptr<origin::origin_server> server;
    try {
        server = std::make_unique<origin::origin_server>(config);
    } catch (const std::invalid_argument& e) {
        throw usage_error(e.what());
    }
    for (auto& [path, size] : synthetic)
        server->add_synthetic(path, size);
    try {
        for (auto& rule : faults)
            server->add_fault(rule.pattern, rule.what);
    } catch (const std::invalid_argument& e) {
        throw usage_error(std::string("--fault: ") + e.what());
    }
    server->start();

    bool temporary_ca = false;
    if (config.tls && ca_file.empty()) {
        ca_file = std::filesystem::temp_directory_path() /
                  ("ferry-origin-" + std::to_string(getpid()) + "-ca.pem");
        temporary_ca = true;
    }
    if (config.tls)
        server->write_ca(ca_file);

    // Scripts read this line to find the port and the CA: keep its shape.
    std::cout << "ferry origin: serving " << server->url("") << " (ca: " << (config.tls ? ca_file.string() : "none")
              << ")" << std::endl;
    for (auto& [path, size] : synthetic)
        std::cerr << "  " << server->url(path) << "  " << size << " bytes\n";

    boost::asio::io_context signals_io;
    boost::asio::signal_set signals(signals_io, SIGINT, SIGTERM, SIGUSR1);
    int received = 0;
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int signal) {
            if (!ec && signal == SIGUSR1) {
                if (!stats_file.empty())
                    write_stats_file(stats_file, server->stats(false));
                signals.async_wait(on_signal);
                return;
            }
            received = signal;
        };
    signals.async_wait(on_signal);
    signals_io.run();

    server->stop();
    if (!stats_file.empty())
        write_stats_file(stats_file, server->stats(false));
    auto stats = server->stats(false);
    std::cerr << "ferry origin: stopped (signal " << received << ") after " << stats.requests << " requests on "
              << stats.connections_accepted << " connections, " << stats.body_bytes_sent << " body bytes\n";
    if (temporary_ca) {
        std::error_code ignored;
        std::filesystem::remove(ca_file, ignored);
    }
    return 0;
}

} // namespace ferry::cli
