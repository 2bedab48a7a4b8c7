#include "tools/serve/ferry_model_status.hpp"

#include "engine/stats_json.hpp"

#include <boost/json/array.hpp>

namespace ferry::serve {

namespace json = boost::json;

model_stats final_stats(const ferry_model& model) {
    model_stats s;
    s.id = model.id;
    s.prio = model.prio;
    s.files_total = model.results.size() + model.cached_files;
    s.files_done = model.cached_files;
    s.bytes_done = s.bytes_total = model.cached_bytes;
    std::size_t cancelled = 0;
    for (auto& r : model.results) {
        s.bytes_total += r.size;
        switch (r.outcome) {
        case file_outcome::done:
        case file_outcome::skipped:
            ++s.files_done;
            s.bytes_done += r.size;
            break;
        case file_outcome::failed: ++s.files_failed; break;
        case file_outcome::cancelled: ++cancelled; break;
        }
    }
    if (s.files_failed || !model.problems.empty())
        s.state = model_state::error;
    else if (cancelled)
        s.state = model_state::removed;
    else
        s.state = model_state::complete;
    s.eta_seconds = 0;
    return s;
}

json::object model_status(const ferry_model& model, const std::optional<model_stats>& numbers) {
    model_stats waiting;
    waiting.id = model.id;
    waiting.prio = model.prio;
    auto o = to_json(model.finished ? final_stats(model) : numbers.value_or(waiting));
    o["dir"] = model.dir.string();
    o["limit_rate"] = model.limit_rate;
    o["finished"] = model.finished;
    if (model.finished) {
        json::array files;
        for (auto& r : model.results)
            files.push_back(to_json(r));
        o["files"] = std::move(files);
        json::array problems;
        for (auto& p : model.problems)
            problems.push_back(json::string(p));
        o["problems"] = std::move(problems);
    }
    return o;
}

} // namespace ferry::serve
