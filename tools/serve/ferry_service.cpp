#include "tools/serve/ferry_service.hpp"

#include "engine/manifest.hpp"
#include "engine/stats_json.hpp"
#include "net/tls_context.hpp"
#include "perf/byte_size.hpp"
#include "tools/serve/aria2_service.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

namespace ferry::serve {

namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

/// The longest waitModel: a day, far below what a timer can hold.
constexpr std::int64_t max_wait_ms = 24 * 3600 * 1000;

/// A rate as bytes/s: a JSON number, or text such as "750K" or "20M" (0: no limit).
std::optional<std::uint64_t> rate_param(const json::value& v) {
    if (v.is_uint64())
        return v.get_uint64();
    if (v.is_int64() && v.get_int64() >= 0)
        return static_cast<std::uint64_t>(v.get_int64());
    if (v.is_string())
        return parse_byte_size(v.get_string());
    return std::nullopt;
}

/// addModel's options: {"priority", "limit_rate", "pause"}.
struct add_options {
    std::optional<priority> prio;
    std::optional<std::uint64_t> limit_rate;
    bool pause = false;
};

std::optional<std::string> read_add_options(const json::array& p, add_options& out) {
    if (p.size() < 2)
        return std::nullopt;
    auto* options = p[1].if_object();
    if (!options)
        return wrong_type(1);
    for (auto& [key, value] : *options) {
        if (key == "priority") {
            out.prio = value.is_string() ? parse_priority(value.get_string()) : std::nullopt;
            if (!out.prio)
                return "priority must be high, normal or low";
        } else if (key == "limit_rate") {
            out.limit_rate = rate_param(value);
            if (!out.limit_rate)
                return "limit_rate needs bytes/s or a rate like 750K or 20M";
        } else if (key == "pause") {
            if (!value.is_bool() && !(value.is_string() && (value == "true" || value == "false")))
                return "pause must be true or false";
            out.pause = value.is_bool() ? value.get_bool() : value == "true";
        } else {
            return "unknown option " + std::string(key) + " (priority, limit_rate, pause)";
        }
    }
    return std::nullopt;
}

} // namespace

ferry_service::ferry_service(asio::any_io_executor executor, ferry::engine& engine, ferry_service_config config,
                             std::function<void(std::string)> notify)
    : executor_(std::move(executor)), engine_(engine), config_(std::move(config)), notify_(std::move(notify)),
      progress_timer_(executor_), hub_cache_(config_.hub.cache) {}

ferry_service::~ferry_service() {
    *alive_ = false;
    if (hub_pool_)
        hub_pool_->shutdown();
}

std::vector<std::string> ferry_service::notification_names() {
    return {"ferry.onModelProgress", "ferry.onModelComplete", "ferry.onModelError"};
}

void ferry_service::notify(const char* method, json::object status) {
    if (notify_)
        notify_(json::serialize(
            json::object{{"jsonrpc", "2.0"}, {"method", method}, {"params", json::array{std::move(status)}}}));
}

std::shared_ptr<ferry_service::entry> ferry_service::find(const params& p, std::size_t index,
                                                          std::optional<rpc_error>& error) const {
    auto* text = string_param(p, index, error);
    if (!text)
        return nullptr;
    std::string id(*text);
    auto it = models_.find(id);
    if (it == models_.end()) {
        error = rpc_error{1, "Model " + id + " is not found"};
        return nullptr;
    }
    return it->second;
}

asio::awaitable<rpc_result> ferry_service::status_of(std::shared_ptr<entry> e) {
    if (e->model.finished)
        co_return rpc_result{model_status(e->model, std::nullopt), std::nullopt};
    auto snapshot = engine_.stats();
    auto all = co_await std::move(snapshot);
    std::optional<model_stats> numbers;
    for (auto& m : all.models)
        if (m.id == e->model.id)
            numbers = std::move(m);
    co_return rpc_result{model_status(e->model, numbers), std::nullopt};
}

