#pragma once

#include "tools/load/load_runner.hpp"

#include <iosfwd>

namespace ferry::load {

/// `--plot FILE.svg`: for each scenario, latency percentiles (p50, p90, p95, p99 of
/// http_req_duration and, for arrival-rate executors, p99 uncorrected; on a logarithmic axis when
/// they span more than a factor of 30), throughput (requests/s, errors/s) and VUs over the run's
/// time, three panels per scenario on a shared time axis. Plain SVG 1.1, no scripts or fonts
/// beyond sans-serif.
void write_plot_svg(std::ostream& out, const load_runner& runner);

} // namespace ferry::load
