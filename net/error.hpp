#pragma once

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

/// Worth retrying: resets, refused or aborted connections, timeouts, truncated bodies. Certificate
/// failures, protocol violations and cancellation are not.
bool is_transient(const boost::system::error_code& ec) noexcept;

/// One line for a user: the message, with OpenSSL's verify reason for certificate failures.
std::string describe(const boost::system::error_code& ec);

} // namespace ferry

template <>
struct boost::system::is_error_code_enum<ferry::net_error> : std::true_type {};
