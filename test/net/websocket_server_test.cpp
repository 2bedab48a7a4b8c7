// The WebSocket side of http_server, with Beast's WebSocket client against a real server on
// 127.0.0.1 port 0: messages and replies, pushed notifications to all or one, the message cap,
// refused upgrades, the queue's busy reply, close frames when the server stops, idle pings and
// the idle timeout.

#include "server_harness.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::ip::tcp;
using namespace std::chrono_literals;
using ferry::http_answer;
using ferry::http_application;
using ferry::http_call;
using ferry::http_server_config;
using ferry::request_class;
using ferry::test::connect_to;
using ferry::test::echo_application;
using ferry::test::run_until_done;
using ferry::test::served;
using ferry::test::use_nothrow;

namespace {

using client = websocket::stream<tcp::socket>;

// Arguments are views: GCC 12 mishandles temporaries of class type in a co_await expression.
asio::awaitable<client> open_socket(tcp::endpoint where, std::string_view path = "/jsonrpc") {
    client ws(co_await connect_to(where));
    auto [ec] = co_await ws.async_handshake("127.0.0.1", path, use_nothrow);
    REQUIRE_MESSAGE(!ec, ec.message());
    ws.text(true);
    co_return ws;
}

asio::awaitable<void> say(client& ws, std::string_view text) {
    auto [ec, n] = co_await ws.async_write(asio::buffer(text), use_nothrow);
    REQUIRE_MESSAGE(!ec, ec.message());
}

asio::awaitable<std::string> hear(client& ws) {
    beast::flat_buffer buffer;
    auto [ec, n] = co_await ws.async_read(buffer, use_nothrow);
    REQUIRE_MESSAGE(!ec, ec.message());
    CHECK(ws.got_text());
    co_return beast::buffers_to_string(buffer.data());
}

/// Reads one message and checks it is `expected`.
asio::awaitable<void> expect(client& ws, std::string_view expected) {
    auto heard = co_await hear(ws);
    CHECK(heard == expected);
}

/// Reads until the server's close frame; returns the close reason's code.
asio::awaitable<websocket::close_code> hear_close(client& ws) {
    beast::flat_buffer buffer;
    for (;;) {
        auto [ec, n] = co_await ws.async_read(buffer, use_nothrow);
        if (ec) {
            CHECK(ec == websocket::error::closed);
            co_return static_cast<websocket::close_code>(ws.reason().code);
        }
        buffer.consume(buffer.size());
    }
}

/// Echoes messages as "re:TEXT"; records sockets opened and closed.
struct echo_sockets {
    std::vector<std::uint64_t> opened, closed;
    http_application app() {
        http_application a = echo_application();
        a.on_message = [](std::uint64_t, std::string text) -> asio::awaitable<std::string> { co_return "re:" + text; };
        a.on_open = [this](std::uint64_t id) { opened.push_back(id); };
        a.on_close = [this](std::uint64_t id) { closed.push_back(id); };
        return a;
    }
};

} // namespace

TEST_CASE("websocket: messages get replies, notifications reach every socket or just one") {
    echo_sockets sockets;
    served s(sockets.app());
    CHECK(run_until_done(s.io, [&]() -> asio::awaitable<void> {
        auto a = co_await open_socket(s.endpoint());
        auto b = co_await open_socket(s.endpoint("127.0.0.1"));
        co_await say(a, R"({"jsonrpc":"2.0","id":"1","method":"aria2.getVersion"})");
        co_await expect(a, R"(re:{"jsonrpc":"2.0","id":"1","method":"aria2.getVersion"})");
        co_await say(b, "second");
        co_await expect(b, "re:second");
        REQUIRE(sockets.opened.size() == 2);
        CHECK(s.server.stats().websockets_open == 2);

        s.server.broadcast(R"({"method":"aria2.onDownloadStart"})");
        co_await expect(a, R"({"method":"aria2.onDownloadStart"})");
        co_await expect(b, R"({"method":"aria2.onDownloadStart"})");

        CHECK(s.server.send(sockets.opened[1], "only b"));
        CHECK_FALSE(s.server.send(12345, "nobody"));
        co_await say(a, "after");
        co_await expect(a, "re:after"); // a got nothing in between
        co_await expect(b, "only b");

        // The same connection keeps plain HTTP working on other paths meanwhile.
        co_await say(b, "still here");
        co_await expect(b, "re:still here");

        auto [ec] = co_await a.async_close(websocket::close_code::normal, use_nothrow);
        CHECK_FALSE(ec);
        asio::steady_timer tick(co_await asio::this_coro::executor);
        while (sockets.closed.empty()) {
            tick.expires_after(1ms);
            co_await tick.async_wait(use_nothrow);
        }
        CHECK(sockets.closed == std::vector<std::uint64_t>{sockets.opened[0]});
        CHECK_FALSE(s.server.send(sockets.opened[0], "gone"));
    }()));
    CHECK(s.server.stats().websocket_messages == 4);
}

