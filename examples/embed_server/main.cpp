// embed_server: an HTTP server that embeds the ferry engine on its own io_context.
//
//   POST /downloads            {"url": "https://...", "path": "NAME", "sha256": "HEX"}  (sha256 optional)
//                              → 202 {"id": "model-1"}; 400 {"error": "..."} for a bad request
//   GET  /downloads/ID         → 200 {"id", "state", "files_done", "files_failed", "bytes_done",
//                                "bytes_total", "speed"}; 404 for an unknown id
//   GET  /downloads/ID?wait=S  the same, once the download has finished or S seconds have passed
//
// state is one of queued, running, paused, done, failed. Files land beneath --dir.
//
// One thread runs one io_context; the acceptor, every client connection and the engine's
// transfers are coroutines on it. The engine's calls are safe from any coroutine: its state sits
// behind its own strand.
#include "engine/engine.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

response reply(http::status status, const json::object& body) {
    response res{status, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = json::serialize(body) + "\n";
    return res;
}

response error_reply(http::status status, std::string message) {
    return reply(status, {{"error", std::move(message)}});
}

std::string string_field(const json::object& object, std::string_view name) {
    const json::value* field = object.if_contains(name);
    return field && field->is_string() ? std::string(field->get_string()) : std::string();
}

// POST /downloads: one file becomes a model of its own; the engine names it.
response add_download(const request& req, ferry::engine& engine, const std::filesystem::path& dir) {
    boost::system::error_code ec;
    json::value body = json::parse(req.body(), ec);
    if (ec || !body.is_object())
        return error_reply(http::status::bad_request, "the body must be a JSON object");
    ferry::file_spec file;
    file.urls.push_back(string_field(body.as_object(), "url"));
    file.path = string_field(body.as_object(), "path");
    if (std::string hex = string_field(body.as_object(), "sha256"); !hex.empty()) {
        file.sha256 = ferry::parse_sha256_hex(hex);
        if (!file.sha256)
            return error_reply(http::status::bad_request, "sha256 must be 64 hex digits");
    }
    ferry::model_spec model;
    model.dir = dir;
    model.files.push_back(std::move(file));
    // The engine refuses what it cannot fetch (no URL, absolute path or "..") before queuing it.
    ferry::add_result added = engine.add(std::move(model));
    if (!added)
        return error_reply(http::status::bad_request, added.error);
    return reply(http::status::accepted, {{"id", added.id}});
}

std::string state_of(const ferry::model_stats& model) {
    if (model.files_done + model.files_failed == model.files_total)
        return model.files_failed ? "failed" : "done";
    if (model.paused)
        return "paused";
    return model.files_running ? "running" : "queued";
}

// GET /downloads/ID[?wait=SECONDS]
asio::awaitable<response> show_download(std::string id, std::chrono::seconds wait, ferry::engine& engine) {
    if (wait > 0s) {
        auto finished = engine.wait_for(id, wait);
        co_await std::move(finished);
    }
    auto snapshot = engine.stats();
    ferry::engine_stats stats = co_await std::move(snapshot);
    for (const ferry::model_stats& model : stats.models) {
        if (model.id != id)
            continue;
        co_return reply(http::status::ok, {{"id", model.id},
                                           {"state", state_of(model)},
                                           {"files_done", model.files_done},
                                           {"files_failed", model.files_failed},
                                           {"bytes_done", model.bytes_done},
                                           {"bytes_total", model.bytes_total},
                                           {"speed", model.speed}});
    }
    co_return error_reply(http::status::not_found, "no download with id '" + id + "'");
}

asio::awaitable<response> handle(const request& req, ferry::engine& engine, const std::filesystem::path& dir) {
    auto target = boost::urls::parse_origin_form(req.target());
    if (!target)
        co_return error_reply(http::status::bad_request, "bad request target");
    std::string path = target->path();
    if (path == "/downloads" && req.method() == http::verb::post)
        co_return add_download(req, engine, dir);
    constexpr std::string_view prefix = "/downloads/";
    if (path.starts_with(prefix) && path.size() > prefix.size() && req.method() == http::verb::get) {
        std::chrono::seconds wait{0};
        if (auto param = target->params().find("wait"); param != target->params().end())
            wait = std::chrono::seconds(std::clamp(std::atoi((*param).value.c_str()), 0, 60));
        // Named before it is awaited, as everywhere in ferry: g++ 12 may destroy the temporaries
        // of a co_await expression twice.
        auto shown = show_download(path.substr(prefix.size()), wait, engine);
        co_return co_await std::move(shown);
    }
    co_return error_reply(http::status::not_found, "try POST /downloads or GET /downloads/ID");
}

// What the coroutines below share; all of it is used on the one thread that runs the io_context.
struct server {
    ferry::engine& engine;
    std::filesystem::path dir;
    tcp::acceptor acceptor;
    std::set<beast::tcp_stream*> clients; // open connections, closed by shutdown()

    // Lets io_context::run() return: every coroutine ends once its socket or transfer is gone.
    void shutdown() {
        engine.stop(); // transfers stop resumable: .part files and journals stay
        acceptor.close();
        for (beast::tcp_stream* client : clients)
            client->close();
    }
};

// One client connection: requests read and answered in turn, kept alive while the client wants.
asio::awaitable<void> serve_client(tcp::socket socket, server& srv) {
    beast::tcp_stream stream(std::move(socket));
    srv.clients.insert(&stream);
    beast::flat_buffer buffer;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(64 * 1024);
        stream.expires_after(60s); // an idle or stalled client goes away
        auto [read_error, read_bytes] = co_await http::async_read(stream, buffer, parser, use_nothrow);
        if (read_error)
            break;
        request req = parser.release();
        auto handled = handle(req, srv.engine, srv.dir);
        response res = co_await std::move(handled);
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        stream.expires_after(60s);
        auto [write_error, written_bytes] = co_await http::async_write(stream, res, use_nothrow);
        if (write_error || !res.keep_alive())
            break;
    }
    srv.clients.erase(&stream);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> accept_clients(server& srv) {
    for (;;) {
        auto [ec, socket] = co_await srv.acceptor.async_accept(use_nothrow);
        if (ec == asio::error::operation_aborted)
            co_return; // closed by shutdown()
        if (!ec)
            asio::co_spawn(srv.acceptor.get_executor(), serve_client(std::move(socket), srv), asio::detached);
    }
}

int main(int argc, char** argv) {
    std::string host = "127.0.0.1", port = "8080", dir = ".";
    ferry::engine_config config;
    bool usage_error = argc % 2 == 0; // options come in pairs
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view option = argv[i];
        if (option == "--host") host = argv[i + 1];
        else if (option == "--port") port = argv[i + 1];
        else if (option == "--dir") dir = argv[i + 1];
        else if (option == "--ca-cert") config.ca_file = argv[i + 1];
        else usage_error = true;
    }
    if (usage_error) {
        std::cerr << "usage: embed_server [--host 127.0.0.1] [--port 8080 (0: any)] [--dir DIR] [--ca-cert FILE]\n";
        return 2;
    }

    asio::io_context io;
    ferry::engine engine(io.get_executor(), config);
    server srv{engine, std::filesystem::absolute(dir),
               tcp::acceptor(io, {asio::ip::make_address(host), static_cast<unsigned short>(std::stoi(port))}), {}};
    std::cout << "embed_server: listening on http://" << host << ':' << srv.acceptor.local_endpoint().port()
              << std::endl;
    asio::co_spawn(io, accept_clients(srv), asio::detached);

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int) { srv.shutdown(); });
    io.run(); // returns once shutdown() has let every coroutine end
    return 0;
}
