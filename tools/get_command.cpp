// ferry get: download URLs and/or an input file (URL list or JSON manifest).
#include "engine/manifest.hpp"
#include "memory/disk_space.hpp"
#include "memory/memory_limits.hpp"
#include "net/proxy_config.hpp"
#include "net/url.hpp"
#include "tools/arguments.hpp"
#include "tools/commands.hpp"
#include "tools/download_session.hpp"

#include <boost/url/parse.hpp>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>

namespace ferry::cli {

namespace {

constexpr const char* get_usage =
    "usage: ferry get [OPTIONS] [URL...]\n"
    "  -i, --input FILE        a URL list (one per line, # comments) or a JSON manifest (*.json)\n"
    "  -d, --dir DIR           destination directory (default: .)\n"
    "  -o, --output NAME       file name, with a single URL\n"
    "  -j, --jobs N            files in flight at once (default 8)\n"
    "  -x, --connections N     connections per file (default: adaptive, up to 32)\n"
    "      --max-connections N connections in total (default 64; also per host unless given below)\n"
    "      --max-connections-per-host N  connections to one host (default 32, or -x times -j)\n"
    "      --limit-rate RATE   overall cap in bytes/s: 750K, 20M, 1G\n"
    "      --ca-cert FILE      trust this PEM bundle as well as the system store\n"
    "      --header 'K: V'     extra request header (repeatable; only sent to the URL's own host)\n"
    "      --checksum sha256:HEX   expected digest, with a single URL\n"
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

std::string file_name_of(const std::string& text) {
    auto parsed = boost::urls::parse_uri(text);
    std::string name;
    if (parsed) {
        std::string path = parsed->path();
        if (auto slash = path.rfind('/'); slash != std::string::npos)
            name = path.substr(slash + 1);
        else
            name = path;
    }
    if (name.empty() || name == "." || name == "..")
        name = "index.html";
    return name;
}

std::vector<std::string> read_url_list(const std::string& path) {
    std::ifstream in(path);
    if (!in)
        throw usage_error("cannot read input file " + path);
    std::vector<std::string> urls;
    std::string line;
    while (std::getline(in, line)) {
        auto first = line.find_first_not_of(" \t\r");
        if (first == std::string::npos || line[first] == '#')
            continue;
        auto last = line.find_last_not_of(" \t\r");
        urls.push_back(line.substr(first, last - first + 1));
    }
    return urls;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw usage_error("cannot read input file " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

} // namespace

int run_get(std::span<const std::string_view> args) {
    session_options options;
    auto& config = options.engine;
    std::vector<std::string> urls;
    std::string input, dir = ".", output, checksum, value;
    bool jobs_per_model_given = false;
    bool budget_given = false;
    bool max_connections_given = false;
    bool per_host_given = false;

    arguments a(args);
    while (!a.done()) {
        auto arg = a.take();
        if (arg == "-h" || arg == "--help") {
            std::cout << get_usage;
            return 0;
        } else if (a.value(arg, "--input", "-i", input)) {
        } else if (a.value(arg, "--dir", "-d", dir)) {
        } else if (a.value(arg, "--output", "-o", output)) {
        } else if (a.value(arg, "--jobs", "-j", value)) {
            config.max_files = parse_count("--jobs", value);
        } else if (a.value(arg, "--connections", "-x", value)) {
            config.connections_per_file = parse_count("--connections", value);
            config.max_connections_per_file = std::max(config.max_connections_per_file, config.connections_per_file);
        } else if (a.value(arg, "--max-connections", value)) {
            config.max_connections = parse_count("--max-connections", value);
            max_connections_given = true;
        } else if (a.value(arg, "--max-connections-per-host", value)) {
            config.max_connections_per_host = parse_count("--max-connections-per-host", value);
            per_host_given = true;
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
            budget_given = true;
        } else if (a.value(arg, "--ca-cert", value)) {
            config.ca_file = value;
        } else if (a.value(arg, "--header", value)) {
            auto colon = value.find(':');
            if (colon == std::string::npos || colon == 0)
                throw usage_error("--header needs 'Name: value', not '" + value + "'");
            auto field = value.substr(colon + 1);
            field.erase(0, field.find_first_not_of(" \t"));
            config.headers.emplace_back(value.substr(0, colon), field);
        } else if (a.value(arg, "--checksum", checksum)) {
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
        } else if (arg.starts_with("-") && arg.size() > 1) {
            throw usage_error("unknown option " + std::string(arg) + " (see ferry get --help)");
        } else {
            urls.emplace_back(arg);
        }
    }

    // A bad proxy URL (flag or environment) is refused before anything is created.
    try {
        proxy_policy check(config.proxy, process_environment());
    } catch (const std::invalid_argument& e) {
        throw usage_error(e.what());
    }

    // Most downloads come from one host. Without a per-host cap of its own, it follows what was
    // asked for: a total given applies to the host too, and -x N with -j M may open N for each of
    // the M files (within the total).
    if (!per_host_given) {
        if (max_connections_given)
            config.max_connections_per_host = std::max(config.max_connections_per_host, config.max_connections);
        if (config.connections_per_file > 0)
            config.max_connections_per_host =
                std::max(config.max_connections_per_host,
                         std::min(config.max_connections, config.connections_per_file * config.max_files));
    }
    config.max_connections = std::max(config.max_connections, config.max_connections_per_host);
    // One run, one summary: every model's result is reported at the end.
    config.keep_finished_models = std::numeric_limits<std::size_t>::max();

    // Buffers: a budget from the machine's memory; each buffer small enough that every allowed
    // connection gets one (and as much TLS read-ahead) from an eighth of it: thousands of slow
    // transfers need little each, and the rest of their memory is per connection too.
    if (!budget_given)
        config.memory_budget = static_cast<std::size_t>(default_buffer_budget());
    config.buffer_size = std::clamp<std::size_t>(
        config.memory_budget / (16 * std::max<std::size_t>(config.max_connections, 1)), 4 * 1024, 256 * 1024);
    // TLS read-ahead takes that much from the socket per system call; below two records it is
    // not worth a buffer of its own.
    config.tls_read_ahead = config.buffer_size >= 32 * 1024 ? config.buffer_size : 0;

    std::vector<model_spec> models;
    if (!input.empty() && input.ends_with(".json")) {
        auto parsed = parse_manifest(read_file(input), dir);
        if (!parsed.error.empty()) {
            std::cerr << "ferry: " << input << ": " << parsed.error << "\n";
            return 2;
        }
        models = std::move(parsed.models);
    } else if (!input.empty()) {
        auto listed = read_url_list(input);
        urls.insert(urls.end(), listed.begin(), listed.end());
    }
    if (urls.empty() && models.empty())
        throw usage_error("nothing to download: give URLs or --input FILE (see ferry get --help)");
    if (!output.empty() && urls.size() != 1)
        throw usage_error("--output needs exactly one URL");
    if (!checksum.empty() && urls.size() != 1)
        throw usage_error("--checksum needs exactly one URL");

    if (!urls.empty()) {
        model_spec direct;
        direct.id = "urls";
        direct.dir = dir;
        for (auto& u : urls) {
            if (auto parsed = parse_url(u); !parsed) {
                std::cerr << "ferry: " << u << ": " << parsed.error().message() << "\n";
                return 2;
            }
            file_spec f;
            f.urls = {u};
            f.path = output.empty() ? file_name_of(u) : output;
            direct.files.push_back(std::move(f));
        }
        if (!checksum.empty()) {
            auto digest = checksum.starts_with("sha256:") ? parse_sha256_hex(checksum.substr(7)) : std::nullopt;
            if (!digest)
                throw usage_error("--checksum needs sha256: and 64 hex digits");
            direct.files.front().sha256 = digest;
        }
        models.push_back(std::move(direct));
        // Plain URLs form one model of their own: -j alone says how many run at once.
        if (!jobs_per_model_given)
            config.max_files_per_model = std::max(config.max_files_per_model, config.max_files);
    }

    // The destination and each model's directory (files create what lies below them).
    for (auto& m : models) {
        std::error_code ec;
        std::filesystem::create_directories(m.dir, ec);
        if (ec || !std::filesystem::is_directory(m.dir)) {
            std::cerr << "ferry: cannot use destination " << m.dir.string() << ": "
                      << (ec ? ec.message() : "not a directory") << "\n";
            return 1;
        }
    }
    // Refuse early what obviously cannot fit, instead of failing hours later.
    std::uint64_t needed = 0;
    for (auto& m : models)
        for (auto& f : m.files)
            if (f.size)
                needed += *f.size - std::min(*f.size, bytes_on_disk(m.dir, f.path));
    if (auto available = free_space(dir); available && needed > *available) {
        std::cerr << "ferry: not enough space in " << dir << ": " << needed << " bytes needed, " << *available
                  << " free\n";
        return 1;
    }
    try {
        auto report = run_session(options, std::move(models));
        return report.exit_status();
    } catch (const std::invalid_argument& e) {
        std::cerr << "ferry: " << e.what() << "\n";
        return 2;
    }
}

} // namespace ferry::cli
