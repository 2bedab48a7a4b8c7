#include "net/error.hpp"
#include "net/proxy_tunnel.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <boost/asio/error.hpp>

using namespace ferry;
using bytes = std::vector<std::uint8_t>;

namespace {

url parsed(const char* text) {
    auto u = parse_url(text);
    REQUIRE(u.has_value());
    return *u;
}

proxy_endpoint proxy(const char* text) {
    auto p = parse_proxy_url(text);
    REQUIRE(p.has_value());
    return *p;
}

} // namespace

TEST_CASE("CONNECT: the origin's authority, credentials only when the proxy URL has them") {
    CHECK(connect_request(parsed("https://models.example/a/b?x=1"), proxy("http://p:3128")) ==
          "CONNECT models.example:443 HTTP/1.1\r\nHost: models.example:443\r\nUser-Agent: ferry/0.1\r\n\r\n");
    CHECK(connect_request(parsed("https://[::1]:8443/"), proxy("http://p:3128")).starts_with("CONNECT [::1]:8443 HTTP/1.1\r\n"));
    // RFC 7617's example: Aladdin / open sesame, percent-decoded from the URL.
    auto with_auth = connect_request(parsed("https://h/"), proxy("http://Aladdin:open%20sesame@p:3128"));
    CHECK(with_auth.find("\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n") != std::string::npos);
    CHECK(basic_credentials("", "") == "Basic Og==");
}

TEST_CASE("CONNECT answers: the status of an HTTP/1.x status line, anything else is not a proxy") {
    CHECK(connect_status("HTTP/1.1 200 Connection established\r\n\r\n").value() == 200);
    CHECK(connect_status("HTTP/1.0 200\r\n\r\n").value() == 200);
    CHECK(connect_status("HTTP/1.1 407 Proxy Authentication Required\r\n").value() == 407);
    for (auto* bad : {"", "SSH-2.0-OpenSSH\r\n", "HTTP/1.1 20 OK\r\n", "HTTP/1.1 2000 OK\r\n", "HTTP/2 200\r\n",
                      "\x05\x00"}) {
        INFO(std::string(bad));
        auto s = connect_status(bad);
        REQUIRE_FALSE(s.has_value());
        CHECK(s.error() == net_error::proxy_bad_response);
    }
}

TEST_CASE("SOCKS5 messages: greeting, RFC 1929 login, CONNECT by address and by name") {
    CHECK(socks5::greeting(false) == bytes{5, 1, 0});
    CHECK(socks5::greeting(true) == bytes{5, 2, 0, 2});
    CHECK(socks5::password_request("al", "pw").value() == bytes{1, 2, 'a', 'l', 2, 'p', 'w'});
    CHECK_FALSE(socks5::password_request(std::string(256, 'u'), "pw").has_value());

    CHECK(socks5::connect_request(boost::asio::ip::make_address("127.0.0.1"), 443) ==
          bytes{5, 1, 0, 1, 127, 0, 0, 1, 0x01, 0xbb});
    bytes v6{5, 1, 0, 4};
    v6.insert(v6.end(), 15, 0);
    v6.insert(v6.end(), {1, 0x1f, 0x90});
    CHECK(socks5::connect_request(boost::asio::ip::make_address("::1"), 8080) == v6);
    CHECK(socks5::connect_request("localhost", 443).value() ==
          bytes{5, 1, 0, 3, 9, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', 0x01, 0xbb});
    CHECK_FALSE(socks5::connect_request(std::string(256, 'a'), 443).has_value());
}

TEST_CASE("SOCKS5 replies: the length of the bound address, one error per reply code") {
    CHECK(socks5::reply_remaining({5, 0, 0, 1, 127}).value() == 5);   // 3 more address bytes + port
    CHECK(socks5::reply_remaining({5, 0, 0, 4, 0}).value() == 17);    // 15 more + port
    CHECK(socks5::reply_remaining({5, 0, 0, 3, 9}).value() == 11);    // a 9-byte name + port
    CHECK_FALSE(socks5::reply_remaining({5, 0, 0, 7, 0}).has_value());

    CHECK(socks5::reply_error(1) == net_error::socks_general_failure);
    CHECK(socks5::reply_error(2) == net_error::socks_not_allowed);
    CHECK(socks5::reply_error(3) == net_error::socks_network_unreachable);
    CHECK(socks5::reply_error(4) == net_error::socks_host_unreachable);
    CHECK(socks5::reply_error(5) == net_error::socks_connection_refused);
    CHECK(socks5::reply_error(6) == net_error::socks_ttl_expired);
    CHECK(socks5::reply_error(7) == net_error::socks_command_not_supported);
    CHECK(socks5::reply_error(8) == net_error::socks_address_type_not_supported);
    CHECK(socks5::reply_error(99) == net_error::socks_general_failure);
}

TEST_CASE("proxy errors name the proxy; authentication and rule failures are final, reachability ones transient") {
    const std::string p = "http://127.0.0.1:3128";
    auto auth = make_proxy_error(net_error::proxy_auth_required, p, 407);
    CHECK(auth.message() == "proxy authentication required by http://127.0.0.1:3128 (407)");
    CHECK(net_error_of(auth) == net_error::proxy_auth_required);
    CHECK_FALSE(is_transient(auth));
    CHECK(describe(auth) == auth.message());

    auto forbidden = make_proxy_error(net_error::proxy_refused, p, 403);
    CHECK(forbidden.message() == "proxy http://127.0.0.1:3128 refused the tunnel: HTTP 403 Forbidden");
    CHECK_FALSE(is_transient(forbidden));
    CHECK(is_transient(make_proxy_error(net_error::proxy_refused, p, 502)));
    CHECK(is_transient(make_proxy_error(net_error::proxy_refused, p, 503)));

    const std::string s = "socks5h://127.0.0.1:1080";
    CHECK(make_proxy_error(net_error::socks_auth_failed, s).message() ==
          "SOCKS5 proxy socks5h://127.0.0.1:1080: user name or password rejected");
    CHECK(make_proxy_error(net_error::socks_connection_refused, s).message() ==
          "SOCKS5 proxy socks5h://127.0.0.1:1080: connection refused by the destination");
    for (auto final_error : {net_error::socks_auth_failed, net_error::socks_no_acceptable_method,
                             net_error::socks_not_allowed, net_error::socks_command_not_supported,
                             net_error::socks_address_type_not_supported, net_error::proxy_bad_response}) {
        INFO(make_proxy_error(final_error, s).message());
        CHECK_FALSE(is_transient(make_proxy_error(final_error, s)));
    }
    for (auto passing : {net_error::socks_general_failure, net_error::socks_network_unreachable,
                         net_error::socks_host_unreachable, net_error::socks_connection_refused,
                         net_error::socks_ttl_expired}) {
        INFO(make_proxy_error(passing, s).message());
        CHECK(is_transient(make_proxy_error(passing, s)));
    }
    // The same proxy and status give the same category: codes compare equal.
    CHECK(make_proxy_error(net_error::socks_ttl_expired, s) == make_proxy_error(net_error::socks_ttl_expired, s));
    CHECK_FALSE(net_error_of(boost::asio::error::connection_refused).has_value());
}
