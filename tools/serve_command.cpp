// ferry serve: a daemon that speaks aria2's JSON-RPC (HTTP POST and WebSocket on /jsonrpc) and
// serves /metrics and /healthz, with the engine and the server on one io_context.
#include "engine/hub_settings.hpp"
#include "engine/metrics.hpp"
#include "net/http_server.hpp"
#include "perf/exposition_format.hpp"
#include "perf/loop_lag_probe.hpp"
#include "perf/process_stats.hpp"
#include "tools/arguments.hpp"
#include "tools/commands.hpp"
#include "tools/serve/aria2_service.hpp"
#include "tools/serve/ferry_service.hpp"
#include "tools/serve/rpc_dispatch.hpp"
#include "tools/transfer_options.hpp"

#include <csignal>
#include <filesystem>
#include <iostream>
#include <limits>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

namespace ferry::cli {

namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr const char* serve_usage =
    "usage: ferry serve [OPTIONS]\n"
    "  aria2-compatible JSON-RPC on http://127.0.0.1:PORT/jsonrpc (POST and WebSocket),\n"
    "  with ferry's own model methods (ferry.addModel, ferry.waitModel, ...),\n"
    "  Prometheus metrics on /metrics, a health check on /healthz.\n"
    "      --rpc-listen-port N     port (default 6800; 0: any free port)\n"
    "      --rpc-listen-all        listen on every interface (needs --rpc-secret)\n"
    "      --rpc-secret S          clients send \"token:S\" as the first parameter\n"
    "      --rpc-allow-origin-all  answer browsers from any origin (CORS)\n"
    "  -d, --dir DIR               base directory: every download lands beneath it (default: .)\n"
    "      --save-session FILE     keep the unfinished downloads in FILE (aria2's format), saved at\n"
    "                              every change; a restart (even after kill -9) resumes them\n";

/// The value of the only `"method"` in `text` when it is followed by `:` and a string without
/// escapes; nullopt otherwise.
std::optional<std::string_view> sole_method_name(std::string_view text) {
    constexpr std::string_view key = "\"method\"";
    auto at = text.find(key);
    if (at == std::string_view::npos || text.find(key, at + 1) != std::string_view::npos)
        return std::nullopt;
    auto rest = text.substr(at + key.size());
    auto skip_space = [&rest] {
        while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t' || rest.front() == '\n' || rest.front() == '\r'))
            rest.remove_prefix(1);
    };
    skip_space();
    if (rest.empty() || rest.front() != ':')
        return std::nullopt;
    rest.remove_prefix(1);
    skip_space();
    if (rest.empty() || rest.front() != '"')
        return std::nullopt;
    rest.remove_prefix(1);
    auto end = rest.find('"');
    if (end == std::string_view::npos || rest.substr(0, end).find('\\') != std::string_view::npos)
        return std::nullopt;
    return rest.substr(0, end);
}

/// The request queue's class of a JSON-RPC text: reads are status calls, anything else control.
/// A long poll sent alone (ferry.waitModel) bypasses the queue: it would hold one of the queue's
/// running slots for its whole timeout, and a few clients waiting on models would then starve
/// every poll. What it holds is bounded by the connection cap and the calls per WebSocket; in a
/// batch it counts as a status call and holds its slot until the batch is answered.
std::optional<request_class> classify_rpc(std::string_view text) {
    // The common case, one status poll, without parsing the whole text a second time: a text that
    // names "method" once, with a plain string after it. Anything else is parsed. (A crafted text
    // can only change the class of its own call, as naming another method would.)
    if (auto method = sole_method_name(text); method && !serve::rpc_dispatch::is_long_poll(*method))
        return serve::rpc_dispatch::is_status_call(*method) ? request_class::status : request_class::control;
    boost::system::error_code ec;
    json::parse_options options;
    options.max_depth = 32;
    auto v = json::parse(text, ec, {}, options);
    if (ec)
        return request_class::status;
    auto is_read = [](const json::value& call) {
        auto* o = call.if_object();
        auto* m = o ? o->if_contains("method") : nullptr;
        return m && m->is_string() && serve::rpc_dispatch::is_status_call(m->get_string());
    };
    if (auto* call = v.if_object()) {
        auto* m = call->if_contains("method");
        if (m && m->is_string() && serve::rpc_dispatch::is_long_poll(m->get_string()))
            return std::nullopt;
    }
    if (auto* batch = v.if_array())
        return std::all_of(batch->begin(), batch->end(), is_read) ? request_class::status : request_class::control;
    return is_read(v) ? request_class::status : request_class::control;
}

/// Whether a browser page may call: any page with --rpc-allow-origin-all; otherwise only pages of
/// this machine (or no Origin at all: not a browser). Without it, a web page elsewhere could POST a
/// "simple" cross-origin request or open a WebSocket (neither is held back by CORS) and add
/// downloads, even though it could not read the answers.
bool origin_allowed(std::string_view origin, bool allow_all) {
    if (allow_all || origin.empty())
        return true;
    for (std::string_view scheme : {"http://", "https://"}) {
        if (!origin.starts_with(scheme))
            continue;
        auto host = origin.substr(scheme.size());
        for (std::string_view local : {"127.0.0.1", "localhost", "[::1]"})
            if (host == local || (host.starts_with(local) && host[local.size()] == ':'))
                return true;
    }
    return false;
}

} // namespace

