// What real CDNs and networks do to a download, end to end against the HTTPS origin: ranges
// ignored now and then, failures that hit every connection at once, hosts asking for a pause,
// slow connections at a file's tail. Each test asserts what the origin saw and what landed on disk.
#include "engine_fixture.hpp"

#include <algorithm>
#include <set>

using namespace ferry;
using ferry::test::engine_fixture;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

const file_result& only_file(const model_result& r) {
    REQUIRE(r.files.size() == 1);
    return r.files.front();
}

std::vector<origin::request_record> requests_for(const origin::origin_stats& stats, const std::string& path) {
    std::vector<origin::request_record> out;
    for (const auto& r : stats.log)
        if (r.path == path)
            out.push_back(r);
    return out;
}

} // namespace

TEST_CASE("a 200 to a range where ranges worked is a strike: no body read, the range asked again") {
    engine_fixture f;
    origin::fault ignore;
    ignore.ignore_range = true;
    ignore.skip = 3; // the first answers are 206s: the host does ranges
    ignore.times = 2;
    f.server.add_fault("/strike.bin", ignore);
    auto c = f.config();
    c.connections_per_file = 4;
    const std::uint64_t size = 48 * MiB;
    auto r = only_file(f.run(c, f.model({{"strike.bin", size}})));
    CAPTURE(r.message);
    CHECK(r.outcome == file_outcome::done);
    CHECK(f.matches_synthetic("strike.bin", size));
    CHECK(r.retries >= 2);
    auto log = requests_for(f.server.stats(), "/strike.bin");
    // Each struck range was asked again from the same byte, and nothing started over from byte 0.
    std::vector<std::string> struck;
    for (const auto& q : log)
        if (q.status == 200)
            struck.push_back(q.range.substr(0, q.range.find('-') + 1)); // "bytes=FIRST-"
    REQUIRE(struck.size() == 2);
    for (const auto& first : struck) {
        CHECK(first != "bytes=0-");
        CHECK(std::count_if(log.begin(), log.end(),
                            [&](auto& q) { return q.range.rfind(first, 0) == 0 && q.status == 206; }) == 1);
    }
    // Before, each 200 restarted the file: at least twice the payload. Now the struck bodies cost
    // only what was in flight when their connections closed.
    CHECK(f.server.stats().body_bytes_sent < size + size / 4);
}

TEST_CASE("after three 200s in a row the file goes on as one stream, writing only what is missing") {
    engine_fixture f;
    origin::fault ignore;
    ignore.ignore_range = true;
    ignore.skip = 4; // a few ranges arrive, then the edge stops doing ranges for good
    f.server.add_fault("/stream.bin", ignore);
    auto c = f.config();
    c.connections_per_file = 4;
    c.min_piece = 256 * 1024;
    const std::uint64_t size = 8 * MiB;
    auto r = only_file(f.run(c, f.model({{"stream.bin", size}})));
    CAPTURE(r.message);
    CHECK(r.outcome == file_outcome::done);
    CHECK(f.matches_synthetic("stream.bin", size));
    auto log = requests_for(f.server.stats(), "/stream.bin");
    auto whole = std::count_if(log.begin(), log.end(), [](auto& q) { return q.status == 200; });
    CHECK(whole >= 3);      // three strikes...
    CHECK(whole <= 3 + 2);  // ...then the stream (maybe one more 200 struck by a worker in flight)
    CHECK(log.back().status == 200);
}

TEST_CASE("every connection failing at once costs one round of the retry budget, not one each") {
    engine_fixture f;
    origin::fault busy;
    busy.status = 503;
    busy.skip = 1; // the first request learns the file; then its 8 connections all get a 503
    busy.times = 8;
    f.server.add_fault("/burst.bin", busy);
    auto c = f.config();
    c.connections_per_file = 8;
    c.min_piece = 256 * 1024;
    c.retry.max_retries = 1; // one failure each would have failed the file eight times over
    c.retry.base_delay = 400ms;
    c.retry.max_delay = 400ms;
    const std::uint64_t size = 16 * MiB;
    auto r = only_file(f.run(c, f.model({{"burst.bin", size}})));
    CAPTURE(r.message);
    CHECK(r.outcome == file_outcome::done);
    CHECK(f.matches_synthetic("burst.bin", size));
    auto log = requests_for(f.server.stats(), "/burst.bin");
    CHECK(std::count_if(log.begin(), log.end(), [](auto& q) { return q.status == 503; }) == 8);
}

