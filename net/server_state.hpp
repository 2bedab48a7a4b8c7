#pragma once

// The state http_server shares with its connections' coroutines. Internal to net/: included by
// http_server.cpp (accepting, HTTP connections) and websocket_session.cpp only.

#include "net/http_server.hpp"

#include <chrono>
#include <deque>
#include <memory>
#include <unordered_map>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace ferry {

class websocket_session;

namespace server_detail {

using clock = std::chrono::steady_clock;

/// One open connection, as the deadline sweep and stop() see it.
struct connection_entry {
    boost::asio::ip::tcp::socket* socket = nullptr;
    clock::time_point deadline = clock::time_point::max();
    bool idle = false;
    std::size_t idle_buffer = 0;
    bool websocket = false;
    bool timed_out = false;
};

} // namespace server_detail

struct http_server::state {
    state(boost::asio::any_io_executor ex, http_server_config c, http_application a);

    boost::asio::any_io_executor executor;
    http_server_config config;
    http_application app;
    cors_policy cors;
    request_gate gate;
    std::deque<boost::asio::ip::tcp::acceptor> acceptors;
    std::uint16_t port = 0;
    bool started = false;
    bool stopped = false;

    std::uint64_t next_connection = 1;
    std::unordered_map<std::uint64_t, server_detail::connection_entry> connections;
    /// Open WebSockets; each session removes itself (it holds the state, never the reverse, so
    /// destroying the io_context with sockets open frees everything).
    std::unordered_map<std::uint64_t, websocket_session*> websockets;
    /// One timer for every connection's deadline: it closes the sockets whose deadline passed.
    boost::asio::steady_timer sweep_timer;
    server_detail::clock::duration sweep_tick;
    http_server_stats counters;
};

namespace server_detail {

/// A connection's place in the server's registry, for as long as its coroutine runs. Deadlines are
/// enforced by the server's sweep, which closes the socket: whatever read or write is pending fails.
class connection_slot {
public:
    connection_slot(http_server::state& s, boost::asio::ip::tcp::socket& socket);
    ~connection_slot();
    connection_slot(const connection_slot&) = delete;
    connection_slot& operator=(const connection_slot&) = delete;

    std::uint64_t id() const noexcept { return id_; }
    void expires_after(clock::duration d) { entry().deadline = clock::now() + d; }
    void expires_never() { entry().deadline = clock::time_point::max(); }
    /// Waiting for a request, holding `buffer_capacity` bytes of read buffer.
    void idle(std::size_t buffer_capacity);
    void busy();
    /// The socket now belongs to a WebSocket stream (same socket object's lowest layer).
    void upgraded(boost::asio::ip::tcp::socket& socket);
    bool timed_out() { return entry().timed_out; }

private:
    connection_entry& entry() noexcept { return *entry_; }
    http_server::state& state_;
    std::uint64_t id_;
    connection_entry* entry_; ///< in state_.connections (a node map: the address holds)
};

using request_message = boost::beast::http::request<boost::beast::http::string_body>;

/// Runs an accepted WebSocket upgrade until the socket closes (websocket_session.cpp).
boost::asio::awaitable<void> run_websocket(std::shared_ptr<http_server::state> s, boost::asio::ip::tcp::socket socket,
                                           request_message upgrade, connection_slot& slot);

/// Closes every open WebSocket with going_away (websocket_session.cpp).
void close_websockets(http_server::state& s);

/// Pings the WebSockets silent for half the idle timeout, closes those silent for all of it
/// (websocket_session.cpp; called by the deadline sweep).
void check_idle_websockets(http_server::state& s, clock::time_point now);

} // namespace server_detail

} // namespace ferry
