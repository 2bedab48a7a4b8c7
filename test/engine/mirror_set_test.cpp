#include "engine/mirror_set.hpp"

#include <doctest/doctest.h>

using namespace ferry;
using namespace std::chrono_literals;

namespace {
url u(const std::string& text) { return *parse_url(text); }
}

TEST_CASE("workers spread over the mirrors left; a dropped mirror's work moves on") {
    mirror_set m({u("https://a.example/f"), u("https://b.example/f"), u("https://c.example/f")});
    CHECK(m.pick(0) == 0u);
    CHECK(m.pick(1) == 1u);
    CHECK(m.pick(5) == 2u);
    m.drop(1);
    CHECK(m.pick(1) == 2u);
    CHECK(m.next_after(0) == 2u);
    CHECK(m.next_after(2) == 0u);
    m.drop(0);
    CHECK(m.next_after(2) == 2u);
    CHECK(m.pick(0) == 2u);
    m.drop(2);
    CHECK_FALSE(m.pick(0).has_value());
    CHECK_FALSE(m.next_after(2).has_value());
}

TEST_CASE("each mirror keeps its own validator; the journal keeps those that did ranges") {
    mirror_set m({u("https://a.example/f?token=1"), u("https://b.example/f")});
    response_verdict a;
    a.etag = "\"a\"";
    response_verdict b;
    b.etag = "\"b\"";
    m.learn(0, a, true);
    m.learn(1, b, false);
    CHECK(m.knowledge(0, 10, false).etag == "\"a\"");
    CHECK(m.knowledge(1, 10, false).etag == "\"b\"");
    CHECK(m.knowledge(0, 10, false).ranges_seen);
    mirror_set fresh({u("https://a.example/f"), u("https://c.example/f")});
    fresh.learn(0, a, true);
    CHECK_FALSE(fresh.knowledge(0, 10, false).size_from_other_mirror);
    CHECK(fresh.knowledge(1, 10, false).size_from_other_mirror); // c has told nothing yet
    CHECK_FALSE(fresh.knowledge(1, 10, true).size_from_other_mirror); // the manifest's size
    auto saved = m.validators();
    REQUIRE(saved.size() == 1);
    CHECK(saved[0].url == "https://a.example/f"); // no query: no credentials in journals
    mirror_set again({u("https://b.example/f"), u("https://a.example/f?token=2")});
    again.restore(saved);
    CHECK(again[1].etag == "\"a\"");
    CHECK(again[0].etag.empty());
    m.forget_validators();
    CHECK(m[0].etag.empty());
}

TEST_CASE("a signed redirect target is renewed before it expires") {
    mirror_set m({u("https://hub.example/f")});
    auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
    m.redirect(0, u("https://cdn.example/f?Expires=" + std::to_string(1'800'000'000 + 100) + "&Signature=x"), t0);
    CHECK(m[0].redirected());
    CHECK_FALSE(m.needs_fresh_url(0, t0 + 90s));
    CHECK(m.needs_fresh_url(0, t0 + 96s)); // within 5 s of the end
    m.re_resolve(0);
    CHECK_FALSE(m[0].redirected());
    CHECK_FALSE(m.needs_fresh_url(0, t0 + 200s));
    // Short-lived: a quarter of its lifetime ahead.
    m.redirect(0, u("https://cdn.example/f?Expires=" + std::to_string(1'800'000'000 + 4) + "&Signature=x"), t0);
    CHECK_FALSE(m.needs_fresh_url(0, t0 + 2900ms));
    CHECK(m.needs_fresh_url(0, t0 + 3100ms));
}
