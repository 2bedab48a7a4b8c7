#include "net/error.hpp"
#include "net/proxy_config.hpp"

#include <doctest/doctest.h>

#include <map>
#include <stdexcept>
#include <string>

using namespace ferry;

namespace {

/// An environment of our own, so that no test depends on the machine's.
environment_lookup environment(std::map<std::string, std::string> variables) {
    return [variables = std::move(variables)](const char* name) -> std::optional<std::string> {
        if (auto it = variables.find(name); it != variables.end())
            return it->second;
        return std::nullopt;
    };
}

url parsed(const char* text) {
    auto u = parse_url(text);
    REQUIRE(u.has_value());
    return *u;
}

/// The proxy a URL goes through, as "scheme://host:port", or "direct".
std::string route(const proxy_policy& policy, const char* target) {
    auto* proxy = policy.route(parsed(target));
    return proxy ? proxy->display() : "direct";
}

} // namespace

TEST_CASE("proxy URLs: schemes, default port 1080, credentials percent-decoded") {
    auto p = parse_proxy_url("http://proxy.example:3128");
    REQUIRE(p.has_value());
    CHECK(p->kind == proxy_kind::http);
    CHECK(p->host == "proxy.example");
    CHECK(p->port == 3128);
    CHECK_FALSE(p->has_credentials);

    p = parse_proxy_url("proxy.example"); // no scheme: http, as curl
    REQUIRE(p.has_value());
    CHECK(p->kind == proxy_kind::http);
    CHECK(p->port == 1080);
    CHECK(p->display() == "http://proxy.example:1080");

    p = parse_proxy_url("socks5://al%40ice:p%3Ass@[::1]:9050");
    REQUIRE(p.has_value());
    CHECK(p->kind == proxy_kind::socks5);
    CHECK(p->host == "::1");
    CHECK(p->has_credentials);
    CHECK(p->username == "al@ice");
    CHECK(p->password == "p:ss");
    CHECK(p->display() == "socks5://[::1]:9050"); // never the credentials

    p = parse_proxy_url("SOCKS5H://127.0.0.1");
    REQUIRE(p.has_value());
    CHECK(p->kind == proxy_kind::socks5h);
    CHECK(p->port == 1080);
}

TEST_CASE("proxy URLs: other schemes and malformed ones are refused") {
    for (auto* text : {"socks4://127.0.0.1:1080", "socks4a://h", "https://proxy:443", "ftp://h"}) {
        INFO(std::string(text));
        auto p = parse_proxy_url(text);
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error() == net_error::unsupported_proxy_scheme);
    }
    for (auto* text : {"http://", "http://:8080", "http://h:0", "http://h:99999"}) {
        INFO(std::string(text));
        CHECK_FALSE(parse_proxy_url(text).has_value());
    }
}

TEST_CASE("no_proxy: names match themselves and subdomains on a dot boundary") {
    no_proxy_list list("example.com, .internal.example ,Other.Example:8080");
    CHECK(list.matches("example.com"));
    CHECK(list.matches("cdn.example.com"));
    CHECK(list.matches("a.b.example.com"));
    CHECK(list.matches("EXAMPLE.COM."));
    CHECK_FALSE(list.matches("notexample.com"));
    CHECK_FALSE(list.matches("example.com.evil"));
    CHECK(list.matches("internal.example")); // leading dot ignored
    CHECK(list.matches("x.internal.example"));
    CHECK(list.matches("other.example")); // port ignored, case ignored
    CHECK_FALSE(list.matches("example.org"));
}

TEST_CASE("no_proxy: '*' matches everything; an empty list nothing") {
    CHECK(no_proxy_list("*").matches("anything.example"));
    CHECK(no_proxy_list(" * ").matches("10.1.2.3"));
    CHECK_FALSE(no_proxy_list("").matches("example.com"));
    CHECK_FALSE(no_proxy_list(" , ,").matches("example.com"));
    CHECK_FALSE(no_proxy_list("*.example.com").matches("a.example.com")); // no wildcards but '*' alone
}

TEST_CASE("no_proxy: addresses and CIDR blocks match IP literal hosts") {
    no_proxy_list list("10.0.0.0/8, 192.168.1.7, ::1/128, [fd00::]:443, 2001:db8::/32, 172.16.0.0/12");
    CHECK(list.matches("10.255.1.2"));
    CHECK_FALSE(list.matches("11.0.0.1"));
    CHECK(list.matches("192.168.1.7"));
    CHECK_FALSE(list.matches("192.168.1.8"));
    CHECK(list.matches("::1"));
    CHECK_FALSE(list.matches("::2"));
    CHECK(list.matches("fd00::")); // brackets and port stripped
    CHECK(list.matches("2001:db8:1::5"));
    CHECK_FALSE(list.matches("2001:db9::1"));
    CHECK(list.matches("172.31.255.255"));
    CHECK_FALSE(list.matches("172.32.0.1"));
    CHECK_FALSE(list.matches("example.com"));
    // An IPv4 block never matches an IPv6 address, and a name never matches an address.
    CHECK_FALSE(no_proxy_list("0.0.0.0/0").matches("::1"));
    CHECK_FALSE(no_proxy_list("localhost").matches("127.0.0.1"));
    CHECK(no_proxy_list("0.0.0.0/0").matches("8.8.8.8"));
    CHECK_FALSE(no_proxy_list("10.0.0.0/33").matches("10.0.0.1")); // not a block
}

