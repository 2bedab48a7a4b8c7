#pragma once

#include "engine/model.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

struct manifest {
    std::vector<model_spec> models;
    std::string error; ///< empty when valid; else one line naming the model, the file and the problem
};

/// Parses and validates a JSON manifest (GUIDE.md, Manifest). Each model's `dir` (default: its id)
/// is resolved under `destination`. Refuses, before anything starts: malformed JSON, unknown
/// priority, missing size or URL, bad sha256 hex, absolute paths, `..`, empty names, duplicate
/// model ids or destinations, sizes beyond 2^53.
manifest parse_manifest(std::string_view json, const std::filesystem::path& destination);

} // namespace ferry
