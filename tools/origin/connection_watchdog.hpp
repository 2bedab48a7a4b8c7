#pragma once

#include <chrono>
#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace ferry::origin {

/// Closes a connection's socket when its deadline passes, which fails whatever read or write is
/// pending on it. One timer per connection that wakes about once a second, rather than a timer
/// armed for every read and write (as beast::tcp_stream does): at gigabytes per second that is a
/// measurable share of the server's CPU.
///
/// Use it from the socket's executor only (the connection's coroutine); it must not outlive the
/// socket.
class connection_watchdog {
public:
    explicit connection_watchdog(boost::asio::ip::tcp::socket& socket);
    ~connection_watchdog();
    connection_watchdog(const connection_watchdog&) = delete;
    connection_watchdog& operator=(const connection_watchdog&) = delete;

    void expires_after(std::chrono::steady_clock::duration timeout);
    void expires_never();

private:
    struct state;
    static boost::asio::awaitable<void> watch(std::shared_ptr<state> s);
    std::shared_ptr<state> state_;
};

} // namespace ferry::origin
