// The origin over real TLS: bytes, ranges, validators, keep-alive, files on disk, statistics.
#include "synthetic_text.hpp"
#include "test_client.hpp"

#include "memory/sha256.hpp"
#include "tools/origin/origin_server.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

using namespace ferry::origin;
using namespace ferry::origin::testing;

namespace {

constexpr std::uint64_t seed = 7;
constexpr std::uint64_t size = 1024 * 1024 + 123;

struct started_origin {
    origin_server server;
    explicit started_origin(origin_config config = base_config()) : server(std::move(config)) {
        server.add_synthetic("/data/file.bin", size);
        server.add_synthetic("data/small.txt", 10);
        server.add_synthetic("/data/empty", 0);
        server.start();
    }
    static origin_config base_config() {
        origin_config c;
        c.seed = seed;
        return c;
    }
};

std::string expected(std::uint64_t offset, std::size_t n) { return synthetic_text("data/file.bin", seed, offset, n); }

std::string range_of(std::uint64_t first, std::uint64_t last) {
    return "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(size);
}

} // namespace

TEST_CASE("origin: a full GET over TLS returns the synthetic bytes and validators") {
    started_origin o;
    test_client client(o.server);
    auto res = client.get("/data/file.bin");
    REQUIRE_FALSE(res.error);
    CHECK(res.status == 200);
    CHECK(res.body.size() == size);
    CHECK(res.body == expected(0, size));
    CHECK(res.field("content-length") == std::to_string(size));
    CHECK(res.field("accept-ranges") == "bytes");
    CHECK(res.field("etag") == o.server.etag("/data/file.bin"));
    CHECK(res.field("etag").starts_with("\""));
    CHECK(res.field("last-modified").ends_with(" GMT"));
    CHECK_FALSE(res.has("content-range"));
    CHECK(res.keep_alive);

    auto s = o.server.stats();
    CHECK(s.connections_accepted == 1);
    CHECK(s.tls_handshakes == 1);
    CHECK(s.requests == 1);
    CHECK(s.body_bytes_sent == size);
    REQUIRE(s.log.size() == 1);
    CHECK(s.log[0].method == "GET");
    CHECK(s.log[0].path == "/data/file.bin");
    CHECK(s.log[0].status == 200);

    // The name of a synthetic file is its path without the leading '/', however it was added.
    auto small = client.get("/data/small.txt");
    CHECK(small.body == synthetic_text("data/small.txt", seed, 0, 10));
    auto empty = client.get("/data/empty");
    CHECK(empty.status == 200);
    CHECK(empty.body.empty());
    CHECK(o.server.url("data/file.bin") == "https://localhost:" + std::to_string(o.server.port()) + "/data/file.bin");
    CHECK(o.server.ip_url("/x") == "https://127.0.0.1:" + std::to_string(o.server.port()) + "/x");
}

TEST_CASE("origin: byte ranges at the edges on one keep-alive connection") {
    started_origin o;
    test_client client(o.server);
    struct probe {
        const char* range;
        std::uint64_t first, last;
    };
    const probe probes[] = {
        {"bytes=0-0", 0, 0},
        {"bytes=0-1", 0, 1},
        {"bytes=1-1", 1, 1},
        {"bytes=7-8", 7, 8}, // across an 8-byte word
        {"bytes=1000-", 1000, size - 1},
        {"bytes=-1", size - 1, size - 1},
        {"bytes=-100", size - 100, size - 1},
        {"bytes=5-99999999", 5, size - 1},
        {"bytes=-99999999", 0, size - 1},
    };
    std::string last_byte = "bytes=" + std::to_string(size - 1) + "-" + std::to_string(size - 1);
    for (auto& p : probes) {
        CAPTURE(p.range);
        auto res = client.get("/data/file.bin", {{"Range", p.range}});
        REQUIRE_FALSE(res.error);
        CHECK(res.status == 206);
        CHECK(res.field("content-range") == range_of(p.first, p.last));
        CHECK(res.field("content-length") == std::to_string(p.last - p.first + 1));
        CHECK(res.body == expected(p.first, p.last - p.first + 1));
    }
    auto last = client.get("/data/file.bin", {{"Range", last_byte}});
    CHECK(last.status == 206);
    CHECK(last.body == expected(size - 1, 1));

    for (std::string unsatisfiable : {"bytes=" + std::to_string(size) + "-", std::string("bytes=-0")}) {
        CAPTURE(unsatisfiable);
        auto res = client.get("/data/file.bin", {{"Range", unsatisfiable}});
        REQUIRE_FALSE(res.error);
        CHECK(res.status == 416);
        CHECK(res.field("content-range") == "bytes */" + std::to_string(size));
        CHECK(res.body.empty());
    }
    // Several ranges are not supported: the whole file is a valid answer.
    auto several = client.get("/data/file.bin", {{"Range", "bytes=0-1,5-6"}});
    CHECK(several.status == 200);
    CHECK(several.body.size() == size);

    auto s = o.server.stats();
    CHECK(s.connections_accepted == 1); // every request reused the connection
    CHECK(s.requests == std::size(probes) + 4);
    for (auto& r : s.log)
        CHECK(r.connection == s.log.front().connection);
    CHECK(s.log[0].range == "bytes=0-0");
}

