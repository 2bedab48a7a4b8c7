#include "net/connection.hpp"
#include "net/error.hpp"
#include "net/happy_eyeballs.hpp"
#include "net/tls_context.hpp"
#include "tools/origin/origin_server.hpp"

#include "listeners.hpp"

#include <doctest/doctest.h>

#include <thread>

#include <chrono>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

using namespace ferry;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

tcp::endpoint ep(const char* address, std::uint16_t port) { return {asio::ip::make_address(address), port}; }

/// Runs `op` on a fresh io_context for at most `limit`; nullopt if it did not finish.
template <class T>
std::optional<T> run(std::function<asio::awaitable<T>(asio::any_io_executor)> op, std::chrono::seconds limit = 10s) {
    asio::io_context io;
    std::optional<T> out;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { out.emplace(co_await op(io.get_executor())); }, asio::detached);
    io.run_for(limit);
    return out;
}

struct race_outcome {
    boost::system::result<tcp::endpoint> peer; ///< the winner's remote endpoint
    clock_type::duration took{};
};

race_outcome race(std::vector<tcp::endpoint> addresses, clock_type::duration limit) {
    auto out = run<race_outcome>([&](asio::any_io_executor ex) -> asio::awaitable<race_outcome> {
        auto start = clock_type::now();
        auto socket = co_await race_connect(ex, addresses, start + limit);
        race_outcome o{socket ? boost::system::result<tcp::endpoint>(socket->remote_endpoint())
                              : boost::system::result<tcp::endpoint>(socket.error()),
                       clock_type::now() - start};
        co_return o;
    });
    REQUIRE_MESSAGE(out.has_value(), "race_connect did not finish");
    return *out;
}

} // namespace

TEST_CASE("eyeballs order: IPv6 first, then the families alternate, each in resolver order") {
    auto order = eyeballs_order({ep("10.0.0.1", 1), ep("10.0.0.2", 1), ep("10.0.0.3", 1), ep("fd00::1", 1), ep("fd00::2", 1)});
    std::vector<tcp::endpoint> expected{ep("fd00::1", 1), ep("10.0.0.1", 1), ep("fd00::2", 1), ep("10.0.0.2", 1),
                                        ep("10.0.0.3", 1)};
    CHECK(order == expected);
    CHECK(eyeballs_order({ep("10.0.0.1", 1)}) == std::vector<tcp::endpoint>{ep("10.0.0.1", 1)});
    CHECK(eyeballs_order({}).empty());
}

TEST_CASE("connect race: the next attempt 250 ms after the last start, at once after a failure") {
    auto t0 = clock_type::time_point{} + 1h;
    connect_race r(3);
    CHECK(r.start_due(t0) == std::optional<std::size_t>(0));
    CHECK_FALSE(r.start_due(t0).has_value());
    CHECK(r.next_start() == t0 + 250ms);
    CHECK_FALSE(r.start_due(t0 + 249ms).has_value());
    CHECK(r.start_due(t0 + 250ms) == std::optional<std::size_t>(1));
    CHECK(r.next_start() == t0 + 500ms);
    r.failed(1); // attempt 1 refused: attempt 2 needs no waiting
    CHECK(r.start_due(t0 + 260ms) == std::optional<std::size_t>(2));
    CHECK(r.next_start() == clock_type::time_point::max()); // none left
    CHECK_FALSE(r.lost());
    r.connected(0);
    CHECK(r.winner() == std::optional<std::size_t>(0));
    r.connected(2); // a later success does not change the winner
    CHECK(r.winner() == std::optional<std::size_t>(0));
    CHECK_FALSE(r.lost());
}

TEST_CASE("connect race: lost once every attempt failed; nothing to try is lost at once") {
    auto t0 = clock_type::time_point{} + 1h;
    connect_race r(2);
    REQUIRE(r.start_due(t0).has_value());
    r.failed(0);
    CHECK_FALSE(r.lost());
    REQUIRE(r.start_due(t0).has_value());
    r.failed(1);
    CHECK(r.lost());
    CHECK_FALSE(r.winner().has_value());
    CHECK(connect_race(0).lost());
}

TEST_CASE("happy eyeballs against loopback: an IPv6 address that hangs costs 250 ms, not the timeout") {
    if (!ferry::test::has_address("::1")) {
        MESSAGE("no ::1 on this machine: the IPv4 address plays the hanging one");
    }
    const char* hanging_address = ferry::test::has_address("::1") ? "::1" : "127.0.0.1";
    ferry::test::full_listener hanging(hanging_address);
    ferry::test::silent_listener answering("127.0.0.1");
    auto order = eyeballs_order({answering.endpoint(), hanging.endpoint()});
    REQUIRE(order.front() == hanging.endpoint());

    auto outcome = race(order, 5s);
    REQUIRE_MESSAGE(outcome.peer.has_value(), outcome.peer.error().message());
    CHECK(*outcome.peer == answering.endpoint());
    CHECK(outcome.took >= 240ms); // the stagger: the timer may fire a hair early on some clocks
    CHECK(outcome.took < 2s);     // far below the 5 s limit
}

TEST_CASE("happy eyeballs against loopback: a refused address moves on at once") {
    ferry::test::silent_listener answering("127.0.0.1");
    const char* refusing = ferry::test::has_address("::1") ? "::1" : "127.0.0.1";
    auto outcome = race({ep(refusing, ferry::test::closed_port(refusing)), answering.endpoint()}, 5s);
    REQUIRE_MESSAGE(outcome.peer.has_value(), outcome.peer.error().message());
    CHECK(*outcome.peer == answering.endpoint());
    CHECK(outcome.took < 200ms);
}