TEST_CASE("websocket: a message over the cap closes the socket with 1009") {
    echo_sockets sockets;
    http_server_config config;
    config.websocket_message_limit = 1000;
    served s(sockets.app(), config);
    CHECK(run_until_done(s.io, [&]() -> asio::awaitable<void> {
        auto ws = co_await open_socket(s.endpoint());
        const std::string at_cap(1000, 'a'), over_cap(1001, 'a');
        co_await say(ws, at_cap);
        auto reply = co_await hear(ws);
        CHECK(reply.size() == 1003);
        co_await say(ws, over_cap);
        auto code = co_await hear_close(ws);
        CHECK(code == websocket::close_code::too_big);
    }()));
    CHECK(s.server.stats().too_large == 1);
}

TEST_CASE("websocket: upgrades elsewhere go to the application; a refused upgrade gets 403") {
    echo_sockets sockets;
    auto app = sockets.app();
    app.accept_websocket = [](const http_call& upgrade) { return upgrade.query == "token=good"; };
    served s(app);
    CHECK(run_until_done(s.io, [&]() -> asio::awaitable<void> {
        {
            auto ws = co_await open_socket(s.endpoint(), "/jsonrpc?token=good");
            co_await say(ws, "hi");
            co_await expect(ws, "re:hi");
        }
        for (const char* path : {"/jsonrpc?token=bad", "/elsewhere"}) {
            CAPTURE(path);
            client ws(co_await connect_to(s.endpoint()));
            websocket::response_type res;
            auto [ec] = co_await ws.async_handshake(res, "127.0.0.1", path, use_nothrow);
            CHECK(ec == websocket::error::upgrade_declined);
            // The application answered /elsewhere as plain HTTP (200, not 101).
            CHECK(res.result_int() == (std::string(path) == "/elsewhere" ? 200 : 403));
        }
    }()));
    CHECK(sockets.opened.size() == 1);
}

TEST_CASE("websocket: messages share the bounded queue; refused ones get the busy reply") {
    std::optional<asio::steady_timer> release;
    http_application app;
    app.classify_message = [](std::string_view text) -> std::optional<request_class> {
        return text.starts_with("pause") ? request_class::control : request_class::status;
    };
    app.on_message = [&](std::uint64_t, std::string text) -> asio::awaitable<std::string> {
        co_await release->async_wait(use_nothrow);
        co_return "done:" + text;
    };
    app.busy_reply = [](std::string_view text) { return "busy:" + std::string(text); };
    http_server_config config;
    config.queue.limits = {.running = 1, .waiting = 1};
    served s(app, config);
    release.emplace(s.io, asio::steady_timer::time_point::max());
    CHECK(run_until_done(s.io, [&]() -> asio::awaitable<void> {
        auto ws = co_await open_socket(s.endpoint());
        asio::steady_timer tick(co_await asio::this_coro::executor);
        auto queued = [&] { return s.server.queue().running() + s.server.queue().waiting() + s.server.stats().busy; };
        for (const char* text : {"status 1", "status 2", "status 3"}) {
            auto before = queued();
            co_await say(ws, text);
            while (queued() == before) {
                tick.expires_after(1ms);
                co_await tick.async_wait(use_nothrow);
            }
        }
        co_await expect(ws, "busy:status 3");
        co_await say(ws, "pause all"); // evicts "status 2"
        co_await expect(ws, "busy:status 2");
        release->expires_at(asio::steady_timer::time_point::min()); // wakes the running call; the rest pass
        std::multiset<std::string> replies;
        for (int i = 0; i < 2; ++i) {
            auto reply = co_await hear(ws);
            replies.insert(reply);
        }
        CHECK(replies == std::multiset<std::string>{"done:status 1", "done:pause all"});
    }()));
    CHECK(s.server.stats().busy == 2);
    release.reset(); // before the io_context it belongs to
}

