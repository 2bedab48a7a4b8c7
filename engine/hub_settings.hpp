#pragma once

// The Hugging Face settings that come from the environment (../shared/hf-hub.md §1), read the
// way huggingface_hub reads them. Pure but for the token file: the environment is a function, so
// tests pass their own.

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "net/proxy_config.hpp"

namespace ferry {

struct hub_settings {
    std::string endpoint = "https://huggingface.co"; ///< HF_ENDPOINT, trailing '/' stripped
    std::filesystem::path home;                      ///< HF_HOME (default $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface; expand ~ and $VAR)
    std::filesystem::path cache;                     ///< HF_HUB_CACHE, then HUGGINGFACE_HUB_CACHE, default home/hub
    std::optional<std::string> token;                ///< HF_TOKEN, then HUGGING_FACE_HUB_TOKEN, then the file $HF_TOKEN_PATH (default home/token): CR/LF dropped, trimmed, empty = none
    bool offline = false;                            ///< HF_HUB_OFFLINE truthy (1/ON/YES/TRUE any case)
    bool implicit_token = true;                      ///< false when HF_HUB_DISABLE_IMPLICIT_TOKEN is truthy
    std::string user_agent_origin;                   ///< HF_HUB_USER_AGENT_ORIGIN
    std::chrono::seconds etag_timeout{10};           ///< HF_HUB_ETAG_TIMEOUT
    std::chrono::seconds download_timeout{10};       ///< HF_HUB_DOWNLOAD_TIMEOUT
};

// environment_lookup (one variable looked up; nullopt when unset) and process_environment()
// (getenv) are net/proxy_config.hpp's: one type for every reader of the environment. It takes a
// `const char*` name; a lambda taking std::string_view converts to it.

/// The settings `env` describes. Empty variables count as unset; a timeout that is not a positive
/// number of seconds keeps its default. Paths (HF_HOME, HF_HUB_CACHE, HF_TOKEN_PATH) have a
/// leading `~` replaced by $HOME and `$VAR` / `${VAR}` by their values (unset ones left as
/// written, as Python's expandvars does). Reads the token file when no variable gives a token.
hub_settings hub_settings_from(const environment_lookup& env);

/// 1, ON, YES, TRUE in any case (surrounding spaces ignored).
bool is_truthy(std::string_view value) noexcept;

/// `path` with `~` and `$VAR` expanded from `env` (see hub_settings_from).
std::string expand_path(std::string_view path, const environment_lookup& env);

} // namespace ferry
