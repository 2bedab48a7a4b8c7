// Conditional requests: the date and entity-tag rules, the plan, and a real client.
#include "test_client.hpp"

#include "tools/origin/origin_server.hpp"
#include "tools/origin/preconditions.hpp"
#include "tools/origin/response_plan.hpp"

#include <doctest/doctest.h>

using namespace ferry::origin;
using namespace ferry::origin::testing;

namespace {

constexpr std::int64_t nov_6_1994 = 784111777; // Sun, 06 Nov 1994 08:49:37 GMT

} // namespace

TEST_CASE("parse_http_date: the three forms RFC 9110 requires") {
    CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == nov_6_1994);
    CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == nov_6_1994);
    CHECK(parse_http_date("Sun Nov  6 08:49:37 1994") == nov_6_1994);
    CHECK(parse_http_date("  Thu, 01 Jan 2026 00:00:00 GMT ") == 1767225600);
    CHECK(parse_http_date("Thursday, 01-Jan-26 00:00:00 GMT") == 1767225600); // below 70: 20xx
    CHECK(parse_http_date(http_date(1767225600 + 86399)) == 1767225600 + 86399);

    CHECK_FALSE(parse_http_date(""));
    CHECK_FALSE(parse_http_date("yesterday"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"));
    CHECK_FALSE(parse_http_date("Sun, 31 Feb 1994 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 24:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 6 Nov 1994 08:49:37 GMT"));
}

TEST_CASE("if_none_match_matches: weak comparison, lists, *") {
    const std::string strong = "\"s-1f-3e8\"";
    CHECK(if_none_match_matches(strong, strong));
    CHECK(if_none_match_matches("W/" + strong, strong)); // weak: W/ does not matter
    CHECK(if_none_match_matches(strong, "W/" + strong));
    CHECK(if_none_match_matches("*", strong));
    CHECK(if_none_match_matches(" * ", strong));
    CHECK(if_none_match_matches("\"a\", W/\"b\"," + strong, strong));
    CHECK(if_none_match_matches("\"a\",\"b\" ,\t" + strong + " ", strong));
    CHECK(if_none_match_matches("\"with,comma\", " + strong, strong));

    CHECK_FALSE(if_none_match_matches("\"a\", \"b\"", strong));
    CHECK_FALSE(if_none_match_matches("s-1f-3e8", strong));        // no quotes: not an entity tag
    CHECK_FALSE(if_none_match_matches("\"s-1f-3e8", strong));      // unterminated
    CHECK_FALSE(if_none_match_matches("w/" + strong, strong));     // W/ is case-sensitive
    CHECK_FALSE(if_none_match_matches("\"S-1F-3E8\"", strong));    // so is the tag
}

TEST_CASE("not_modified: If-None-Match takes precedence over If-Modified-Since") {
    const std::string etag = "\"x\"";
    const std::string modified = "Thu, 01 Jan 2026 00:00:00 GMT";
    const std::string later = "Fri, 02 Jan 2026 00:00:00 GMT";
    const std::string earlier = "Wed, 31 Dec 2025 00:00:00 GMT";

    CHECK_FALSE(not_modified("", "", etag, modified));
    CHECK(not_modified(etag, "", etag, modified));
    CHECK(not_modified("", modified, etag, modified)); // not later: unchanged
    CHECK(not_modified("", later, etag, modified));
    CHECK_FALSE(not_modified("", earlier, etag, modified));
    // With If-None-Match, If-Modified-Since is not looked at, either way.
    CHECK_FALSE(not_modified("\"other\"", later, etag, modified));
    CHECK(not_modified(etag, earlier, etag, modified));
    // An invalid date is ignored.
    CHECK_FALSE(not_modified("", "not a date", etag, modified));
    CHECK_FALSE(not_modified("", later + ", " + later, etag, modified));
}

TEST_CASE("plan_response: 304 before Range and If-Range, with validators and no body") {
    auto file = content::synthetic("a.bin", 1000, 7);
    request_facts req;
    req.if_none_match = file.etag();
    req.range = "bytes=0-9";
    auto plan = plan_response(req, &file, nullptr, 0);
    CHECK(plan.status == 304);
    CHECK_FALSE(plan.send_body);
    CHECK(plan.etag == file.etag());
    CHECK(plan.last_modified == file.last_modified());
    CHECK(plan.content_range.empty());
    std::string head;
    format_head(plan, "Thu, 01 Jan 2026 00:00:00 GMT", head);
    CHECK(head.starts_with("HTTP/1.1 304 Not Modified\r\n"));
    CHECK(head.find("\r\nETag: " + file.etag() + "\r\n") != std::string::npos);
    CHECK(head.find("\r\nLast-Modified: " + file.last_modified() + "\r\n") != std::string::npos);
    CHECK(head.find("Content-Length") == std::string::npos);

    req.if_none_match = "\"old\"";
    CHECK(plan_response(req, &file, nullptr, 0).status == 206);
    req.if_none_match = {};
    req.if_modified_since = file.last_modified();
    CHECK(plan_response(req, &file, nullptr, 0).status == 304);

    // A fault's status wins; a new version is modified.
    fault busy{.status = 503};
    CHECK(plan_response(req, &file, &busy, 0).status == 503);
    auto next = file.with_version(1);
    req.if_modified_since = {};
    req.if_none_match = file.etag();
    CHECK(plan_response(req, &next, nullptr, 0).status == 206);
}

TEST_CASE("origin: conditional GET and HEAD over TLS") {
    origin_server server;
    server.add_synthetic("/c.bin", 4096);
    server.start();
    test_client client(server);
    auto first = client.get("/c.bin");
    REQUIRE(first.status == 200);
    const auto etag = first.field("etag");
    const auto modified = first.field("last-modified");

    auto same = client.get("/c.bin", {{"If-None-Match", "\"nope\", " + etag}});
    REQUIRE_FALSE(same.error);
    CHECK(same.status == 304);
    CHECK(same.body.empty());
    CHECK(same.field("etag") == etag);
    CHECK(same.field("last-modified") == modified);
    CHECK(same.keep_alive);

    CHECK(client.head("/c.bin", {{"If-None-Match", "*"}}).status == 304);
    CHECK(client.get("/c.bin", {{"If-Modified-Since", modified}}).status == 304);
    CHECK(client.get("/c.bin", {{"If-None-Match", "\"nope\""}, {"If-Modified-Since", modified}}).status == 200);
    auto ranged = client.get("/c.bin", {{"If-None-Match", "\"nope\""}, {"Range", "bytes=0-9"}});
    CHECK(ranged.status == 206);
    CHECK(ranged.body.size() == 10);
    CHECK(client.get("/missing", {{"If-None-Match", "*"}}).status == 404);

    // The connection stayed usable after every 304, and the log kept the headers.
    auto stats = server.stats();
    CHECK(stats.connections_accepted == 1);
    CHECK(stats.log[1].if_none_match == "\"nope\", " + etag);
    CHECK(stats.log[3].if_modified_since == modified);
    CHECK(stats.statuses[304] == 3);
}
