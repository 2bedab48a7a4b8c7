#pragma once

#include <string>

namespace ferry::cli {

struct session_report;

/// The final snapshot written by `ferry get --stats FILE`: the engine's statistics, every file's
/// outcome and the run's totals.
std::string stats_to_json(const session_report& report);

} // namespace ferry::cli
