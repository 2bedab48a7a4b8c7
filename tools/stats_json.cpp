#include "tools/stats_json.hpp"

#include "engine/stats_json.hpp"
#include "tools/download_session.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

namespace ferry::cli {

std::string stats_to_json(const session_report& report) {
    boost::json::object o = to_json(report.stats);
    boost::json::array files;
    for (auto& model : report.models)
        for (auto& file : model.files) {
            auto fo = to_json(file);
            fo["model"] = model.id;
            files.push_back(std::move(fo));
        }
    o["files"] = std::move(files);
    boost::json::object summary;
    summary["files"] = report.files;
    summary["done"] = report.done;
    summary["skipped"] = report.skipped;
    summary["failed"] = report.failed;
    summary["cancelled"] = report.cancelled;
    summary["bytes"] = report.bytes;
    summary["bytes_fetched"] = report.bytes_fetched;
    summary["seconds"] = report.elapsed.count();
    summary["speed"] = report.elapsed.count() > 0 ? double(report.bytes_fetched) / report.elapsed.count() : 0.0;
    summary["interrupted"] = report.interrupted;
    o["summary"] = std::move(summary);
    if (report.store) {
        const auto& s = *report.store;
        o["cache"] = {{"hits", s.hits},         {"adopted", s.adopted},
                      {"misses", s.misses},     {"hit_bytes", s.hit_bytes},
                      {"adopted_bytes", s.adopted_bytes}, {"bytes_saved", s.bytes_saved()}};
    }
    return boost::json::serialize(o);
}

} // namespace ferry::cli
