// Downloads through real proxies (tinyproxy for HTTP CONNECT and absolute-form requests,
// microsocks for SOCKS5) to the project's origin, with the real engine and the ferry binary.
// Facts come from the proxy's log, the origin's request log and what landed on disk.
#include "integration/proxy_fixture.hpp"

#include "engine/engine_fixture.hpp"
#include "net/error.hpp"
#include "scoped_env.hpp"

#include <doctest/doctest.h>

#include <string>
#include <tuple>
#include <vector>

using namespace ferry;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

/// An engine config that goes through `proxy` whatever this machine's environment says.
engine_config through(const test::engine_fixture& f, const std::string& proxy, std::string no_proxy = {}) {
    auto c = f.config();
    c.proxy.use_environment = false;
    c.proxy.proxy = proxy;
    if (!no_proxy.empty())
        c.proxy.no_proxy = no_proxy;
    c.connections_per_file = 4;
    return c;
}

/// What every origin request must look like when it came through a proxy.
void check_origin_saw_no_proxy_credentials(const origin::origin_stats& stats) {
    REQUIRE(!stats.log.empty());
    for (auto& r : stats.log) {
        CHECK(r.proxy_authorization.empty());
        CHECK(r.accept_encoding == "identity");
    }
}

/// Downloads the synthetic file `name` through `proxy_url`; checks the file and what the origin saw.
void fetch_through(test::engine_fixture& f, const std::string& proxy_url, const std::string& name, std::uint64_t size) {
    auto result = f.run(through(f, proxy_url), f.model({{name, size}}));
    REQUIRE_MESSAGE(result.ok(), result.files.front().message);
    CHECK(f.matches_synthetic(name, size));
    check_origin_saw_no_proxy_credentials(f.server.stats());
}

std::string authority(const origin::origin_server& server) { return "localhost:" + std::to_string(server.port()); }

} // namespace

TEST_CASE("https through tinyproxy: CONNECT tunnels, TLS to the origin end to end, the file intact") {
    test::tinyproxy_server proxy;
    test::engine_fixture f;
    auto result = f.run(through(f, proxy.url("http")), f.model({{"model.bin", 6 * MiB}, {"config.json", 1500}}));
    REQUIRE(result.ok());
    CHECK(f.matches_synthetic("model.bin", 6 * MiB));
    CHECK(f.matches_synthetic("config.json", 1500));

    auto origin_view = f.server.stats();
    check_origin_saw_no_proxy_credentials(origin_view);
    // Every connection the origin accepted was a tunnel the proxy was asked for.
    auto requests = proxy.requests();
    REQUIRE(!requests.empty());
    for (auto& r : requests)
        CHECK(r == "CONNECT " + authority(f.server) + " HTTP/1.1");
    CHECK(requests.size() == origin_view.connections_accepted);
    CHECK(origin_view.tls_handshakes == origin_view.connections_accepted); // TLS with the origin itself
}

TEST_CASE("tinyproxy with BasicAuth: the credentials open the tunnel and never reach the origin") {
    test::tinyproxy_server proxy("ferry", "s3cret");
    test::engine_fixture f;
    // Percent-encoded in the URL ('e' as %65), decoded before it is sent.
    fetch_through(f, proxy.url("http", "ferry", "s3cr%65t"), "weights.bin", 3 * MiB);
    CHECK(proxy.requests().size() == f.server.stats().connections_accepted);
}

TEST_CASE("tinyproxy with BasicAuth: missing (407) or wrong (401) credentials fail at once, naming the proxy") {
    test::tinyproxy_server proxy("ferry", "right");
    test::engine_fixture f;
    // tinyproxy asks for credentials with 407 and refuses wrong ones with 401.
    for (auto [user, password, status] : {std::tuple{"", "", 407}, std::tuple{"ferry", "wrong", 401}}) {
        CAPTURE(status);
        auto before = proxy.requests().size();
        // Less than a piece: one connection, and none warmed ahead for more (on a slow machine
        // one would ask the proxy again while the first answer is awaited).
        auto result = f.run(through(f, proxy.url("http", user, password)), f.model({{"weights.bin", MiB / 2}}));
        REQUIRE(result.files.size() == 1);
        auto& file = result.files.front();
        CHECK(file.outcome == file_outcome::failed);
        CHECK(net_error_of(file.error) == net_error::proxy_auth_required);
        CHECK(file.message == "proxy authentication required by http://127.0.0.1:" + std::to_string(proxy.port()) +
                                  " (" + std::to_string(status) + ")");
        CHECK(file.retries == 0); // not worth a retry
        CHECK(proxy.requests().size() == before + 1);
    }
    CHECK(f.server.stats().connections_accepted == 0);
}

