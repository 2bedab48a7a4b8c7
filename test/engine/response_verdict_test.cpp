#include "engine/response_verdict.hpp"
#include "net/error.hpp"
#include "net/http_fields.hpp"

#include <doctest/doctest.h>

using namespace ferry;
using kind = response_verdict::kind;

namespace {

const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));

response_head head(unsigned status, std::string content_range = {}, std::optional<std::uint64_t> length = {},
                   std::string etag = {}) {
    response_head h;
    h.status = status;
    h.content_range = std::move(content_range);
    h.content_length = length;
    h.etag = std::move(etag);
    return h;
}

request_facts range(std::uint64_t begin, std::uint64_t end, bool probing = false) {
    request_facts r;
    r.begin = begin;
    r.end = end;
    r.probing = probing;
    return r;
}

mirror_knowledge known(std::optional<std::uint64_t> size, std::string etag = {}, bool ranges_seen = false,
                       bool from_manifest = false) {
    mirror_knowledge k;
    k.size = size;
    k.etag = std::move(etag);
    k.ranges_seen = ranges_seen;
    k.size_from_manifest = from_manifest;
    return k;
}

} // namespace

TEST_CASE("206 for exactly what was asked is accepted with the size and validator") {
    auto v = judge_response(range(0, 1024, true), known({}), head(206, "bytes 0-1023/5000", 1024, "\"a\""), now);
    CHECK(v.what == kind::accept);
    CHECK(v.total == 5000);
    CHECK(v.etag == "\"a\"");
    CHECK_FALSE(v.whole_body);
    // A first request past the end of a small file: the Content-Range ends at the file's end.
    v = judge_response(range(0, 1024, true), known({}), head(206, "bytes 0-99/100", 100), now);
    CHECK(v.what == kind::accept);
    CHECK(v.total == 100);
}

TEST_CASE("206 for another range than asked is retried on a fresh connection, never written") {
    auto v = judge_response(range(100, 200), known(5000, "\"a\"", true), head(206, "bytes 101-200/5000", 100, "\"a\""), now);
    CHECK(v.what == kind::retry);
    CHECK(v.error == net_error::bad_content_range);
    CHECK(v.discard_connection);
    v = judge_response(range(100, 200), known(5000), head(206, "nonsense", 100), now);
    CHECK(v.what == kind::retry);
}

TEST_CASE("a changed validator or size restarts the file") {
    auto v = judge_response(range(100, 200), known(5000, "\"a\"", true), head(206, "bytes 100-199/5000", 100, "\"b\""), now);
    CHECK(v.what == kind::restart);
    v = judge_response(range(100, 200), known(5000, "\"a\"", true), head(200, {}, 5000, "\"b\""), now);
    CHECK(v.what == kind::restart);
    v = judge_response(range(100, 200), known(5000), head(206, "bytes 100-199/6000", 100), now);
    CHECK(v.what == kind::restart);
    auto k = known(5000);
    k.last_modified = "Mon, 01 Jan 2024 00:00:00 GMT";
    auto h = head(206, "bytes 100-199/5000", 100);
    h.last_modified = "Tue, 02 Jan 2024 00:00:00 GMT";
    CHECK(judge_response(range(100, 200), k, h, now).what == kind::restart);
}

TEST_CASE("a size other than the manifest's drops the mirror with the sizes in words") {
    auto v = judge_response(range(0, 1024, true), known(5000, {}, false, true), head(206, "bytes 0-1023/6000", 1024), now);
    CHECK(v.what == kind::drop_mirror);
    CHECK(v.error == net_error::size_mismatch);
    CHECK(v.message == "server has 6000 bytes, expected 5000");
    v = judge_response(range(0, 1024, true), known(5000, {}, false, true), head(200, {}, 6000), now);
    CHECK(v.what == kind::drop_mirror);
}

