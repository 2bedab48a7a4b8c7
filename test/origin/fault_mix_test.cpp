// The seeded fault mix (chance, drop-mid, pause), RateLimit fields, ETag salt and the stats JSON.
#include "synthetic_text.hpp"
#include "test_client.hpp"

#include "tools/origin/fault_spec.hpp"
#include "tools/origin/origin_server.hpp"
#include "tools/origin/response_plan.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <map>

using namespace ferry::origin;
using namespace ferry::origin::testing;
using namespace std::chrono_literals;

namespace {

void add_cdn_mix(fault_table& table) {
    for (auto& rule : fault_mix("cdn"))
        table.add(rule.pattern, rule.what);
}

/// The kind of fault the cdn mix chose, by what it sets.
std::string kind(const std::optional<fault>& f) {
    if (!f)
        return "none";
    if (f->drop_mid)
        return "drop-mid";
    if (f->status)
        return std::to_string(f->status);
    if (f->pause.count())
        return "pause";
    if (f->ignore_range)
        return "ignore-range";
    if (f->drop_after == 0u)
        return "drop-before-body";
    return "other";
}

} // namespace

TEST_CASE("fault_mix cdn: the documented rules, each selectable alone") {
    auto rules = fault_mix("cdn");
    REQUIRE(rules.size() == 6);
    CHECK(rules[0].pattern == "*");
    CHECK(rules[0].what.drop_mid);
    CHECK(rules[0].what.chance == 0.10);
    CHECK(rules[1].what.status == 503);
    CHECK(rules[1].what.retry_after == "1");
    CHECK(rules[1].what.chance == 0.05);
    CHECK(rules[2].what.status == 429);
    CHECK(rules[2].what.chance == 0.02);
    CHECK(rules[3].what.pause == 20s);
    CHECK(rules[3].what.chance == 0.01);
    CHECK(rules[4].what.ignore_range);
    CHECK(rules[4].what.chance == 0.03);
    CHECK(rules[5].what.drop_after == 0u);
    CHECK(rules[5].what.chance == 0.02);
    CHECK_THROWS_AS(fault_mix("edge"), std::invalid_argument);

    auto alone = parse_fault_rule("*:ignore-range,chance=0.03");
    CHECK(alone.what.ignore_range);
    CHECK(alone.what.chance == 0.03);
    CHECK_THROWS_AS(parse_fault_spec("chance=1.5"), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_spec("chance=-0.1"), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_spec("chance"), std::invalid_argument);
    CHECK(parse_fault_spec("pause=250ms").pause == 250ms);
    CHECK_THROWS_AS(parse_fault_spec("drop-mid=1"), std::invalid_argument);
}

TEST_CASE("fault_table: chance draws are the same for the same seed, and differ for another") {
    fault_table a(7), b(7), c(8);
    for (auto* table : {&a, &b, &c})
        add_cdn_mix(*table);
    int differences = 0;
    for (int i = 0; i < 2000; ++i) {
        auto fa = a.match("/x"), fb = b.match("/x"), fc = c.match("/x");
        CHECK(kind(fa) == kind(fb));
        CHECK((fa ? fa->point : -1) == (fb ? fb->point : -1));
        differences += kind(fa) != kind(fc);
    }
    CHECK(differences > 100);
}

TEST_CASE("fault_table: the cdn shares over 10,000 requests, and where drops fall") {
    fault_table table(2026);
    add_cdn_mix(table);
    std::map<std::string, int> counts;
    double point_sum = 0;
    int points = 0;
    constexpr int n = 10'000;
    for (int i = 0; i < n; ++i) {
        auto f = table.match("/m/model-00001.safetensors");
        ++counts[kind(f)];
        if (f && f->drop_mid) {
            CHECK(f->point >= 0);
            CHECK(f->point < 1);
            point_sum += f->point;
            ++points;
        }
    }
    auto near = [&](const std::string& k, double share) {
        CAPTURE(k);
        CAPTURE(counts[k]);
        // Within 5 standard deviations of the binomial count.
        CHECK(std::abs(counts[k] - n * share) < 5 * std::sqrt(n * share * (1 - share)));
    };
    near("drop-mid", 0.10);
    near("503", 0.05);
    near("429", 0.02);
    near("pause", 0.01);
    near("ignore-range", 0.03);
    near("drop-before-body", 0.02);
    near("none", 0.77);
    CHECK(counts.count("other") == 0);
    CHECK(std::abs(point_sum / points - 0.5) < 0.05); // uniform inside the body
}

TEST_CASE("fault_table: slices in the order added, across paths; more than 1 in all is refused") {
    fault_table table(1);
    table.add("/a", fault{.status = 500, .chance = 0.5});
    table.add("/b", fault{.status = 501, .chance = 0.5});
    int a = 0, b = 0;
    for (int i = 0; i < 1000; ++i) {
        a += table.match("/a").has_value();
        b += table.match("/b").has_value();
    }
    CHECK(a > 400);
    CHECK(a < 600);
    CHECK(b > 400);
    CHECK(b < 600);
    CHECK_THROWS_AS(table.add("/c", fault{.status = 502, .chance = 0.01}), std::invalid_argument);
    table.add("/c", fault{.status = 502}); // a rule without chance is not in the slices
    CHECK(table.match("/c")->status == 502);

    fault_table never(1);
    never.add("*", fault{.status = 500, .chance = 0});
    for (int i = 0; i < 100; ++i)
        CHECK_FALSE(never.match("/x"));
}