TEST_CASE("plain http through tinyproxy: absolute-form requests, the proxy's credentials only to the proxy") {
    test::tinyproxy_server proxy("ferry", "pw");
    origin::origin_config plain;
    plain.tls = false;
    test::engine_fixture f(plain);
    auto c = through(f, proxy.url("http", "ferry", "pw"));
    c.ca_file.clear(); // plain HTTP: no CA
    auto result = f.run(c, f.model({{"plain.bin", 2 * MiB}}));
    INFO(proxy.log());
    REQUIRE_MESSAGE(result.ok(), result.files.front().message);
    CHECK(f.matches_synthetic("plain.bin", 2 * MiB));
    auto requests = proxy.requests();
    REQUIRE(!requests.empty());
    for (auto& r : requests)
        CHECK(r.starts_with("GET http://" + authority(f.server) + "/plain.bin HTTP/1.1"));
    check_origin_saw_no_proxy_credentials(f.server.stats()); // tinyproxy drops Proxy-Authorization
}

TEST_CASE("no_proxy: an exempt host is reached directly, the proxy sees nothing") {
    test::tinyproxy_server proxy;
    test::engine_fixture f;
    SUBCASE("by name") {
        auto result = f.run(through(f, proxy.url("http"), "example.com,localhost"), f.model({{"direct.bin", MiB}}));
        REQUIRE(result.ok());
    }
    SUBCASE("by address block") {
        auto m = f.model({{"direct.bin", MiB}});
        m.files.front().urls = {f.server.ip_url("direct.bin")};
        auto result = f.run(through(f, proxy.url("http"), "127.0.0.0/8"), m);
        REQUIRE(result.ok());
    }
    CHECK(f.matches_synthetic("direct.bin", MiB));
    CHECK(f.server.stats().connections_accepted > 0);
    CHECK(proxy.connections() == 0);
}

TEST_CASE("SOCKS5 through microsocks: socks5h (name sent) and socks5 (address sent), no auth") {
    test::microsocks_server proxy;
    test::engine_fixture f;
    for (auto* scheme : {"socks5h", "socks5"}) {
        INFO(std::string(scheme));
        f.server.reset_stats();
        std::filesystem::remove(f.out / "socks.bin");
        fetch_through(f, proxy.url(scheme), "socks.bin", 3 * MiB);
        CHECK(f.server.stats().log.front().host == authority(f.server)); // the origin is named, not the proxy
    }
    // The route really is the proxy: without it, nothing connects.
    proxy.stop();
    f.server.reset_stats();
    auto c = through(f, proxy.url("socks5h"));
    c.retry.max_retries = 1;
    auto result = f.run(c, f.model({{"after.bin", MiB}}));
    CHECK_FALSE(result.ok());
    CHECK(f.server.stats().connections_accepted == 0);
}

TEST_CASE("SOCKS5: socks5h leaves the name to the proxy, socks5 resolves it here") {
    // A name nobody resolves tells where resolution happened: a SOCKS reply from microsocks, or
    // our own resolver's error before the proxy is asked anything.
    test::microsocks_server proxy;
    test::engine_fixture f;
    auto m = f.model({{"nowhere.bin", MiB}});
    m.files.front().urls = {"https://no-such-host.invalid:" + std::to_string(f.server.port()) + "/nowhere.bin"};
    auto c = through(f, proxy.url("socks5h"));
    c.retry.max_retries = 1;

    auto by_proxy = f.run(c, m);
    REQUIRE(by_proxy.files.size() == 1);
    auto remote = net_error_of(by_proxy.files.front().error);
    REQUIRE_MESSAGE(remote.has_value(), by_proxy.files.front().message);
    CHECK(*remote >= net_error::socks_general_failure);
    CHECK(by_proxy.files.front().message.starts_with("SOCKS5 proxy socks5h://127.0.0.1:" + std::to_string(proxy.port())));

    c.proxy.proxy = proxy.url("socks5");
    auto here = f.run(c, m);
    REQUIRE(here.files.size() == 1);
    INFO(here.files.front().message);
    CHECK_FALSE(net_error_of(here.files.front().error).has_value()); // the resolver's own error
    CHECK(here.files.front().error == boost::asio::error::host_not_found);
}

