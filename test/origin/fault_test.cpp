#include "tools/origin/fault.hpp"
#include "tools/origin/fault_spec.hpp"

#include <doctest/doctest.h>

using namespace ferry::origin;
using namespace std::chrono_literals;

TEST_CASE("fault_table: exact paths, prefixes, skip and times") {
    fault_table table;
    table.add("/a.bin", fault{.skip = 1, .times = 2, .status = 503});
    table.add("/models/*", fault{.status = 429});
    table.add("b.bin", fault{.ignore_range = true}); // the leading '/' is implied

    CHECK_FALSE(table.match("/a.bin"));            // skipped
    CHECK(table.match("/a.bin")->status == 503);   // 1st
    CHECK(table.match("/a.bin")->status == 503);   // 2nd
    CHECK_FALSE(table.match("/a.bin"));            // used up
    CHECK_FALSE(table.match("/a.bin.x"));          // exact means exact
    CHECK(table.match("/models/x/y.bin")->status == 429);
    CHECK_FALSE(table.match("/model"));
    CHECK(table.match("/b.bin")->ignore_range);

    table.clear();
    CHECK_FALSE(table.match("/models/x"));
}

TEST_CASE("fault_table: the first applicable rule wins, every matching rule counts") {
    fault_table table;
    table.add("/f", fault{.times = 1, .status = 500});
    table.add("*", fault{.times = 2, .status = 404});
    CHECK(table.match("/f")->status == 500); // both count this one
    CHECK(table.match("/f")->status == 404);  // the catch-all's 2nd
    CHECK_FALSE(table.match("/f"));           // the catch-all was used up too
}

TEST_CASE("parse_fault_spec: the documented examples") {
    auto busy = parse_fault_spec("status=503,retry-after=2,times=3");
    CHECK(busy.status == 503);
    CHECK(busy.retry_after == "2");
    CHECK(busy.times == 3);

    CHECK(*parse_fault_spec("drop-after=1M").drop_after == 1024 * 1024);
    CHECK(parse_fault_spec("rate=10M").rate == 10 * 1024 * 1024);
    CHECK(*parse_fault_spec("stall-after=0").stall_after == 0);
    CHECK(parse_fault_spec("ignore-range").ignore_range);

    auto moved = parse_fault_spec("redirect=/other");
    CHECK(moved.status == 302);
    CHECK(moved.location == "/other");
    auto temporary = parse_fault_spec("status=307,redirect=https://localhost:1/x?y=1");
    CHECK(temporary.status == 307);
    CHECK(temporary.location == "https://localhost:1/x?y=1");

    auto shifted = parse_fault_spec("shift-range=-4K,shifted-body");
    CHECK(shifted.content_range_shift == -4096);
    CHECK(shifted.shifted_body);
    CHECK(parse_fault_spec("new-version").version == 1);
    CHECK(parse_fault_spec("version=3,skip=1").skip == 1);
    CHECK(parse_fault_spec("delay=250").first_byte_delay == 250ms);
    CHECK(parse_fault_spec("delay=1.5s").first_byte_delay == 1500ms);
    CHECK(parse_fault_spec("delay=20ms").first_byte_delay == 20ms);
    auto bodies = parse_fault_spec("short-body=10,long-body=1K,big-headers=128K,close,times=all");
    CHECK(bodies.short_body == 10);
    CHECK(bodies.long_body == 1024);
    CHECK(bodies.header_padding == 128 * 1024);
    CHECK(bodies.close);
    CHECK(bodies.times == -1);
}

TEST_CASE("parse_fault_spec and parse_fault_rule refuse what they do not understand") {
    CHECK_THROWS_AS(parse_fault_spec(""), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_spec("explode"), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_spec("status=abc"), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_spec("status=99"), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_spec("rate=0"), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_spec("rate=fast"), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_spec("drop-after"), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_spec("ignore-range=yes"), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_spec("times=-2"), std::invalid_argument);

    auto rule = parse_fault_rule("/models/*:redirect=https://mirror.test/m,status=301");
    CHECK(rule.pattern == "/models/*");
    CHECK(rule.what.status == 301);
    CHECK(rule.what.location == "https://mirror.test/m");
    CHECK_THROWS_AS(parse_fault_rule("status=503"), std::invalid_argument);
    CHECK_THROWS_AS(parse_fault_rule(":status=503"), std::invalid_argument);
}

TEST_CASE("fault_table: a rule for one connection leaves the others alone") {
    fault_table table;
    table.add("/f", parse_fault_spec("rate=10K,connection=3"));
    CHECK_FALSE(table.match("/f", false, 1));
    CHECK(table.match("/f", false, 3)->rate == 10 * 1024);
    CHECK_FALSE(table.match("/f", false, 4));
    CHECK_THROWS_AS(parse_fault_spec("connection=x"), std::invalid_argument);
}