TEST_CASE("plan_response: drop-mid strictly inside the body, pause before its last byte") {
    auto file = content::synthetic("a.bin", 1000, 7);
    request_facts req;
    fault f{.drop_mid = true};
    f.point = 0;
    CHECK(*plan_response(req, &file, &f, 0).drop_after == 1);
    f.point = 0.5;
    CHECK(*plan_response(req, &file, &f, 0).drop_after == 500);
    f.point = 0.999999;
    CHECK(*plan_response(req, &file, &f, 0).drop_after == 999);
    req.range = "bytes=100-109";
    f.point = 0.5;
    CHECK(*plan_response(req, &file, &f, 0).drop_after == 5);

    fault p{.pause = 20s};
    p.point = 0.25;
    auto paused = plan_response(req, &file, &p, 0);
    CHECK(*paused.pause_at == 2);
    CHECK(paused.pause == 20s);
    CHECK_FALSE(paused.drop_after);
    p.point = 0.9999;
    CHECK(*plan_response(req, &file, &p, 0).pause_at == 9);
    req.head = true;
    CHECK_FALSE(plan_response(req, &file, &p, 0).pause_at);
}

TEST_CASE("origin: drop-mid cuts the body inside, pause delays it and sends it whole") {
    constexpr std::uint64_t size = 256 * 1024;
    origin_config config;
    config.fault_seed = 5;
    origin_server server(config);
    server.add_synthetic("/d.bin", size);
    server.add_synthetic("/p.bin", size);
    server.add_fault("/d.bin", parse_fault_spec("drop-mid"));
    server.add_fault("/p.bin", parse_fault_spec("pause=300ms"));
    server.start();
    test_client client(server);

    for (int i = 0; i < 3; ++i) {
        auto cut = client.get("/d.bin");
        CHECK(cut.error);
        CHECK(cut.status == 200);
        CHECK(cut.body.size() > 0);
        CHECK(cut.body.size() < size);
        CHECK(cut.body == synthetic_text("d.bin", 0, 0, cut.body.size()));
        CHECK_FALSE(client.connected());
    }

    auto start = std::chrono::steady_clock::now();
    auto paused = client.get("/p.bin", {{"Range", "bytes=1000-"}});
    auto took = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(paused.error);
    CHECK(paused.status == 206);
    CHECK(paused.body == synthetic_text("p.bin", 0, 1000, size - 1000));
    CHECK(took >= 300ms);
    CHECK(server.stats().faulted == 4);
}

TEST_CASE("origin: RateLimit fields with a 429 and with a file") {
    origin_server server;
    server.add_synthetic("/r.bin", 100);
    server.add_fault("/r.bin", parse_fault_spec("status=429,retry-after=30,ratelimit=0/30,times=1"));
    server.add_fault("/r.bin", parse_fault_spec("ratelimit=41/12"));
    server.start();
    test_client client(server);
    auto refused = client.get("/r.bin");
    CHECK(refused.status == 429);
    CHECK(refused.field("retry-after") == "30");
    CHECK(refused.field("ratelimit") == "limit=100, remaining=0, reset=30");
    CHECK(refused.field("ratelimit-policy") == "100;w=60");
    auto served = client.get("/r.bin");
    CHECK(served.status == 200);
    CHECK(served.body.size() == 100);
    CHECK(served.field("ratelimit") == "limit=100, remaining=41, reset=12");
    CHECK(served.field("ratelimit-policy") == "100;w=60");
    CHECK_FALSE(client.get("/missing").has("ratelimit"));
    CHECK_THROWS_AS(parse_fault_spec("ratelimit=5"), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_spec("ratelimit=a/5"), std::invalid_argument);
}

TEST_CASE("origin: an ETag salt changes the ETag, not the bytes or Last-Modified") {
    auto serve = [](std::string salt) {
        origin_config config;
        config.etag_salt = std::move(salt);
        auto server = std::make_unique<origin_server>(config);
        server->add_synthetic("/e.bin", 5000);
        server->start();
        return server;
    };
    auto plain = serve(""), cdn_a = serve("cdn-a"), cdn_b = serve("cdn-b"), cdn_a_again = serve("cdn-a");
    auto a = test_client(*cdn_a).get("/e.bin");
    auto b = test_client(*cdn_b).get("/e.bin");
    auto none = test_client(*plain).get("/e.bin");
    CHECK(a.body == b.body);
    CHECK(a.body == none.body);
    CHECK(a.field("last-modified") == b.field("last-modified"));
    CHECK(a.field("etag") != b.field("etag"));
    CHECK(a.field("etag") != none.field("etag"));
    CHECK(a.field("etag") == cdn_a_again->etag("/e.bin")); // stable for a salt
    CHECK(a.field("etag") == cdn_a->etag("/e.bin"));
    CHECK(none.field("etag") == content::synthetic("e.bin", 5000, 0).etag());
    // A conditional request with the other CDN's ETag is a miss.
    CHECK(test_client(*cdn_a).get("/e.bin", {{"If-None-Match", b.field("etag")}}).status == 200);
    CHECK(test_client(*cdn_a).get("/e.bin", {{"If-None-Match", a.field("etag")}}).status == 304);
}

TEST_CASE("stats_json: the counters and status counts, without the log") {
    origin_stats s;
    s.requests = 12;
    s.body_bytes_sent = 1 << 20;
    s.statuses = {{200, 9}, {503, 3}};
    s.faulted = 3;
    s.signed_redirects = 2;
    auto text = stats_json(s);
    CHECK(text.starts_with("{\"requests\":12,\"body_bytes_sent\":1048576,"));
    CHECK(text.find("\"faulted\":3,") != std::string::npos);
    CHECK(text.find("\"signed_redirects\":2,") != std::string::npos);
    CHECK(text.ends_with("\"statuses\":{\"200\":9,\"503\":3}}"));
    CHECK(stats_json(origin_stats{}).ends_with("\"statuses\":{}}"));
}
