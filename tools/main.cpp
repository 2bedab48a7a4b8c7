// ferry: download engine for machine-learning model files.
#include "tools/arguments.hpp"
#include "tools/commands.hpp"

#include <csignal>
#include <iostream>
#include <string_view>
#include <vector>

namespace {

void usage(std::ostream& out) {
    out << "usage: ferry COMMAND [OPTIONS]\n"
           "\n"
           "commands:\n"
           "  get [OPTIONS] [URL...]   download URLs and/or an input file (ferry get --help)\n"
           "  hf download REPO_ID      download a Hugging Face Hub repo into the HF cache (ferry hf --help)\n"
           "  demo                     start a built-in origin and download a demo model from it\n"
           "  origin [OPTIONS]         run the HTTPS origin used by tests and benchmarks\n"
           "  cache ls|verify|rm|prune the Hugging Face cache (ferry cache --help)\n"
           "  serve [OPTIONS]          a daemon speaking aria2's JSON-RPC, with /metrics (ferry serve --help)\n"
           "  load SCENARIO.json       a k6-style load test: scenarios, thresholds, plots (ferry load --help)\n"
           "  help                     this text\n";
}

} // namespace

int main(int argc, char** argv) {
    // Past a file size limit, writes must fail with EFBIG (a clear error, files kept resumable)
    // rather than kill the process.
    std::signal(SIGXFSZ, SIG_IGN);
    std::vector<std::string_view> args(argv + 1, argv + argc);
    if (args.empty()) {
        usage(std::cerr);
        return 2;
    }
    auto command = args.front();
    std::span<const std::string_view> rest(args.data() + 1, args.size() - 1);
    try {
        if (command == "get")
            return ferry::cli::run_get(rest);
        if (command == "demo")
            return ferry::cli::run_demo(rest);
        if (command == "hf")
            return ferry::cli::run_hf(rest);
        if (command == "origin")
            return ferry::cli::run_origin(rest);
        if (command == "cache")
            return ferry::cli::run_cache(rest);
        if (command == "serve")
            return ferry::cli::run_serve(rest);
        if (command == "load")
            return ferry::cli::run_load(rest);
        if (command == "help" || command == "--help" || command == "-h") {
            usage(std::cout);
            return 0;
        }
        std::cerr << "ferry: unknown command '" << command << "'\n";
        usage(std::cerr);
        return 2;
    } catch (const ferry::cli::usage_error& e) {
        std::cerr << "ferry: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "ferry: " << e.what() << "\n";
        return 1;
    }
}
