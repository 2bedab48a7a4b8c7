#include "net/http_fields.hpp"

#include "net/connection.hpp"

#include <doctest/doctest.h>

#include <clocale>
#include <random>
#include <string>

using namespace std::chrono;
using namespace std::chrono_literals;
using namespace std::string_view_literals;
using ferry::content_range;
using ferry::format_http_date;
using ferry::parse_content_range;
using ferry::parse_retry_after;
using ferry::parse_unsatisfied_range;
using ferry::strong_etag;
using ferry::parse_ratelimit;
using ferry::parse_ratelimit_policy;
using ferry::requested_pause;
using ferry::response_head;

namespace {

constexpr std::uint64_t u64_max = ~std::uint64_t(0);

/// 1994-11-06 08:49:37 UTC, the RFC's example date.
const system_clock::time_point rfc_example = sys_days{1994y / November / 6} + 8h + 49min + 37s;

bool same(const std::optional<content_range>& r, std::uint64_t first, std::uint64_t last,
          std::optional<std::uint64_t> total) {
    return r && r->first == first && r->last == last && r->total == total;
}

} // namespace

TEST_CASE("parse_content_range: valid forms") {
    CHECK(same(parse_content_range("bytes 0-499/1234"), 0, 499, 1234));
    CHECK(same(parse_content_range("bytes 500-999/1234"), 500, 999, 1234));
    CHECK(same(parse_content_range("bytes 1233-1233/1234"), 1233, 1233, 1234));
    CHECK(same(parse_content_range("bytes 0-0/1"), 0, 0, 1));
    CHECK(same(parse_content_range("bytes 42-1233/*"), 42, 1233, std::nullopt));
    // The unit is case-insensitive; spaces around the whole value are not part of it.
    CHECK(same(parse_content_range("Bytes 0-9/10"), 0, 9, 10));
    CHECK(same(parse_content_range("BYTES 0-9/10"), 0, 9, 10));
    CHECK(same(parse_content_range("  bytes 0-9/10\t "), 0, 9, 10));
    // Leading zeros are digits like any other.
    CHECK(same(parse_content_range("bytes 000000000000000000000000-0009/00010"), 0, 9, 10));
    // The largest values.
    CHECK(same(parse_content_range("bytes 0-18446744073709551614/18446744073709551615"), 0, u64_max - 1,
               u64_max));
    CHECK(same(parse_content_range("bytes 18446744073709551615-18446744073709551615/*"), u64_max, u64_max,
               std::nullopt));
}

TEST_CASE("parse_content_range: malformed values") {
    const char* bad[] = {
        "",
        "bytes",
        "bytes ",
        "bytes 0-499",           // no total
        "bytes 0-499/",          // empty total
        "bytes 0499/1234",       // no dash
        "bytes -499/1234",       // no first
        "bytes 0-/1234",         // no last
        "bytes */1234",          // the unsatisfied form
        "bytes 500-499/1234",    // last < first
        "bytes 0-1234/1234",     // last == total
        "bytes 0-2000/1234",     // last > total
        "bytes 0-0/0",           // nothing fits in an empty file
        "bytes=0-499/1234",      // '=' is for Range, not Content-Range
        "bytes  0-499/1234",     // two spaces
        "bytes\t0-499/1234",     // a tab instead of the space
        "bytes 0 -499/1234",     // spaces inside
        "bytes 0- 499/1234",
        "bytes 0-499 /1234",
        "bytes 0-499/ 1234",
        "bytes 0-499/1234 x",
        "bytes +0-499/1234",     // signs
        "bytes 0-+499/1234",
        "bytes 0-499/-1234",
        "bytes 0--499/1234",
        "bytes 0-499-500/1234",  // two dashes
        "bytes 0-499/1234/1234", // two slashes
        "bytes 0-499/**",
        "bytes 0x10-0x20/100",   // not decimal
        "bytes 1e3-2e3/1e4",
        "items 0-499/1234",      // another unit
        "byte 0-499/1234",
        "bytesx 0-499/1234",
        "bytes 0-18446744073709551616/*",                    // 2^64
        "bytes 0-99/18446744073709551616",                   // total 2^64
        "bytes 0-99/99999999999999999999999999999999999999", // far beyond
        "bytes 18446744073709551616-18446744073709551617/*",
    };
    for (const char* v : bad)
        CHECK_MESSAGE(!parse_content_range(v), "'" << v << "'");
    // An embedded NUL is not a digit.
    CHECK_FALSE(parse_content_range("bytes 0-4\0/10"sv));
}

