#pragma once

#include "engine/engine.hpp"

#include <boost/json/object.hpp>

namespace ferry {

/// The snapshot as JSON: models (progress, speed, ETA), hosts (pool counters, circuit state,
/// request latency percentiles), totals. The fields are listed in README.md (`--stats FILE`).
boost::json::object to_json(const engine_stats& stats);
/// One model of the snapshot, as it appears in the snapshot's "models".
boost::json::object to_json(const model_stats& model);
boost::json::object to_json(const file_result& result);

} // namespace ferry
