#pragma once

// Hub models through one run of the CLI: list each revision on the Hub, plan it against the
// cache, take the blob locks, run the engine over what is missing (together with any plain
// models), wait for blobs another process is writing, and complete the cache.

#include "engine/hub_source.hpp"
#include "engine/hub_settings.hpp"
#include "tools/download_session.hpp"

#include <string>
#include <vector>

namespace ferry::cli {

/// One Hub model a command asks for.
struct hub_request {
    hub_repo_id repo;
    std::string revision; ///< "" = main
    hub_selection selection;
    hub_fetch_options fetch;
};

/// Where Hub models go and how the Hub is reached.
struct hub_run_options {
    hub_settings settings;
    std::filesystem::path cache_dir;   ///< the cache (settings.cache unless --cache-dir)
    std::optional<std::string> token;  ///< the token to send, if any
};

struct hub_run_result {
    int exit_status = 0;
    std::vector<std::filesystem::path> destinations; ///< per request, when it completed
};

/// Runs everything: Hub requests and `plain` models in one engine session (priorities, limits
/// and per-model stats apply to both). Problems are printed on stderr, one line each.
hub_run_result run_hub_models(session_options options, const hub_run_options& hub, std::vector<hub_request> requests,
                              std::vector<model_spec> plain = {});

} // namespace ferry::cli
