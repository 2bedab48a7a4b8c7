#pragma once

// One Hub model through `ferry serve`: listed on the Hub (hub_client, on the daemon's loop),
// planned against the cache (plan_hub_model), its blobs locked while the engine fetches them, and
// the cache completed afterwards (finish_hub_model). The daemon's counterpart of tools/hub_run,
// which does the same for one blocking CLI run.

#include "engine/hub_client.hpp"
#include "engine/hub_source.hpp"
#include "engine/manifest.hpp"
#include "memory/hub_cache.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

namespace ferry::serve {

class hub_model_run {
public:
    /// Lists `request` on the Hub and plans it against `cache`, taking the lock of each blob to
    /// fetch into the cache. nullptr, with `error` set to one line, when the Hub refused, the
    /// cache cannot be written, or a blob is being written by another download (of this daemon
    /// or another process): such a model is refused rather than waited for.
    static boost::asio::awaitable<std::unique_ptr<hub_model_run>>
    plan(hub_client& client, hub_cache& cache, const hub_manifest_model& request, hub_fetch_options fetch,
         std::string& error);

    /// What the engine fetches (it may have no files: the cache had them all).
    const model_spec& fetch() const noexcept { return model_.fetch; }
    const hub_model& planned() const noexcept { return model_; }
    /// The snapshot directory, or the local directory.
    std::filesystem::path destination(const hub_cache& cache) const { return model_.destination(cache); }

    /// After the engine: blobs linked, the snapshot's links, trees and ref written; the locks
    /// released. One line per problem.
    std::vector<std::string> finish(hub_cache& cache);

private:
    explicit hub_model_run(hub_model model) : model_(std::move(model)) {}
    hub_model model_;
    std::vector<blob_lock> locks_;
};

} // namespace ferry::serve
