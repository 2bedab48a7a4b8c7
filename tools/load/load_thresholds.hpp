#pragma once

#include "perf/threshold.hpp"
#include "tools/load/load_metrics.hpp"
#include "tools/load/load_scenario.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ferry::load {

/// A threshold's verdict: at the end of the run, or over the sliding window for abortOnFail.
struct threshold_result {
    const threshold_spec* spec = nullptr;
    bool ok = true;
    std::optional<double> observed; ///< nullopt: no sample (passes, as in k6)
};

/// What a threshold reads of a metric_set spanning `seconds`.
metric_reading reading_of(const std::string& metric, const metric_set& metrics, double seconds);

/// Every threshold of a scenario file: the end-of-run verdicts, and for those with abortOnFail a
/// sliding 10-s window fed while the test runs. Fixed memory (a window per abortOnFail threshold).
class threshold_book {
public:
    explicit threshold_book(const load_spec& spec);

    /// A request of scenario `scenario` (its index in the file) finished at second `second`.
    void add(std::size_t scenario, std::int64_t second, const request_sample& sample);
    /// Counters without a request: iterations completed, iterations dropped.
    void add_iteration(std::size_t scenario, std::int64_t second);
    void add_dropped(std::size_t scenario, std::int64_t second);
    /// The first abortOnFail threshold that fails over the 10 s up to `second`, if any.
    std::optional<threshold_result> check_abort(std::int64_t second);

    /// The end-of-run verdicts: `per_scenario[i]` is scenario i's totals, `overall` everyone's.
    std::vector<threshold_result> evaluate(const std::vector<const metric_set*>& per_scenario, const metric_set& overall,
                                           double seconds) const;

private:
    struct watch {
        const threshold_spec* spec;
        std::optional<std::size_t> scenario;
        sliding_window window;
    };
    std::optional<std::size_t> scenario_index(const threshold_spec& t) const;

    const load_spec& spec_;
    std::vector<std::unique_ptr<watch>> watches_;
    hdr_histogram merged_;
};

} // namespace ferry::load