asio::awaitable<std::unique_ptr<hub_model_run>> ferry_service::plan_hub(const hub_manifest_model& request,
                                                                        std::string& error) {
    if (config_.hub.offline) {
        error = "model '" + request.id + "': HF_HUB_OFFLINE is set: the Hub cannot be asked";
        co_return nullptr;
    }
    if (!hub_client_) {
        hub_tls_ = std::make_unique<asio::ssl::context>(make_client_tls_context(config_.engine.ca_file));
        hub_pool_ = std::make_unique<connection_pool>(
            executor_, *hub_tls_, hub_api_pool_config(config_.engine, config_.hub.etag_timeout));
        hub_client_ = std::make_unique<hub_client>(
            *hub_pool_, hub_client_config{.endpoint = config_.hub.endpoint, .token = config_.hub_token});
    }
    hub_fetch_options fetch{.endpoint = config_.hub.endpoint,
                            .token = config_.hub_token,
                            .model_id = request.id,
                            .prio = request.prio,
                            .limit_rate = request.limit_rate,
                            .local_dir = request.dir};
    auto planning = hub_model_run::plan(*hub_client_, hub_cache_, request, std::move(fetch), error);
    co_return co_await std::move(planning);
}

ferry_service::result ferry_service::add_model(params p) {
    if (p.empty())
        co_return rpc_result::fail(missing(0));
    if (!p[0].is_object())
        co_return rpc_result::fail(wrong_type(0));
    add_options options;
    if (auto problem = read_add_options(p, options))
        co_return rpc_result::fail(*problem);
    // The manifest's own parser checks the model: paths, sizes, digests, URLs, Hub repo ids.
    auto text = json::serialize(json::object{{"models", json::array{p[0]}}});
    auto parsed = parse_manifest(text, config_.base_dir);
    if (!parsed.error.empty())
        co_return rpc_result::fail(parsed.error);

    auto e = std::make_shared<entry>(executor_);
    auto& m = e->model;
    m.id = parsed.models.empty() ? parsed.hub_models.front().id : parsed.models.front().id;
    if (models_.contains(m.id) || planning_.contains(m.id))
        co_return rpc_result::fail("model '" + m.id + "': a model with this id was already added");
    auto outside = [&](const fs::path& dir) {
        return rpc_result::fail("model '" + m.id + "': dir " + dir.string() + " is outside the download directory");
    };

    model_spec spec;
    if (!parsed.models.empty()) {
        spec = std::move(parsed.models.front());
        auto dir = resolve_download_dir(config_.base_dir, spec.dir.string());
        if (!dir)
            co_return outside(spec.dir);
        spec.dir = *dir;
        m.dir = spec.dir;
    } else {
        auto& request = parsed.hub_models.front();
        if (request.dir) {
            auto dir = resolve_download_dir(config_.base_dir, request.dir->string());
            if (!dir)
                co_return outside(*request.dir);
            request.dir = *dir;
        }
        if (options.prio)
            request.prio = *options.prio;
        if (options.limit_rate)
            request.limit_rate = *options.limit_rate;
        std::string error;
        planning_.insert(m.id);
        auto planning = plan_hub(request, error);
        e->hub = co_await std::move(planning);
        planning_.erase(m.id);
        if (!e->hub)
            co_return rpc_result::fail(error);
        spec = e->hub->fetch();
        m.dir = e->hub->destination(hub_cache_);
        const auto& planned = e->hub->planned();
        m.cached_files = planned.hits + planned.adoptions.size();
        m.cached_bytes = planned.hit_bytes + planned.adopted_bytes;
    }
    if (options.prio)
        spec.prio = *options.prio;
    if (options.limit_rate)
        spec.limit_rate = *options.limit_rate;
    m.prio = spec.prio;
    m.limit_rate = spec.limit_rate;
    for (auto& f : spec.files) {
        m.files.push_back(f.path.generic_string());
        if (!f.name.empty())
            m.files.push_back(f.name);
        e->destinations.push_back((spec.dir / f.path).lexically_normal());
    }
    // Two models writing one file would corrupt it: the engine only checks within a model.
    for (auto& [id, other] : models_)
        for (auto& d : e->destinations)
            if (std::find(other->destinations.begin(), other->destinations.end(), d) != other->destinations.end())
                co_return rpc_result::fail("model '" + m.id + "': model " + id + " is already downloading " +
                                           d.string());
    std::error_code ec;
    fs::create_directories(spec.dir, ec);
    if (!spec.files.empty() && !fs::is_directory(spec.dir))
        co_return rpc_result::fail("model '" + m.id + "': cannot create directory " + spec.dir.string());

    const bool in_engine = !spec.files.empty();
    if (in_engine) {
        auto added = engine_.add(std::move(spec));
        if (!added)
            co_return rpc_result::fail(added.error);
        if (options.pause)
            engine_.pause(m.id);
    }
    auto id = m.id;
    keep(std::move(e), in_engine);
    co_return rpc_result{json::string(id), std::nullopt};
}

