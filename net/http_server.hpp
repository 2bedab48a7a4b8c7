#pragma once

#include "net/cors_policy.hpp"
#include "net/http_call.hpp"
#include "net/request_gate.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

namespace ferry {

/// Where and how the server listens, and the limits it enforces before any application code runs.
struct http_server_config {
    /// IP literals to listen on, all on the same port (loopback only by default). Several: e.g.
    /// {"127.0.0.1", "::1"}, or {"0.0.0.0", "::"} for every interface (IPv6 sockets are v6-only).
    std::vector<std::string> addresses{"127.0.0.1"};
    std::uint16_t port = 0; ///< 0: any free port (read it back with http_server::port())

    std::size_t body_limit = 2 * 1024 * 1024; ///< larger request bodies get 413
    std::size_t header_limit = 16 * 1024;     ///< a larger request head gets 431
    /// A keep-alive connection with no request in progress is closed after this long.
    std::chrono::milliseconds idle_timeout{60000};
    /// A request's head and body, once its first byte came, and an answer's write must take no
    /// longer than this.
    std::chrono::milliseconds io_timeout{30000};
    /// Connections beyond this get a canned 503 and are closed at once.
    std::size_t max_connections = 10000;

    /// The path where an HTTP upgrade opens a WebSocket; empty: no WebSocket.
    std::string websocket_path = "/jsonrpc";
    std::size_t websocket_message_limit = 2 * 1024 * 1024; ///< larger messages close the socket (1009)
    /// Messages of one socket handled at once; the socket is not read while this many run.
    std::size_t websocket_calls_per_socket = 16;
    /// Messages waiting to be sent on one socket; a peer that lets more pile up is too slow and its
    /// socket is closed.
    std::size_t websocket_send_backlog = 1024;
    /// A WebSocket with no traffic is pinged after half of this, and closed after it if the peer
    /// does not answer.
    std::chrono::milliseconds websocket_idle_timeout{60000};

    cors_options cors;
    /// The bounded queue of calls (HTTP requests and WebSocket messages that the application
    /// classifies as queued).
    request_gate::settings queue;

    std::string server_name = "ferry"; ///< the Server field of every answer
};

/// The application behind the server. Every function is called on the server's executor; the
/// coroutines may suspend (they share the executor with everything else, so they must not block).
struct http_application {
    /// Answers one HTTP request (not an upgrade on the WebSocket path, not a CORS preflight). An
    /// exception becomes a 500.
    std::function<boost::asio::awaitable<http_answer>(const http_call&)> on_request;
    /// The queue class of a request (or WebSocket message); nullopt bypasses the queue (health
    /// checks, metrics, long polls that mostly wait). Unset: every call is a status call.
    std::function<std::optional<request_class>(const http_call&)> classify_request;
    std::function<std::optional<request_class>(std::string_view message)> classify_message;

    /// Whether an upgrade request on the WebSocket path may open a socket (check a secret, an
    /// Origin); refused ones get 403. Unset: all may.
    std::function<bool(const http_call& upgrade)> accept_websocket;
    /// One text message from socket `socket`; a nonempty result is sent back on that socket.
    std::function<boost::asio::awaitable<std::string>(std::uint64_t socket, std::string message)> on_message;
    /// The reply to a message when the application has it at once (a status poll of fresh
    /// numbers); nullopt: on_message answers. Asked only when the queue lets the call run now,
    /// without waiting and ahead of nobody. Unset: on_message answers every message.
    std::function<std::optional<std::string>(std::string_view message)> answer_now;
    /// The reply to a message the queue refused (e.g. a JSON-RPC error with the call's id); unset
    /// or empty: no reply.
    std::function<std::string(std::string_view message)> busy_reply;
    /// A socket opened or closed (after its last message was handled or abandoned).
    std::function<void(std::uint64_t socket)> on_open;
    std::function<void(std::uint64_t socket)> on_close;
};

/// Counters of the server since it was constructed.
struct http_server_stats {
    std::size_t connections_open = 0;   ///< HTTP and WebSocket
    std::size_t websockets_open = 0;
    std::size_t idle_connections = 0;   ///< keep-alive connections waiting for a request
    std::size_t idle_buffer_bytes = 0;  ///< read buffer capacity those idle connections hold
    std::uint64_t connections_accepted = 0;
    std::uint64_t connections_refused = 0; ///< over max_connections
    std::uint64_t requests = 0;            ///< HTTP requests read (whatever their answer)
    std::uint64_t websocket_messages = 0;  ///< text messages received
    std::uint64_t busy = 0;                ///< calls refused by the queue (503 or busy reply)
    std::uint64_t too_large = 0;           ///< bodies or messages over the cap (413, 1009)
    std::uint64_t bad_requests = 0;        ///< unparsable requests (400, 431)
    std::uint64_t timeouts = 0;            ///< connections closed by the idle or I/O timeout
};

/// The HTTP/1.1 and WebSocket server of `ferry serve`: one coroutine per connection on the given
/// executor (the daemon shares one io_context between the server and the engine), keep-alive,
/// WebSocket upgrade on one path, limits enforced before the application sees a request, CORS, a
/// bounded prioritized queue of calls. What it serves is the application's.
///
/// Not thread-safe: call it, and run its executor, from one thread at a time (a strand if the
/// io_context has several threads). Destroying the server stops it; connections still running
/// end as soon as the executor runs them, and the application's functions are not called after
/// stop() returns except to finish calls already under way.
class http_server {
public:
    http_server(boost::asio::any_io_executor executor, http_server_config config, http_application application);
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    /// Binds every address and starts accepting. Errors: a bad address literal
    /// (invalid_argument), address in use, permission denied; nothing listens then.
    boost::system::error_code start();
    /// Stops accepting and closes every connection (WebSockets with a close frame, going_away).
    void stop();

    /// The port listened on (after start()).
    std::uint16_t port() const noexcept;

    /// Queues `text` on every open WebSocket (one shared copy).
    void broadcast(std::string text);
    /// Queues `text` on one socket; false when it is not open.
    bool send(std::uint64_t socket, std::string text);

    http_server_stats stats() const;
    const request_queue& queue() const noexcept;

    struct state; ///< shared with the connections' coroutines

private:
    std::shared_ptr<state> state_;
};

} // namespace ferry
