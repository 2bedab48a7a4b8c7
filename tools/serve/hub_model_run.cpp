#include "tools/serve/hub_model_run.hpp"

namespace ferry::serve {

boost::asio::awaitable<std::unique_ptr<hub_model_run>>
hub_model_run::plan(hub_client& client, hub_cache& cache, const hub_manifest_model& request, hub_fetch_options fetch,
                    std::string& error) {
    std::string message;
    auto listing = client.list(request.repo, request.revision, message);
    auto listed = co_await std::move(listing);
    if (!listed) {
        error = "model '" + request.id + "': " + message;
        co_return nullptr;
    }
    hub_selection selection;
    selection.filter = hub_path_filter(request.include, request.exclude);
    hub_blobs_in_flight in_flight;
    std::unique_ptr<hub_model_run> run(
        new hub_model_run(plan_hub_model(cache, std::move(*listed), selection, fetch, in_flight)));
    auto& model = run->model_;
    if (model.local_dir)
        co_return run;
    const auto& repo = model.snapshot.repo;
    if (auto ec = cache.prepare_repo(repo)) {
        error = "model '" + request.id + "': cannot create " + cache.repo_dir(repo).string() + ": " + ec.message();
        co_return nullptr;
    }
    for (auto& spec : model.fetch.files) {
        auto lock = blob_lock::try_acquire(cache.lock_path(repo, spec.path.string()));
        if (!lock) {
            error = "model '" + request.id + "': cannot lock blob " + spec.path.string() + " of " + repo.id + ": " +
                    lock.error().message();
            co_return nullptr;
        }
        if (!*lock) {
            error = "model '" + request.id + "': blob " + spec.path.string() + " of " + repo.id +
                    " is being written by another download; add the model again once it is done";
            co_return nullptr;
        }
        run->locks_.push_back(std::move(**lock));
    }
    co_return run;
}

std::vector<std::string> hub_model_run::finish(hub_cache& cache) {
    auto problems = finish_hub_model(cache, model_);
    locks_.clear();
    return problems;
}

} // namespace ferry::serve