int run_serve(std::span<const std::string_view> args) {
    transfer_options transfer;
    std::string port_text = "6800", secret, dir = ".", session_file;
    bool listen_all = false, allow_origin_all = false;
    arguments a(args);
    while (!a.done()) {
        auto arg = a.take();
        if (arg == "-h" || arg == "--help") {
            std::cout << serve_usage << transfer_options::usage;
            return 0;
        } else if (a.value(arg, "--rpc-listen-port", port_text)) {
        } else if (a.value(arg, "--rpc-secret", secret)) {
        } else if (a.value(arg, "--dir", "-d", dir)) {
        } else if (a.value(arg, "--save-session", session_file)) {
        } else if (arg == "--rpc-listen-all") {
            listen_all = true;
        } else if (arg == "--rpc-allow-origin-all") {
            allow_origin_all = true;
        } else if (transfer.take(a, arg)) {
        } else {
            throw usage_error("unknown argument " + std::string(arg) + " (see ferry serve --help)");
        }
    }
    auto port = parse_count("--rpc-listen-port", port_text, true);
    if (port > 65535)
        throw usage_error("--rpc-listen-port takes 0..65535");
    if (listen_all && secret.empty())
        throw usage_error("--rpc-listen-all needs --rpc-secret: refusing to take calls from anyone on the network");
    auto& options = transfer.finish();
    auto config = options.engine;
    // Files per model stay the engine's (--jobs-per-model): an aria2 download is one file anyway,
    // a ferry.addModel model has several.
    // A daemon runs for months: finished downloads are kept as aria2 keeps them (1000 results),
    // the engine's models with room to spare so that every result listed still has its numbers.
    const std::size_t max_download_result = 1000;
    config.keep_finished_models = 2 * max_download_result;
    // The loop answers clients too: body writes (which the disk can hold up) and their hashing go
    // to threads of their own.
    config.write_threads = 2;

    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    auto base = std::filesystem::canonical(dir, ec);
    if (ec || !std::filesystem::is_directory(base)) {
        std::cerr << "ferry serve: cannot use directory " << dir << ": " << (ec ? ec.message() : "not a directory")
                  << "\n";
        return 1;
    }

    asio::io_context io;
    ferry::engine engine(io.get_executor(), config);
    daemon_stats daemon;
    loop_lag_probe lag(io.get_executor());

    http_server_config server_config;
    server_config.addresses = listen_all ? std::vector<std::string>{"0.0.0.0"} : std::vector<std::string>{"127.0.0.1"};
    server_config.port = static_cast<std::uint16_t>(port);
    server_config.cors.allow_any_origin = allow_origin_all;
    server_config.websocket_path = "/jsonrpc";
    // Room for a waiting call from every client a daemon holds (5,000 polling at once are served,
    // not refused); beyond it, or after max_wait, a call gets 503 + Retry-After. A waiting call
    // holds its request (bodies are capped) and a coroutine frame: a few KiB each.
    server_config.queue.limits.waiting = 8192;

    serve::rpc_dispatch rpc({.secret = secret}, &daemon);
    std::unique_ptr<http_server> server;
    asio::signal_set signals(io, SIGINT, SIGTERM);
    bool stopping = false;

    auto stop = [&] {
        if (stopping)
            return;
        stopping = true;
        signals.cancel();
        lag.stop();
        if (server)
            server->stop();
        engine.stop();
        // Let the cancelled transfers write their journals, within a bound, then end.
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                using namespace asio::experimental::awaitable_operators;
                asio::steady_timer bound(io, std::chrono::seconds(5));
                auto waiting = engine.wait_all();
                auto timeout = bound.async_wait(asio::use_awaitable);
                co_await (std::move(waiting) || std::move(timeout));
                io.stop();
            },
            asio::detached);
    };

    serve::aria2_service_config service_config{
        .base_dir = base,
        .port = static_cast<std::uint16_t>(port),
        .listen_all = listen_all,
        .allow_origin_all = allow_origin_all,
        .max_download_result = max_download_result,
        .headers = {},
        .session_file = session_file.empty() ? std::filesystem::path() : std::filesystem::absolute(session_file),
        .split = config.max_connections_per_file,
        .max_connection_per_server = config.max_connections_per_host,
    };
    serve::aria2_service service(
        io.get_executor(), engine, service_config,
        [&](std::string text) {
            if (server)
                server->broadcast(std::move(text));
        },
        stop);
    service.register_methods(rpc);
    auto hub = hub_settings_from(process_environment());
    serve::ferry_service models(io.get_executor(), engine,
                                {.base_dir = base,
                                 .max_finished_models = max_download_result,
                                 .progress_interval = std::chrono::seconds(1),
                                 .hub = hub,
                                 .hub_token = hub.implicit_token ? hub.token : std::nullopt,
                                 .engine = config},
                                [&](std::string text) {
                                    if (server)
                                        server->broadcast(std::move(text));
                                });
    models.register_methods(rpc);

    http_application app;
    app.on_request = [&](const http_call& call) -> asio::awaitable<http_answer> {
        http_answer answer;
        if (call.path == "/jsonrpc") {
            if (!origin_allowed(call.header("Origin"), allow_origin_all)) {
                answer.status = 403;
                answer.body = "{\"error\":\"Origin not allowed (see --rpc-allow-origin-all)\"}";
                co_return answer;
            }
            if (call.method != "POST") {
                answer.status = 405;
                answer.headers.emplace_back("Allow", "POST");
                answer.body = "{\"error\":\"POST a JSON-RPC request, or open a WebSocket\"}";
                co_return answer;
            }
            auto reply = rpc.answer_now(call.body);
            if (!reply)
                reply = co_await rpc.handle(call.body);
            answer.status = reply->http_status;
            answer.body = std::move(reply->text);
        } else if (call.path == "/metrics" && (call.method == "GET" || call.method == "HEAD")) {
            auto format = negotiate_exposition(call.header("Accept"));
            auto snapshot = co_await engine.stats();
            daemon.loop_lag = lag.lags();
            answer.content_type = std::string(content_type(format));
            answer.body = metrics_text(format, snapshot, read_process_stats(), &daemon);
        } else if (call.path == "/healthz") {
            answer.content_type = "text/plain";
            answer.body = "ok\n";
        } else {
            answer.status = 404;
            answer.content_type = "text/plain";
            answer.body = "not found\n";
        }
        co_return answer;
    };
    app.classify_request = [](const http_call& call) -> std::optional<request_class> {
        if (call.path != "/jsonrpc")
            return std::nullopt;
        return classify_rpc(call.body);
    };
    app.accept_websocket = [allow_origin_all](const http_call& upgrade) {
        return origin_allowed(upgrade.header("Origin"), allow_origin_all);
    };
    app.classify_message = [](std::string_view message) { return classify_rpc(message); };
    app.on_message = [&](std::uint64_t, std::string message) -> asio::awaitable<std::string> {
        auto reply = co_await rpc.handle(message);
        co_return std::move(reply.text);
    };
    app.answer_now = [&](std::string_view message) -> std::optional<std::string> {
        if (auto reply = rpc.answer_now(message))
            return std::move(reply->text);
        return std::nullopt;
    };
    app.busy_reply = [](std::string_view) {
        return std::string(R"({"id":null,"jsonrpc":"2.0","error":{"code":1,"message":"Busy: try again later"}})");
    };

    // The saved downloads go back in the queue (same GIDs, order, pauses) before any call is taken;
    // their .part files and journals resume them. Then the session is written once: a file that
    // cannot be written is found now, not at the first download.
    std::optional<std::string> session_error;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto error = co_await service.restore_session();
            if (error.empty())
                error = co_await service.persist();
            session_error = std::move(error);
        },
        asio::detached);
    while (!session_error && io.run_one() > 0) {
    }
    io.restart(); // run_one stops the context when it runs out of work; the server brings more
    if (!session_error || !session_error->empty()) {
        std::cerr << "ferry serve: --save-session: " << session_error.value_or("not restored") << "\n";
        return 1;
    }

    server = std::make_unique<http_server>(io.get_executor(), server_config, std::move(app));
    if (auto err = server->start()) {
        std::cerr << "ferry serve: cannot listen on port " << port << ": " << err.message() << "\n";
        return 1;
    }
    lag.start();
    signals.async_wait([&](boost::system::error_code e, int) {
        if (!e)
            stop();
    });
    std::cerr << "ferry serve: listening on http://" << server_config.addresses.front() << ":" << server->port()
              << "/jsonrpc" << std::endl;
    io.run();
    server.reset();
    return 0;
}

} // namespace ferry::cli
