#include "net/error.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <map>
#include <memory>
#include <mutex>
#include <utility>

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
        case net_error::unsupported_proxy_scheme: return "unsupported proxy scheme (use http://, socks5:// or socks5h://)";
        case net_error::bad_proxy_url: return "malformed proxy URL";
        case net_error::proxy_auth_required: return "proxy authentication required (407)";
        case net_error::proxy_refused: return "proxy refused the tunnel";
        case net_error::proxy_bad_response: return "proxy sent an invalid answer";
        case net_error::socks_no_acceptable_method: return "no acceptable authentication method";
        case net_error::socks_auth_failed: return "user name or password rejected";
        case net_error::socks_general_failure: return "general failure";
        case net_error::socks_not_allowed: return "connection not allowed by ruleset";
        case net_error::socks_network_unreachable: return "network unreachable";
        case net_error::socks_host_unreachable: return "host unreachable";
        case net_error::socks_connection_refused: return "connection refused by the destination";
        case net_error::socks_ttl_expired: return "TTL expired";
        case net_error::socks_command_not_supported: return "command not supported";
        case net_error::socks_address_type_not_supported: return "address type not supported";
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

bool is_socks_error(net_error e) noexcept {
    return e >= net_error::socks_no_acceptable_method && e <= net_error::socks_address_type_not_supported;
}

/// A proxy failure that names its proxy: one instance per (proxy, status), never freed.
class proxy_category_impl final : public boost::system::error_category {
public:
    proxy_category_impl(std::string proxy, unsigned status) : proxy_(std::move(proxy)), status_(status) {}
    const char* name() const noexcept override { return "ferry.proxy"; }
    std::string message(int ev) const override {
        auto e = static_cast<net_error>(ev);
        if (e == net_error::proxy_auth_required)
            return "proxy authentication required by " + proxy_ + " (" + std::to_string(status_ ? status_ : 407) + ")";
        if (e == net_error::proxy_refused)
            return "proxy " + proxy_ + " refused the tunnel: " + make_http_status_error(status_).message();
        if (is_socks_error(e))
            return "SOCKS5 proxy " + proxy_ + ": " + net_category().message(ev);
        return net_category().message(ev) + " (proxy " + proxy_ + ")";
    }
    unsigned status() const noexcept { return status_; }

private:
    std::string proxy_;
    unsigned status_;
};

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

boost::system::error_code make_proxy_error(net_error e, const std::string& proxy, unsigned status) {
    static std::mutex mutex;
    static std::map<std::pair<std::string, unsigned>, std::unique_ptr<proxy_category_impl>> categories;
    std::lock_guard lock(mutex);
    auto& category = categories[{proxy, status}];
    if (!category)
        category = std::make_unique<proxy_category_impl>(proxy, status);
    return {static_cast<int>(e), *category};
}

std::optional<net_error> net_error_of(const boost::system::error_code& ec) noexcept {
    if (ec.category() == net_category() || dynamic_cast<const proxy_category_impl*>(&ec.category()))
        return static_cast<net_error>(ec.value());
    return std::nullopt;
}

bool is_transient(const boost::system::error_code& ec) noexcept {
    namespace ae = boost::asio::error;
    if (!ec)
        return false;
    if (auto* proxy = dynamic_cast<const proxy_category_impl*>(&ec.category())) {
        switch (static_cast<net_error>(ec.value())) {
        case net_error::proxy_refused: // the proxy could not reach the origin (502, 504), or is busy
            return proxy->status() == 408 || proxy->status() == 429 || proxy->status() >= 500;
        case net_error::socks_general_failure:
        case net_error::socks_network_unreachable:
        case net_error::socks_host_unreachable:
        case net_error::socks_connection_refused:
        case net_error::socks_ttl_expired:
            return true;
        default:
            return false; // authentication, rules, unsupported requests: the same again fails again
        }
    }
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
    if (out_of_descriptors(ec))
        return true;
    if (ec == boost::beast::error::timeout || ec == boost::beast::http::error::partial_message ||
        ec == boost::beast::http::error::end_of_stream)
        return true;
    if (ec == boost::asio::ssl::error::stream_truncated)
        return true;
    return false;
}

bool out_of_descriptors(const boost::system::error_code& ec) noexcept {
    return ec == boost::asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system;
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