TEST_CASE("websocket: stop() sends going_away to open sockets and closes idle HTTP connections") {
    echo_sockets sockets;
    served s(sockets.app());
    CHECK(run_until_done(s.io, [&]() -> asio::awaitable<void> {
        auto ws = co_await open_socket(s.endpoint());
        auto idle = co_await connect_to(s.endpoint());
        co_await say(ws, "x");
        co_await expect(ws, "re:x");
        s.server.stop();
        auto code = co_await hear_close(ws);
        CHECK(code == websocket::close_code::going_away);
        char byte;
        auto [ec, n] = co_await idle.async_read_some(asio::buffer(&byte, 1), use_nothrow);
        CHECK(ec);
        // The server's side ends once our close reply reaches it.
        asio::steady_timer tick(co_await asio::this_coro::executor);
        while (sockets.closed.empty()) {
            tick.expires_after(1ms);
            co_await tick.async_wait(use_nothrow);
        }
    }()));
    CHECK(sockets.closed == sockets.opened);
    CHECK(s.server.stats().connections_open == 0);
}

TEST_CASE("websocket: a silent socket is pinged after half the idle timeout; one that does not answer is closed") {
    echo_sockets sockets;
    http_server_config config;
    config.websocket_idle_timeout = 1000ms;
    served s(sockets.app(), config);
    CHECK(run_until_done(s.io, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto alive = co_await open_socket(s.endpoint());
        auto silent = co_await open_socket(s.endpoint()); // never reads: its pongs never go out
        int pings = 0;
        alive.control_callback([&](websocket::frame_type kind, beast::string_view) {
            pings += kind == websocket::frame_type::ping;
        });
        std::string reply;
        bool replied = false;
        // A pending read answers the server's pings.
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            reply = co_await hear(alive);
            replied = true;
        }, asio::detached);
        // Three pings (at about 0.5, 1 and 1.5 s) mean the answering socket outlived the idle
        // timeout; by then the silent one is closed.
        asio::steady_timer wait(ex);
        auto give_up = std::chrono::steady_clock::now() + 10s;
        while ((pings < 3 || s.server.stats().timeouts < 1) && std::chrono::steady_clock::now() < give_up) {
            wait.expires_after(5ms);
            co_await wait.async_wait(use_nothrow);
        }
        CHECK(pings >= 3);
        CHECK(s.server.stats().timeouts == 1);
        CHECK(s.server.stats().websockets_open == 1);
        beast::flat_buffer buffer;
        auto [ec, n] = co_await silent.async_read(buffer, use_nothrow); // sees the ping, then the end
        CHECK(ec);
        CHECK(ec != websocket::error::closed); // no close frame: the socket was just closed
        co_await say(alive, "still here");
        while (!replied) {
            wait.expires_after(1ms);
            co_await wait.async_wait(use_nothrow);
        }
        CHECK(reply == "re:still here");
    }()));
}

TEST_CASE("websocket: a client's ping gets a pong; a message in fragments is put together") {
    echo_sockets sockets;
    served s(sockets.app());
    CHECK(run_until_done(s.io, [&]() -> asio::awaitable<void> {
        auto ws = co_await open_socket(s.endpoint());
        int pongs = 0;
        ws.control_callback([&](websocket::frame_type kind, beast::string_view payload) {
            pongs += kind == websocket::frame_type::pong && payload == "are you there";
        });
        websocket::ping_data ping("are you there");
        auto [ec] = co_await ws.async_ping(ping, use_nothrow);
        REQUIRE_FALSE(ec);
        const std::string head = "one message, ", middle = "sent in ", tail = "three frames";
        for (const std::string* part : {&head, &middle, &tail}) {
            auto [wec, n] = co_await ws.async_write_some(part == &tail, asio::buffer(*part), use_nothrow);
            REQUIRE_FALSE(wec);
        }
        co_await expect(ws, "re:one message, sent in three frames"); // the pong came before it
        CHECK(pongs == 1);
    }()));
    CHECK(s.server.stats().websocket_messages == 1);
}

TEST_CASE("websocket: a binary message closes with 1003, text that is not UTF-8 with 1007") {
    echo_sockets sockets;
    served s(sockets.app());
    CHECK(run_until_done(s.io, [&]() -> asio::awaitable<void> {
        {
            auto ws = co_await open_socket(s.endpoint());
            ws.binary(true);
            co_await say(ws, "binary");
            auto code = co_await hear_close(ws);
            CHECK(code == websocket::close_code::unknown_data);
        }
        {
            auto ws = co_await open_socket(s.endpoint());
            co_await say(ws, "caf\xc3");
            auto code = co_await hear_close(ws);
            CHECK(code == websocket::close_code::bad_payload);
        }
    }()));
    CHECK(s.server.stats().websocket_messages == 0);
}
