// ferry hf download: a Hugging Face Hub repo (or some of its files) into the Hugging Face cache,
// with the options of `hf download` and ferry get's transfer options.
#include "engine/hub_settings.hpp"
#include "engine/hub_source.hpp"
#include "tools/arguments.hpp"
#include "tools/commands.hpp"
#include "tools/hub_run.hpp"
#include "tools/transfer_options.hpp"

#include <algorithm>
#include <iostream>

namespace ferry::cli {

namespace {

constexpr const char* hf_usage =
    "usage: ferry hf download REPO_ID [FILENAME...] [OPTIONS]\n"
    "  Downloads a repo of the Hugging Face Hub (or the files named) into the Hugging Face cache\n"
    "  and prints the snapshot directory on the last line.\n"
    "      --revision REV      branch, tag, refs/pr/N or commit sha (default: main)\n"
    "      --repo-type TYPE    model (default) or dataset\n"
    "      --include GLOB      only files matching (repeatable; '*' crosses '/')\n"
    "      --exclude GLOB      not the files matching (repeatable)\n"
    "      --cache-dir DIR     the cache (default: HF_HUB_CACHE, else HF_HOME/hub)\n"
    "      --local-dir DIR     plain files in DIR instead of the cache\n"
    "      --token TOKEN       access token (default: HF_TOKEN, else the token file)\n"
    "  Environment: HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE=1 (cache only).\n"
    "  Transfer options (as ferry get):\n";

int run_hf_download(std::span<const std::string_view> args) {
    transfer_options transfer;
    hub_request request;
    std::string repo_type = "model", cache_dir, local_dir, token;
    bool token_given = false;
    std::vector<std::string> includes, excludes, positional;
    arguments a(args);
    while (!a.done()) {
        auto arg = a.take();
        std::string value;
        if (arg == "-h" || arg == "--help") {
            std::cout << hf_usage << transfer_options::usage;
            return 0;
        } else if (a.value(arg, "--revision", request.revision)) {
        } else if (a.value(arg, "--repo-type", repo_type)) {
        } else if (a.value(arg, "--include", value)) {
            includes.push_back(value);
        } else if (a.value(arg, "--exclude", value)) {
            excludes.push_back(value);
        } else if (a.value(arg, "--cache-dir", cache_dir)) {
        } else if (a.value(arg, "--local-dir", local_dir)) {
        } else if (a.value(arg, "--token", token)) {
            token_given = true;
        } else if (transfer.take(a, arg)) {
        } else if (arg.starts_with("-") && arg.size() > 1) {
            throw usage_error("unknown option " + std::string(arg) + " (see ferry hf download --help)");
        } else {
            positional.emplace_back(arg);
        }
    }
    if (positional.empty())
        throw usage_error("ferry hf download needs a repo id, like acme/tiny (see ferry hf download --help)");
    auto type = parse_hub_repo_type(repo_type);
    if (!type || *type == hub_repo_type::space)
        throw usage_error("--repo-type takes model or dataset, not '" + repo_type + "'");
    request.repo = {*type, positional.front()};
    if (!valid_hub_repo_id(request.repo.id))
        throw usage_error("'" + request.repo.id + "' is not a repo id (ORG/NAME)");
    if (!request.revision.empty() && !valid_hub_revision(request.revision))
        throw usage_error("'" + request.revision + "' is not a revision (a branch, tag, refs/pr/N or sha)");
    request.selection.filenames.assign(positional.begin() + 1, positional.end());
    for (const auto& name : request.selection.filenames)
        if (!valid_hub_file_path(name))
            throw usage_error("'" + name + "' is not a file path of a repo");
    if (!request.selection.filenames.empty() && (!includes.empty() || !excludes.empty()))
        throw usage_error("--include and --exclude apply to whole repos, not to the files named");
    request.selection.filter = hub_path_filter(includes, excludes);

    hub_run_options hub;
    hub.settings = hub_settings_from(process_environment());
    hub.cache_dir = cache_dir.empty() ? hub.settings.cache : std::filesystem::path(cache_dir);
    if (token_given)
        hub.token = token.empty() ? std::nullopt : std::optional<std::string>(token);
    else if (hub.settings.implicit_token)
        hub.token = hub.settings.token;
    if (!local_dir.empty())
        request.fetch.local_dir = std::filesystem::path(local_dir);
    request.fetch.endpoint = hub.settings.endpoint;
    request.fetch.token = hub.token;
    auto& options = transfer.finish();
    // HF_HUB_DOWNLOAD_TIMEOUT is the reference clients' wait for each read: a longer one given
    // there lengthens ferry's stall and first-byte limits too (never shortens them).
    auto& timeouts = options.engine.timeouts;
    timeouts.stall = std::max<std::chrono::milliseconds>(timeouts.stall, hub.settings.download_timeout);
    timeouts.first_byte = std::max<std::chrono::milliseconds>(timeouts.first_byte, hub.settings.download_timeout);

    // Offline, or a commit whose snapshot is complete already: the cache alone answers.
    hub_cache cache(hub.cache_dir);
    if (!request.fetch.local_dir && (hub.settings.offline || is_commit_sha(request.revision))) {
        std::string message;
        auto cached = cached_hub_snapshot(cache, request.repo, request.revision, request.selection, message,
                                          !hub.settings.offline);
        if (cached) {
            std::cout << cached->string() << "\n";
            return 0;
        }
        if (hub.settings.offline) {
            std::cerr << "ferry: offline (HF_HUB_OFFLINE): " << message << "\n";
            return 1;
        }
    } else if (hub.settings.offline) {
        std::cerr << "ferry: offline (HF_HUB_OFFLINE): --local-dir needs the Hub\n";
        return 1;
    }

    auto result = run_hub_models(options, hub, {std::move(request)});
    if (result.exit_status == 0 && !result.destinations.empty())
        std::cout << result.destinations.front().string() << "\n";
    return result.exit_status;
}

} // namespace

int run_hf(std::span<const std::string_view> args) {
    if (args.empty() || args.front() == "-h" || args.front() == "--help") {
        (args.empty() ? std::cerr : std::cout) << hf_usage << transfer_options::usage;
        return args.empty() ? 2 : 0;
    }
    if (args.front() == "download")
        return run_hf_download(args.subspan(1));
    throw usage_error("unknown hf command '" + std::string(args.front()) + "' (ferry hf download ...)");
}

} // namespace ferry::cli
