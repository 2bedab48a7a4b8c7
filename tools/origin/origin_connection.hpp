#pragma once

// Internal to the origin: one accepted connection, served until it closes.

#include "tools/origin/content_catalog.hpp"
#include "tools/origin/fault.hpp"
#include "tools/origin/origin_server.hpp"
#include "tools/origin/origin_stats.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace boost::asio::ssl {
class context;
}

namespace ferry::origin {

/// What every connection of a server shares. Outlives the connections.
struct origin_state {
    const origin_config& config;
    boost::asio::ssl::context* tls; ///< null: plain HTTP
    const content_catalog& catalog;
    fault_table& faults;
    stats_recorder& stats;
};

/// Handshakes (with TLS) and answers requests until the peer closes, an error, or a fault ends
/// the connection. Never throws.
boost::asio::awaitable<void> serve_connection(boost::asio::ip::tcp::socket socket, const origin_state& state);

} // namespace ferry::origin
