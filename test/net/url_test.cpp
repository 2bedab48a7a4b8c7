#include "net/error.hpp"
#include "net/url.hpp"

#include <doctest/doctest.h>

#include <string>

using ferry::join_url;
using ferry::net_error;
using ferry::parse_url;

TEST_CASE("join_url: base URL and file path, each path segment percent-encoded") {
    auto joined = join_url("https://models.example/t2v/", "diffusion/model 1#a?.bin");
    REQUIRE(joined.has_value());
    CHECK(joined->host == "models.example");
    CHECK(joined->port == 443);
    CHECK(joined->target == "/t2v/diffusion/model%201%23a%3F.bin");

    SUBCASE("a base without a trailing slash gets one") {
        auto u = join_url("http://127.0.0.1:8080/m", "config.json");
        REQUIRE(u.has_value());
        CHECK(u->text == "http://127.0.0.1:8080/m/config.json");
    }
    SUBCASE("a base that is only an origin") {
        auto u = join_url("https://h.example", "a.bin");
        REQUIRE(u.has_value());
        CHECK(u->host == "h.example");
        CHECK(u->target == "/a.bin");
    }
}

TEST_CASE("join_url refuses a base without a host, whatever the path holds") {
    // Were the base not checked on its own, "https://" + "evil.example/x" would parse as a URL
    // on evil.example: the host would come from the manifest's file path.
    for (std::string base : {"https://", "https:", "https:/", "http:///m/", "https://:443/m/", "//h.example/m/", "/m/", ""}) {
        CAPTURE(base);
        for (std::string path : {"evil.example/x.bin", "a.bin", "/evil.example/x.bin"}) {
            CAPTURE(path);
            auto joined = join_url(base, path);
            CHECK_FALSE(joined.has_value());
            if (!joined)
                CHECK(joined.error() == make_error_code(net_error::bad_url));
        }
    }
}

TEST_CASE("join_url refuses a base that is not http or https") {
    auto joined = join_url("ftp://h.example/m/", "a.bin");
    REQUIRE_FALSE(joined.has_value());
    CHECK(joined.error() == make_error_code(net_error::unsupported_scheme));
    CHECK(joined.error().message() == "unsupported URL scheme (use https or http)");
}

TEST_CASE("parse_url: parts of an absolute URL") {
    auto u = parse_url("https://user:pw@[::1]:8443/a/b?x=1#frag");
    REQUIRE(u.has_value());
    CHECK(u->scheme == "https");
    CHECK(u->host == "::1");
    CHECK(u->port == 8443);
    CHECK(u->target == "/a/b?x=1");
    CHECK(u->origin() == "https://[::1]:8443");
    CHECK(u->redacted() == "https://[::1]:8443/a/b");
    CHECK_FALSE(parse_url("https:///a").has_value());
    CHECK_FALSE(parse_url("https://h.example:0/").has_value());
}