void ferry_service::keep(std::shared_ptr<entry> e, bool in_engine) {
    models_[e->model.id] = e;
    if (!in_engine) {
        finished(*e, {}); // a Hub model whose files the cache had: done now
        return;
    }
    asio::co_spawn(executor_, watch(std::move(e)), asio::detached);
    if (!reporting_) {
        reporting_ = true;
        asio::co_spawn(executor_, report_progress(), asio::detached);
    }
}

asio::awaitable<void> ferry_service::watch(std::shared_ptr<entry> e) {
    auto alive = alive_;
    auto waiting = engine_.wait(e->model.id);
    auto result = co_await std::move(waiting);
    if (*alive)
        finished(*e, std::move(result.files));
}

void ferry_service::finished(entry& e, std::vector<file_result> results) {
    auto& m = e.model;
    m.results = std::move(results);
    if (e.hub) {
        m.problems = e.hub->finish(hub_cache_);
        e.hub.reset();
    }
    m.finished = true;
    e.destinations.clear();
    e.done_signal.cancel();
    auto status = model_status(m, std::nullopt);
    bool complete = final_stats(m).state == model_state::complete;
    notify(complete ? "ferry.onModelComplete" : "ferry.onModelError", std::move(status));
    finished_.push_back(m.id);
    while (finished_.size() > std::max<std::size_t>(config_.max_finished_models, 1)) {
        models_.erase(finished_.front()); // a waitModel still holding it answers from its copy
        finished_.pop_front();
    }
}

asio::awaitable<void> ferry_service::report_progress() {
    auto alive = alive_;
    for (;;) {
        progress_timer_.expires_after(config_.progress_interval);
        auto ticking = progress_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
        co_await std::move(ticking);
        if (!*alive)
            co_return;
        bool running = std::any_of(models_.begin(), models_.end(), [](auto& m) { return !m.second->model.finished; });
        if (!running) {
            reporting_ = false; // the next addModel starts it again
            co_return;
        }
        auto snapshot = engine_.stats();
        auto all = co_await std::move(snapshot);
        if (!*alive)
            co_return;
        for (auto& numbers : all.models) {
            auto it = models_.find(numbers.id);
            if (it == models_.end() || it->second->model.finished)
                continue;
            auto& e = *it->second;
            std::pair mark{numbers.bytes_done, numbers.state};
            if (e.reported == mark)
                continue;
            e.reported = mark;
            notify("ferry.onModelProgress", model_status(e.model, numbers));
        }
    }
}

ferry_service::result ferry_service::tell_model(params p) {
    std::optional<rpc_error> error;
    auto e = find(p, 0, error);
    if (!e)
        co_return rpc_result{nullptr, error};
    auto telling = status_of(std::move(e));
    co_return co_await std::move(telling);
}

ferry_service::result ferry_service::wait_model(params p) {
    std::optional<rpc_error> error;
    auto e = find(p, 0, error);
    if (!e)
        co_return rpc_result{nullptr, error};
    std::int64_t timeout = 0;
    if (p.size() > 1) {
        auto given = integer_param(p[1]);
        if (!given || *given < 0 || *given > max_wait_ms)
            co_return rpc_result::fail("timeout_ms must be 0.." + std::to_string(max_wait_ms));
        timeout = *given;
    }
    if (!e->model.finished && timeout > 0) {
        // The model's end and the deadline race; the entry is held, so a model forgotten
        // meanwhile still answers.
        using namespace asio::experimental::awaitable_operators;
        asio::steady_timer deadline(executor_, std::chrono::milliseconds(timeout));
        auto ending = e->done_signal.async_wait(asio::as_tuple(asio::use_awaitable));
        auto expiry = deadline.async_wait(asio::as_tuple(asio::use_awaitable));
        auto race = std::move(ending) || std::move(expiry);
        co_await std::move(race);
    }
    auto telling = status_of(std::move(e));
    co_return co_await std::move(telling);
}

