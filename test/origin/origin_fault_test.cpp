// Each fault of the origin, observed by a real client over TLS.
#include "synthetic_text.hpp"
#include "test_client.hpp"

#include "tools/origin/origin_server.hpp"

#include <doctest/doctest.h>

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <chrono>

using namespace ferry::origin;
using namespace ferry::origin::testing;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t seed = 11;
constexpr std::uint64_t size = 512 * 1024;
const std::string path = "/m/file.bin";

struct faulty_origin {
    origin_server server;
    faulty_origin() : server(config()) {
        server.add_synthetic(path, size);
        server.add_synthetic("/m/other.bin", 1000);
        server.start();
    }
    static origin_config config() {
        origin_config c;
        c.seed = seed;
        return c;
    }
};

std::string expected(std::uint64_t offset, std::size_t n, std::uint64_t s = seed) {
    return synthetic_text("m/file.bin", s, offset, n);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

TEST_CASE("fault: a status with Retry-After, for `times` requests after `skip`") {
    faulty_origin o;
    o.server.add_fault(path, fault{.skip = 1, .times = 2, .status = 503, .retry_after = "2"});
    test_client client(o.server);
    CHECK(client.get(path).status == 200); // skipped
    for (int i = 0; i < 2; ++i) {
        auto busy = client.get(path, {{"Range", "bytes=0-9"}});
        REQUIRE_FALSE(busy.error);
        CHECK(busy.status == 503);
        CHECK(busy.field("retry-after") == "2");
        CHECK(busy.keep_alive);
        CHECK(busy.field("content-length") == std::to_string(busy.body.size()));
    }
    CHECK(client.get(path, {{"Range", "bytes=0-9"}}).status == 206); // used up
    CHECK(o.server.stats().connections_accepted == 1);
    CHECK(o.server.stats().log[1].faulted);

    // A status needs no file, and a prefix rule covers a whole tree.
    o.server.add_fault("/gone/*", fault{.status = 410});
    CHECK(client.get("/gone/a/b").status == 410);
    o.server.add_fault("/limited", fault{.status = 429, .retry_after = "Wed, 21 Oct 2015 07:28:00 GMT"});
    auto limited = client.get("/limited");
    CHECK(limited.status == 429);
    CHECK(limited.field("retry-after") == "Wed, 21 Oct 2015 07:28:00 GMT");
    o.server.clear_faults();
    CHECK(client.get("/gone/a/b").status == 404);
}

TEST_CASE("fault: redirects, relative and absolute") {
    faulty_origin o;
    o.server.add_fault("/old.bin", fault{.status = 302, .location = "/m/other.bin"});
    o.server.add_fault("/moved.bin", fault{.status = 301, .location = o.server.url("/m/file.bin")});
    o.server.add_fault("/temp.bin", fault{.status = 307, .location = "https://mirror.test/m/file.bin"});
    test_client client(o.server);
    auto found = client.get("/old.bin", {{"Authorization", "Bearer x"}});
    CHECK(found.status == 302);
    CHECK(found.field("location") == "/m/other.bin");
    auto moved = client.get("/moved.bin");
    CHECK(moved.status == 301);
    CHECK(moved.field("location") == o.server.url("/m/file.bin"));
    auto temp = client.head("/temp.bin");
    CHECK(temp.status == 307);
    CHECK(temp.field("location") == "https://mirror.test/m/file.bin");
    CHECK(o.server.stats().connections_accepted == 1);
}

TEST_CASE("fault: drop the connection after N body bytes") {
    faulty_origin o;
    o.server.add_fault(path, fault{.times = 1, .drop_after = 1000});
    test_client client(o.server);
    auto cut = client.get(path);
    CHECK(cut.error);
    CHECK(cut.status == 200);
    CHECK(cut.field("content-length") == std::to_string(size));
    CHECK(cut.body == expected(0, 1000));
    CHECK_FALSE(client.connected());

    auto whole = client.get(path); // reconnects; the fault was for one request
    CHECK_FALSE(whole.error);
    CHECK(whole.body == expected(0, size));
    CHECK(o.server.stats().connections_accepted == 2);

    o.server.add_fault("/m/other.bin", fault{.drop_after = 0});
    auto nothing = client.get("/m/other.bin");
    CHECK(nothing.error);
    CHECK(nothing.status == 200);
    CHECK(nothing.body.empty());
}

TEST_CASE("fault: stall after N body bytes keeps the connection open") {
    faulty_origin o;
    o.server.add_fault(path, fault{.stall_after = 5000});
    test_client client(o.server);
    client.options().timeout = 400ms; // the client's own stall timeout ends the wait
    auto stalled = client.get(path, {{"Range", "bytes=100-"}});
    CHECK(stalled.error == boost::beast::error::timeout);
    CHECK(stalled.status == 206);
    CHECK(stalled.body == expected(100, 5000));
    CHECK(o.server.stats().body_bytes_sent == 5000);
}

TEST_CASE("fault: ignore Range") {
    faulty_origin o;
    o.server.add_fault(path, fault{.ignore_range = true});
    test_client client(o.server);
    auto res = client.get(path, {{"Range", "bytes=100-199"}});
    REQUIRE_FALSE(res.error);
    CHECK(res.status == 200);
    CHECK_FALSE(res.has("content-range"));
    CHECK(res.body == expected(0, size));
}

TEST_CASE("fault: a wrong Content-Range, with the requested or the claimed bytes") {
    faulty_origin o;
    o.server.add_fault(path, fault{.times = 1, .content_range_shift = 100});
    o.server.add_fault(path, fault{.content_range_shift = -50, .shifted_body = true});
    test_client client(o.server);
    auto lie = client.get(path, {{"Range", "bytes=1000-1999"}});
    CHECK(lie.status == 206);
    CHECK(lie.field("content-range") == "bytes 1100-2099/" + std::to_string(size));
    CHECK(lie.body == expected(1000, 1000)); // what was asked, not what the header says
    auto other = client.get(path, {{"Range", "bytes=1000-1999"}});
    CHECK(other.field("content-range") == "bytes 950-1949/" + std::to_string(size));
    CHECK(other.body == expected(950, 1000)); // the header's bytes: another range than asked
}

TEST_CASE("fault: a new version changes the ETag and the bytes") {
    faulty_origin o;
    test_client client(o.server);
    auto first = client.get(path, {{"Range", "bytes=0-99"}});
    const auto old_etag = first.field("etag");
    CHECK(old_etag == o.server.etag(path));

    o.server.add_fault(path, fault{.version = 1});
    auto changed = client.get(path, {{"Range", "bytes=100-199"}});
    CHECK(changed.status == 206);
    CHECK(changed.field("etag") == o.server.etag(path, 1));
    CHECK(changed.field("etag") != old_etag);
    CHECK(changed.field("last-modified") != first.field("last-modified"));
    CHECK(changed.body == expected(100, 100, seed + 1));
    CHECK(changed.body != expected(100, 100));

    // A client resuming with If-Range and the old validator gets the whole new version.
    auto resumed = client.get(path, {{"Range", "bytes=100-199"}, {"If-Range", old_etag}});
    CHECK(resumed.status == 200);
    CHECK(resumed.body == expected(0, size, seed + 1));
}

TEST_CASE("fault: short body, long body, oversized headers, close") {
    faulty_origin o;
    test_client client(o.server);

    o.server.add_fault(path, fault{.times = 1, .short_body = 100});
    auto shorter = client.get(path, {{"Range", "bytes=0-999"}});
    CHECK(shorter.error);
    CHECK(shorter.field("content-length") == "1100");
    CHECK(shorter.body == expected(0, 1000));

    o.server.add_fault(path, fault{.times = 1, .long_body = 64});
    auto longer = client.get(path, {{"Range", "bytes=0-999"}});
    CHECK_FALSE(longer.error); // the announced body is complete...
    CHECK(longer.body == expected(0, 1000));
    auto next = client.get("/m/other.bin"); // ...and the extra bytes spoil the next response
    CHECK(next.error);

    o.server.add_fault("/m/other.bin", fault{.header_padding = 100 * 1024});
    client.options().header_limit = 64 * 1024;
    auto padded = client.get("/m/other.bin");
    CHECK(padded.error == boost::beast::http::error::header_limit);
    client.options().header_limit = 1024 * 1024;
    auto accepted = client.get("/m/other.bin");
    REQUIRE_FALSE(accepted.error);
    std::size_t padding = 0;
    for (auto& [name, value] : accepted.fields)
        if (name.starts_with("x-padding-"))
            padding += value.size();
    CHECK(padding == 100 * 1024);

    o.server.clear_faults();
    o.server.add_fault(path, fault{.close = true});
    auto last = client.get(path, {{"Range", "bytes=0-9"}});
    CHECK_FALSE(last.error);
    CHECK_FALSE(last.keep_alive);
    CHECK(last.field("connection") == "close");
    CHECK_FALSE(client.connected());
}

TEST_CASE("fault: delay before the first byte, strict rate caps") {
    faulty_origin o;
    test_client client(o.server);

    o.server.add_fault("/m/other.bin", fault{.first_byte_delay = 300ms});
    auto start = std::chrono::steady_clock::now();
    auto late = client.get("/m/other.bin");
    CHECK_FALSE(late.error);
    CHECK(seconds_since(start) >= 0.25);

    // No initial burst: 256 KiB at 512 KiB/s cannot take less than half a second.
    o.server.add_fault(path, fault{.rate = 512 * 1024});
    start = std::chrono::steady_clock::now();
    auto slow = client.get(path, {{"Range", "bytes=0-262143"}});
    double elapsed = seconds_since(start);
    CHECK_FALSE(slow.error);
    CHECK(slow.body == expected(0, 262144));
    CHECK(elapsed >= 0.45);
    CHECK(elapsed < 15.0);
}

TEST_CASE("the server-wide per-connection rate cap") {
    origin_config config;
    config.seed = seed;
    config.rate_per_connection = 1024 * 1024;
    origin_server server(config);
    server.add_synthetic(path, size);
    server.start();
    test_client client(server);
    auto start = std::chrono::steady_clock::now();
    auto res = client.get(path); // 512 KiB at 1 MiB/s
    double elapsed = seconds_since(start);
    CHECK_FALSE(res.error);
    CHECK(res.body.size() == size);
    CHECK(elapsed >= 0.45);
    CHECK(elapsed < 15.0);
}
