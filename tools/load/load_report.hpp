#pragma once

#include "tools/load/load_runner.hpp"

#include <boost/json/object.hpp>

#include <iosfwd>
#include <string>
#include <vector>

namespace ferry::load {

/// The live view, once a second: on a terminal a table redrawn in place (rate, p50/p95/p99,
/// errors, VUs per scenario); otherwise one plain line per running scenario.
class live_table {
public:
    live_table(std::ostream& out, bool terminal) : out_(out), terminal_(terminal) {}
    void update(const load_runner& runner, double t, double span);

private:
    std::ostream& out_;
    bool terminal_;
    std::size_t lines_drawn_ = 0;
};

/// The end of a run as k6's summary export shapes it: `metrics.NAME` with `type`, `contains`,
/// `values` (trends: avg, min, med, max, p(90), p(95), p(99), count; counters: count, rate; the
/// rate: rate, passes, fails) and `thresholds` ({"p(95)<500": {"ok": true}}), per scenario as
/// `NAME{scenario:S}`; `state.testRunDurationMs`; `root_group`, `options`; and ferry's own block
/// (`ferry`: each scenario's executor, VUs, target and achieved rate, rate_missed, errors by class;
/// warnings; whether a threshold failed or aborted the run).
boost::json::object summary_export(const load_runner& runner, const std::vector<threshold_result>& results,
                                   const std::vector<std::string>& warnings);

/// The end-of-run text: k6-like metric lines, thresholds with ✓/✗, warnings.
void print_summary(std::ostream& out, const load_runner& runner, const std::vector<threshold_result>& results,
                   const std::vector<std::string>& warnings);

/// Warnings a user must not overlook: target rates missed, dropped iterations.
std::vector<std::string> run_warnings(const load_runner& runner);

} // namespace ferry::load
