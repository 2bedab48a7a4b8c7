#pragma once

// What the HTTP server hands an application and what it takes back: plain values, no Beast types,
// so the layers above net/ (JSON-RPC, /metrics, /healthz) compile without Beast's templates.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace ferry {

/// Header fields in the order received (or to be sent); names as written.
using header_list = std::vector<std::pair<std::string, std::string>>;

/// The value of the first field named `name` (compared without case), or an empty view.
std::string_view find_header(const header_list& headers, std::string_view name) noexcept;

/// One request, read whole (its body within the server's cap).
struct http_call {
    std::string method;  ///< as sent: "GET", "POST", "OPTIONS"...
    std::string target;  ///< as sent: "/jsonrpc?params=..."
    std::string path;    ///< the target up to '?'
    std::string query;   ///< after '?', without it; empty when none
    header_list headers;
    std::string body;
    boost::asio::ip::tcp::endpoint peer;
    std::uint64_t connection = 0; ///< the server's id of the connection, unique while it runs

    std::string_view header(std::string_view name) const noexcept { return find_header(headers, name); }
};

/// The application's answer. Content-Length, Connection, Date, Server and the CORS fields are the
/// server's; `headers` adds others (Content-Type defaults to `content_type`).
struct http_answer {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
    header_list headers;
    bool close = false; ///< close the connection after this answer
};

} // namespace ferry
