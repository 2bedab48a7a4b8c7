#pragma once

// ferry's own JSON-RPC methods (namespace ferry.), for what aria2 has no words for: whole models
// (a manifest model, or a Hugging Face Hub repo), waiting for one, priorities, limits down to one
// file, the engine's statistics, and a progress stream. A thin translation onto the engine's
// public API, beside aria2_service: each keeps its own models, and neither lists the other's.

#include "engine/config.hpp"
#include "engine/engine.hpp"
#include "engine/hub_settings.hpp"
#include "tools/serve/ferry_model_status.hpp"
#include "tools/serve/hub_model_run.hpp"
#include "tools/serve/rpc_dispatch.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace ferry::serve {

struct ferry_service_config {
    std::filesystem::path base_dir;         ///< every model's `dir` lands beneath it (absolute, canonical)
    /// Ended models kept for tellModel/waitModel; the oldest go first.
    std::size_t max_finished_models = 1000;
    /// How often ferry.onModelProgress goes out (for each model whose numbers changed).
    std::chrono::milliseconds progress_interval{1000};
    hub_settings hub;                        ///< endpoint, cache (Hub models without `dir` land there), offline
    std::optional<std::string> hub_token;    ///< sent to the Hub's own origin
    /// The daemon's engine settings: the Hub's API calls take its CA file, timeouts and proxies.
    engine_config engine;
};

/// The ferry.* methods and notifications. Its state lives on `executor` (the daemon's io_context).
/// Not thread-safe.
class ferry_service {
public:
    /// `notify` sends a notification text to every WebSocket.
    ferry_service(boost::asio::any_io_executor executor, ferry::engine& engine, ferry_service_config config,
                  std::function<void(std::string)> notify);
    ~ferry_service();
    ferry_service(const ferry_service&) = delete;
    ferry_service& operator=(const ferry_service&) = delete;

    /// Adds every ferry.* method, and the notifications, to `rpc`.
    void register_methods(rpc_dispatch& rpc);

    static std::vector<std::string> notification_names();

private:
    using params = boost::json::array;
    using result = boost::asio::awaitable<rpc_result>;

    /// A model and what waits on it.
    struct entry {
        explicit entry(boost::asio::any_io_executor ex)
            : done_signal(ex, boost::asio::steady_timer::time_point::max()) {}
        ferry_model model;
        std::vector<std::filesystem::path> destinations; ///< its files' final paths, while it runs
        std::unique_ptr<hub_model_run> hub;  ///< a Hub model's plan and locks, until it ends
        boost::asio::steady_timer done_signal; ///< cancelled when the model ends
        std::optional<std::pair<std::uint64_t, model_state>> reported; ///< the last progress sent
    };

    result add_model(params p);
    result tell_model(params p);
    result wait_model(params p);
    result set_priority(params p);
    result set_limit(params p);
    result stats(params p);

    /// A Hub model: listed, planned and locked; nullptr with `error` set when refused.
    boost::asio::awaitable<std::unique_ptr<hub_model_run>> plan_hub(const hub_manifest_model& request,
                                                                     std::string& error);
    /// Starts keeping `e`: its end is watched, progress reported.
    void keep(std::shared_ptr<entry> e, bool in_engine);
    /// The model a parameter names, or the error to answer.
    std::shared_ptr<entry> find(const params& p, std::size_t index, std::optional<rpc_error>& error) const;
    /// Its status object, with the engine's current numbers while it runs.
    result status_of(std::shared_ptr<entry> e);
    boost::asio::awaitable<void> watch(std::shared_ptr<entry> e);
    void finished(entry& e, std::vector<file_result> results);
    boost::asio::awaitable<void> report_progress();
    void notify(const char* method, boost::json::object status);

    boost::asio::any_io_executor executor_;
    ferry::engine& engine_;
    ferry_service_config config_;
    std::function<void(std::string)> notify_;
    std::map<std::string, std::shared_ptr<entry>> models_; ///< by id
    std::set<std::string> planning_;        ///< ids of Hub models being listed: taken
    std::deque<std::string> finished_;      ///< ended models, oldest first
    boost::asio::steady_timer progress_timer_;
    bool reporting_ = false;
    // The Hub's API client, made when the first Hub model comes.
    std::unique_ptr<boost::asio::ssl::context> hub_tls_;
    std::unique_ptr<connection_pool> hub_pool_;
    std::unique_ptr<hub_client> hub_client_;
    hub_cache hub_cache_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace ferry::serve
