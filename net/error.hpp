#pragma once

#include <optional>
#include <string>
#include <type_traits>

#include <boost/system/error_code.hpp>

namespace ferry {

/// Errors of the HTTP layer: what a server or URL did wrong. Transport errors keep their own
/// categories (asio, ssl, beast); `is_transient` classifies them all.
enum class net_error {
    bad_url = 1,
    unsupported_scheme,
    too_many_redirects,
    redirect_to_http,
    redirect_without_location,
    range_ignored,        ///< 200 to a ranged request: the server does not do ranges here
    bad_content_range,    ///< Content-Range missing or not what was asked for
    size_mismatch,        ///< the file's size is not what the manifest or an earlier response said
    validator_changed,    ///< ETag/Last-Modified changed: the file is a new version
    body_too_long,        ///< more bytes than Content-Length or the range promised
    body_too_short,       ///< the connection ended before the body did
    missing_length,       ///< a body with no Content-Length where one is needed
    connect_timeout,
    handshake_timeout,
    first_byte_timeout,
    stall_timeout,        ///< no body bytes for the stall timeout
    circuit_open,         ///< the host failed repeatedly; requests wait for its cool-down
    // Proxies. Each is reported through make_proxy_error(), which names the proxy in the message.
    unsupported_proxy_scheme, ///< a proxy URL other than http://, socks5:// or socks5h://
    bad_proxy_url,
    proxy_auth_required,      ///< an HTTP proxy answered CONNECT with 407 (or 401)
    proxy_refused,            ///< an HTTP proxy answered CONNECT with another non-2xx status
    proxy_bad_response,       ///< the proxy's answer is not HTTP or SOCKS5 as expected
    socks_no_acceptable_method, ///< the SOCKS5 proxy accepts none of our methods (no auth, user/password)
    socks_auth_failed,        ///< the SOCKS5 proxy rejected the user name and password
    socks_general_failure,    ///< SOCKS5 reply 1
    socks_not_allowed,        ///< SOCKS5 reply 2: connection not allowed by ruleset
    socks_network_unreachable,///< SOCKS5 reply 3
    socks_host_unreachable,   ///< SOCKS5 reply 4
    socks_connection_refused, ///< SOCKS5 reply 5: the destination refused the proxy's connection
    socks_ttl_expired,        ///< SOCKS5 reply 6
    socks_command_not_supported,      ///< SOCKS5 reply 7
    socks_address_type_not_supported, ///< SOCKS5 reply 8
};

const boost::system::error_category& net_category() noexcept;

inline boost::system::error_code make_error_code(net_error e) noexcept {
    return {static_cast<int>(e), net_category()};
}

/// A failed certificate verification; the value is OpenSSL's X509_V_ERR_* code and the message
/// reads `certificate verify failed (self-signed certificate)`.
boost::system::error_code make_verify_error(long x509_error) noexcept;
bool is_verify_error(const boost::system::error_code& ec) noexcept;

/// An HTTP status that failed a request; the value is the status code and the message reads
/// `HTTP 404 Not Found`.
boost::system::error_code make_http_status_error(unsigned status) noexcept;
/// The status carried by an error from make_http_status_error, or 0.
unsigned http_status_of(const boost::system::error_code& ec) noexcept;

/// A proxy failure (one of the proxy_* or socks_* values) naming `proxy` (a URL without
/// credentials) in its message: `proxy authentication required by http://proxy:3128 (407)`.
/// `status` is the HTTP status of a refused CONNECT (proxy_refused, proxy_auth_required), else 0.
/// Categories are interned per proxy and status and live for the whole process (a process uses a
/// handful of proxies), so the codes may outlive whatever made them.
boost::system::error_code make_proxy_error(net_error e, const std::string& proxy, unsigned status = 0);
/// The net_error an error carries, from net_category() or from make_proxy_error(); nullopt for
/// errors of other categories.
std::optional<net_error> net_error_of(const boost::system::error_code& ec) noexcept;

/// Worth retrying: resets, refused or aborted connections (to a proxy too), timeouts, truncated
/// bodies, a proxy's or SOCKS server's transient refusals, running out of descriptors.
/// Certificate failures, protocol violations, proxy authentication failures and cancellation
/// are not.
bool is_transient(const boost::system::error_code& ec) noexcept;
/// The process (EMFILE) or the system (ENFILE) has no descriptor left for a socket: a shortage
/// of ours, not the host's fault, that ends as other connections close.
bool out_of_descriptors(const boost::system::error_code& ec) noexcept;

/// One line for a user: the message, with OpenSSL's verify reason for certificate failures.
std::string describe(const boost::system::error_code& ec);

} // namespace ferry

template <>
struct boost::system::is_error_code_enum<ferry::net_error> : std::true_type {};