TEST_CASE("parse_unsatisfied_range") {
    CHECK(parse_unsatisfied_range("bytes */1234") == 1234u);
    CHECK(parse_unsatisfied_range("bytes */0") == 0u);
    CHECK(parse_unsatisfied_range("Bytes */18446744073709551615") == u64_max);
    CHECK(parse_unsatisfied_range(" bytes */7 ") == 7u);
    for (const char* v : {"", "bytes", "bytes */", "bytes *", "bytes */*", "bytes 0-1/2", "bytes * /5",
                          "bytes */ 5", "bytes */5 6", "bytes */-5", "bytes */18446744073709551616",
                          "bytes  */5", "bytes=*/5", "*/5", "bytes **/5", "bytes /5"})
        CHECK_MESSAGE(!parse_unsatisfied_range(v), "'" << v << "'");
}

TEST_CASE("parse_retry_after: delay-seconds") {
    const auto now = rfc_example;
    CHECK(parse_retry_after("0", now) == 0s);
    CHECK(parse_retry_after("120", now) == 120s);
    CHECK(parse_retry_after(" 5 ", now) == 5s);
    CHECK(parse_retry_after("000000000000000000007", now) == 7s); // leading zeros are not "huge"
    CHECK(parse_retry_after("999999999", now) == 999'999'999s);
    // Huge numbers are capped, not wrapped; the cap converts to milliseconds safely.
    CHECK(parse_retry_after("1000000000", now) == 999'999'999s);
    CHECK(parse_retry_after("18446744073709551616", now) == 999'999'999s);
    CHECK(parse_retry_after(std::string(5000, '9'), now) == 999'999'999s);
    CHECK(duration_cast<milliseconds>(*parse_retry_after(std::string(100, '9'), now)).count() > 0);
    for (const char* v : {"", "   ", "-1", "+5", "5s", "5 s", "1.5", "0x10", "1e3", "5,6", "٣"})
        CHECK_MESSAGE(!parse_retry_after(v, now), "'" << v << "'");
}

TEST_CASE("parse_retry_after: the three HTTP-date forms") {
    const auto now = rfc_example - 100s;
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now) == 100s);
    CHECK(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now) == 100s);
    CHECK(parse_retry_after("Sun Nov  6 08:49:37 1994", now) == 100s);
    CHECK(parse_retry_after("Sun Nov 06 08:49:37 1994", now) == 100s);
    // A date one day later; the day name is not checked against the date.
    CHECK(parse_retry_after("Mon, 07 Nov 1994 08:49:37 GMT", now) == 100s + 24h);
    CHECK(parse_retry_after("Sun, 07 Nov 1994 08:49:37 GMT", now) == 100s + 24h);
    // A leap second.
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:60 GMT", now) == 123s);
    // A leap day.
    CHECK(parse_retry_after("Thu, 29 Feb 1996 00:00:00 GMT", now).has_value());
}

