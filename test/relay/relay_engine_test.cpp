// The engine through ferry-relay (in-process, on its own thread) in front of the origin fixture:
// on a path with a long round trip, requests are sized from the measured round trip and rate, so
// a file takes fewer, longer requests than on loopback, and little is fetched twice. Asserts
// what the origin saw (requests, bytes sent), never how long it took: the machine may be loaded.
#include "engine/engine_fixture.hpp"

#include "relay/running_relay.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <chrono>
#include <optional>
#include <string>
#include <vector>


using namespace std::chrono_literals;
using ferry::relay::relay_options;
using ferry::relay::testing::running_relay;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;
constexpr std::uint64_t file_size = 24 * MiB + 5;

/// What the origin saw of one download.
struct seen {
    std::uint64_t body_bytes = 0;
    std::vector<std::uint64_t> request_sizes; ///< of each ranged GET, in bytes
};

std::uint64_t range_size(const std::string& range) {
    // "bytes=A-B" (the engine always names both ends).
    auto eq = range.find('='), dash = range.find('-');
    REQUIRE(eq != std::string::npos);
    REQUIRE(dash != std::string::npos);
    return std::stoull(range.substr(dash + 1)) - std::stoull(range.substr(eq + 1, dash - eq - 1)) + 1;
}

/// Downloads the file with `connections` connections through a relay adding `rtt` (none: straight
/// to the origin) and a window of 512 KiB per connection.
seen download(std::optional<std::chrono::milliseconds> rtt, std::size_t connections) {
    ferry::test::engine_fixture f;
    auto m = f.model({{"wan.bin", file_size}});
    std::optional<running_relay> relay;
    if (rtt) {
        relay_options o;
        o.rtt = *rtt;
        o.window = 512 * 1024;
        relay.emplace(f.server.port(), o);
        m.files.front().urls = {"https://localhost:" + std::to_string(relay->port()) + "/wan.bin"};
    }
    auto c = f.config();
    c.connections_per_file = connections;
    c.min_piece = 256 * 1024;
    c.timeouts.stall = 10s; // a loaded machine behind a slow path
    c.timeouts.first_byte = 10s;
    f.server.reset_stats();
    auto result = f.run(c, m);
    const auto& file = ferry::test::only_file(result);
    REQUIRE(file.outcome == ferry::file_outcome::done);
    CHECK(f.matches_synthetic("wan.bin", file_size));

    seen s;
    auto stats = f.server.stats();
    s.body_bytes = stats.body_bytes_sent;
    for (const auto& r : stats.log)
        if (r.method == "GET" && !r.range.empty())
            s.request_sizes.push_back(range_size(r.range));
    CHECK(s.request_sizes.size() == stats.requests);
    return s;
}

std::uint64_t median(std::vector<std::uint64_t> v) {
    REQUIRE_FALSE(v.empty());
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

} // namespace

TEST_CASE("engine through the relay: requests grow with the round trip, little is fetched twice") {
    auto loopback = download(std::nullopt, 4);
    auto wan = download(60ms, 4);
    MESSAGE("loopback: " << loopback.request_sizes.size() << " requests, median " << median(loopback.request_sizes)
                         << " bytes; +60 ms: " << wan.request_sizes.size() << " requests, median "
                         << median(wan.request_sizes) << " bytes");
    // Little more than the file was sent: a steal may cut a response when the connections run
    // unevenly (a loaded machine), and what the server had sent of its rest is lost, but no
    // file's worth goes twice. (The file's bytes are checked on disk; the origin counts a piece
    // when its write completes, and the last piece of a cut response never does.)
    for (auto sent : {loopback.body_bytes, wan.body_bytes})
        CHECK(sent <= file_size + file_size / 4);
    // Each connection's next request goes out about two round trips of data before its response
    // ends (the relay holds what the origin sent, so the origin cannot tell): requests are at
    // least that long. At 60 ms and 512 KiB in flight (8.5 MiB/s a connection), two round trips
    // of data are about 1 MiB.
    // (Not compared with loopback's: under a sanitizer a loopback round trip takes milliseconds
    // too, and its requests grow as much.)
    CHECK(median(wan.request_sizes) >= 512 * 1024);
}

namespace {

/// One file at a time on one connection, patient with a loaded machine behind a long path: the
/// next files can only line up on its connection.
ferry::engine_config one_file_at_a_time(const ferry::test::engine_fixture& f) {
    auto c = f.config();
    c.max_files = 1;
    c.max_files_per_model = 1;
    c.connections_per_file = 1;
    c.timeouts.stall = 10s;
    c.timeouts.first_byte = 10s;
    return c;
}

/// `count` files of 128 KiB at /PREFIXi, one at a time over one connection each, through a relay
/// adding 20 ms: a file's body takes a fraction of the round trip.
struct line_run {
    ferry::test::engine_fixture f;
    std::vector<std::pair<std::string, std::uint64_t>> files;
    ferry::model_result result;
    ferry::origin::origin_stats seen;

