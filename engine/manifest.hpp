#pragma once

#include "engine/model.hpp"
#include "memory/hub_cache.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

/// A model that names a Hugging Face Hub repo instead of its files: `{"id", "hf": "ORG/NAME",
/// "revision", "repo_type", "include": [...], "exclude": [...], "priority", "limit_rate", "dir"}`.
/// Its files are listed on the Hub when the run starts. Without `dir` they go to the Hugging
/// Face cache; with it, as plain files beneath the destination.
struct hub_manifest_model {
    std::string id;
    hub_repo_id repo;
    std::string revision;                  ///< "" = main
    std::vector<std::string> include, exclude;
    priority prio = priority::normal;
    std::uint64_t limit_rate = 0;
    std::optional<std::filesystem::path> dir;
};

struct manifest {
    std::vector<model_spec> models;
    std::vector<hub_manifest_model> hub_models;
    std::string error; ///< empty when valid; else one line naming the model, the file and the problem
};

/// Parses and validates a JSON manifest (GUIDE.md, Manifest). Each model's `dir` (default: its id)
/// is resolved under `destination`. Refuses, before anything starts: malformed JSON, unknown
/// priority, missing size or URL, bad sha256 hex, absolute paths, `..`, empty names, duplicate
/// model ids or destinations, sizes beyond 2^53; for Hub models a bad repo id or revision.
manifest parse_manifest(std::string_view json, const std::filesystem::path& destination);

} // namespace ferry
