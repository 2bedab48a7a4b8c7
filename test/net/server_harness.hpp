#pragma once

// A real http_server on 127.0.0.1 port 0 in the test process, and small clients for it.

#include "net/http_server.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <exception>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

// GCC 12 reports a false -Wmismatched-new-delete wherever it inlines a coroutine's ramp (such as
// the lambdas these tests run): it pairs the frame's class-specific operator new (Asio's recycling
// allocator) with the free() inside Asio's matching operator delete. Off for the suites that
// include this header.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace ferry::test {

namespace asio = boost::asio;
using namespace std::chrono_literals;
inline constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

/// Runs `task` on `io` until it finishes or `limit` passes; true when it finished. The server's
/// accept loop keeps the io_context busy, so the task's end stops it. An exception from the task
/// is rethrown here.
inline bool run_until_done(asio::io_context& io, asio::awaitable<void> task, std::chrono::seconds limit = 20s) {
    bool finished = false;
    std::exception_ptr failure;
    asio::co_spawn(io, std::move(task), [&](std::exception_ptr e) {
        finished = true;
        failure = e;
        io.stop();
    });
    io.restart();
    io.run_for(limit);
    io.restart();
    if (failure)
        std::rethrow_exception(failure);
    return finished;
}

/// A started server with the given application.
struct served {
    asio::io_context io;
    http_server server;

    explicit served(http_application app, http_server_config config = {})
        : server(io.get_executor(), std::move(config), std::move(app)) {
        auto ec = server.start();
        REQUIRE_MESSAGE(!ec, ec.message());
        REQUIRE(server.port() != 0);
    }
    asio::ip::tcp::endpoint endpoint(const char* address = "127.0.0.1") const {
        return {asio::ip::make_address(address), server.port()};
    }
};

/// An application answering every request with "METHOD PATH BODY" as text.
inline http_application echo_application() {
    http_application app;
    app.on_request = [](const http_call& call) -> asio::awaitable<http_answer> {
        http_answer answer;
        answer.content_type = "text/plain";
        answer.body = call.method + " " + call.path + " " + call.body;
        co_return answer;
    };
    return app;
}

/// Connects a client socket to `where`.
inline asio::awaitable<asio::ip::tcp::socket> connect_to(asio::ip::tcp::endpoint where) {
    asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
    auto [ec] = co_await socket.async_connect(where, use_nothrow);
    REQUIRE_MESSAGE(!ec, ec.message());
    co_return socket;
}

/// Writes `text` as is and reads until the server closes: for requests Beast would not write.
/// (`text` must outlive the call: GCC 12 mishandles temporaries of class type in co_await.)
inline asio::awaitable<std::string> exchange_raw(asio::ip::tcp::endpoint where, std::string_view text) {
    auto socket = co_await connect_to(where);
    auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(text), use_nothrow);
    CHECK_FALSE(wec);
    std::string received;
    char chunk[4096];
    for (;;) {
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk), use_nothrow);
        received.append(chunk, n);
        if (ec)
            break;
    }
    co_return received;
}

} // namespace ferry::test
