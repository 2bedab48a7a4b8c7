// A connection's next ranged request goes out before the response ahead of it ends (HTTP/1.1
// pipelining), so that on a long path no round trip is lost between requests. Asserted from the
// origin's side: which requests arrived early, on which connections, and the bytes it sent.
#include "engine_fixture.hpp"

#include <map>
#include <set>
#include <vector>

using namespace ferry;
using ferry::test::engine_fixture;
using ferry::test::only_file;

namespace {

constexpr std::uint64_t KiB = 1024, MiB = 1024 * KiB;

/// Fixed connections and requests of at most 256 KiB: each connection serves many of them.
engine_config short_requests(const engine_fixture& f, std::size_t connections) {
    auto c = f.config();
    c.connections_per_file = connections;
    c.min_piece = 256 * KiB;
    c.min_request = 64 * KiB;
    c.max_request = 256 * KiB;
    c.buffer_size = 64 * KiB;
    return c;
}

/// Downloads `name` (a synthetic file of `size`) over `connections` and checks it landed whole;
/// what the origin saw.
origin::origin_stats download(engine_fixture& f, const std::string& name, std::uint64_t size, std::size_t connections) {
    auto r = only_file(f.run(short_requests(f, connections), f.model({{name, size}})));
    CAPTURE(r.message);
    CHECK(r.outcome == file_outcome::done);
    CHECK(f.matches_synthetic(name, size));
    auto seen = f.server.stats();
    MESSAGE(seen.requests << " requests, " << seen.requests_sent_ahead << " sent ahead, "
                          << seen.connections_accepted << " connections");
    return seen;
}

std::map<std::uint64_t, std::size_t> requests_per_connection(const origin::origin_stats& stats) {
    std::map<std::uint64_t, std::size_t> out;
    for (const auto& r : stats.log)
        ++out[r.connection];
    return out;
}

} // namespace

TEST_CASE("the next ranged request goes out while the response before it still arrives") {
    engine_fixture f;
    // Each response comes in pieces over some 60 ms: there is time to send the next one ahead.
    f.cap_rate("/ahead.bin", 4 * MiB);
    const std::uint64_t size = 4 * MiB;
    auto seen = download(f, "ahead.bin", size, 2);
    // 16 requests or more of at most 256 KiB over two connections (and the first response's):
    // many of them arrived before the response ahead of them had left (about half here; when
    // the machine is slow, a response may leave before the next request arrives).
    CHECK(seen.requests >= size / (256 * KiB));
    CHECK(seen.requests_sent_ahead >= seen.requests / 4);
    CHECK(seen.connections_accepted <= 3);
    // No response was cut or asked twice: every byte went out once.
    CHECK(seen.body_bytes_sent == size);
}

TEST_CASE("a server that drops the connection after each response: what was sent ahead goes again, then no more") {
    engine_fixture f;
    origin::fault drop;
    drop.drop_after = 1024 * MiB; // after the whole body, without Connection: close or close_notify
    drop.rate = 4 * MiB;
    f.server.add_fault("/dropping.bin", drop);
    const std::uint64_t size = 4 * MiB;
    const std::size_t connections = 2;
    auto seen = download(f, "dropping.bin", size, connections);
    // Each connection answered one request; a request sent ahead on it was lost with it and went
    // again on a fresh one. After the first such loss the file waits for each response instead,
    // so at most one per worker was ever sent ahead (and the server saw at most those).
    for (auto [connection, requests] : requests_per_connection(seen))
        CHECK(requests == 1);
    CHECK(seen.requests_sent_ahead <= connections);
    // A close with a request unread resets the connection, which may take the end of the
    // response before it along: those bytes were asked again, once per worker at most.
    CHECK(seen.body_bytes_sent >= size);
    CHECK(seen.body_bytes_sent <= size + connections * 256 * KiB);
}

TEST_CASE("connections started together take equal shares: none cuts the first one's response") {
    // Every answer waits 15 ms before its first byte: a long path to the start, which opens its
    // connections together. The first goes on with the first response, whose body then comes at
    // once and may be read before the others have run: it must still take only its share (were
    // it to take all the free space, each of the others would steal half of the largest claim,
    // cutting the response the first had asked for, and its bytes would go twice).
    engine_fixture f;
    origin::fault slow_start;
    slow_start.first_byte_delay = std::chrono::milliseconds(15);
    f.server.add_fault("/together.bin", slow_start);
    const std::uint64_t size = 24 * MiB;
    auto c = f.adaptive_config(32);
    c.min_piece = 1 * MiB;
    for (int run = 0; run < 3; ++run) {
        CAPTURE(run);
        f.server.reset_stats();
        std::filesystem::remove_all(f.out);
        std::filesystem::create_directories(f.out);
        auto r = only_file(f.run(c, f.model({{"together.bin", size}})));
        REQUIRE(r.outcome == file_outcome::done);
        CHECK(f.matches_synthetic("together.bin", size));
        auto seen = f.server.stats();
        MESSAGE(seen.requests << " requests on " << seen.connections_accepted << " connections, "
                              << seen.body_bytes_sent << " bytes sent");
        CHECK(seen.connections_accepted >= 8); // the start took the long path's doublings
        // Each connection's first request (a claim of the start) begins where no request before
        // it reached. (Later ones may: near the end a steal may cut a response on purpose.)
        std::set<std::uint64_t> connections;
        std::vector<std::pair<std::uint64_t, std::uint64_t>> asked; // [begin, end), in arrival order
        for (const auto& q : seen.log) {
            auto dash = q.range.find('-');
            REQUIRE(dash != std::string::npos);
            const std::uint64_t begin = std::stoull(q.range.substr(6, dash - 6));
            const std::uint64_t end = std::stoull(q.range.substr(dash + 1)) + 1;
            if (connections.insert(q.connection).second)
                for (auto [b, e] : asked) {
                    CAPTURE(q.range);
                    CHECK_FALSE((begin >= b && begin < e));
                }
            asked.emplace_back(begin, end);
        }
        CHECK(seen.body_bytes_sent >= size);
    }
}