TEST_CASE("SOCKS5 through microsocks with user/password: right ones pass, wrong ones fail at once, clearly") {
    test::microsocks_server proxy("ferry", "pw");
    test::engine_fixture f;
    fetch_through(f, proxy.url("socks5h", "ferry", "pw"), "socks.bin", 2 * MiB);

    f.server.reset_stats();
    auto bad = f.run(through(f, proxy.url("socks5h", "ferry", "nope")), f.model({{"denied.bin", MiB}}));
    REQUIRE(bad.files.size() == 1);
    CHECK(net_error_of(bad.files.front().error) == net_error::socks_auth_failed);
    CHECK(bad.files.front().message ==
          "SOCKS5 proxy socks5h://127.0.0.1:" + std::to_string(proxy.port()) + ": user name or password rejected");
    CHECK(bad.files.front().retries == 0);
    CHECK(f.server.stats().connections_accepted == 0);

    // No credentials at all: microsocks offers none of our methods.
    auto none = f.run(through(f, proxy.url("socks5h")), f.model({{"denied.bin", MiB}}));
    REQUIRE(none.files.size() == 1);
    CHECK(net_error_of(none.files.front().error) == net_error::socks_no_acceptable_method);
}

TEST_CASE("ferry get: https_proxy from the environment, a 407 exits 1 with one clear line, bad schemes exit 2") {
    test::tinyproxy_server proxy("ferry", "right");
    test::engine_fixture f;
    f.server.add_synthetic("cli.bin", MiB);
    test::scoped_env no_proxy("no_proxy", "");
    test::scoped_env upper_no_proxy("NO_PROXY", "");
    auto get = [&](const std::string& proxy_url, std::vector<std::string> extra = {}) {
        test::scoped_env https_proxy("https_proxy", proxy_url);
        std::vector<std::string> argv{FERRY_BINARY, "get", "-q", "--ca-cert", f.ca_file.string(), "-d", f.out.string(),
                                      "--retries", "1"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        argv.push_back(f.server.url("cli.bin"));
        return test::run_program(argv, f.dir, 60s);
    };

    auto ok = get(proxy.url("http", "ferry", "right"));
    CHECK_MESSAGE(ok.status == 0, ok.err);
    CHECK(f.matches_synthetic("cli.bin", MiB));
    CHECK(proxy.requests().size() == f.server.stats().connections_accepted);
    check_origin_saw_no_proxy_credentials(f.server.stats());

    std::filesystem::remove(f.out / "cli.bin");
    auto denied = get(proxy.url("http"));
    CHECK(denied.status == 1);
    CHECK(denied.err.find("proxy authentication required by http://127.0.0.1:" + std::to_string(proxy.port()) +
                          " (407)") != std::string::npos);
    auto wrong = get(proxy.url("http", "ferry", "wrong"));
    CHECK(wrong.status == 1);
    CHECK(wrong.err.find("(401)") != std::string::npos);
    CHECK(wrong.err.find("wrong") == std::string::npos); // the password is never printed

    auto flag_over_env = get(proxy.url("http", "ferry", "wrong"), {"--proxy", ""});
    CHECK_MESSAGE(flag_over_env.status == 0, flag_over_env.err); // --proxy "": no proxy whatever the environment

    auto socks4 = get("socks4://127.0.0.1:1080");
    CHECK(socks4.status == 2);
    CHECK(socks4.err == "ferry: https_proxy: unsupported proxy scheme (use http://, socks5:// or socks5h://): "
                        "socks4://127.0.0.1:1080\n");
}
