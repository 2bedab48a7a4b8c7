#pragma once

// Which proxy a request goes through, decided the way curl decides it: flags over the
// environment, scheme-specific variables over all_proxy, no_proxy exceptions. No I/O here (the
// environment is read through a lookup function), so every rule is unit-tested.

#include "net/url.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

namespace ferry {

enum class proxy_kind {
    http,    ///< CONNECT tunnels for https targets, absolute-form requests for http targets
    socks5,  ///< RFC 1928; the target's name is resolved here and its address sent
    socks5h, ///< RFC 1928; the target's name is sent for the proxy to resolve
};

/// A proxy, from a proxy URL.
struct proxy_endpoint {
    proxy_kind kind = proxy_kind::http;
    std::string host;         ///< without brackets for IPv6
    std::uint16_t port = 1080;
    bool has_credentials = false; ///< the URL had userinfo: send these (HTTP basic auth, SOCKS5 user/password)
    std::string username;     ///< percent-decoded
    std::string password;     ///< percent-decoded
    /// `scheme://host:port`, never the credentials: names the proxy in messages.
    std::string display() const;
};

/// Parses a proxy URL as curl does: without a scheme it is http://, without a port 1080;
/// userinfo gives the credentials. Errors: net_error::unsupported_proxy_scheme (socks4://,
/// https://, anything but http, socks5, socks5h), net_error::bad_proxy_url.
boost::system::result<proxy_endpoint> parse_proxy_url(std::string_view text);

/// `NO_PROXY`-style exceptions: `*` (every host), or a comma-separated list where a name matches
/// itself and its subdomains on a dot boundary (a leading dot is ignored, case does not matter),
/// and an IPv4/IPv6 address or CIDR block (`10.0.0.0/8`, `::1/128`) matches URLs whose host is
/// an address in it. A `:port` on an entry is ignored. Names are not resolved.
class no_proxy_list {
public:
    no_proxy_list() = default;
    explicit no_proxy_list(std::string_view text);
    /// Whether requests to `host` (a name or an IP literal without brackets) bypass the proxy.
    bool matches(std::string_view host) const;

private:
    struct block {
        std::vector<unsigned char> address; ///< 4 or 16 bytes
        unsigned prefix = 0;                ///< bits that must match
    };
    bool all_ = false;
    std::vector<std::string> names; ///< lower case, without leading or trailing dots
    std::vector<block> blocks;
};

/// Where proxy settings come from.
struct proxy_config {
    /// Read https_proxy, HTTPS_PROXY, http_proxy, all_proxy, ALL_PROXY, no_proxy and NO_PROXY
    /// (as curl does; see proxy_policy) when the engine starts.
    bool use_environment = true;
    /// Every URL through this proxy, whatever the environment says (`--proxy`); "" means no
    /// proxy at all.
    std::optional<std::string> proxy;
    /// Replaces no_proxy / NO_PROXY (`--noproxy`).
    std::optional<std::string> no_proxy;
};

/// Reads an environment variable; nullopt when it is not set.
using environment_lookup = std::function<std::optional<std::string>(const char* name)>;
/// The process's own environment (getenv).
environment_lookup process_environment();

/// Which proxy, if any, a URL goes through, with curl's rules:
///  - `proxy_config::proxy` given: that proxy for every URL ("": none, whatever the environment);
///  - otherwise for https URLs `https_proxy`, then `HTTPS_PROXY`; for http URLs `http_proxy`
///    only (not HTTP_PROXY: a CGI program gets it from a request's `Proxy:` header); then
///    `all_proxy`, then `ALL_PROXY`. Empty variables count as unset;
///  - `proxy_config::no_proxy`, else `no_proxy`, else `NO_PROXY`, exempts hosts (no_proxy_list).
/// Immutable once made: safe to share between threads.
class proxy_policy {
public:
    /// No proxy for anything.
    proxy_policy() = default;
    /// Throws std::invalid_argument naming the flag or variable when a proxy URL in use is
    /// malformed or of an unsupported scheme (a start-up error).
    proxy_policy(const proxy_config& config, const environment_lookup& environment);

    /// The proxy for `target`, or null to connect directly. The pointer lives as long as the policy.
    const proxy_endpoint* route(const url& target) const;
    bool empty() const noexcept { return !for_https_ && !for_http_; }

private:
    std::optional<proxy_endpoint> for_https_;
    std::optional<proxy_endpoint> for_http_;
    no_proxy_list exempt_;
};

} // namespace ferry
