#include "tools/serve/aria2_service.hpp"

#include "memory/sha256.hpp"
#include "net/url.hpp"
#include "perf/byte_size.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

namespace ferry::serve {

namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

/// The keys filter of tellStatus and the list methods (an array of strings), when given.
bool read_keys(const json::array& p, std::size_t index, std::vector<std::string>& keys) {
    if (p.size() <= index)
        return true;
    auto* list = p[index].if_array();
    if (!list)
        return false;
    for (auto& k : *list) {
        if (!k.is_string())
            return false;
        keys.emplace_back(k.get_string());
    }
    return true;
}

/// An option value as aria2 takes it: a string (numbers and booleans written as text too).
std::optional<std::string> option_text(const json::value& v) {
    if (v.is_string())
        return std::string(v.get_string());
    if (v.is_int64())
        return std::to_string(v.get_int64());
    if (v.is_uint64())
        return std::to_string(v.get_uint64());
    if (v.is_bool())
        return v.get_bool() ? "true" : "false";
    return std::nullopt;
}

std::string last_segment(const std::string& uri) {
    std::string name;
    if (auto parsed = boost::urls::parse_uri(uri)) {
        std::string path = parsed->path();
        auto slash = path.rfind('/');
        name = slash == std::string::npos ? path : path.substr(slash + 1);
    }
    if (name.empty() || name == "." || name == "..")
        name = "index.html";
    return name;
}

/// The offset, num and keys of tellWaiting and tellStopped.
struct list_window {
    std::int64_t offset = 0, num = 0;
    std::vector<std::string> keys;
};

std::optional<std::string> read_window(const json::array& p, list_window& w) {
    if (p.size() < 2)
        return missing(p.size());
    auto offset = integer_param(p[0]), num = integer_param(p[1]);
    if (!offset)
        return wrong_type(0);
    if (!num)
        return wrong_type(1);
    if (!read_keys(p, 2, w.keys))
        return wrong_type(2);
    w.offset = *offset;
    w.num = *num;
    return std::nullopt;
}

/// The GIDs of `ordered` (sort key, GID) in the window, in aria2's order.
template <class Key>
std::vector<std::string> pick(std::vector<std::pair<Key, std::string>> ordered, const list_window& w) {
    std::sort(ordered.begin(), ordered.end());
    std::vector<std::string> gids;
    for (auto i : aria2_window(ordered.size(), w.offset, w.num))
        gids.push_back(ordered[i].second);
    return gids;
}

bool has_control_chars(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

} // namespace

std::optional<fs::path> resolve_download_dir(const fs::path& base, const std::string& dir) {
    if (dir.empty() || has_control_chars(dir))
        return std::nullopt;
    fs::path wanted = fs::path(dir).is_absolute() ? fs::path(dir) : base / dir;
    std::error_code ec;
    auto resolved = fs::weakly_canonical(wanted, ec);
    if (ec)
        return std::nullopt;
    auto rel = resolved.lexically_relative(base);
    if (rel.empty() || *rel.begin() == "..")
        return std::nullopt;
    return resolved;
}

aria2_service::aria2_service(asio::any_io_executor executor, ferry::engine& engine, aria2_service_config config,
                             std::function<void(std::string)> notify, std::function<void()> shutdown)
    : executor_(std::move(executor)), engine_(engine), config_(std::move(config)), notify_(std::move(notify)),
      shutdown_(std::move(shutdown)), snapshot_taken_(executor_, asio::steady_timer::time_point::max()),
      session_written_(executor_, asio::steady_timer::time_point::max()) {
    std::random_device random;
    for (int i = 0; i < 5; ++i) {
        char word[9];
        std::snprintf(word, sizeof word, "%08x", random());
        session_id_ += word;
    }
    // Events arrive on the engine's strand; the service's state is the daemon executor's.
    std::weak_ptr<bool> alive = alive_;
    subscription_ = engine_.subscribe([this, alive, ex = executor_](const event& e) {
        if (e.what == event::kind::progress || e.what == event::kind::retried)
            return;
        asio::post(ex, [this, alive, e] {
            if (alive.lock())
                on_event(e);
        });
    });
}

aria2_service::~aria2_service() {
    *alive_ = false;
    engine_.unsubscribe(subscription_);
    session_thread_.join();
}

std::vector<std::string> aria2_service::notification_names() {
    return {"aria2.onDownloadStart", "aria2.onDownloadPause", "aria2.onDownloadStop", "aria2.onDownloadComplete",
            "aria2.onDownloadError", "aria2.onBtDownloadComplete"};
}

void aria2_service::notify(const char* method, const std::string& gid) {
    if (notify_)
        notify_(json::serialize(json::object{
            {"jsonrpc", "2.0"}, {"method", method}, {"params", json::array{json::object{{"gid", gid}}}}}));
}

void aria2_service::on_event(const event& e) {
    changed();
    auto it = downloads_.find(e.model);
    if (it == downloads_.end())
        return;
    auto& d = it->second;
    switch (e.what) {
    case event::kind::started:
        if (!d.started && !d.held) {
            d.started = d.ever_started = true;
            notify("aria2.onDownloadStart", d.gid);
        }
        break;
    case event::kind::completed:
    case event::kind::skipped:
        if (!d.stopped_order) {
            // Already on disk and verified: aria2's clients still expect a start before the end.
            if (!d.ever_started) {
                d.started = d.ever_started = true;
                notify("aria2.onDownloadStart", d.gid);
            }
            notify("aria2.onDownloadComplete", d.gid);
            stopped(d, model_state::complete);
            persist_later();
        }
        break;
    case event::kind::failed:
        if (!d.stopped_order) {
            d.error_message = e.message;
            d.error_code = aria2_error_code(e.error);
            notify("aria2.onDownloadError", d.gid);
            stopped(d, model_state::error);
            persist_later();
        }
        break;
    default:
        break; // a pause or remove notifies from its method
    }
}

void aria2_service::stopped(aria2_download& d, model_state how) {
    d.stopped_order = ++stops_;
    d.final_state = how;
    std::size_t kept = 0;
    const aria2_download* oldest = nullptr;
    for (auto& [gid, other] : downloads_) {
        if (!other.stopped_order)
            continue;
        ++kept;
        if (!oldest || other.stopped_order < oldest->stopped_order)
            oldest = &other;
    }
    if (kept > config_.max_download_result && oldest) {
        auto gid = oldest->gid;
        downloads_.erase(gid);
    }
}

aria2_service::snapshot_ptr aria2_service::snapshot_now() const {
    if (!recent_ || recent_->generation != changes_)
        return nullptr;
    auto age = std::chrono::steady_clock::now() - recent_->taken;
    // While the next snapshot is taken, the one before answers if nothing changed since and it is
    // not much older: polls do not pile up behind the taking (in the request queue's running
    // slots, then in its waiting room), only the call that takes it waits.
    if (age < snapshot_max_age || (taking_snapshot_ && age < 2 * snapshot_max_age))
        return recent_;
    return nullptr;
}

asio::awaitable<aria2_service::snapshot_ptr> aria2_service::stats() {
    if (auto now = snapshot_now())
        co_return now;
    while (taking_snapshot_ && !snapshot_now())
        co_await snapshot_taken_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (auto now = snapshot_now())
        co_return now;
    taking_snapshot_ = true;
    // Ends the taking however the frame ends; a frame destroyed with the io_context after the
    // service is gone touches nothing.
    struct done_taking {
        aria2_service* self;
        std::shared_ptr<bool> alive;
        ~done_taking() {
            if (!*alive)
                return;
            self->taking_snapshot_ = false;
            self->snapshot_taken_.cancel(); // wakes the calls waiting for it
        }
    } done{this, alive_};
    auto s = std::make_shared<snapshot>();
    s->generation = changes_;
    s->taken = std::chrono::steady_clock::now();
    auto all = co_await engine_.stats();
    s->speed = all.speed;
    s->limit_rate = all.limit_rate;
    s->max_files = all.max_files;
    for (auto& m : all.models)
        s->models.emplace(m.id, std::move(m));
    recent_ = s;
    co_return s;
}

aria2_download* aria2_service::resolve(const params& p, std::size_t index, std::optional<rpc_error>& error) {
    if (p.size() <= index) {
        error = rpc_error{1, missing(index)};
        return nullptr;
    }
    if (!p[index].is_string()) {
        error = rpc_error{1, wrong_type(index)};
        return nullptr;
    }
    std::string text(p[index].get_string());
    auto [lookup, it] = find_gid(downloads_, text);
    switch (lookup) {
    case gid_lookup::found: return &it->second;
    case gid_lookup::malformed: error = rpc_error{1, "Invalid GID " + text}; return nullptr;
    case gid_lookup::ambiguous: error = rpc_error{1, "GID " + text + " is not unique"}; return nullptr;
    case gid_lookup::not_found: error = rpc_error{1, "GID " + text + " is not found"}; return nullptr;
    }
    return nullptr;
}

json::array aria2_service::statuses(const std::vector<std::string>& gids, const model_map& s,
                                    const std::vector<std::string>& keys) const {
    json::array out;
    for (auto& g : gids)
        if (auto it = downloads_.find(g); it != downloads_.end())
            out.push_back(status_object(it->second, find_stats(s, g), keys));
    return out;
}

aria2_service::result aria2_service::add_uri(params p) {
    auto adding = add(std::move(p), std::string());
    auto added = co_await std::move(adding);
    if (!added.error) {
        // Acknowledged means saved: a kill -9 right after the answer still finds it in the session.
        if (auto error = co_await persist(); !error.empty())
            std::fprintf(stderr, "ferry serve: %s\n", error.c_str());
    }
    co_return added;
}

aria2_service::result aria2_service::add(params p, std::string wanted_gid) {
    if (p.empty())
        co_return rpc_result::fail(missing(0));
    auto* list = p[0].if_array();
    if (!list)
        co_return rpc_result::fail(wrong_type(0));
    if (list->empty())
        co_return rpc_result::fail("URI is not provided.");
    aria2_download d;
    for (auto& u : *list) {
        if (!u.is_string())
            co_return rpc_result::fail(wrong_type(0));
        std::string uri(u.get_string());
        if (!parse_url(uri))
            co_return rpc_result::fail("Unsupported URI: " + uri + " (http and https only)");
        d.uris.push_back(std::move(uri));
    }
    d.dir = config_.base_dir;
    d.out = last_segment(d.uris.front());
    bool paused = false;
    file_spec file;
    file.urls = d.uris;
    file.headers = config_.headers;
    std::optional<std::int64_t> position;
    if (p.size() > 1) {
        auto* options = p[1].if_object();
        if (!options)
            co_return rpc_result::fail(wrong_type(1));
        for (auto& [key, value] : *options) {
            if (key == "header") {
                std::vector<std::string> lines;
                if (auto* many = value.if_array()) {
                    for (auto& h : *many)
                        if (h.is_string())
                            lines.emplace_back(h.get_string());
                } else if (value.is_string()) {
                    lines.emplace_back(value.get_string());
                }
                for (auto& line : lines) {
                    auto colon = line.find(':');
                    if (colon == std::string::npos || colon == 0 || has_control_chars(line))
                        co_return rpc_result::fail("Invalid header: " + line);
                    auto field = line.substr(colon + 1);
                    field.erase(0, field.find_first_not_of(" \t"));
                    file.headers.emplace_back(line.substr(0, colon), field);
                    d.header_lines.push_back(line);
                }
                continue;
            }
            auto text = option_text(value);
            if (!text)
                co_return rpc_result::fail("Option " + std::string(key) + " has a wrong type.");
            if (key == "dir") {
                auto dir = resolve_download_dir(config_.base_dir, *text);
                if (!dir)
                    co_return rpc_result::fail("dir " + *text + " is outside the download directory");
                d.dir = *dir;
            } else if (key == "out") {
                fs::path out(*text);
                bool bad = text->empty() || out.is_absolute() || has_control_chars(*text);
                for (auto& part : out)
                    bad = bad || part == "..";
                if (bad)
                    co_return rpc_result::fail("out " + *text + " must be a relative path without ..");
                d.out = out.lexically_normal().string();
                d.out_given = true;
            } else if (key == "pause") {
                paused = *text == "true";
            } else if (key == "checksum") {
                auto eq = text->find('=');
                auto algo = text->substr(0, eq == std::string::npos ? 0 : eq);
                auto digest = eq == std::string::npos ? std::nullopt : parse_sha256_hex(text->substr(eq + 1));
                if ((algo != "sha-256" && algo != "sha256") || !digest)
                    co_return rpc_result::fail("checksum takes sha-256=HEX (64 hex digits)");
                file.sha256 = digest;
                d.checksum = *text;
            } else if (key == "max-download-limit") {
                auto rate = parse_byte_size(*text);
                if (!rate)
                    co_return rpc_result::fail("max-download-limit needs a rate like 750K or 20M");
                d.limit_rate = *rate;
                file.limit_rate = *rate;
            }
            // Other aria2 options are accepted and ignored, as aria2 ignores those that do not
            // apply to a download.
        }
    }
    if (p.size() > 2) {
        position = integer_param(p[2]);
        if (!position || *position < 0)
            co_return rpc_result::fail(wrong_type(2));
    }
    // Two downloads writing one file would corrupt it: the engine only checks within a model.
    auto destination = (d.dir / d.out).lexically_normal();
    for (auto& [gid, other] : downloads_)
        if (!other.stopped_order && (other.dir / other.out).lexically_normal() == destination)
            co_return rpc_result::fail("GID#" + gid + " is already downloading " + destination.string());
    std::error_code ec;
    fs::create_directories(d.dir, ec);
    if (!fs::is_directory(d.dir))
        co_return rpc_result::fail("cannot create directory " + d.dir.string());

    if (wanted_gid.empty()) {
        d.gid = fresh_gid(gid_random_, [this](const std::string& gid) { return downloads_.contains(gid); });
    } else {
        if (!well_formed_gid(wanted_gid) || downloads_.contains(wanted_gid))
            co_return rpc_result::fail("GID " + wanted_gid + " is malformed or already in use");
        d.gid = wanted_gid;
    }
    file.path = d.out;
    model_spec model;
    model.id = d.gid;
    model.dir = d.dir;
    model.files.push_back(std::move(file));
    auto added = engine_.add(std::move(model));
    if (!added)
        co_return rpc_result::fail(added.error);
    auto gid = d.gid;
    d.held = paused;
    downloads_.emplace(gid, std::move(d));
    if (paused)
        engine_.pause(gid);
    if (position) {
        auto moving = engine_.change_position(gid, static_cast<int>(*position), position_origin::begin);
        co_await std::move(moving);
    }
    co_return rpc_result{json::string(gid), std::nullopt};
}

rpc_result aria2_service::with_download(const params& p, const snapshot& s, const download_action& action) {
    std::optional<rpc_error> error;
    auto* d = resolve(p, 0, error);
    if (!d)
        return rpc_result{nullptr, error};
    return action(*d, find_stats(s.models, d->gid));
}

aria2_service::result aria2_service::on_download(params p, download_action action) {
    auto held = co_await stats();
    co_return with_download(p, *held, action);
}

aria2_service::result aria2_service::remove(params p) {
    return on_download(std::move(p), [this](aria2_download& d, const std::optional<model_stats>& st) {
        if (!st || is_stopped(st->state) || d.stopped_order)
            return rpc_result::fail("Active Download not found for GID#" + d.gid);
        engine_.cancel(d.gid);
        auto gid = d.gid;
        if (d.ever_started) {
            notify("aria2.onDownloadStop", gid);
            stopped(d, model_state::removed);
        } else {
            ++stops_;
            // aria2 keeps no result, and tells nobody, for a download that never started: it is
            // gone at once.
            downloads_.erase(gid);
        }
        persist_later();
        return rpc_result{json::string(gid), std::nullopt};
    });
}

aria2_service::result aria2_service::pause(params p) {
    return on_download(std::move(p), [this](aria2_download& d, const std::optional<model_stats>& st) {
        if (!st || (st->state != model_state::waiting && st->state != model_state::active))
            return rpc_result::fail("GID#" + d.gid + " cannot be paused now");
        engine_.pause(d.gid);
        d.started = false; // resumed, it starts again: onDownloadStart once more, as aria2 sends it
        d.held = true;
        notify("aria2.onDownloadPause", d.gid);
        persist_later();
        return rpc_result{json::string(d.gid), std::nullopt};
    });
}

aria2_service::result aria2_service::pause_all(params) {
    auto held = co_await stats();
    auto& s = held->models;
    for (auto& [gid, d] : downloads_) {
        auto st = find_stats(s, gid);
        if (st && (st->state == model_state::waiting || st->state == model_state::active)) {
            engine_.pause(gid);
            d.started = false;
            d.held = true;
            notify("aria2.onDownloadPause", gid);
        }
    }
    persist_later();
    co_return rpc_result{json::string("OK"), std::nullopt};
}

aria2_service::result aria2_service::unpause(params p) {
    return on_download(std::move(p), [this](aria2_download& d, const std::optional<model_stats>& st) {
        if (!st || st->state != model_state::paused)
            return rpc_result::fail("GID#" + d.gid + " cannot be unpaused now");
        engine_.resume(d.gid);
        d.held = false;
        persist_later();
        return rpc_result{json::string(d.gid), std::nullopt};
    });
}

aria2_service::result aria2_service::unpause_all(params) {
    auto held = co_await stats();
    auto& s = held->models;
    for (auto& [gid, d] : downloads_)
        if (auto st = find_stats(s, gid); st && st->state == model_state::paused) {
            engine_.resume(gid);
            d.held = false;
        }
    persist_later();
    co_return rpc_result{json::string("OK"), std::nullopt};
}

rpc_result aria2_service::tell_status(params& p, const snapshot& now) {
    std::vector<std::string> keys;
    if (!read_keys(p, 1, keys))
        return rpc_result::fail(wrong_type(1));
    return with_download(p, now, [&keys](aria2_download& d, const std::optional<model_stats>& st) {
        return rpc_result{status_object(d, st, keys), std::nullopt};
    });
}

rpc_result aria2_service::get_files(params& p, const snapshot& now) {
    return with_download(p, now, [](aria2_download& d, const std::optional<model_stats>& st) {
        return rpc_result{files_array(d, st), std::nullopt};
    });
}

rpc_result aria2_service::get_uris(params& p, const snapshot& now) {
    return with_download(p, now, [](aria2_download& d, const std::optional<model_stats>& st) {
        return rpc_result{uris_array(d, st), std::nullopt};
    });
}

rpc_result aria2_service::tell_active(params& p, const snapshot& now) {
    std::vector<std::string> keys;
    if (!read_keys(p, 0, keys))
        return rpc_result::fail(wrong_type(0));
    auto& s = now.models;
    std::vector<std::pair<std::size_t, std::string>> active;
    for (auto& [gid, d] : downloads_)
        if (auto st = find_stats(s, gid); st && st->state == model_state::active && !d.stopped_order)
            active.emplace_back(st->position.value_or(0), gid);
    list_window all{.offset = 0, .num = INT64_MAX, .keys = {}};
    return rpc_result{statuses(pick(std::move(active), all), s, keys), std::nullopt};
}

rpc_result aria2_service::tell_waiting(params& p, const snapshot& now) {
    list_window w;
    if (auto error = read_window(p, w))
        return rpc_result::fail(*error);
    auto& s = now.models;
    std::vector<std::pair<std::size_t, std::string>> waiting;
    for (auto& [gid, d] : downloads_)
        if (auto st = find_stats(s, gid);
            st && (st->state == model_state::waiting || st->state == model_state::paused) && !d.stopped_order)
            waiting.emplace_back(st->position.value_or(0), gid);
    return rpc_result{statuses(pick(std::move(waiting), w), s, w.keys), std::nullopt};
}

rpc_result aria2_service::tell_stopped(params& p, const snapshot& now) {
    list_window w;
    if (auto error = read_window(p, w))
        return rpc_result::fail(*error);
    auto& s = now.models;
    std::vector<std::pair<std::uint64_t, std::string>> stopped;
    for (auto& [gid, d] : downloads_) {
        auto st = find_stats(s, gid);
        if (d.stopped_order)
            stopped.emplace_back(d.stopped_order, gid);
        else if (!st || is_stopped(st->state))
            stopped.emplace_back(stops_ + 1, gid); // ended without an event yet: after the others
    }
    return rpc_result{statuses(pick(std::move(stopped), w), s, w.keys), std::nullopt};
}

aria2_service::result aria2_service::change_position(params p) {
    std::optional<rpc_error> error;
    auto* d = resolve(p, 0, error);
    if (!d)
        co_return rpc_result{nullptr, error};
    if (p.size() < 3)
        co_return rpc_result::fail(missing(p.size()));
    auto pos = integer_param(p[1]);
    if (!pos)
        co_return rpc_result::fail(wrong_type(1));
    if (!p[2].is_string())
        co_return rpc_result::fail(wrong_type(2));
    auto how_text = p[2].get_string();
    position_origin how;
    if (how_text == "POS_SET")
        how = position_origin::begin;
    else if (how_text == "POS_CUR")
        how = position_origin::current;
    else if (how_text == "POS_END")
        how = position_origin::end;
    else
        co_return rpc_result::fail("Illegal argument.");
    auto gid = d->gid;
    auto moving = engine_.change_position(gid, static_cast<int>(*pos), how);
    auto moved = co_await std::move(moving);
    if (!moved)
        co_return rpc_result::fail("GID#" + gid + " not found in the waiting queue.");
    persist_later();
    co_return rpc_result{static_cast<std::int64_t>(*moved), std::nullopt};
}

rpc_result aria2_service::get_global_stat(params&, const snapshot& now) {
    std::size_t active = 0, waiting = 0, stopped = 0;
    for (auto& [gid, d] : downloads_) {
        auto it = now.models.find(gid);
        auto state = it == now.models.end() ? model_state::removed : it->second.state;
        if (d.stopped_order || is_stopped(state))
            ++stopped;
        else if (state == model_state::active)
            ++active;
        else
            ++waiting;
    }
    auto n = [](std::uint64_t v) { return json::string(std::to_string(v)); };
    return rpc_result{json::object{{"downloadSpeed", n(static_cast<std::uint64_t>(now.speed))},
                                      {"numActive", n(active)},
                                      {"numStopped", n(stopped)},
                                      {"numStoppedTotal", n(stops_)},
                                      {"numWaiting", n(waiting)},
                                      {"uploadSpeed", "0"}},
                         std::nullopt};
}

aria2_service::result aria2_service::change_global_option(params p) {
    if (p.empty())
        co_return rpc_result::fail(missing(0));
    auto* options = p[0].if_object();
    if (!options)
        co_return rpc_result::fail(wrong_type(0));
    // Check every value before applying any.
    std::optional<std::uint64_t> limit, concurrent;
    for (auto& [key, value] : *options) {
        auto text = option_text(value);
        if (key == "max-overall-download-limit") {
            limit = text ? parse_byte_size(*text) : std::nullopt;
            if (!limit)
                co_return rpc_result::fail("max-overall-download-limit needs a rate like 750K or 20M");
        } else if (key == "max-concurrent-downloads") {
            auto n = text ? integer_param(json::string(*text)) : std::nullopt;
            if (!n || *n < 1)
                co_return rpc_result::fail("max-concurrent-downloads must be at least 1");
            concurrent = static_cast<std::uint64_t>(*n);
        }
    }
    if (limit)
        engine_.set_limit_rate(*limit);
    if (concurrent)
        engine_.set_max_files(*concurrent);
    co_return rpc_result{json::string("OK"), std::nullopt};
}

rpc_result aria2_service::get_global_option(params&, const snapshot& now) {
    // The limits as the engine holds them now (ferry.setLimit changes them too).
    auto b = [](bool v) { return json::string(v ? "true" : "false"); };
    json::object o{
        {"dir", config_.base_dir.string()},
        {"enable-rpc", "true"},
        {"max-concurrent-downloads", std::to_string(now.max_files)},
        {"max-overall-download-limit", std::to_string(now.limit_rate)},
        {"max-download-limit", "0"},
        {"rpc-allow-origin-all", b(config_.allow_origin_all)},
        {"rpc-listen-all", b(config_.listen_all)},
        {"rpc-listen-port", std::to_string(config_.port)},
    };
    return rpc_result{std::move(o), std::nullopt};
}

aria2_service::result aria2_service::get_version(params) {
    co_return rpc_result{json::object{{"enabledFeatures", json::array{"HTTPS", "Message Digest"}},
                                      {"version", "1.36.0"}},
                         std::nullopt};
}

aria2_service::result aria2_service::purge_download_result(params) {
    auto held = co_await stats();
    auto& s = held->models;
    for (auto it = downloads_.begin(); it != downloads_.end();) {
        auto st = find_stats(s, it->first);
        if (it->second.stopped_order || !st || is_stopped(st->state)) {
            it = downloads_.erase(it);
        } else {
            ++it;
        }
    }
    persist_later();
    co_return rpc_result{json::string("OK"), std::nullopt};
}

aria2_service::result aria2_service::remove_download_result(params p) {
    return on_download(std::move(p), [this](aria2_download& d, const std::optional<model_stats>& st) {
        if (!(d.stopped_order || !st || is_stopped(st->state)))
            return rpc_result::fail("Could not remove download result of GID#" + d.gid);
        auto gid = d.gid;
        downloads_.erase(gid);
        persist_later();
        return rpc_result{json::string("OK"), std::nullopt};
    });
}

aria2_service::result aria2_service::shutdown(params) {
    // Answer first, then stop.
    if (shutdown_)
        asio::post(executor_, shutdown_);
    co_return rpc_result{json::string("OK"), std::nullopt};
}

aria2_service::result aria2_service::change_option(params p) {
    std::optional<rpc_error> error;
    auto* d = resolve(p, 0, error);
    if (!d)
        co_return rpc_result{nullptr, error};
    if (p.size() < 2)
        co_return rpc_result::fail(missing(1));
    auto* options = p[1].if_object();
    if (!options)
        co_return rpc_result::fail(wrong_type(1));
    std::optional<std::uint64_t> limit;
    for (auto& [key, value] : *options) {
        auto text = option_text(value);
        if (key == "max-download-limit") {
            limit = text ? parse_byte_size(*text) : std::nullopt;
            if (!limit)
                co_return rpc_result::fail(
                    "We encountered a problem while processing the option '--max-download-limit'.");
        } else if (key == "dir" || key == "out" || key == "header" || key == "checksum") {
            // The engine already holds the file under its name and headers: a new one would need a
            // new download (remove it and add it again).
            co_return rpc_result::fail("Option " + std::string(key) + " cannot be changed on GID#" + d->gid +
                                       " (remove it and add it again)");
        }
        // Other aria2 options are accepted and ignored, as aria2 ignores those that do not apply.
    }
    if (limit) {
        d->limit_rate = *limit;
        engine_.set_limit_rate(d->gid, *limit);
        persist_later();
    }
    co_return rpc_result{json::string("OK"), std::nullopt};
}

rpc_result aria2_service::get_option(params& p, const snapshot& now) {
    return with_download(p, now, [this](aria2_download& d, const std::optional<model_stats>&) {
        // The options ferry applies, under aria2's names and in its (name) order; `out`, `checksum`
        // and `header` only when given, as aria2 lists them.
        std::map<std::string, std::string> values{
            {"allow-overwrite", "false"},
            {"always-resume", "true"},
            {"auto-file-renaming", "false"},
            {"continue", "true"},
            {"dir", d.dir.string()},
            {"max-connection-per-server", std::to_string(config_.max_connection_per_server)},
            {"max-download-limit", std::to_string(d.limit_rate)},
            {"split", std::to_string(config_.split)},
        };
        if (d.out_given)
            values["out"] = d.out;
        if (!d.checksum.empty())
            values["checksum"] = d.checksum;
        for (auto& h : d.header_lines)
            values["header"] += h + "\n";
        json::object o;
        for (auto& [k, v] : values)
            o[k] = v;
        return rpc_result{std::move(o), std::nullopt};
    });
}

rpc_result aria2_service::get_servers(params& p, const snapshot& now) {
    return with_download(p, now, [](aria2_download& d, const std::optional<model_stats>& st) {
        if (!st || st->state != model_state::active || d.stopped_order)
            return rpc_result::fail("No active download for GID#" + d.gid);
        // The engine spreads a file over its mirrors; aria2's view is one server per URI in use.
        json::array servers;
        auto speed = std::to_string(static_cast<std::uint64_t>(st->speed));
        for (auto& uri : d.uris)
            servers.push_back(json::object{{"currentUri", uri}, {"downloadSpeed", speed}, {"uri", uri}});
        return rpc_result{json::array{json::object{{"index", "1"}, {"servers", std::move(servers)}}}, std::nullopt};
    });
}

void aria2_service::register_methods(rpc_dispatch& rpc) {
    // A call that may change something (of any service) drops the shared snapshot, before it
    // runs (its own lookups see the state as it is) and after (a snapshot it took before its
    // change took effect serves nobody).
    rpc.on_change([this] { changed(); });
    auto bind = [this](result (aria2_service::*m)(params)) {
        return [this, m](params p) { return (this->*m)(std::move(p)); };
    };
    // A status call reads one snapshot: at once when a recent one serves, else after taking one.
    auto add_reader = [this, &rpc](const char* name, reader r) {
        rpc.add(name, [this, r](params p) -> result {
            auto now = co_await stats();
            co_return (this->*r)(p, *now);
        });
        rpc.add_instant(name, [this, r](params& p) -> std::optional<rpc_result> {
            if (auto now = snapshot_now())
                return (this->*r)(p, *now);
            return std::nullopt;
        });
    };
    rpc.add("aria2.addUri", bind(&aria2_service::add_uri));
    rpc.add("aria2.remove", bind(&aria2_service::remove));
    rpc.add("aria2.forceRemove", bind(&aria2_service::remove));
    rpc.add("aria2.pause", bind(&aria2_service::pause));
    rpc.add("aria2.forcePause", bind(&aria2_service::pause));
    rpc.add("aria2.pauseAll", bind(&aria2_service::pause_all));
    rpc.add("aria2.forcePauseAll", bind(&aria2_service::pause_all));
    rpc.add("aria2.unpause", bind(&aria2_service::unpause));
    rpc.add("aria2.unpauseAll", bind(&aria2_service::unpause_all));
    add_reader("aria2.tellStatus", &aria2_service::tell_status);
    add_reader("aria2.getUris", &aria2_service::get_uris);
    add_reader("aria2.getFiles", &aria2_service::get_files);
    add_reader("aria2.tellActive", &aria2_service::tell_active);
    add_reader("aria2.tellWaiting", &aria2_service::tell_waiting);
    add_reader("aria2.tellStopped", &aria2_service::tell_stopped);
    rpc.add("aria2.changePosition", bind(&aria2_service::change_position));
    add_reader("aria2.getGlobalStat", &aria2_service::get_global_stat);
    rpc.add("aria2.changeGlobalOption", bind(&aria2_service::change_global_option));
    add_reader("aria2.getGlobalOption", &aria2_service::get_global_option);
    rpc.add("aria2.getVersion", bind(&aria2_service::get_version));
    rpc.add("aria2.purgeDownloadResult", bind(&aria2_service::purge_download_result));
    rpc.add("aria2.removeDownloadResult", bind(&aria2_service::remove_download_result));
    rpc.add("aria2.changeOption", bind(&aria2_service::change_option));
    add_reader("aria2.getOption", &aria2_service::get_option);
    add_reader("aria2.getServers", &aria2_service::get_servers);
    rpc.add("aria2.getSessionInfo", bind(&aria2_service::get_session_info));
    rpc.add("aria2.saveSession", bind(&aria2_service::save_session));
    rpc.add("aria2.shutdown", bind(&aria2_service::shutdown));
    rpc.add("aria2.forceShutdown", bind(&aria2_service::shutdown));
    rpc.add(
        "system.listMethods",
        [&rpc](params) -> result {
            json::array names;
            for (auto& n : rpc.method_names())
                names.push_back(json::string(n));
            co_return rpc_result{std::move(names), std::nullopt};
        },
        false);
    rpc.add_notifications(notification_names());
    rpc.add(
        "system.listNotifications",
        [&rpc](params) -> result {
            json::array names;
            for (auto& n : rpc.notification_names())
                names.push_back(json::string(n));
            co_return rpc_result{std::move(names), std::nullopt};
        },
        false);
}

} // namespace ferry::serve
