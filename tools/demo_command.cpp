// ferry demo: start the built-in origin, download a synthetic model from it, and report.
#include "tools/arguments.hpp"
#include "tools/commands.hpp"
#include "tools/download_session.hpp"
#include "tools/origin/origin_server.hpp"
#include "tools/origin/synthetic.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace ferry::cli {

namespace {

struct demo_file {
    const char* path;
    std::uint64_t size;
};

// A small text-to-video model, about 1 GiB: configs and a tokenizer first, then the shards.
constexpr demo_file demo_model[] = {
    {"config.json", 1'523},
    {"generation_config.json", 311},
    {"tokenizer.json", 3 * 1024 * 1024 + 77},
    {"model.safetensors.index.json", 31'846},
    {"diffusion/model-00001-of-00004.safetensors", 268'435'456},
    {"diffusion/model-00002-of-00004.safetensors", 268'435'456},
    {"diffusion/model-00003-of-00004.safetensors", 268'435'456},
    {"diffusion/model-00004-of-00004.safetensors", 201'326'592},
};

} // namespace

int run_demo(std::span<const std::string_view> args) {
    std::filesystem::path destination = "ferry-demo";
    arguments a(args);
    std::string value;
    while (!a.done()) {
        auto arg = a.take();
        if (a.value(arg, "--dir", "-d", value))
            destination = value;
        else
            throw usage_error("ferry demo takes no arguments but --dir DIR (got " + std::string(arg) + ")");
    }

    bool tty = isatty(STDERR_FILENO) == 1;
    const char* bold = tty && !std::getenv("NO_COLOR") ? "\x1b[1m" : "";
    const char* green = tty && !std::getenv("NO_COLOR") ? "\x1b[32m" : "";
    const char* reset = tty && !std::getenv("NO_COLOR") ? "\x1b[0m" : "";

    origin::origin_config config;
    config.seed = 2026;
    origin::origin_server server(config);
    std::uint64_t total = 0;
    for (auto& f : demo_model) {
        server.add_synthetic(std::string("t2v-mini/") + f.path, f.size);
        total += f.size;
    }
    server.start();
    auto ca_file = std::filesystem::temp_directory_path() / ("ferry-demo-ca-" + std::to_string(getpid()) + ".pem");
    server.write_ca(ca_file);

    std::cerr << bold << "ferry demo" << reset << ": a synthetic model from a built-in HTTPS origin\n\n"
              << "  origin       " << server.url("") << " (its own CA, verified like any other)\n"
              << "  model        t2v-mini: " << std::size(demo_model) << " files, " << human_bytes(double(total))
              << " -> " << (destination / "t2v-mini").string() << "\n"
              << "  preparing    sha256 of every file, so each download is verified...\n";

    model_spec model;
    model.id = "t2v-mini";
    model.prio = priority::high;
    model.dir = destination / "t2v-mini";
    for (auto& f : demo_model) {
        file_spec spec;
        spec.path = f.path;
        spec.size = f.size;
        spec.sha256 = origin::synthetic_sha256(std::string("t2v-mini/") + f.path, f.size, config.seed);
        spec.urls = {server.url(std::string("t2v-mini/") + f.path)};
        model.files.push_back(std::move(spec));
    }
    // Start fresh each time, so the demo always shows a real download.
    std::error_code ignored;
    std::filesystem::remove_all(model.dir, ignored);
    std::filesystem::create_directories(model.dir, ignored);
    std::cerr << "\n";

    session_options options;
    options.engine.ca_file = ca_file;
    std::vector<model_spec> models;
    models.push_back(std::move(model));
    auto report = run_session(options, std::move(models));
    std::filesystem::remove(ca_file, ignored);

    std::cerr << "\n";
    for (auto& m : report.models)
        for (auto& f : m.files) {
            bool ok = f.outcome == file_outcome::done || f.outcome == file_outcome::skipped;
            char line[256];
            std::snprintf(line, sizeof line, "  %s%s%s %-46s %10s  %s\n", ok ? green : "", ok ? "✓" : "✗", reset,
                          f.path.lexically_relative(destination).generic_string().c_str(),
                          human_bytes(double(f.size)).c_str(), ok ? "sha256 verified" : f.message.c_str());
            std::cerr << line;
        }
    double seconds = std::max(report.elapsed.count(), 1e-6);
    auto origin_stats = server.stats();
    char speed[160];
    std::snprintf(speed, sizeof speed, "%s in %.2f s (%s/s)", human_bytes(double(report.bytes_fetched)).c_str(),
                  seconds, human_bytes(double(report.bytes_fetched) / seconds).c_str());
    std::cerr << "\n"
              << "  " << bold << "files" << reset << "        " << report.done << " downloaded and verified"
              << (report.failed ? ", " + std::to_string(report.failed) + " failed" : std::string()) << "\n"
              << "  " << bold << "bytes" << reset << "        " << speed << "\n"
              << "  " << bold << "connections" << reset << "  " << report.stats.pool.opened << " opened, "
              << report.stats.pool.reused << " requests on reused ones, " << report.stats.pool.tls_resumed
              << " TLS sessions resumed\n"
              << "  " << bold << "server saw" << reset << "   " << origin_stats.requests << " requests on "
              << origin_stats.connections_accepted << " connections\n";
    server.stop();
    return report.exit_status();
}

} // namespace ferry::cli