TEST_CASE("environment: https URLs use https_proxy, then HTTPS_PROXY, then all_proxy, then ALL_PROXY") {
    proxy_config config;
    std::map<std::string, std::string> env{{"https_proxy", "http://lower:1"},
                                           {"HTTPS_PROXY", "http://upper:2"},
                                           {"all_proxy", "http://all:3"},
                                           {"ALL_PROXY", "http://ALL:4"}};
    CHECK(route(proxy_policy(config, environment(env)), "https://h/") == "http://lower:1");
    env.erase("https_proxy");
    CHECK(route(proxy_policy(config, environment(env)), "https://h/") == "http://upper:2");
    env.erase("HTTPS_PROXY");
    CHECK(route(proxy_policy(config, environment(env)), "https://h/") == "http://all:3");
    env.erase("all_proxy");
    CHECK(route(proxy_policy(config, environment(env)), "https://h/") == "http://ALL:4");
    env.erase("ALL_PROXY");
    CHECK(route(proxy_policy(config, environment(env)), "https://h/") == "direct");
}

TEST_CASE("environment: http URLs use http_proxy only in lower case, then all_proxy") {
    proxy_config config;
    std::map<std::string, std::string> env{{"HTTP_PROXY", "http://upper:2"}, {"https_proxy", "http://tls:5"}};
    CHECK(route(proxy_policy(config, environment(env)), "http://h/") == "direct");
    env["ALL_PROXY"] = "socks5h://all:4";
    CHECK(route(proxy_policy(config, environment(env)), "http://h/") == "socks5h://all:4");
    env["http_proxy"] = "http://lower:1";
    CHECK(route(proxy_policy(config, environment(env)), "http://h/") == "http://lower:1");
    CHECK(route(proxy_policy(config, environment(env)), "https://h/") == "http://tls:5");
}

TEST_CASE("environment: empty variables count as unset; use_environment = false ignores them all") {
    proxy_config config;
    std::map<std::string, std::string> env{{"https_proxy", ""}, {"HTTPS_PROXY", "http://upper:2"}};
    CHECK(route(proxy_policy(config, environment(env)), "https://h/") == "http://upper:2");
    config.use_environment = false;
    CHECK(route(proxy_policy(config, environment(env)), "https://h/") == "direct");
    CHECK(proxy_policy(config, environment(env)).empty());
}

TEST_CASE("no_proxy then NO_PROXY exempt hosts; --noproxy replaces both") {
    proxy_config config;
    std::map<std::string, std::string> env{{"https_proxy", "http://p:1"},
                                           {"no_proxy", "internal.example"},
                                           {"NO_PROXY", "other.example"}};
    proxy_policy policy(config, environment(env));
    CHECK(route(policy, "https://a.internal.example/") == "direct");
    CHECK(route(policy, "https://other.example/") == "http://p:1"); // lower case wins
    env.erase("no_proxy");
    CHECK(route(proxy_policy(config, environment(env)), "https://other.example/") == "direct");
    config.no_proxy = "127.0.0.0/8";
    proxy_policy flagged(config, environment(env));
    CHECK(route(flagged, "https://other.example/") == "http://p:1");
    CHECK(route(flagged, "https://127.0.0.1:8443/") == "direct");
}

TEST_CASE("--proxy overrides the environment for every scheme; --proxy \"\" means none at all") {
    std::map<std::string, std::string> env{{"https_proxy", "http://env:1"}, {"http_proxy", "http://env:2"}};
    proxy_config config;
    config.proxy = "socks5://flag:3";
    proxy_policy flagged(config, environment(env));
    CHECK(route(flagged, "https://h/") == "socks5://flag:3");
    CHECK(route(flagged, "http://h/") == "socks5://flag:3");

    config.proxy = "";
    proxy_policy none(config, environment(env));
    CHECK(route(none, "https://h/") == "direct");
    CHECK(route(none, "http://h/") == "direct");
    CHECK(none.empty());

    // no_proxy still exempts hosts from a --proxy (as curl).
    env["no_proxy"] = "exempt.example";
    config.proxy = "http://flag:4";
    CHECK(route(proxy_policy(config, environment(env)), "https://exempt.example/") == "direct");
}

TEST_CASE("an unsupported or malformed proxy is a start-up error naming its source, never the password") {
    proxy_config config;
    auto message_of = [&](std::map<std::string, std::string> env) {
        try {
            proxy_policy policy(config, environment(std::move(env)));
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(message_of({{"https_proxy", "socks4://h:1080"}}) ==
          "https_proxy: unsupported proxy scheme (use http://, socks5:// or socks5h://): socks4://h:1080");
    auto secret = message_of({{"ALL_PROXY", "https://user:secret@h:1080"}});
    CHECK(secret.starts_with("ALL_PROXY: unsupported proxy scheme"));
    CHECK(secret.find("secret") == std::string::npos);
    config.proxy = "http://:1";
    CHECK(message_of({}).starts_with("--proxy: malformed proxy URL"));
}
