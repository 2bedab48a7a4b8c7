#pragma once

#include "engine/engine.hpp"

#include <boost/json/object.hpp>

namespace ferry {

/// The snapshot as JSON: models, hosts (pool counters, circuit state), totals.
boost::json::object to_json(const engine_stats& stats);
boost::json::object to_json(const file_result& result);

} // namespace ferry
