#include "net/proxy_config.hpp"

#include "net/error.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <stdexcept>

#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>

namespace ferry {

namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view trim(std::string_view text) {
    auto first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos)
        return {};
    return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

std::optional<std::vector<unsigned char>> address_bytes(std::string_view text) {
    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address(std::string(text), ec);
    if (ec)
        return std::nullopt;
    if (address.is_v4()) {
        auto b = address.to_v4().to_bytes();
        return std::vector<unsigned char>(b.begin(), b.end());
    }
    auto b = address.to_v6().to_bytes();
    return std::vector<unsigned char>(b.begin(), b.end());
}

const char* scheme_name(proxy_kind kind) {
    switch (kind) {
    case proxy_kind::http: return "http";
    case proxy_kind::socks5: return "socks5";
    case proxy_kind::socks5h: return "socks5h";
    }
    return "http";
}

} // namespace

std::string proxy_endpoint::display() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return std::string(scheme_name(kind)) + "://" + h + ":" + std::to_string(port);
}

boost::system::result<proxy_endpoint> parse_proxy_url(std::string_view text) {
    std::string with_scheme(trim(text));
    if (with_scheme.find("://") == std::string::npos)
        with_scheme = "http://" + with_scheme;
    auto parsed = boost::urls::parse_uri(with_scheme);
    if (!parsed)
        return make_error_code(net_error::bad_proxy_url);
    proxy_endpoint out;
    auto scheme = lower(parsed->scheme());
    if (scheme == "http")
        out.kind = proxy_kind::http;
    else if (scheme == "socks5")
        out.kind = proxy_kind::socks5;
    else if (scheme == "socks5h")
        out.kind = proxy_kind::socks5h;
    else
        return make_error_code(net_error::unsupported_proxy_scheme);
    out.host = parsed->host_address();
    if (out.host.empty())
        return make_error_code(net_error::bad_proxy_url);
    for (unsigned char c : out.host)
        if (c <= 0x20 || c == 0x7f)
            return make_error_code(net_error::bad_proxy_url);
    if (parsed->has_port()) {
        // port_number() wraps what does not fit 16 bits: read the digits ourselves.
        auto digits = parsed->port();
        unsigned port = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
        if (ec != std::errc{} || end != digits.data() + digits.size() || port == 0 || port > 65535)
            return make_error_code(net_error::bad_proxy_url);
        out.port = static_cast<std::uint16_t>(port);
    }
    if (parsed->has_userinfo()) {
        out.has_credentials = true;
        out.username = parsed->user();
        out.password = parsed->password();
    }
    return out;
}

no_proxy_list::no_proxy_list(std::string_view text) {
    if (trim(text) == "*") {
        all_ = true;
        return;
    }
    while (!text.empty()) {
        auto comma = text.find(',');
        auto entry = trim(text.substr(0, comma));
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        if (entry.empty())
            continue;
        // The port is ignored: "[::1]:8080", "host:8080"; a bare IPv6 address has several colons.
        if (entry.front() == '[') {
            auto close = entry.find(']');
            entry = entry.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
        } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
            entry = entry.substr(0, entry.find(':'));
        }
        auto slash = entry.find('/');
        if (auto bytes = address_bytes(entry.substr(0, slash))) {
            block b{std::move(*bytes), 0};
            unsigned bits = static_cast<unsigned>(b.address.size() * 8);
            b.prefix = bits;
            if (slash != std::string_view::npos) {
                auto number = entry.substr(slash + 1);
                unsigned prefix = 0;
                auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), prefix);
                if (ec != std::errc{} || end != number.data() + number.size() || prefix > bits)
                    continue; // not a CIDR block: matches nothing, as in curl
                b.prefix = prefix;
            }
            blocks.push_back(std::move(b));
            continue;
        }
        while (!entry.empty() && entry.front() == '.')
            entry.remove_prefix(1);
        while (!entry.empty() && entry.back() == '.')
            entry.remove_suffix(1);
        if (!entry.empty())
            names.push_back(lower(entry));
    }
}

bool no_proxy_list::matches(std::string_view host) const {
    if (all_)
        return true;
    if (auto bytes = address_bytes(host)) {
        for (auto& b : blocks) {
            if (b.address.size() != bytes->size())
                continue;
            unsigned whole = b.prefix / 8, rest = b.prefix % 8;
            if (!std::equal(b.address.begin(), b.address.begin() + whole, bytes->begin()))
                continue;
            auto mask = static_cast<unsigned char>(0xff << (8 - rest));
            if (rest == 0 || (b.address[whole] & mask) == ((*bytes)[whole] & mask))
                return true;
        }
        return false;
    }
    auto name = lower(host);
    while (!name.empty() && name.back() == '.')
        name.pop_back();
    for (auto& n : names) {
        if (name == n)
            return true;
        if (name.size() > n.size() && name.ends_with(n) && name[name.size() - n.size() - 1] == '.')
            return true;
    }
    return false;
}

environment_lookup process_environment() {
    return [](const char* name) -> std::optional<std::string> {
        if (const char* value = std::getenv(name))
            return std::string(value);
        return std::nullopt;
    };
}

namespace {

/// The proxy named by `text`, or a start-up error naming `source` (a flag or a variable).
proxy_endpoint proxy_from(std::string_view source, const std::string& text) {
    auto parsed = parse_proxy_url(text);
    if (!parsed) {
        // A URL with credentials is not echoed to a terminal or a log.
        std::string shown = text.find('@') == std::string::npos ? text : "(a URL with credentials)";
        throw std::invalid_argument(std::string(source) + ": " + parsed.error().message() + ": " + shown);
    }
    return *parsed;
}

} // namespace

proxy_policy::proxy_policy(const proxy_config& config, const environment_lookup& environment) {
    auto variable = [&](const char* name) -> std::optional<std::pair<const char*, std::string>> {
        if (!config.use_environment || !environment)
            return std::nullopt;
        auto value = environment(name);
        if (!value || trim(*value).empty())
            return std::nullopt;
        return std::pair{name, *value};
    };
    auto first_of = [&](std::initializer_list<const char*> names) {
        for (auto* name : names)
            if (auto found = variable(name))
                return found;
        return std::optional<std::pair<const char*, std::string>>{};
    };

    if (config.proxy) {
        if (!trim(*config.proxy).empty()) {
            for_https_ = proxy_from("--proxy", *config.proxy);
            for_http_ = for_https_;
        }
    } else {
        if (auto found = first_of({"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}))
            for_https_ = proxy_from(found->first, found->second);
        if (auto found = first_of({"http_proxy", "all_proxy", "ALL_PROXY"}))
            for_http_ = proxy_from(found->first, found->second);
    }
    if (config.no_proxy)
        exempt_ = no_proxy_list(*config.no_proxy);
    else if (auto found = first_of({"no_proxy", "NO_PROXY"}))
        exempt_ = no_proxy_list(found->second);
}

const proxy_endpoint* proxy_policy::route(const url& target) const {
    const auto& chosen = target.tls() ? for_https_ : for_http_;
    if (!chosen || exempt_.matches(target.host))
        return nullptr;
    return &*chosen;
}

} // namespace ferry
