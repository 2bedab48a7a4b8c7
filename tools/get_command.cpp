// ferry get: download URLs and/or an input file (URL list or JSON manifest).
#include "engine/manifest.hpp"
#include "memory/disk_space.hpp"
#include "memory/memory_limits.hpp"
#include "net/proxy_config.hpp"
#include "net/url.hpp"
#include "tools/arguments.hpp"
#include "tools/commands.hpp"
#include "tools/download_session.hpp"
#include "tools/hub_run.hpp"
#include "tools/transfer_options.hpp"

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
    "      --checksum sha256:HEX   expected digest, with a single URL\n";


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

/// A manifest's Hub models (and its other models, in the same run): into the Hugging Face cache
/// that HF_HUB_CACHE / HF_HOME name, or beneath --dir for those with a "dir".
int run_manifest_hub_models(const session_options& options, std::vector<hub_manifest_model> hub_models,
                            std::vector<model_spec> plain) {
    hub_run_options hub;
    hub.settings = hub_settings_from(process_environment());
    hub.cache_dir = hub.settings.cache;
    if (hub.settings.implicit_token)
        hub.token = hub.settings.token;
    std::vector<hub_request> requests;
    for (auto& m : hub_models) {
        hub_request r;
        r.repo = m.repo;
        r.revision = m.revision;
        r.selection.filter = hub_path_filter(m.include, m.exclude);
        r.fetch = {.endpoint = hub.settings.endpoint, .token = hub.token, .model_id = m.id, .prio = m.prio,
                   .limit_rate = m.limit_rate, .local_dir = m.dir};
        requests.push_back(std::move(r));
    }
    auto result = run_hub_models(options, hub, std::move(requests), std::move(plain));
    for (std::size_t i = 0; i < hub_models.size(); ++i)
        if (i < result.destinations.size() && !result.destinations[i].empty())
            std::cerr << "ferry: " << hub_models[i].id << ": " << result.destinations[i].string() << "\n";
    return result.exit_status;
}

} // namespace

int run_get(std::span<const std::string_view> args) {
    transfer_options transfer;
    std::vector<std::string> urls;
    std::string input, dir = ".", output, checksum;

    arguments a(args);
    while (!a.done()) {
        auto arg = a.take();
        if (arg == "-h" || arg == "--help") {
            std::cout << get_usage << transfer_options::usage;
            return 0;
        } else if (a.value(arg, "--input", "-i", input)) {
        } else if (a.value(arg, "--dir", "-d", dir)) {
        } else if (a.value(arg, "--output", "-o", output)) {
        } else if (a.value(arg, "--checksum", checksum)) {
        } else if (transfer.take(a, arg)) {
        } else if (arg.starts_with("-") && arg.size() > 1) {
            throw usage_error("unknown option " + std::string(arg) + " (see ferry get --help)");
        } else {
            urls.emplace_back(arg);
        }
    }

    auto& options = transfer.finish();
    auto& config = options.engine;

    std::vector<model_spec> models;
    std::vector<hub_manifest_model> hub_models;
    if (!input.empty() && input.ends_with(".json")) {
        auto parsed = parse_manifest(read_file(input), dir);
        if (!parsed.error.empty()) {
            std::cerr << "ferry: " << input << ": " << parsed.error << "\n";
            return 2;
        }
        models = std::move(parsed.models);
        hub_models = std::move(parsed.hub_models);
    } else if (!input.empty()) {
        auto listed = read_url_list(input);
        urls.insert(urls.end(), listed.begin(), listed.end());
    }
    if (urls.empty() && models.empty() && hub_models.empty())
        throw usage_error("nothing to download: give URLs or --input FILE (see ferry get --help)");
    if (!output.empty() && urls.size() != 1)
        throw usage_error("--output needs exactly one URL");
    if (!checksum.empty() && urls.size() != 1)
        throw usage_error("--checksum needs exactly one URL");

    if (!urls.empty()) {
        model_spec direct;
        direct.id = "urls";
        direct.dir = dir;
        direct.files.reserve(urls.size());
        for (auto& u : urls) {
            if (auto parsed = parse_url(u); !parsed) {
                std::cerr << "ferry: " << u << ": " << parsed.error().message() << "\n";
                return 2;
            }
            file_spec f;
            f.path = output.empty() ? file_name_of(u) : output;
            f.urls = {std::move(u)};
            direct.files.push_back(std::move(f));
        }
        urls = {}; // moved into the specs
        if (!checksum.empty()) {
            auto digest = checksum.starts_with("sha256:") ? parse_sha256_hex(checksum.substr(7)) : std::nullopt;
            if (!digest)
                throw usage_error("--checksum needs sha256: and 64 hex digits");
            direct.files.front().sha256 = digest;
        }
        models.push_back(std::move(direct));
        // Plain URLs form one model of their own: -j alone says how many run at once.
        if (!transfer.jobs_per_model_given)
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
        if (!hub_models.empty())
            return run_manifest_hub_models(options, std::move(hub_models), std::move(models));
        auto report = run_session(options, std::move(models));
        return report.exit_status();
    } catch (const std::invalid_argument& e) {
        std::cerr << "ferry: " << e.what() << "\n";
        return 2;
    }
}

} // namespace ferry::cli
