#include "net/url.hpp"

#include "net/error.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <boost/url/url.hpp>

namespace ferry {
namespace {

boost::system::result<url> from_parsed(boost::urls::url_view u) {
    url out;
    out.scheme = u.scheme();
    for (auto& c : out.scheme)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (out.scheme != "https" && out.scheme != "http")
        return make_error_code(net_error::unsupported_scheme);
    if (!u.has_authority() || u.encoded_host().empty())
        return make_error_code(net_error::bad_url);
    out.host = u.host_address(); // without the brackets of an IPv6 literal
    // Percent-decoded: a NUL, CR, LF or space here would cut the name short for the resolver
    // and TLS (C strings) while the Host header carries the rest (header injection).
    for (unsigned char c : out.host)
        if (c <= 0x20 || c == 0x7f)
            return make_error_code(net_error::bad_url);
    if (u.has_port()) {
        auto port = u.port_number();
        if (port == 0)
            return make_error_code(net_error::bad_url);
        out.port = port;
    } else {
        out.port = out.tls() ? 443 : 80;
    }
    out.target = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
    if (out.target.front() != '/')
        return make_error_code(net_error::bad_url);
    if (u.has_query()) {
        out.target += '?';
        out.target += u.encoded_query();
    }
    boost::urls::url copy(u);
    copy.remove_fragment();
    out.text = copy.buffer();
    return out;
}

} // namespace

std::string url::origin() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return scheme + "://" + h + ":" + std::to_string(port);
}

std::string url::host_header() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    bool default_port = (tls() && port == 443) || (!tls() && port == 80);
    return default_port ? h : h + ":" + std::to_string(port);
}

std::string url::redacted() const {
    auto parsed = boost::urls::parse_uri(text);
    if (!parsed)
        return scheme + "://" + host_header() + "/";
    boost::urls::url copy(*parsed);
    copy.remove_userinfo();
    copy.remove_query();
    copy.remove_fragment();
    return std::string(copy.buffer());
}

boost::system::result<url> parse_url(std::string_view text) {
    auto parsed = boost::urls::parse_uri(text);
    if (!parsed)
        return make_error_code(net_error::bad_url);
    return from_parsed(*parsed);
}

boost::system::result<url> resolve_location(const url& base, std::string_view location) {
    auto base_parsed = boost::urls::parse_uri(base.text);
    auto ref = boost::urls::parse_uri_reference(location);
    if (!base_parsed || !ref)
        return make_error_code(net_error::bad_url);
    boost::urls::url out;
    if (auto r = boost::urls::resolve(*base_parsed, *ref, out); !r)
        return make_error_code(net_error::bad_url);
    return from_parsed(out);
}

boost::system::result<url> join_url(std::string_view base, std::string_view path) {
    // The base must be a whole http(s) URL by itself: a base without a host ("https://", "https:")
    // would otherwise take its host from the file path ("https://" + "evil.example/x").
    if (auto parsed_base = parse_url(base); !parsed_base)
        return parsed_base.error();
    std::string joined(base);
    if (!joined.empty() && joined.back() != '/')
        joined += '/';
    // Encode each segment; the slashes between them stay.
    for (std::size_t start = 0;;) {
        auto slash = path.find('/', start);
        joined += boost::urls::encode(path.substr(start, slash - start), boost::urls::pchars);
        if (slash == std::string_view::npos)
            break;
        joined += '/';
        start = slash + 1;
    }
    return parse_url(joined);
}

} // namespace ferry