TEST_CASE("parse_retry_after: past dates give zero; future ones round up") {
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", rfc_example) == 0s);
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", rfc_example + 1h) == 0s);
    CHECK(parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", rfc_example) == 0s);
    CHECK(parse_retry_after("Mon, 01 Jan 1900 00:00:00 GMT", rfc_example) == 0s);
    // 0.5 s before the date: wait 1 s, not 0.
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", rfc_example - 500ms) == 1s);
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", rfc_example - 1ns) == 1s);
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", rfc_example + 1ns) == 0s);
    // Far-future dates do not overflow the clock's nanoseconds; they hit the cap.
    CHECK(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", rfc_example) == 999'999'999s);
    CHECK(parse_retry_after("Sat, 01 Jan 2000 00:00:00 GMT", rfc_example) ==
          seconds(sys_days{2000y / 1 / 1} - floor<seconds>(rfc_example)));
}

TEST_CASE("parse_retry_after: two-digit RFC 850 years follow RFC 9110") {
    const sys_seconds now = sys_days{2026y / March / 1};
    CHECK(parse_retry_after("Sunday, 06-Nov-50 08:49:37 GMT", now) ==
          seconds(sys_days{2050y / November / 6} + 8h + 49min + 37s - now));
    // 2076 is 50 years ahead: taken as is (so beyond the cap, not zero). 2077 would be more than
    // 50 years ahead: 1977 instead, in the past.
    CHECK(parse_retry_after("Sunday, 06-Nov-76 08:49:37 GMT", now) == 999'999'999s);
    CHECK(parse_retry_after("Sunday, 06-Nov-77 08:49:37 GMT", now) == 0s);
    CHECK(parse_retry_after("Sunday, 06-Nov-99 08:49:37 GMT", now) == 0s);
    CHECK(parse_retry_after("Sunday, 06-Nov-00 08:49:37 GMT", now) == 0s);
    CHECK(parse_retry_after("Sunday, 06-Nov-26 08:49:37 GMT", now) ==
          seconds(sys_days{2026y / November / 6} + 8h + 49min + 37s - now));
    CHECK(parse_retry_after("Sunday, 06-Nov-25 08:49:37 GMT", now) == 0s);
}

TEST_CASE("parse_retry_after: malformed dates") {
    const auto now = rfc_example - 100s;
    const char* bad[] = {
        "Sun, 06 Nov 1994 08:49:37",       // no GMT
        "Sun, 06 Nov 1994 08:49:37 UTC",   // not GMT
        "Sun, 06 Nov 1994 08:49:37 gmt",
        "Sun, 06 Nov 1994 08:49:37 GMT x", // trailing garbage
        "Sun, 06 Nov 1994 08:49:37 GMTx",
        "Sun, 6 Nov 1994 08:49:37 GMT",    // one-digit day in IMF-fixdate
        "Sun,  06 Nov 1994 08:49:37 GMT",  // two spaces
        "Sun, 06  Nov 1994 08:49:37 GMT",
        "Sun,06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",     // two-digit year in IMF-fixdate
        "Sun, 06 Nov 01994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",   // month names are case-sensitive
        "sun, 06 Nov 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",   // no such day
        "Sun, 06 Foo 1994 08:49:37 GMT",   // no such month
        "Sun, 32 Nov 1994 08:49:37 GMT",   // no such dates
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 1995 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",   // no such times
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Nov 1994 08-49-37 GMT",
        "Sun, 06 Nov 1994 0a:49:37 GMT",
        "Sun, -6 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT", // four-digit year in RFC 850
        "Sunday, 6-Nov-94 08:49:37 GMT",
        "Sunday, 06 Nov 94 08:49:37 GMT",
        "Sunday 06-Nov-94 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",     // short day name with the RFC 850 date
        "Someday, 06-Nov-94 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37",
        "Sun Nov 6 08:49:37 1994",         // asctime needs two characters for the day
        "Sun Nov   6 08:49:37 1994",
        "Sun Nov  6 08:49:37 94",
        "Sun Nov  6 08:49:37 1994 GMT",
        "Sun Nov  6 08:49:37",
        "Sun Nov 31 08:49:37 1994",
        "Sun",
        "Sun,",
        "S",
        "Sun, 06 Nov 1994 08:49:37 GMT\r\nX: y",
    };
    for (const char* v : bad)
        CHECK_MESSAGE(!parse_retry_after(v, now), "'" << v << "'");
}

TEST_CASE("format_http_date writes IMF-fixdate") {
    CHECK(format_http_date(rfc_example) == "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(format_http_date(system_clock::time_point{}) == "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK(format_http_date(sys_days{2000y / February / 29} + 23h + 59min + 59s + 999ms) ==
          "Tue, 29 Feb 2000 23:59:59 GMT");
    CHECK(format_http_date(sys_days{1969y / December / 31} + 12h + 500ms) == "Wed, 31 Dec 1969 12:00:00 GMT");
    // Independent of the C locale (a user's LC_TIME must not leak into headers).
    const char* old = std::setlocale(LC_TIME, nullptr);
    std::string saved = old ? old : "C";
    for (const char* name : {"de_DE.UTF-8", "fr_FR.UTF-8", "C.UTF-8"})
        if (std::setlocale(LC_TIME, name))
            CHECK(format_http_date(rfc_example) == "Sun, 06 Nov 1994 08:49:37 GMT");
    std::setlocale(LC_TIME, saved.c_str());
}

TEST_CASE("format_http_date and parse_retry_after round-trip") {
    std::mt19937_64 random(99);
    std::uniform_int_distribution<std::int64_t> second_of(0, 8'000'000'000); // 1970 to ~2223
    const system_clock::time_point epoch{};
    for (int i = 0; i < 2000; ++i) {
        const auto t = epoch + seconds(second_of(random));
        const auto text = format_http_date(t);
        REQUIRE(text.size() == 29);
        const auto now = t - 1000s;
        REQUIRE_MESSAGE(parse_retry_after(text, now) == 1000s, text);
    }
}

TEST_CASE("strong_etag") {
    CHECK(strong_etag("\"abc\"") == "\"abc\"");
    CHECK(strong_etag("  \"abc\"\t") == "\"abc\"");
    CHECK(strong_etag("\"\"") == "\"\""); // empty opaque-tag is allowed
    CHECK(strong_etag("\"5f3c-1a2b3c4d:gz!#$%&'()*+,-./~\"") == "\"5f3c-1a2b3c4d:gz!#$%&'()*+,-./~\"");
    CHECK(strong_etag("\"caf\xc3\xa9\"") == "\"caf\xc3\xa9\""); // obs-text
    const char* bad[] = {
        "",
        "\"",
        "abc",
        "W/\"abc\"",        // weak
        "w/\"abc\"",
        "\"abc",
        "abc\"",
        "\"a\"b\"",
        "\"a b\"",          // space
        "\"a\tb\"",
        "\"a\x7f\"",        // DEL
        "\"a\x01\"",
        "\"abc\", \"def\"", // a list
        "'abc'",
    };
    for (const char* v : bad)
        CHECK_MESSAGE(!strong_etag(v), "'" << v << "'");
    CHECK_FALSE(strong_etag("\"a\0b\""sv));
}

TEST_CASE("parsers survive random and mutated input") {
    // A light fuzz pass: no crash, no exception, and whatever parses obeys the contract.
    const std::string seeds[] = {
        "bytes 0-499/1234", "bytes 42-1233/*", "bytes */1234", "120", "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "\"abc\"", "W/\"abc\""};
    const std::string alphabet = "bytes0123456789-/* ,:\"W\tGMTSunNovx\xff";
    std::mt19937_64 random(1234);
    const auto now = rfc_example;
    for (int i = 0; i < 200'000; ++i) {
        std::string s = seeds[random() % std::size(seeds)];
        const int edits = 1 + int(random() % 4);
        for (int e = 0; e < edits; ++e) {
            const auto pos = s.empty() ? 0 : random() % (s.size() + 1);
            const char c = alphabet[random() % alphabet.size()];
            switch (random() % 3) {
            case 0: s.insert(s.begin() + long(pos), c); break;
            case 1: if (pos < s.size()) s.erase(pos, 1); break;
            default: if (pos < s.size()) s[pos] = c; break;
            }
        }
        if (auto r = parse_content_range(s)) {
            REQUIRE(r->first <= r->last);
            if (r->total)
                REQUIRE(r->last < *r->total);
        }
        (void)parse_unsatisfied_range(s);
        if (auto d = parse_retry_after(s, now)) {
            REQUIRE(*d >= 0s);
            REQUIRE(*d <= 999'999'999s);
        }
        if (auto tag = strong_etag(s)) {
            REQUIRE(tag->size() >= 2);
            REQUIRE(tag->front() == '"');
        }
    }
}

namespace {

bool quota(const std::optional<std::vector<ferry::ratelimit_quota>>& q, std::size_t i, const std::string& policy,
           std::uint64_t remaining, std::optional<std::uint64_t> reset) {
    return q && i < q->size() && (*q)[i].policy == policy && (*q)[i].remaining == remaining && (*q)[i].reset == reset;
}

response_head head_with(unsigned status) {
    response_head h;
    h.status = status;
    return h;
}

} // namespace

TEST_CASE("parse_ratelimit: the current draft's list of policies") {
    auto q = parse_ratelimit(R"("default";r=0;t=5)");
    REQUIRE(q);
    REQUIRE(q->size() == 1);
    CHECK(quota(q, 0, "default", 0, 5));
    q = parse_ratelimit(R"("default";r=50;t=30, "daily";r=0;t=3600)");
    REQUIRE(q);
    REQUIRE(q->size() == 2);
    CHECK(quota(q, 0, "default", 50, 30));
    CHECK(quota(q, 1, "daily", 0, 3600));
    // t is optional; other parameters (pk, a byte sequence) are ignored; a later parameter wins.
    CHECK(quota(parse_ratelimit(R"("a";r=3)"), 0, "a", 3, std::nullopt));
    CHECK(quota(parse_ratelimit(R"("a";r=0;t=9;pk=:cHJvamVjdDEyMw==:)"), 0, "a", 0, 9));
    CHECK(quota(parse_ratelimit(R"("a";r=5;r=0)"), 0, "a", 0, std::nullopt));
    // A token for the name, escapes in a string, spaces where Structured Fields allow them.
    CHECK(quota(parse_ratelimit("default;r=1;t=2"), 0, "default", 1, 2));
    CHECK(quota(parse_ratelimit(R"("a \"b\" \\";r=0;t=1)"), 0, R"(a "b" \)", 0, 1));
    q = parse_ratelimit(R"(  "a";  r=0;  t=1 ,	"b";r=2  )");
    CHECK(quota(q, 0, "a", 0, 1));
    CHECK(quota(q, 1, "b", 2, std::nullopt));
}

TEST_CASE("parse_ratelimit: the older draft's dictionary") {
    CHECK(quota(parse_ratelimit("limit=100, remaining=0, reset=5"), 0, "", 0, 5));
    CHECK(quota(parse_ratelimit("remaining=7"), 0, "", 7, std::nullopt));
    CHECK(quota(parse_ratelimit("reset=5,remaining=0;w=60,limit=10"), 0, "", 0, 5));
    // A key given twice: the last one counts.
    CHECK(quota(parse_ratelimit("remaining=5, remaining=0, reset=1"), 0, "", 0, 1));
}

TEST_CASE("parse_ratelimit: malformed fields are ignored whole") {
    const char* bad[] = {
        "",
        "   ",
        R"("default")",              // no r
        R"("default";t=5)",
        R"("default";r=-1;t=5)",     // negative
        R"("default";r=0;t=-5)",
        R"("default";r=1.5)",        // not an Integer
        R"("default";r="0")",
        R"("default";r=?0)",
        R"("default";r=0;t=5.0)",
        R"("default";r=0, "b")",     // one bad member spoils the field
        R"("default";r=0,)",         // trailing comma
        R"(,"default";r=0)",
        R"("default";r=0;;t=5)",
        R"("default";R=0)",          // keys are lower case
        R"("default;r=0)",           // unterminated string
        R"("d\x";r=0)",             // bad escape
        "\"caf\xc3\xa9\";r=0",         // not ASCII
        R"("default";r=1234567890123456)", // 16 digits
        R"(12;r=0)",                 // a number is no policy name
        R"((a b);r=0)",              // nor an inner list
        R"(:YWJj:;r=0)",             // nor bytes
        "limit=100, remaining=-1, reset=5",
        "limit=100, remaining=0, reset=x",
        "limit=100, remaining=0, reset=5.5",
        "limit=100, reset=5",        // no remaining
        "limit=100 remaining=0",
        "Remaining=0",
        "remaining=0;",
        "remaining=",
        "remaining=0 reset=5",
    };
    for (const char* v : bad)
        CHECK_MESSAGE(!parse_ratelimit(v), "'" << v << "'");
}

TEST_CASE("parse_ratelimit_policy: both forms") {
    auto p = parse_ratelimit_policy(R"("default";q=100;w=60, "daily";q=1000;w=86400;qu="requests")");
    REQUIRE(p);
    REQUIRE(p->size() == 2);
    CHECK((*p)[0].name == "default");
    CHECK((*p)[0].quota == 100);
    CHECK((*p)[0].window == 60u);
    CHECK((*p)[1].name == "daily");
    CHECK((*p)[1].window == 86400u);
    p = parse_ratelimit_policy("10;w=1, 50;w=60, 7");
    REQUIRE(p);
    REQUIRE(p->size() == 3);
    CHECK((*p)[0].name.empty());
    CHECK((*p)[0].quota == 10);
    CHECK((*p)[1].window == 60u);
    CHECK_FALSE((*p)[2].window);
    for (const char* v : {"", R"("default";w=60)", R"("default";q=-1)", R"("default";q=10;w=-1)",
                          R"("default";q=10;w=1.5)", "-10;w=1", "10;w=x", "?1", "10,", R"("a";q=1 "b";q=2)"})
        CHECK_MESSAGE(!parse_ratelimit_policy(v), "'" << v << "'");
}

TEST_CASE("requested_pause: Retry-After only on 429 and 503") {
    const auto now = rfc_example;
    const std::pair<std::string_view, std::optional<milliseconds>> cases[] = {
        {"7", 7s},
        {"Sun, 06 Nov 1994 08:50:37 GMT", 60s},
        {"0", 0s},
        {"soon", std::nullopt},
        {"", std::nullopt},
        {"99999999", ferry::max_requested_pause}, // absurd values are capped
    };
    for (unsigned status : {429u, 503u}) {
        for (auto& [value, expected] : cases) {
            auto h = head_with(status);
            h.retry_after = std::string(value);
            CHECK_MESSAGE(requested_pause(h, now) == expected, status << " '" << value << "'");
        }
    }
    for (unsigned status : {200u, 206u, 301u, 302u, 307u, 404u, 500u, 502u}) {
        auto h = head_with(status);
        h.retry_after = "7";
        CHECK_MESSAGE(!requested_pause(h, now), status);
    }
}

TEST_CASE("requested_pause: RateLimit on any status") {
    const auto now = rfc_example;
    auto h = head_with(206);
    CHECK_FALSE(requested_pause(h, now)); // nothing asked

    h.ratelimit = R"("default";r=0;t=5)";
    CHECK(requested_pause(h, now) == 5s);
    h.ratelimit = R"("default";r=1;t=5)";
    CHECK_FALSE(requested_pause(h, now)); // units remain
    // Several quotas: the longest exhausted one counts.
    h.ratelimit = R"("minute";r=0;t=20, "hour";r=0;t=1800, "day";r=10;t=80000)";
    CHECK(requested_pause(h, now) == 1800s);
    // No t: the policy's window, found by name.
    h.ratelimit = R"("hour";r=0)";
    h.ratelimit_policy = R"("minute";q=10;w=60, "hour";q=100;w=3600)";
    CHECK(requested_pause(h, now) == 3600s);
    h.ratelimit_policy = R"("minute";q=10;w=60)";
    CHECK_FALSE(requested_pause(h, now)); // no such policy: nothing to go by
    h.ratelimit_policy = "garbage;;";
    CHECK_FALSE(requested_pause(h, now));
    h.ratelimit_policy.clear();

    // The older dictionary.
    h.ratelimit = "limit=100, remaining=0, reset=12";
    CHECK(requested_pause(h, now) == 12s);
    h.ratelimit = "limit=100, remaining=3, reset=12";
    CHECK_FALSE(requested_pause(h, now));
    h.ratelimit = "limit=100, remaining=0";
    CHECK_FALSE(requested_pause(h, now));

    // Absurd resets are capped; a Unix time is read as one.
    h.ratelimit = R"("d";r=0;t=999999999)";
    CHECK(requested_pause(h, now) == ferry::max_requested_pause);
    const system_clock::time_point later = sys_days{2026y / March / 1};
    const auto unix_now = floor<seconds>(later).time_since_epoch().count();
    h.ratelimit = "\"d\";r=0;t=" + std::to_string(unix_now + 90);
    CHECK(requested_pause(h, later) == 90s);
    h.ratelimit = "\"d\";r=0;t=" + std::to_string(unix_now - 90);
    CHECK(requested_pause(h, later) == 0s);
}

TEST_CASE("requested_pause: the separate RateLimit-Remaining and RateLimit-Reset fields") {
    const auto now = rfc_example;
    auto pause = [&](std::string_view remaining, std::string_view reset, std::string_view ratelimit = {}) {
        auto h = head_with(200);
        h.ratelimit_remaining = std::string(remaining);
        h.ratelimit_reset = std::string(reset);
        h.ratelimit = std::string(ratelimit);
        return requested_pause(h, now);
    };
    CHECK(pause("0", "30") == 30s);
    CHECK(pause(" 0 ", " 30 ") == 30s);
    CHECK_FALSE(pause("1", "30"));
    for (const char* bad : {"", "-1", "30s", "3.5", "Sun, 06 Nov 1994 08:50:37 GMT"})
        CHECK_MESSAGE(!pause("0", bad), "'" << bad << "'");
    for (const char* bad : {"", "-0", "none", "0, 0"})
        CHECK_MESSAGE(!pause(bad, "30"), "'" << bad << "'");
    // A valid RateLimit field takes precedence; a malformed one leaves the separate fields.
    CHECK_FALSE(pause("0", "30", R"("default";r=5;t=1)"));
    CHECK(pause("0", "30", "malformed;;") == 30s);
}

TEST_CASE("requested_pause: Retry-After and RateLimit together take the longer") {
    const auto now = rfc_example;
    auto h = head_with(429);
    h.retry_after = "10";
    h.ratelimit = R"("default";r=0;t=40)";
    CHECK(requested_pause(h, now) == 40s);
    h.ratelimit = R"("default";r=0;t=4)";
    CHECK(requested_pause(h, now) == 10s);
    h.ratelimit = R"("default";r=9;t=4)";
    CHECK(requested_pause(h, now) == 10s);
}

TEST_CASE("RateLimit parsers survive random and mutated input") {
    const std::string seeds[] = {R"("default";r=0;t=5, "b";r=1)", "limit=100, remaining=0, reset=5",
                                 R"("default";q=100;w=60)", "10;w=1, 50;w=60", R"(a;r=0;pk=:YWJj:, (x "y");r=1)"};
    const std::string alphabet = "\"();=,:?*-.0123456789 \trtqwabc\\\xff";
    std::mt19937_64 random(99);
    const auto now = rfc_example;
    for (int i = 0; i < 100'000; ++i) {
        std::string s = seeds[random() % std::size(seeds)];
        for (int e = 1 + int(random() % 4); e > 0; --e) {
            const auto pos = random() % (s.size() + 1);
            const char c = alphabet[random() % alphabet.size()];
            if (random() % 2)
                s.insert(s.begin() + long(pos), c);
            else if (pos < s.size())
                s[pos] = c;
        }
        (void)parse_ratelimit_policy(s);
        auto h = head_with(429);
        h.ratelimit = s;
        h.ratelimit_policy = s;
        if (auto p = requested_pause(h, now)) {
            REQUIRE(*p >= 0s);
            REQUIRE(*p <= ferry::max_requested_pause);
        }
    }
}
