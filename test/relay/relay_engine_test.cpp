// The engine through ferry-relay (in-process, on its own thread) in front of the origin fixture:
// on a path with a long round trip, requests are sized from the measured round trip and rate, so
// a file takes fewer, longer requests than on loopback, and little is fetched twice. Asserts
// what the origin saw (requests, bytes sent), never how long it took: the machine may be loaded.
#include "engine/engine_fixture.hpp"

#include "relay/running_relay.hpp"

#include <doctest/doctest.h>

#include <algorithm>
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
