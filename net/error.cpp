#include "net/error.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <openssl/err.h>
#include <openssl/x509.h>

namespace ferry {
namespace {

class net_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "ferry.net"; }
    std::string message(int ev) const override {
        switch (static_cast<net_error>(ev)) {
        case net_error::bad_url: return "malformed URL";
        case net_error::unsupported_scheme: return "unsupported URL scheme (use https or http)";
        case net_error::too_many_redirects: return "too many redirects";
        case net_error::redirect_to_http: return "refused a redirect from https to http";
        case net_error::redirect_without_location: return "redirect without a Location header";
        case net_error::range_ignored: return "server ignored the Range header";
        case net_error::bad_content_range: return "server sent a Content-Range that does not match the request";
        case net_error::size_mismatch: return "file size differs from the expected size";
        case net_error::validator_changed: return "file changed on the server (ETag or Last-Modified differs)";
        case net_error::body_too_long: return "server sent more bytes than announced";
        case net_error::body_too_short: return "connection closed before the body was complete";
        case net_error::missing_length: return "response has no Content-Length";
        case net_error::connect_timeout: return "connect timed out";
        case net_error::handshake_timeout: return "TLS handshake timed out";
        case net_error::first_byte_timeout: return "no response from server (first byte timed out)";
        case net_error::stall_timeout: return "transfer stalled (no data within the timeout)";
        case net_error::circuit_open: return "host is failing repeatedly (circuit open)";
        }
        return "unknown ferry.net error";
    }
};

class verify_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "ferry.tls-verify"; }
    std::string message(int ev) const override {
        return std::string("certificate verify failed (") + X509_verify_cert_error_string(ev) + ")";
    }
};

const verify_category_impl verify_category;

class http_status_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "ferry.http-status"; }
    std::string message(int ev) const override {
        auto reason = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(ev));
        std::string out = "HTTP ";
        out += std::to_string(ev);
        if (!reason.empty() && reason != "<unknown-status>") {
            out += ' ';
            out.append(reason.data(), reason.size());
        }
        return out;
    }
};

const http_status_category_impl http_status_category;

} // namespace

boost::system::error_code make_verify_error(long x509_error) noexcept {
    return {static_cast<int>(x509_error), verify_category};
}

boost::system::error_code make_http_status_error(unsigned status) noexcept {
    return {static_cast<int>(status), http_status_category};
}

unsigned http_status_of(const boost::system::error_code& ec) noexcept {
    return ec.category() == http_status_category ? static_cast<unsigned>(ec.value()) : 0;
}

bool is_verify_error(const boost::system::error_code& ec) noexcept {
    return ec.category() == verify_category;
}

const boost::system::error_category& net_category() noexcept {
    static const net_category_impl category;
    return category;
}

bool is_transient(const boost::system::error_code& ec) noexcept {
    namespace ae = boost::asio::error;
    if (!ec)
        return false;
    if (ec.category() == net_category()) {
        switch (static_cast<net_error>(ec.value())) {
        case net_error::body_too_short:
        case net_error::connect_timeout:
        case net_error::handshake_timeout:
        case net_error::first_byte_timeout:
        case net_error::stall_timeout:
        case net_error::bad_content_range: // a broken proxy answer: a fresh connection may do better
        case net_error::circuit_open:
            return true;
        default:
            return false;
        }
    }
    if (ec == ae::operation_aborted)
        return false;
    if (auto status = http_status_of(ec))
        return status == 408 || status == 429 || (status >= 500 && status <= 599);
    if (ec == ae::connection_reset || ec == ae::connection_refused || ec == ae::connection_aborted ||
        ec == ae::eof || ec == ae::timed_out || ec == ae::broken_pipe || ec == ae::network_unreachable ||
        ec == ae::host_unreachable || ec == ae::network_down || ec == ae::try_again ||
        ec == ae::host_not_found_try_again || ec == ae::shut_down)
        return true;
    if (ec == boost::beast::error::timeout || ec == boost::beast::http::error::partial_message ||
        ec == boost::beast::http::error::end_of_stream)
        return true;
    if (ec == boost::asio::ssl::error::stream_truncated)
        return true;
    return false;
}

std::string describe(const boost::system::error_code& ec) {
    if (ec.category() == boost::asio::error::get_ssl_category()) {
        // Certificate failures: say why, the way a user can act on it.
        auto reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
        if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
            return "certificate verify failed";
        std::string what = ec.message();
        return what.empty() ? "TLS error" : "TLS error: " + what;
    }
    if (ec == boost::beast::http::error::partial_message || ec == boost::beast::http::error::end_of_stream)
        return make_error_code(net_error::body_too_short).message();
    return ec.message();
}

} // namespace ferry
