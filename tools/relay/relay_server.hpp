#pragma once

// ferry-relay's forwarding: a TCP relay on 127.0.0.1 that makes loopback look like a wide-area
// path (round-trip time, a per-connection window, a per-connection rate), for the WAN scenarios
// of the benchmark and their test. Plain TCP: TLS passes through untouched. The timing of each
// direction is perf/delay_line's; this class only moves the bytes.

#include "perf/delay_line.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

namespace ferry::relay {

struct relay_options {
    std::uint16_t listen_port = 0;           ///< on 127.0.0.1; 0 picks a free port
    std::string to_host = "127.0.0.1";       ///< the origin, resolved once at construction
    std::uint16_t to_port = 0;
    std::chrono::microseconds rtt{0};        ///< added round trip: half each way
    std::uint64_t rate = 0;                  ///< bytes/s per connection and direction; 0 = unlimited
    std::uint64_t window = 4 * 1024 * 1024;  ///< bytes in flight per direction; 0 = unbounded
    std::size_t buffer = 256 * 1024;         ///< largest read
};

struct relay_stats {
    std::uint64_t connections_accepted = 0;
    std::uint64_t connections_open = 0;
    std::uint64_t bytes_to_origin = 0;   ///< client → origin, delivered
    std::uint64_t bytes_to_client = 0;   ///< origin → client, delivered
};

/// Listens at construction; start() accepts on the io_context it was given (one thread runs it).
/// Each accepted connection gets a connection to the origin and two directions, each a reader and
/// a writer coroutine around a delay_line: the reader reads as much as the window has room for
/// and stamps the chunk with its release time, the writer delivers chunks at those times, in
/// order. A new connection's first bytes towards the origin leave one round trip after the accept
/// (the TCP handshake a real path costs). An end of stream is passed on as a half close once
/// everything before it was delivered; an error closes both sides.
class relay_server {
public:
    /// Resolves the origin and listens. Throws std::system_error when it cannot.
    relay_server(boost::asio::io_context& io, relay_options options);
    ~relay_server();
    relay_server(const relay_server&) = delete;
    relay_server& operator=(const relay_server&) = delete;

    std::uint16_t port() const noexcept;
    /// Starts accepting (call once).
    void start();
    /// Stops accepting and closes every open connection. Call on the io_context's thread.
    void stop();

    /// May be called from any thread.
    relay_stats stats() const noexcept;

    struct impl;

private:
    std::shared_ptr<impl> impl_;
};

} // namespace ferry::relay