    line_run(const std::string& prefix, std::size_t count, std::function<void(ferry::test::engine_fixture&)> serve = {}) {
        if (serve)
            serve(f);
        for (std::size_t i = 0; i < count; ++i)
            files.emplace_back(prefix + std::to_string(i), 128 * 1024);
        auto m = f.model(files);
        relay_options o;
        o.rtt = 20ms;
        running_relay relay(f.server.port(), o);
        for (auto& file : m.files)
            file.urls = {"https://localhost:" + std::to_string(relay.port()) + "/" + file.path.string()};
        f.server.reset_stats();
        result = f.run(one_file_at_a_time(f), m);
        seen = f.server.stats();
        for (const auto& file : result.files) {
            CAPTURE(file.path);
            CHECK(file.outcome == ferry::file_outcome::done);
        }
        for (const auto& [name, size] : files)
            CHECK(f.matches_synthetic(name, size));
    }
};

} // namespace

TEST_CASE("small files on a long path: the next files' first requests go ahead on the connection of the one before") {
    line_run run("line", 9);
    const auto& seen = run.seen;
    // One connection, one request per file, every byte sent once.
    CHECK(seen.connections_accepted == 1);
    REQUIRE(seen.requests == run.files.size());
    CHECK(seen.body_bytes_sent == run.files.size() * 128 * 1024);
    // One file at a time, but its requests did not wait for each other: the first file's response
    // brought the next files along (four ahead on the connection), so most requests reached the
    // origin within a few milliseconds of the one before, not a round trip (20 ms) after it.
    std::size_t close_together = 0;
    for (std::size_t i = 1; i < seen.log.size(); ++i)
        if (seen.log[i].received - seen.log[i - 1].received < 10ms)
            ++close_together;
    MESSAGE(close_together << " of " << seen.log.size() - 1 << " requests within 10 ms of the one before");
    CHECK(close_together >= 3);
}

TEST_CASE("small files in line behind a server that closes after each response ask again") {
    line_run run("closing", 6, [](ferry::test::engine_fixture& f) {
        ferry::origin::fault drop;
        drop.drop_after = 1024 * MiB; // after the whole body, without Connection: close
        f.server.add_fault("/closing*", drop);
    });
    const auto& seen = run.seen;
    MESSAGE(seen.requests << " requests, " << seen.body_bytes_sent << " bytes, " << seen.connections_accepted
                          << " connections");
    // Each connection answered one request; what was queued behind it went again on another.
    std::map<std::uint64_t, std::size_t> per_connection;
    for (const auto& r : seen.log)
        ++per_connection[r.connection];
    for (auto [connection, requests] : per_connection)
        CHECK(requests == 1);
    CHECK(seen.connections_accepted >= run.files.size());
    // A reset may take the end of a response along (asked again): never a whole file more each.
    CHECK(seen.body_bytes_sent >= run.files.size() * 128 * 1024);
    CHECK(seen.body_bytes_sent < 2 * run.files.size() * 128 * 1024);
}

TEST_CASE("files in line behind one a redirect sends elsewhere are answered on their connection, each asked once") {
    // A Hub: small files served directly, an LFS file redirected to its CDN (another origin). The
    // redirected file's answer came on the connection that carries the next files' requests.
    ferry::test::engine_fixture f;
    std::vector<std::pair<std::string, std::uint64_t>> files;
    for (std::size_t i = 0; i < 6; ++i)
        files.emplace_back((i == 1 ? "lfs" : "small") + std::to_string(i), 128 * 1024);
    f.server.add_synthetic("cdn/lfs1", 128 * 1024);
    auto m = f.model(files);
    relay_options o;
    o.rtt = 20ms;
    running_relay relay(f.server.port(), o);
    ferry::origin::fault to_cdn;
    to_cdn.status = 302;
    to_cdn.location = "https://127.0.0.1:" + std::to_string(relay.port()) + "/cdn/lfs1";
    f.server.add_fault("/lfs1", to_cdn);
    for (auto& file : m.files) {
        file.urls = {"https://localhost:" + std::to_string(relay.port()) + "/" + file.path.string()};
        if (file.path == "lfs1") // the CDN's bytes (another synthetic file's)
            file.sha256 = ferry::origin::synthetic_sha256("cdn/lfs1", 128 * 1024, f.server.config().seed);
    }
    f.server.reset_stats();
    auto result = f.run(one_file_at_a_time(f), m);
    for (const auto& file : result.files) {
        CAPTURE(file.path);
        CHECK(file.outcome == ferry::file_outcome::done);
    }
    for (const auto& [name, size] : files)
        if (name != "lfs1")
            CHECK(f.matches_synthetic(name, size));
    CHECK(ferry::sha256_of_file(f.out / "lfs1") ==
          ferry::origin::synthetic_sha256("cdn/lfs1", 128 * 1024, f.server.config().seed));

    const auto seen = f.server.stats();
    std::map<std::string, int> asked;
    std::set<std::uint64_t> hub_connections;
    for (const auto& r : seen.log) {
        ++asked[r.path];
        if (r.host.starts_with("localhost"))
            hub_connections.insert(r.connection);
    }
    // Every request once: none of those in line was lost with the redirect and asked again.
    for (const auto& [path, times] : asked) {
        CAPTURE(path);
        CHECK(times == 1);
    }
    CHECK(asked.size() == files.size() + 1);
    CHECK(seen.body_bytes_sent == (files.size()) * 128 * 1024);
    // The Hub's files all came on one connection, the CDN's on one of its own.
    CHECK(hub_connections.size() == 1);
    CHECK(seen.connections_accepted == 2);
}

