// ferry-relay end to end: the relay (in-process, on its own io_context thread) in front of the
// origin fixture, a TLS client through it. Round trips grow by about the added RTT, the window
// and the rate bound a connection's throughput, the bytes pass unchanged, connections end.
// Timings are lower bounds with generous upper bounds: the machine may be loaded.
#include "origin/synthetic_text.hpp"
#include "origin/test_client.hpp"

#include "tools/origin/origin_server.hpp"
#include "relay/running_relay.hpp"
#include "tools/relay/relay_server.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

using namespace ferry::origin;
using namespace ferry::origin::testing;
using namespace std::chrono_literals;
using ferry::relay::relay_options;
using ferry::relay::relay_server;
using ferry::relay::testing::running_relay;
using steady = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t seed = 11;
constexpr std::uint64_t big_size = 1024 * 1024 + 17;

struct started_origin {
    origin_server server;
    started_origin() : server(config()) {
        server.add_synthetic("/big.bin", big_size);
        server.add_synthetic("/tiny.txt", 100);
        server.start();
    }
    static origin_config config() {
        origin_config c;
        c.seed = seed;
        return c;
    }
};

client_options through(const running_relay& relay, const origin_server& origin) {
    client_options c;
    c.port = relay.port();
    c.ca_pem = origin.ca_pem();
    return c;
}

double seconds_since(steady::time_point t0) { return std::chrono::duration<double>(steady::now() - t0).count(); }

/// The quickest of `n` requests for `target` on an open connection, in seconds.
double quickest_request(test_client& client, const std::string& target, int n) {
    double best = 1e9;
    for (int i = 0; i < n; ++i) {
        auto t0 = steady::now();
        auto res = client.get(target);
        double took = seconds_since(t0);
        REQUIRE_FALSE(res.error);
        REQUIRE(res.status == 200);
        best = std::min(best, took);
    }
    return best;
}

} // namespace

TEST_CASE("relay: a request's round trip grows by about the RTT, the connection setup by two") {
    started_origin o;
    relay_options opts;
    opts.rtt = 100ms;
    running_relay relay(o.server.port(), opts);

    test_client direct(o.server);
    REQUIRE_FALSE(direct.connect());
    double direct_request = quickest_request(direct, "/tiny.txt", 3);

    test_client relayed(through(relay, o.server));
    auto t0 = steady::now();
    REQUIRE_FALSE(relayed.connect());
    double connect = seconds_since(t0);
    // The TCP handshake's round trip, then TLS's: at least two RTTs (on loopback: a millisecond).
    CHECK(connect >= 0.19);
    CHECK(connect < 5.0);

    double relayed_request = quickest_request(relayed, "/tiny.txt", 3);
    MESSAGE("direct request " << direct_request * 1000 << " ms, through the relay " << relayed_request * 1000
                              << " ms, connect " << connect * 1000 << " ms");
    CHECK(relayed_request - direct_request >= 0.095);
    CHECK(relayed_request - direct_request < 1.5);

    auto res = relayed.get("/tiny.txt");
    CHECK(res.body == synthetic_text("tiny.txt", seed, 0, 100));
    CHECK(relay.stats().connections_accepted == 1);
}

TEST_CASE("relay: the bytes pass unchanged, and the window bounds a connection at window / RTT") {
    started_origin o;
    relay_options opts;
    opts.rtt = 20ms;
    opts.window = 64 * 1024;
    running_relay relay(o.server.port(), opts);

    test_client client(through(relay, o.server));
    REQUIRE_FALSE(client.connect());
    auto t0 = steady::now();
    auto res = client.get("/big.bin");
    double took = seconds_since(t0);
    REQUIRE_FALSE(res.error);
    CHECK(res.status == 200);
    REQUIRE(res.body.size() == big_size);
    CHECK(res.body == synthetic_text("big.bin", seed, 0, big_size));
    // 1 MiB through a 64 KiB window at 20 ms: 16 windows, each a round trip (0.32 s at least).
    MESSAGE("1 MiB through a 64 KiB window at 20 ms RTT: " << took << " s");
    CHECK(took >= 0.30);
    CHECK(took < 10.0);
    // Ranges, and a second request on the same connection.
    auto part = client.get("/big.bin", {{"Range", "bytes=1000-1999"}});
    CHECK(part.status == 206);
    CHECK(part.body == synthetic_text("big.bin", seed, 1000, 1000));
    auto s = relay.stats();
    CHECK(s.bytes_to_client > big_size + 1000);
    CHECK(s.bytes_to_origin > 0);
}

TEST_CASE("relay: the rate bounds a connection") {
    started_origin o;
    relay_options opts;
    opts.rate = 2 * 1024 * 1024;  // 2 MiB/s: the 1 MiB file takes half a second
    opts.window = 0;
    running_relay relay(o.server.port(), opts);

    test_client client(through(relay, o.server));
    REQUIRE_FALSE(client.connect());
    auto t0 = steady::now();
    auto res = client.get("/big.bin");
    double took = seconds_since(t0);
    REQUIRE_FALSE(res.error);
    CHECK(res.body == synthetic_text("big.bin", seed, 0, big_size));
    MESSAGE("1 MiB at 2 MiB/s: " << took << " s");
    CHECK(took >= 0.45);
    CHECK(took < 10.0);
}

TEST_CASE("relay: a closed connection ends on both sides") {
    started_origin o;
    relay_options opts;
    opts.rtt = 10ms;
    running_relay relay(o.server.port(), opts);
    {
        test_client client(through(relay, o.server));
        auto res = client.get("/tiny.txt", {{"Connection", "close"}});
        CHECK(res.status == 200);
        CHECK_FALSE(res.keep_alive);
        test_client other(through(relay, o.server));
        CHECK(other.get("/tiny.txt").status == 200);
        other.close();
    }
    // The origin's close and the client's reach the other side; then the relay forgets both.
    auto deadline = steady::now() + 10s;
    while (relay.stats().connections_open != 0 && steady::now() < deadline)
        std::this_thread::sleep_for(10ms);
    CHECK(relay.stats().connections_accepted == 2);
    CHECK(relay.stats().connections_open == 0);
}
