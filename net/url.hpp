#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/system/result.hpp>

namespace ferry {

/// An absolute http(s) URL, split the way a request needs it.
struct url {
    std::string scheme;  ///< "https" or "http"
    std::string host;    ///< without brackets for IPv6
    std::uint16_t port = 0;
    std::string target;  ///< path and query, never empty ("/" at least)
    std::string text;    ///< the URL as given (normalized)

    bool tls() const noexcept { return scheme == "https"; }
    /// scheme://host:port — the key of the connection pool.
    std::string origin() const;
    /// host or host:port as the Host header wants it.
    std::string host_header() const;
    /// The URL without userinfo, query and fragment: safe for logs and journals.
    std::string redacted() const;
};

/// Parses an absolute http or https URL. net_error::bad_url or unsupported_scheme otherwise.
boost::system::result<url> parse_url(std::string_view text);

/// Resolves a Location header against the URL it came from (absolute or relative).
boost::system::result<url> resolve_location(const url& base, std::string_view location);

/// Joins a manifest's base_url and a file path (percent-encoding what the path needs). The base
/// must be an absolute http(s) URL with a host: net_error::bad_url (or unsupported_scheme)
/// otherwise, whatever the path holds.
boost::system::result<url> join_url(std::string_view base, std::string_view path);

} // namespace ferry
