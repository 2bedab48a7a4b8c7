#pragma once

// What ferry.tellModel, ferry.waitModel and the ferry.onModel* notifications say about a model:
// the engine's numbers (engine/stats_json's model object) with what the service knows beside them.
// Pure: no I/O.

#include "engine/engine.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

namespace ferry::serve {

/// One model added by ferry.addModel, as the service keeps it.
struct ferry_model {
    std::string id;
    std::filesystem::path dir;       ///< where its files land (a Hub model's snapshot in the cache)
    priority prio = priority::normal;
    std::uint64_t limit_rate = 0;    ///< its own limit in bytes/s, 0 = none
    std::vector<std::string> files;  ///< what ferry.setLimit names a file by: each fetched file's path (and name)
    std::size_t cached_files = 0;    ///< a Hub model's files the cache had already
    std::uint64_t cached_bytes = 0;
    bool finished = false;
    std::vector<file_result> results; ///< once finished: each fetched file's outcome
    std::vector<std::string> problems; ///< once finished: what completing the Hub cache could not do
};

/// The numbers of a model that has ended, from its results: state complete when every file is
/// done or skipped and nothing else went wrong, removed when files were cancelled and none failed,
/// error otherwise.
model_stats final_stats(const ferry_model& model);

/// The status object: `numbers` rendered as engine/stats_json renders a model (ids, state,
/// files_*, bytes_*, completion, speed, eta_seconds, priority, position), plus "dir",
/// "limit_rate", "finished" and, once finished, "files" (each file's result) and "problems".
/// `numbers` are the engine's while the model runs (nullopt before the engine lists it).
boost::json::object model_status(const ferry_model& model, const std::optional<model_stats>& numbers);

} // namespace ferry::serve
