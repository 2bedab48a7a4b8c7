#pragma once

// Through a proxy to an origin: an HTTP CONNECT tunnel or a SOCKS5 (RFC 1928, RFC 1929)
// connection, established on a socket already connected to the proxy, before TLS with the origin
// (which then runs end to end, verified against the origin's name, never the proxy's).
//
// The messages are built and parsed by plain functions (no I/O, unit-tested); open_tunnel() is the
// thin coroutine that sends and reads them.

#include "net/error.hpp"
#include "net/proxy_config.hpp"
#include "net/url.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace ferry {

class socket_stream;

/// `host:port` for a CONNECT line, brackets around an IPv6 address.
std::string authority_of(const url& target);

/// The HTTP CONNECT request for `target`, with `Proxy-Authorization: Basic` when the proxy has
/// credentials (they go to the proxy only: the tunnel carries TLS to the origin).
std::string connect_request(const url& target, const proxy_endpoint& proxy);

/// `Basic BASE64(user:password)`, the value of a Proxy-Authorization header.
std::string basic_credentials(std::string_view user, std::string_view password);

/// The status of a proxy's answer head (`HTTP/1.1 200 Connection established`...).
/// net_error::proxy_bad_response when it is not an HTTP/1.x status line.
boost::system::result<unsigned> connect_status(std::string_view head);

namespace socks5 {

/// The greeting: version 5 and the methods offered (no authentication; user/password as well
/// when `credentials`).
std::vector<std::uint8_t> greeting(bool credentials);
/// The RFC 1929 user/password request; net_error::bad_proxy_url when either is over 255 bytes.
boost::system::result<std::vector<std::uint8_t>> password_request(std::string_view user, std::string_view password);
/// A CONNECT request for an address (socks5://) or a name (socks5h://, at most 255 bytes).
std::vector<std::uint8_t> connect_request(const boost::asio::ip::address& address, std::uint16_t port);
boost::system::result<std::vector<std::uint8_t>> connect_request(std::string_view name, std::uint16_t port);
/// The net_error for a CONNECT reply code other than 0 (succeeded).
net_error reply_error(std::uint8_t code);
/// How many bytes of a CONNECT reply follow its first 5 (VER REP RSV ATYP and the first byte of
/// the bound address), given those; net_error::proxy_bad_response for an unknown address type.
boost::system::result<std::size_t> reply_remaining(const std::uint8_t (&first)[5]);

} // namespace socks5

/// Asks the proxy that `stream` is connected to for a connection to `target`: CONNECT on an HTTP
/// proxy (nothing for an http target: its requests go in absolute form), the SOCKS5 exchange
/// otherwise (for socks5://, `target`'s name is resolved here before `deadline`). The stream's
/// deadline is the caller's. Failures the proxy reports come from make_proxy_error() naming the
/// proxy; transport errors as they are.
boost::asio::awaitable<boost::system::error_code>
open_tunnel(boost::asio::any_io_executor executor, socket_stream& stream, const proxy_endpoint& proxy,
            const url& target, std::chrono::steady_clock::time_point deadline);

} // namespace ferry