TEST_CASE("origin: HEAD, 404, If-Range") {
    started_origin o;
    test_client client(o.server);

    auto head = client.head("/data/file.bin");
    REQUIRE_FALSE(head.error);
    CHECK(head.status == 200);
    CHECK(head.field("content-length") == std::to_string(size));
    CHECK(head.body.empty());
    auto ranged_head = client.head("/data/file.bin", {{"Range", "bytes=10-19"}});
    CHECK(ranged_head.status == 206);
    CHECK(ranged_head.field("content-range") == range_of(10, 19));
    CHECK(ranged_head.field("content-length") == "10");

    auto missing = client.get("/data/nothing.bin");
    CHECK(missing.status == 404);
    CHECK(client.get("/").status == 404);
    CHECK(client.get("/data/").status == 404);
    CHECK(client.get("/data/%zz").status == 400); // a malformed target ends the connection

    auto etag = o.server.etag("/data/file.bin");
    auto same = client.get("/data/file.bin", {{"Range", "bytes=100-199"}, {"If-Range", etag}});
    CHECK(same.status == 206);
    CHECK(same.body == expected(100, 100));
    auto dated = client.get("/data/file.bin", {{"Range", "bytes=100-199"}, {"If-Range", head.field("last-modified")}});
    CHECK(dated.status == 206);
    auto other = client.get("/data/file.bin", {{"Range", "bytes=100-199"}, {"If-Range", "\"not-this-one\""}});
    CHECK(other.status == 200);
    CHECK(other.body == expected(0, size));

    auto s = o.server.stats();
    CHECK(s.connections_accepted == 2); // one more after the 400
    CHECK(s.body_bytes_sent == 100 + 100 + size); // HEADs and error texts are not counted
    CHECK(s.log.back().if_range == "\"not-this-one\"");
}

TEST_CASE("origin: the request log records credentials, cookies, hosts and order") {
    started_origin o;
    test_client client(o.server);
    client.get("/data/small.txt", {{"Authorization", "Bearer secret-token"}, {"Cookie", "session=abc"}});
    client.head("/data/file.bin?download=1");
    client.get("/data/nothing");
    auto s = o.server.stats();
    REQUIRE(s.log.size() == 3);
    CHECK(s.log[0].sequence == 0);
    CHECK(s.log[0].authorization == "Bearer secret-token");
    CHECK(s.log[0].cookie == "session=abc");
    CHECK(s.log[0].host == "localhost:" + std::to_string(o.server.port()));
    CHECK(s.log[1].sequence == 1);
    CHECK(s.log[1].method == "HEAD");
    CHECK(s.log[1].target == "/data/file.bin?download=1");
    CHECK(s.log[1].path == "/data/file.bin");
    CHECK(s.log[1].authorization.empty());
    CHECK(s.log[2].status == 404);

    o.server.reset_stats();
    auto after = o.server.stats();
    CHECK(after.requests == 0);
    CHECK(after.log.empty());
    CHECK(after.connections_accepted == 0);
    CHECK(after.connections_open == 1); // still open: not a counter
    client.get("/data/small.txt");
    CHECK(o.server.stats().log.at(0).sequence == 0);
}

