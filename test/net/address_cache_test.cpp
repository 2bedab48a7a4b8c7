#include "net/address_cache.hpp"

#include <doctest/doctest.h>

#include <chrono>

using ferry::address_cache;
using namespace std::chrono_literals;

namespace {

const address_cache::clock::time_point t0 = address_cache::clock::time_point{} + 10'000s;

address_cache::endpoints one(const char* ip, unsigned short port) {
    return {boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address(ip), port)};
}

} // namespace

TEST_CASE("an answer is used until its ttl has passed, then asked again") {
    address_cache cache(address_cache::settings{60s, 16});
    CHECK(cache.find("cdn.example", 443, t0) == nullptr);
    cache.store("cdn.example", 443, one("192.0.2.7", 443), t0);
    const auto* found = cache.find("cdn.example", 443, t0 + 59s);
    REQUIRE(found != nullptr);
    REQUIRE(found->size() == 1);
    CHECK(found->front().address().to_string() == "192.0.2.7");
    CHECK(cache.find("cdn.example", 443, t0 + 60s) == nullptr);
    // A fresh lookup replaces the old answer and starts its ttl again.
    cache.store("cdn.example", 443, one("192.0.2.8", 443), t0 + 61s);
    REQUIRE(cache.find("cdn.example", 443, t0 + 100s) != nullptr);
    CHECK(cache.find("cdn.example", 443, t0 + 100s)->front().address().to_string() == "192.0.2.8");
    CHECK(cache.size() == 1);
}

TEST_CASE("hosts are kept per name and port; forget drops one; an empty answer is not kept") {
    address_cache cache;
    cache.store("a.example", 443, one("192.0.2.1", 443), t0);
    cache.store("a.example", 8443, one("192.0.2.2", 8443), t0);
    cache.store("b.example", 443, {}, t0);
    CHECK(cache.size() == 2);
    CHECK(cache.find("b.example", 443, t0) == nullptr);
    cache.forget("a.example", 443);
    CHECK(cache.find("a.example", 443, t0) == nullptr);
    REQUIRE(cache.find("a.example", 8443, t0) != nullptr);
    CHECK(cache.find("a.example", 8443, t0)->front().port() == 8443);
}

TEST_CASE("beyond its capacity the oldest answer goes; storing a known host again evicts nothing") {
    address_cache cache(address_cache::settings{60s, 2});
    cache.store("old.example", 443, one("192.0.2.1", 443), t0);
    cache.store("mid.example", 443, one("192.0.2.2", 443), t0 + 1s);
    cache.store("mid.example", 443, one("192.0.2.3", 443), t0 + 2s);
    CHECK(cache.size() == 2);
    CHECK(cache.find("old.example", 443, t0 + 3s) != nullptr);
    cache.store("new.example", 443, one("192.0.2.4", 443), t0 + 3s);
    CHECK(cache.size() == 2);
    CHECK(cache.find("old.example", 443, t0 + 3s) == nullptr);
    CHECK(cache.find("mid.example", 443, t0 + 3s) != nullptr);
    CHECK(cache.find("new.example", 443, t0 + 3s) != nullptr);
}