TEST_CASE("max_retries 0 means no retry: one 503 fails the file") {
    engine_fixture f;
    origin::fault busy;
    busy.status = 503;
    busy.times = 1;
    f.server.add_fault("/once.bin", busy);
    auto c = f.config();
    c.retry.max_retries = 0;
    auto r = only_file(f.run(c, f.model({{"once.bin", 100'000}})));
    CHECK(r.outcome == file_outcome::failed);
    CHECK(r.message.find("503") != std::string::npos);
    CHECK(f.server.stats().requests == 1);
}

TEST_CASE("429 with Retry-After pauses every request to the host, not only that file's") {
    engine_fixture f;
    origin::fault limited;
    limited.status = 429;
    limited.retry_after = "1";
    limited.skip = 2;
    limited.times = 1;
    f.server.add_fault("/a.bin", limited);
    f.cap_rate("/b.bin", 4 * MiB); // b is still running when a is told to wait
    auto c = f.config();
    c.connections_per_file = 2;
    c.min_piece = 256 * 1024;
    c.max_request = 512 * 1024;
    auto result = f.run(c, f.model({{"a.bin", 4 * MiB}, {"b.bin", 4 * MiB}}));
    REQUIRE(result.ok());
    CHECK(f.matches_synthetic("a.bin", 4 * MiB));
    CHECK(f.matches_synthetic("b.bin", 4 * MiB));
    auto log = f.server.stats().log;
    auto refused = std::find_if(log.begin(), log.end(), [](auto& q) { return q.status == 429; });
    REQUIRE(refused != log.end());
    // Nothing reached the host inside the window: no request of either file (but those already
    // on their way when the 429 went out).
    const auto window_end = refused->received + 1s;
    for (const auto& q : log) {
        if (q.sequence <= refused->sequence || q.received < refused->received + 30ms)
            continue;
        CHECK_MESSAGE(q.received >= window_end - 20ms, q.path << " " << q.range << " came "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(window_end - q.received).count()
                      << " ms before the end of the pause");
    }
}

TEST_CASE("adaptive connections halve when the host answers 503") {
    engine_fixture f;
    origin::fault busy;
    busy.status = 503;
    busy.skip = 60; // once the file has grown
    busy.times = 1;
    f.server.add_fault("/pushback.bin", busy);
    f.cap_rate("/pushback.bin", 1 * MiB); // each connection capped: the file grows to 16
    auto c = f.config();
    c.connections_per_file = 0;
    c.max_connections_per_file = 16;
    c.max_connections_per_host = 64;
    c.max_connections = 64;
    c.min_piece = 256 * 1024;
    const std::uint64_t size = 48 * MiB;
    auto r = only_file(f.run(c, f.model({{"pushback.bin", size}}), {}, std::chrono::seconds(90)));
    CHECK(r.outcome == file_outcome::done);
    CHECK(f.matches_synthetic("pushback.bin", size));
    auto log = f.server.stats().log;
    auto refused = std::find_if(log.begin(), log.end(), [](auto& q) { return q.status == 503; });
    REQUIRE(refused != log.end());
    std::set<std::uint64_t> before, after;
    for (const auto& q : log) {
        if (q.received < refused->received && q.received > refused->received - 1s)
            before.insert(q.connection);
        if (q.received > refused->received + 1500ms)
            after.insert(q.connection);
    }
    CAPTURE(before.size());
    CAPTURE(after.size());
    CHECK(before.size() >= 12);
    CHECK(after.size() <= 8);
    CHECK(after.size() >= 1);
}