TEST_CASE("a 200 to a range: a stream on a first contact, a strike where ranges worked") {
    auto v = judge_response(range(0, 1024, true), known({}), head(200, {}, 5000, "\"a\""), now);
    CHECK(v.what == kind::accept);
    CHECK(v.whole_body);
    CHECK(v.length_known);
    CHECK(v.total == 5000);

    v = judge_response(range(1024, 2048), known(5000, "\"a\"", true), head(200, {}, 5000, "\"a\""), now);
    CHECK(v.what == kind::strike);
    CHECK(v.discard_connection); // read no body
    // A resumed file (ranges seen in the journal) strikes on its first request too.
    v = judge_response(range(1024, 2048, true), known(5000, "\"a\"", true), head(200, {}, 5000, "\"a\""), now);
    CHECK(v.what == kind::strike);
    // A body of unknown length.
    auto chunked = head(200);
    chunked.chunked = true;
    v = judge_response(range(0, 1024, true), known({}), chunked, now);
    CHECK(v.what == kind::accept);
    CHECK_FALSE(v.length_known);
}

TEST_CASE("408, 429 and 5xx are retried and count against the host; 429 and 503 push back") {
    for (unsigned s : {408u, 429u, 500u, 502u, 503u, 504u}) {
        auto v = judge_response(range(0, 10), known({}), head(s), now);
        CHECK_MESSAGE(v.what == kind::retry, s);
        CHECK(v.host_failure);
        CHECK(v.host_pushback == (s == 429 || s == 503));
        CHECK(http_status_of(v.error) == s);
    }
    auto h = head(503);
    h.retry_after = std::to_string(7); // (a literal here trips a GCC 12 -Wrestrict false positive)
    CHECK(judge_response(range(0, 10), known({}), h, now).host_pause == std::chrono::milliseconds(7000));
    h = head(429);
    h.retry_after = format_http_date(now + std::chrono::seconds(3));
    CHECK(judge_response(range(0, 10), known({}), h, now).host_pause == std::chrono::milliseconds(3000));
}

TEST_CASE("401/403/410 re-resolve a redirected URL and drop a mirror named by the user") {
    for (unsigned s : {401u, 403u, 410u}) {
        auto asked = range(0, 10);
        CHECK(judge_response(asked, known({}), head(s), now).what == kind::drop_mirror);
        asked.redirected = true;
        CHECK(judge_response(asked, known({}), head(s), now).what == kind::re_resolve);
    }
    CHECK(judge_response(range(0, 10), known({}), head(404), now).what == kind::drop_mirror);
    auto asked = range(0, 10);
    asked.redirected = true;
    CHECK(judge_response(asked, known({}), head(404), now).what == kind::drop_mirror);
    CHECK(judge_response(range(0, 10), known({}), head(400), now).what == kind::drop_mirror);
}

TEST_CASE("redirects, 304 and 416") {
    auto h = head(302);
    h.location = "https://cdn.example/x?sig=1";
    auto v = judge_response(range(0, 10), known({}), h, now);
    CHECK(v.what == kind::redirect);
    CHECK(v.location == h.location);
    CHECK(judge_response(range(0, 10), known({}), head(307), now).what == kind::drop_mirror); // no Location

    request_facts conditional;
    conditional.conditional = true;
    CHECK(judge_response(conditional, known({}), head(304), now).what == kind::not_modified);
    CHECK(judge_response(range(0, 10), known({}), head(304), now).what == kind::drop_mirror);

    v = judge_response(range(0, 1024, true), known({}), head(416, "bytes */0"), now);
    CHECK(v.what == kind::accept);
    CHECK(v.total == 0);
    CHECK(judge_response(range(4096, 8192), known(8192), head(416, "bytes */4000"), now).what == kind::restart);
}

TEST_CASE("a mirror whose size differs from another mirror's is another file: dropped, no restart") {
    auto k = known(5000);
    k.size_from_other_mirror = true;
    auto v = judge_response(range(0, 1024, true), k, head(206, "bytes 0-1023/6000", 1024), now);
    CHECK(v.what == kind::drop_mirror);
    CHECK(v.error == net_error::size_mismatch);
    CHECK(judge_response(range(0, 1024, true), k, head(200, {}, 6000), now).what == kind::drop_mirror);
    // The same mirror telling another size than before: a new version.
    CHECK(judge_response(range(0, 1024, true), known(5000), head(206, "bytes 0-1023/6000", 1024), now).what ==
          kind::restart);
}
