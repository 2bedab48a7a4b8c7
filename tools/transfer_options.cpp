#include "tools/transfer_options.hpp"

#include "memory/memory_limits.hpp"
#include "net/descriptor_limit.hpp"
#include "net/proxy_config.hpp"
#include "queue/descriptor_budget.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <limits>

namespace ferry::cli {

const char* const transfer_options::usage =
    "      --profile NAME      balanced (default), speed, memory, or background: yields to other\n"
    "                          traffic (backs off when round trips grow; lower CPU and disk priority)\n"
    "  -j, --jobs N            files in flight at once (default 8)\n"
    "  -x, --connections N     connections per file (default: adaptive, up to 32)\n"
    "      --max-connections N connections in total (default 64; also per host unless given below)\n"
    "      --max-connections-per-host N  connections to one host (default 64, or -x times -j; without\n"
    "                          this or --max-connections, up to 4x that while more raise the rate)\n"
    "      --limit-rate RATE   overall cap in bytes/s: 750K, 20M, 1G\n"
    "      --ca-cert FILE      trust this PEM bundle as well as the system store\n"
    "      --header 'K: V'     extra request header (repeatable; only sent to the URL's own host)\n"
    "      --jobs-per-model N  files in flight per model (default 8)\n"
    "      --retries N         rounds of failures without progress before a file gives up\n"
    "                          (default 5, and not before 30 s; 0: no retry)\n"
    "      --timeout SECONDS   stall timeout: no data for this long ends a request (default 30)\n"
    "      --connect-timeout SECONDS  resolve + connect (+ proxy) limit, decimals allowed (default 15)\n"
    "      --proxy URL         every request through this proxy: http://, socks5://, socks5h://\n"
    "                          (default: https_proxy, http_proxy, all_proxy as curl; \"\" for none)\n"
    "      --noproxy LIST      hosts never proxied (replaces no_proxy): '*', names, IPs, CIDRs\n"
    "      --max-memory SIZE   memory budget for buffers (default: 1/64 of RAM or the cgroup limit, 32M..256M)\n"
    "      --no-fsync          skip the syncs before the final rename\n"
    "      --stats FILE        write the final statistics snapshot as JSON\n"
    "      --progress auto|bar|jsonl|none   (auto: bars on a terminal, none otherwise)\n"
    "  -q, --quiet             same as --progress none\n";

bool transfer_options::take(arguments& a, std::string_view arg) {
    auto& config = options.engine;
    std::string value;
    if (a.value(arg, "--profile", value)) {
        auto profile = parse_transfer_profile(value);
        if (!profile)
            throw usage_error("--profile takes balanced, speed, memory or background, not '" + value + "'");
        profile_ = *profile;
    } else if (a.value(arg, "--jobs", "-j", value)) {
        config.max_files = parse_count("--jobs", value);
        jobs_given_ = true;
    } else if (a.value(arg, "--connections", "-x", value)) {
        config.connections_per_file = parse_count("--connections", value);
        config.max_connections_per_file = std::max(config.max_connections_per_file, config.connections_per_file);
        connections_given_ = true;
    } else if (a.value(arg, "--max-connections", value)) {
        config.max_connections = parse_count("--max-connections", value);
        max_connections_given_ = true;
    } else if (a.value(arg, "--max-connections-per-host", value)) {
        config.max_connections_per_host = parse_count("--max-connections-per-host", value);
        per_host_given_ = true;
    } else if (a.value(arg, "--jobs-per-model", value)) {
        config.max_files_per_model = parse_count("--jobs-per-model", value);
        jobs_per_model_given = true;
    } else if (a.value(arg, "--limit-rate", value)) {
        auto rate = parse_byte_size(value);
        if (!rate)
            throw usage_error("--limit-rate needs a rate like 750K, 20M or 1G, not '" + value + "'");
        config.limit_rate = *rate;
    } else if (a.value(arg, "--max-memory", value)) {
        auto size = parse_byte_size(value);
        if (!size || *size < 1024 * 1024)
            throw usage_error("--max-memory needs a size of at least 1M, not '" + value + "'");
        config.memory_budget = static_cast<std::size_t>(*size);
        budget_given_ = true;
    } else if (a.value(arg, "--ca-cert", value)) {
        config.ca_file = value;
    } else if (a.value(arg, "--header", value)) {
        auto colon = value.find(':');
        if (colon == std::string::npos || colon == 0)
            throw usage_error("--header needs 'Name: value', not '" + value + "'");
        auto field = value.substr(colon + 1);
        field.erase(0, field.find_first_not_of(" \t"));
        config.headers.emplace_back(value.substr(0, colon), field);
    } else if (a.value(arg, "--retries", value)) {
        config.retry.max_retries = static_cast<int>(std::min<std::uint64_t>(parse_count("--retries", value, true), 1000));
    } else if (a.value(arg, "--timeout", value)) {
        auto seconds = std::chrono::seconds(parse_count("--timeout", value));
        config.timeouts.stall = seconds;
        config.timeouts.first_byte = seconds;
    } else if (a.value(arg, "--connect-timeout", value)) {
        config.timeouts.connect = parse_seconds("--connect-timeout", value);
    } else if (a.value(arg, "--proxy", value)) {
        config.proxy.proxy = value;
    } else if (a.value(arg, "--noproxy", value)) {
        config.proxy.no_proxy = value;
    } else if (arg == "--no-fsync") {
        config.fsync = false;
    } else if (a.value(arg, "--stats", value)) {
        options.stats_file = value;
    } else if (a.value(arg, "--progress", value)) {
        if (value == "auto") options.progress = progress_mode::automatic;
        else if (value == "bar") options.progress = progress_mode::bar;
        else if (value == "jsonl") options.progress = progress_mode::jsonl;
        else if (value == "none") options.progress = progress_mode::none;
        else throw usage_error("--progress takes auto, bar, jsonl or none, not '" + value + "'");
    } else if (arg == "-q" || arg == "--quiet") {
        options.progress = progress_mode::none;
    } else {
        return false;
    }
    return true;
}

session_options& transfer_options::finish() {
    auto& config = options.engine;
    // A bad proxy URL (flag or environment) is refused before anything is created.
    try {
        proxy_policy check(config.proxy, process_environment());
    } catch (const std::invalid_argument& e) {
        throw usage_error(e.what());
    }

    apply_profile();

    // Most downloads come from one host. Without a per-host cap of its own, it follows what was
    // asked for: a total given applies to the host too, and -x N with -j M may open N for each of
    // the M files (within the total).
    if (!per_host_given_) {
        if (max_connections_given_)
            config.max_connections_per_host = std::max(config.max_connections_per_host, config.max_connections);
        if (config.connections_per_file > 0)
            config.max_connections_per_host =
                std::max(config.max_connections_per_host,
                         std::min(config.max_connections, config.connections_per_file * config.max_files));
    }
    config.max_connections = std::max(config.max_connections, config.max_connections_per_host);
    // Unless caps were given, a host whose connections each get their share of a capped rate may
    // get up to four times its cap, as long as more of them raise the rate.
    if (!per_host_given_ && !max_connections_given_)
        config.max_connections_per_host_ceiling = 4 * config.max_connections_per_host;
    // Every file and connection asked for must find its descriptors (the hard limit is taken
    // first): beyond them, transfers would fail with "Too many open files"; fitted, they wait.
    auto descriptors = raise_descriptor_limit();
    if (config.max_connections_per_host_ceiling > config.max_connections_per_host) {
        auto raised = config.max_connections_per_host_ceiling - config.max_connections_per_host;
        if (fit_descriptors(config.max_files, config.max_connections + raised, descriptors).reduced)
            config.max_connections_per_host_ceiling = 0; // no room to raise a host's cap
    }
    // Files in line hold a descriptor each (their .part) and no connection of their own.
    if (fit_descriptors(config.max_files + config.max_files_in_line, config.max_connections, descriptors).reduced)
        config.max_files_in_line = 0;
    if (auto fit = fit_descriptors(config.max_files, config.max_connections, descriptors); fit.reduced) {
        std::cerr << "ferry: " << descriptors << " open files allowed (ulimit -n): at most " << fit.max_files
                  << " files and " << fit.max_connections << " connections at once\n";
        config.max_files = fit.max_files;
        config.max_connections = fit.max_connections;
        config.max_connections_per_host = std::min(config.max_connections_per_host, fit.max_connections);
    }
    // One run, one summary: every model's result is reported at the end.
    config.keep_finished_models = std::numeric_limits<std::size_t>::max();

    // Buffers: a budget from the machine's memory; each buffer small enough that every allowed
    // connection gets one (and as much TLS read-ahead) from an eighth of it: thousands of slow
    // transfers need little each, and the rest of their memory is per connection too.
    if (!budget_given_)
        config.memory_budget = static_cast<std::size_t>(default_buffer_budget());
    config.buffer_size = std::clamp<std::size_t>(
        config.memory_budget / (16 * std::max<std::size_t>(config.max_connections, 1)), 4 * 1024, 256 * 1024);
    // TLS read-ahead takes that much from the socket per system call; below two records it is
    // not worth a buffer of its own.
    config.tls_read_ahead = config.buffer_size >= 32 * 1024 ? config.buffer_size : 0;

    return options;
}

void transfer_options::apply_profile() {
    auto& config = options.engine;
    switch (profile_) {
    case transfer_profile::balanced:
        break;
    case transfer_profile::speed:
        // Servers that cap each connection reward every connection added: four 256 MiB files
        // from a 4 MB/s-per-connection origin took 4.5 s within 64 connections, 2.6 s within 128
        // (before a host's cap could grow; uncapped ones gain nothing, and lose nothing: growth
        // stops at the plateau). Room from the start, and a host's cap grows from there.
        if (!max_connections_given_ && !per_host_given_) {
            config.max_connections = 128;
            config.max_connections_per_host = 128; // and up to four times that, as with balanced
        }
        if (!connections_given_)
            config.max_connections_per_file = 64;
        if (!jobs_given_)
            config.max_files = 16;
        break;
    case transfer_profile::memory:
        // 32 MiB of buffers (32 KiB each, the smallest with TLS read-ahead) kept the loopback
        // throughput of the default budget (256 MiB here) within the noise at two thirds of its
        // peak RSS; 16 MiB lost up to 15% on one big file, 8 MiB more (docs/benchmarks.md, Profiles).
        if (!budget_given_) {
            config.memory_budget = 32 * 1024 * 1024;
            budget_given_ = true;
        }
        break;
    case transfer_profile::background:
        // Delay-based: a loss-based flow on the same link (a browser, a video call, another
        // download) fills the bottleneck's queue and this run backs off to a trickle; alone it
        // keeps the queue near 25 ms and takes the rest. Fewer connections as well: a background
        // pull need not hold a CDN's sixty-four, and each of eight sees enough data to measure.
        config.yield_delay_target = std::chrono::milliseconds(25);
        if (!max_connections_given_ && !per_host_given_) {
            config.max_connections = 8;
            config.max_connections_per_host = 8;
            max_connections_given_ = true;
        }
        if (!lower_process_priority())
            std::cerr << "ferry: could not lower the process's CPU and disk priority: " << std::strerror(errno)
                      << "\n";
        break;
    }
}

} // namespace ferry::cli