TEST_CASE("a file in line that fetches on several connections passes the line on over the one it came on") {
    // Files larger than a piece in line behind a small one: the first to be answered starts its
    // other connections, whose shorter responses end before its first piece does. The next files'
    // requests went ahead on the connection it came on, and go on with that one.
    ferry::test::engine_fixture f;
    std::vector<std::pair<std::string, std::uint64_t>> files{{"small0", 128 * 1024}};
    for (std::size_t i = 1; i <= 4; ++i)
        files.emplace_back("large" + std::to_string(i), 3 * MiB);
    auto m = f.model(files);
    relay_options o;
    o.rtt = 20ms;
    o.rate = 4 * MiB; // per connection: a first piece (1 MiB) takes a quarter of a second
    o.window = 512 * 1024;
    running_relay relay(f.server.port(), o);
    for (auto& file : m.files)
        file.urls = {"https://localhost:" + std::to_string(relay.port()) + "/" + file.path.string()};
    auto c = one_file_at_a_time(f);
    c.connections_per_file = 4;
    f.server.reset_stats();
    auto result = f.run(c, m);
    for (const auto& file : result.files) {
        CAPTURE(file.path);
        CHECK(file.outcome == ferry::file_outcome::done);
    }
    std::uint64_t payload = 0;
    for (const auto& [name, size] : files) {
        CHECK(f.matches_synthetic(name, size));
        payload += size;
    }

    const auto seen = f.server.stats();
    std::map<std::string, int> first_asked;
    for (const auto& r : seen.log)
        if (r.range.starts_with("bytes=0-"))
            ++first_asked[r.path];
    MESSAGE(seen.requests << " requests, " << seen.body_bytes_sent << " body bytes for " << payload << ", "
                          << seen.connections_accepted << " connections");
    // Each file's first request once: none was lost with a connection closed under it.
    for (const auto& [name, size] : files) {
        CAPTURE(name);
        CHECK(first_asked["/" + name] == 1);
    }
    // A steal may cut a response short (what was in flight is sent again): never a whole piece.
    CHECK(seen.body_bytes_sent <= payload + 1 * MiB);
}

TEST_CASE("a long path: the file's other connections open while its first request waits for the answer") {
    ferry::test::engine_fixture f;
    constexpr std::uint64_t size = 8 * MiB;
    auto m = f.model({{"far.bin", size}});
    relay_options o;
    o.rtt = 100ms;
    running_relay relay(f.server.port(), o);
    m.files.front().urls = {"https://localhost:" + std::to_string(relay.port()) + "/far.bin"};
    auto c = f.config();
    c.connections_per_file = 4;
    c.min_piece = 256 * 1024;
    c.timeouts.stall = 10s;
    c.timeouts.first_byte = 10s;
    f.server.reset_stats();
    auto result = f.run(c, m);
    REQUIRE(ferry::test::only_file(result).outcome == ferry::file_outcome::done);
    CHECK(f.matches_synthetic("far.bin", size));

    const auto seen = f.server.stats();
    CHECK(seen.connections_accepted == 4); // warmed, then used: none opened twice
    REQUIRE_FALSE(seen.log.empty());
    // The first answer takes half a round trip back and the next requests half a round trip out:
    // on connections opened after the answer came they would reach the origin three round trips
    // later at the earliest (the relay's connect, TLS, the request: 300 ms); opened 10 ms after
    // the first request went out, they are ready when it comes (about 100 ms).
    std::map<std::uint64_t, std::chrono::steady_clock::time_point> first_on;
    for (const auto& r : seen.log)
        first_on.try_emplace(r.connection, r.received);
    REQUIRE(first_on.size() == 4);
    const auto first = seen.log.front().received;
    for (const auto& [connection, received] : first_on) {
        CAPTURE(connection);
        CHECK(received - first < 250ms);
    }
}
