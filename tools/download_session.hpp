#pragma once

#include "engine/config.hpp"
#include "engine/engine.hpp"
#include "engine/model.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ferry::cli {

enum class progress_mode { automatic, bar, jsonl, none };

/// What the model store (the Hugging Face cache) did for a run: selected files it had already
/// (hits), blobs linked from another repo or revision instead of fetched (adopted), the rest
/// fetched (misses).
struct store_counters {
    std::size_t hits = 0, adopted = 0, misses = 0;
    std::uint64_t hit_bytes = 0, adopted_bytes = 0;
    std::uint64_t bytes_saved() const noexcept { return hit_bytes + adopted_bytes; }
};

/// What the CLI asks of one run of the engine.
struct session_options {
    engine_config engine;
    progress_mode progress = progress_mode::automatic;
    std::filesystem::path stats_file; ///< write the final snapshot here when set
    std::optional<store_counters> store; ///< reported in the summary and the stats when set
};

/// What happened, for the caller's report.
struct session_report {
    std::vector<model_result> models;
    engine_stats stats;
    std::chrono::duration<double> elapsed{};
    std::optional<store_counters> store;
    bool interrupted = false;
    std::size_t files = 0, done = 0, skipped = 0, failed = 0, cancelled = 0;
    std::uint64_t bytes = 0;          ///< size of the files done or skipped
    std::uint64_t bytes_fetched = 0;  ///< body bytes received
    int exit_status() const noexcept { return interrupted ? 130 : (failed || cancelled) ? 1 : 0; }
};

/// Runs the engine over `models` on its own io_context until every file finished, or until
/// SIGINT/SIGTERM (graceful stop; a second SIGINT exits at once, everything still resumable).
/// Failures are printed on stderr, one line per file. Throws for start-up errors (bad CA file).
session_report run_session(const session_options& options, std::vector<model_spec> models);

/// One-line summary: files, bytes, time, throughput, connections.
std::string summary_line(const session_report& report);

std::string human_bytes(double bytes);

} // namespace ferry::cli