TEST_CASE("happy eyeballs against loopback: every address refused gives the refusal, hanging ones the timeout") {
    auto refused = race({ep("127.0.0.1", ferry::test::closed_port("127.0.0.1"))}, 5s);
    REQUIRE_FALSE(refused.peer.has_value());
    CHECK(refused.peer.error() == asio::error::connection_refused);
    CHECK(refused.took < 1s);

    ferry::test::full_listener a("127.0.0.1");
    ferry::test::full_listener b("127.0.0.1");
    auto timed_out = race({a.endpoint(), b.endpoint()}, 600ms);
    REQUIRE_FALSE(timed_out.peer.has_value());
    CHECK(timed_out.peer.error() == net_error::connect_timeout);
    CHECK(timed_out.took >= 600ms);
    CHECK(timed_out.took < 3s);
}

namespace {

struct open_outcome {
    boost::system::error_code error;
    clock_type::duration took{};
};

open_outcome open_connection(const std::string& target, const connection_timeouts& timeouts,
                             const proxy_endpoint* proxy = nullptr) {
    auto tls = make_client_tls_context();
    auto where = parse_url(target);
    REQUIRE(where.has_value());
    auto out = run<open_outcome>([&](asio::any_io_executor ex) -> asio::awaitable<open_outcome> {
        auto start = clock_type::now();
        auto conn = co_await connection::open(ex, *where, tls, nullptr, timeouts, 0, proxy);
        co_return open_outcome{conn ? boost::system::error_code{} : conn.error(), clock_type::now() - start};
    });
    REQUIRE_MESSAGE(out.has_value(), "connection::open did not finish");
    return *out;
}

} // namespace

TEST_CASE("connection::open: an address that never completes the connect gives connect_timeout in time") {
    ferry::test::full_listener hanging("127.0.0.1");
    connection_timeouts t;
    t.connect = 400ms;
    auto outcome = open_connection("https://127.0.0.1:" + std::to_string(hanging.port()) + "/", t);
    CHECK(outcome.error == net_error::connect_timeout);
    CHECK(outcome.took >= 400ms);
    CHECK(outcome.took < 3s);
}

TEST_CASE("connection::open: a server that accepts and never speaks TLS gives handshake_timeout") {
    ferry::test::silent_listener mute("127.0.0.1");
    connection_timeouts t;
    t.handshake = 400ms;
    auto outcome = open_connection("https://127.0.0.1:" + std::to_string(mute.port()) + "/", t);
    CHECK(outcome.error == net_error::handshake_timeout);
    CHECK(outcome.took >= 400ms);
    CHECK(outcome.took < 3s);
    CHECK(is_transient(outcome.error));
}

TEST_CASE("connection::open: a proxy that never answers counts against the connect timeout") {
    ferry::test::silent_listener mute("127.0.0.1");
    connection_timeouts t;
    t.connect = 400ms;
    for (auto* scheme : {"http://", "socks5h://"}) {
        INFO(std::string(scheme));
        auto proxy = parse_proxy_url(std::string(scheme) + "127.0.0.1:" + std::to_string(mute.port()));
        REQUIRE(proxy.has_value());
        auto outcome = open_connection("https://localhost:1/", t, &*proxy);
        CHECK(outcome.error == net_error::connect_timeout);
        CHECK(outcome.took >= 400ms);
        CHECK(outcome.took < 3s);
    }
}

TEST_CASE("connection::open: a proxy that refuses connections is a transient failure") {
    connection_timeouts t;
    auto proxy = parse_proxy_url("http://127.0.0.1:" + std::to_string(ferry::test::closed_port("127.0.0.1")));
    REQUIRE(proxy.has_value());
    auto outcome = open_connection("https://localhost:1/", t, &*proxy);
    CHECK(outcome.error == asio::error::connection_refused);
    CHECK(is_transient(outcome.error));
}

TEST_CASE("connection::open reaches the real origin (TLS verified) after racing a hanging IPv6 address") {
    // The whole path through a name: the origin's certificate covers localhost. Where localhost
    // also resolves to ::1 a hanging listener there shows the race; elsewhere the path is plain.
    origin::origin_server server;
    server.start();
    auto dir = std::filesystem::temp_directory_path() / ("ferry-eyeballs-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    server.write_ca(dir / "ca.pem");
    std::optional<ferry::test::full_listener> hanging;
    if (ferry::test::has_address("::1"))
        hanging.emplace("::1", server.port()); // may fail to bind when the port is taken on ::1
    auto tls = make_client_tls_context(dir / "ca.pem");
    auto where = parse_url(server.url("x"));
    REQUIRE(where.has_value());
    auto out = run<boost::system::error_code>([&](asio::any_io_executor ex) -> asio::awaitable<boost::system::error_code> {
        auto conn = co_await connection::open(ex, *where, tls, nullptr, connection_timeouts{});
        co_return conn ? boost::system::error_code{} : conn.error();
    });
    std::filesystem::remove_all(dir);
    REQUIRE(out.has_value());
    CHECK_MESSAGE(!*out, out->message());
    // A TLS 1.3 client is done before the server has read its Finished: the server's count may
    // come a moment later (bounded wait on a loaded machine).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (server.stats(false).tls_handshakes == 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(server.stats().tls_handshakes == 1);
}