TEST_CASE("origin: files beneath root are streamed from disk") {
    auto root = std::filesystem::temp_directory_path() / ("ferry-origin-root-" + std::to_string(getpid()));
    std::filesystem::create_directories(root / "sub dir");
    const std::size_t n = 700 * 1024 + 3;
    std::string data = synthetic_text("disk", 1, 0, n);
    std::ofstream(root / "sub dir" / "w.bin", std::ios::binary).write(data.data(), static_cast<std::streamsize>(n));
    std::ofstream(root / "outside.bin") << "x";

    origin_config config;
    config.root = root / "sub dir";
    config.chunk_size = 64 * 1024; // several chunks per body
    origin_server server(config);
    server.start();
    test_client client(server);

    auto whole = client.get("/w.bin");
    REQUIRE_FALSE(whole.error);
    CHECK(whole.status == 200);
    CHECK(whole.body == data);
    CHECK(whole.field("etag") == server.etag("/w.bin"));
    auto part = client.get("/w.bin", {{"Range", "bytes=65530-200000"}});
    CHECK(part.status == 206);
    CHECK(part.body == data.substr(65530, 200000 - 65530 + 1));

    server.add_fault("/w.bin", fault{.version = 1});
    auto changed = client.get("/w.bin", {{"Range", "bytes=0-9"}});
    CHECK(changed.field("etag") == server.etag("/w.bin", 1));
    CHECK(changed.field("etag") != whole.field("etag"));
    CHECK(changed.body != data.substr(0, 10));
    server.clear_faults();

    CHECK(client.get("/../outside.bin").status == 404);
    CHECK(client.get("/%2e%2e/outside.bin").status == 404);
    CHECK(client.get("/").status == 404);
    auto encoded = client.get("/w%2Ebin", {{"Range", "bytes=0-3"}});
    CHECK(encoded.status == 206);
    server.stop();
    std::filesystem::remove_all(root);
}

TEST_CASE("origin: a large body streams intact") {
    started_origin o;
    const std::uint64_t big = 48ull * 1024 * 1024 + 5;
    o.server.add_synthetic("/big.bin", big);
    test_client client(o.server);
    auto res = client.get("/big.bin");
    REQUIRE_FALSE(res.error);
    REQUIRE(res.body.size() == big);
    ferry::sha256 hash;
    hash.update(res.body.data(), res.body.size());
    CHECK(hash.finish() == synthetic_sha256("big.bin", big, seed));
}

TEST_CASE("origin: plain HTTP, several threads, concurrent connections") {
    origin_config config;
    config.tls = false;
    config.threads = 2;
    config.seed = seed;
    origin_server server(config);
    server.add_synthetic("/data/file.bin", size);
    server.start();
    CHECK(server.url("a").starts_with("http://localhost:"));
    CHECK(server.ca_pem().empty());

    std::vector<std::unique_ptr<test_client>> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(std::make_unique<test_client>(server));
        REQUIRE_FALSE(clients.back()->connect());
    }
    std::vector<std::thread> threads;
    std::vector<test_response> results(clients.size());
    for (std::size_t i = 0; i < clients.size(); ++i)
        threads.emplace_back([&, i] {
            results[i] = clients[i]->get("/data/file.bin", {{"Range", "bytes=" + std::to_string(i * 1000) + "-"}});
        });
    for (auto& t : threads)
        t.join();
    for (std::size_t i = 0; i < results.size(); ++i) {
        CHECK(results[i].status == 206);
        CHECK(results[i].body == expected(i * 1000, size - i * 1000));
    }
    auto s = server.stats();
    CHECK(s.connections_accepted == 3);
    CHECK(s.peak_connections_open >= 3);
    CHECK(s.tls_handshakes == 0);
    CHECK(s.requests == 3);
}

TEST_CASE("origin: stop() closes live connections") {
    started_origin o;
    test_client client(o.server);
    REQUIRE_FALSE(client.get("/data/small.txt").error);
    client.options().timeout = std::chrono::milliseconds(5000);
    o.server.stop();
    o.server.stop(); // idempotent
    auto res = client.get("/data/small.txt");
    CHECK(res.error);
    CHECK(res.status == 0);
}
