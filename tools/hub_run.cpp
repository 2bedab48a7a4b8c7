#include "tools/hub_run.hpp"

#include "engine/hub_client.hpp"
#include "net/connection_pool.hpp"
#include "net/tls_context.hpp"

#include <algorithm>
#include <iostream>
#include <map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

namespace ferry::cli {

namespace asio = boost::asio;

namespace {

/// Every request's snapshot, listed on one io_context with the run's TLS and proxy settings;
/// nullopt (and the reason printed) for those the Hub refused.
std::vector<std::optional<hub_snapshot>> list_snapshots(const engine_config& config, const hub_run_options& hub,
                                                        const std::vector<hub_request>& requests) {
    asio::io_context io(1);
    auto tls = make_client_tls_context(config.ca_file);
    connection_pool pool(io.get_executor(), tls, hub_api_pool_config(config, hub.settings.etag_timeout));
    hub_client client(pool, {.endpoint = hub.settings.endpoint, .token = hub.token});

    std::vector<std::optional<hub_snapshot>> out(requests.size());
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        for (std::size_t i = 0; i < requests.size(); ++i) {
            std::string message;
            auto listed = co_await client.list(requests[i].repo, requests[i].revision, message);
            if (listed)
                out[i] = std::move(*listed);
            else
                std::cerr << "ferry: " << message << "\n";
        }
        pool.shutdown();
    }, asio::detached);
    io.run();
    return out;
}

/// A blob another process is writing: fetched here only if it never arrives.
struct blob_wait {
    std::size_t model;
    file_spec spec;
};

} // namespace

hub_run_result run_hub_models(session_options options, const hub_run_options& hub, std::vector<hub_request> requests,
                              std::vector<model_spec> plain) {
    hub_run_result result;
    hub_cache cache(hub.cache_dir);
    auto snapshots = list_snapshots(options.engine, hub, requests);

    std::vector<hub_model> models;
    std::vector<std::size_t> request_of; // models[i] answers requests[request_of[i]]
    hub_blobs_in_flight in_flight;
    store_counters store;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        if (!snapshots[i]) {
            result.exit_status = 1;
            continue;
        }
        auto model = plan_hub_model(cache, std::move(*snapshots[i]), requests[i].selection, requests[i].fetch, in_flight);
        for (const auto& name : model.missing)
            std::cerr << "ferry: " << name << " not found in " << model.snapshot.repo.id << " at "
                      << model.snapshot.sha.substr(0, 12) << "\n";
        if (!model.missing.empty()) {
            result.exit_status = 1;
            continue;
        }
        store.hits += model.hits;
        store.hit_bytes += model.hit_bytes;
        store.adopted += model.adoptions.size();
        store.adopted_bytes += model.adopted_bytes;
        store.misses += model.fetch.files.size();
        models.push_back(std::move(model));
        request_of.push_back(i);
    }

    // A blob is written under its lock, as huggingface_hub does: one another process holds is
    // waited for after this run's own work, and fetched only if it did not arrive.
    std::vector<blob_lock> locks;
    std::vector<blob_wait> waits;
    for (std::size_t m = 0; m < models.size(); ++m) {
        auto& model = models[m];
        if (model.local_dir)
            continue;
        if (auto ec = cache.prepare_repo(model.snapshot.repo)) {
            std::cerr << "ferry: cannot create " << cache.repo_dir(model.snapshot.repo).string() << ": "
                      << ec.message() << "\n";
            result.exit_status = 1;
        }
        std::vector<file_spec> mine;
        for (auto& spec : model.fetch.files) {
            auto lock = blob_lock::try_acquire(cache.lock_path(model.snapshot.repo, spec.path.string()));
            if (lock && !*lock) {
                waits.push_back({m, std::move(spec)});
                continue;
            }
            if (lock)
                locks.push_back(std::move(**lock));
            mine.push_back(std::move(spec));
        }
        model.fetch.files = std::move(mine);
    }

    options.store = store;
    auto run = [&](std::vector<model_spec> batch) {
        std::erase_if(batch, [](const model_spec& m) { return m.files.empty(); });
        if (batch.empty())
            return;
        auto report = run_session(options, std::move(batch));
        result.exit_status = std::max(result.exit_status, report.exit_status());
    };
    std::vector<model_spec> batch = std::move(plain);
    for (const auto& model : models)
        batch.push_back(model.fetch);
    const bool nothing_to_fetch =
        std::all_of(batch.begin(), batch.end(), [](const model_spec& m) { return m.files.empty(); });
    if (!models.empty() && nothing_to_fetch && waits.empty() && options.progress != progress_mode::none)
            std::cerr << "ferry: every file is in the cache already (" << store.hits << " hits, " << store.adopted
                      << " linked from other repos)\n";
    run(std::move(batch));

    if (!waits.empty()) {
        std::map<std::size_t, model_spec> second; // by model: one spec (one id) each
        for (auto& wait : waits) {
            auto& model = models[wait.model];
            const auto& repo = model.snapshot.repo;
            std::cerr << "ferry: waiting for another process writing blob " << wait.spec.path.string() << " of "
                      << repo.id << "\n";
            auto lock = blob_lock::acquire(cache.lock_path(repo, wait.spec.path.string()), std::chrono::hours(1));
            if (lock)
                locks.push_back(std::move(*lock));
            std::error_code ec;
            if (std::filesystem::is_regular_file(cache.blob_path(repo, wait.spec.path.string()), ec))
                continue;
            auto [target, fresh] = second.try_emplace(wait.model, model.fetch);
            if (fresh)
                target->second.files.clear();
            target->second.files.push_back(std::move(wait.spec));
        }
        std::vector<model_spec> batch_two;
        for (auto& [index, spec] : second)
            batch_two.push_back(std::move(spec));
        run(std::move(batch_two));
    }

    result.destinations.resize(requests.size());
    for (std::size_t m = 0; m < models.size(); ++m) {
        auto problems = finish_hub_model(cache, models[m]);
        for (const auto& line : problems)
            std::cerr << "ferry: " << models[m].snapshot.repo.id << ": " << line << "\n";
        if (!problems.empty())
            result.exit_status = std::max(result.exit_status, 1);
        else
            result.destinations[request_of[m]] = models[m].destination(cache);
    }
    return result;
}

} // namespace ferry::cli