ferry_service::result ferry_service::set_priority(params p) {
    std::optional<rpc_error> error;
    auto e = find(p, 0, error);
    if (!e)
        co_return rpc_result{nullptr, error};
    if (p.size() < 2)
        co_return rpc_result::fail(missing(1));
    auto prio = p[1].is_string() ? parse_priority(p[1].get_string()) : std::nullopt;
    if (!prio)
        co_return rpc_result::fail("priority must be high, normal or low");
    e->model.prio = *prio;
    if (!e->model.finished)
        engine_.set_priority(e->model.id, *prio);
    co_return rpc_result{json::string("OK"), std::nullopt};
}

ferry_service::result ferry_service::set_limit(params p) {
    if (p.empty())
        co_return rpc_result::fail(missing(0));
    auto* what = p[0].if_object();
    if (!what)
        co_return rpc_result::fail(wrong_type(0));
    auto rate_of = [&](std::string_view key) -> std::optional<std::uint64_t> {
        auto* v = what->if_contains(key);
        return v ? rate_param(*v) : std::nullopt;
    };
    if (what->contains("overall")) {
        auto rate = rate_of("overall");
        if (!rate || what->size() != 1)
            co_return rpc_result::fail("setLimit takes {\"overall\": RATE}, RATE in bytes/s or like 20M");
        engine_.set_limit_rate(*rate);
        co_return rpc_result{json::string("OK"), std::nullopt};
    }
    auto* model = what->if_contains("model");
    auto* file = what->if_contains("file");
    auto rate = rate_of("rate");
    if (!model || !model->is_string() || (file && !file->is_string()) || !rate ||
        what->size() != (file ? 3u : 2u))
        co_return rpc_result::fail("setLimit takes {\"overall\": RATE}, {\"model\": ID, \"rate\": RATE} or "
                                   "{\"model\": ID, \"file\": PATH, \"rate\": RATE}");
    std::optional<rpc_error> error;
    auto e = find(params{*model}, 0, error);
    if (!e)
        co_return rpc_result{nullptr, error};
    auto& m = e->model;
    if (!file) {
        m.limit_rate = *rate;
        if (!m.finished)
            engine_.set_limit_rate(m.id, *rate);
        co_return rpc_result{json::string("OK"), std::nullopt};
    }
    std::string path(file->get_string());
    if (std::find(m.files.begin(), m.files.end(), path) == m.files.end())
        co_return rpc_result::fail("model '" + m.id + "' fetches no file " + path);
    if (!m.finished)
        engine_.set_limit_rate(m.id, path, *rate);
    co_return rpc_result{json::string("OK"), std::nullopt};
}

ferry_service::result ferry_service::stats(params) {
    auto snapshot = engine_.stats();
    auto all = co_await std::move(snapshot);
    co_return rpc_result{to_json(all), std::nullopt};
}

void ferry_service::register_methods(rpc_dispatch& rpc) {
    auto bind = [this](result (ferry_service::*m)(params)) {
        return [this, m](params p) { return (this->*m)(std::move(p)); };
    };
    rpc.add("ferry.addModel", bind(&ferry_service::add_model));
    rpc.add("ferry.tellModel", bind(&ferry_service::tell_model));
    rpc.add("ferry.waitModel", bind(&ferry_service::wait_model));
    rpc.add("ferry.setPriority", bind(&ferry_service::set_priority));
    rpc.add("ferry.setLimit", bind(&ferry_service::set_limit));
    rpc.add("ferry.stats", bind(&ferry_service::stats));
    rpc.add_notifications(notification_names());
}

} // namespace ferry::serve
