#include "tools/origin/range_header.hpp"
#include "tools/origin/response_plan.hpp"

#include <doctest/doctest.h>

using namespace ferry::origin;

namespace {

range_request range(std::string_view header, std::uint64_t size) { return parse_range(header, size); }

bool is(const range_request& r, std::uint64_t first, std::uint64_t last) {
    return r.kind == range_request::satisfiable && r.first == first && r.last == last;
}

} // namespace

TEST_CASE("parse_range: single byte ranges at the edges") {
    CHECK(is(range("bytes=0-0", 100), 0, 0));
    CHECK(is(range("bytes=0-99", 100), 0, 99));
    CHECK(is(range("bytes=0-1000", 100), 0, 99)); // clamped to the end
    CHECK(is(range("bytes=99-", 100), 99, 99));
    CHECK(is(range("bytes=10-", 100), 10, 99));
    CHECK(is(range("bytes=-1", 100), 99, 99));
    CHECK(is(range("bytes=-100", 100), 0, 99));
    CHECK(is(range("bytes=-500", 100), 0, 99)); // a suffix longer than the file is the file
    CHECK(is(range(" Bytes=5-9 ", 100), 5, 9));
}

TEST_CASE("parse_range: unsatisfiable and ignored ranges") {
    CHECK(range("bytes=100-", 100).kind == range_request::unsatisfiable);
    CHECK(range("bytes=100-200", 100).kind == range_request::unsatisfiable);
    CHECK(range("bytes=-0", 100).kind == range_request::unsatisfiable);
    CHECK(range("bytes=0-", 0).kind == range_request::unsatisfiable);
    CHECK(range("bytes=-5", 0).kind == range_request::unsatisfiable);

    CHECK(range("", 100).kind == range_request::none);
    CHECK(range("items=0-5", 100).kind == range_request::none);
    CHECK(range("bytes=0-5,10-20", 100).kind == range_request::none);
    CHECK(range("bytes=9-5", 100).kind == range_request::none);
    CHECK(range("bytes=a-5", 100).kind == range_request::none);
    CHECK(range("bytes=5", 100).kind == range_request::none);
    CHECK(range("bytes=-", 100).kind == range_request::none);
    CHECK(range("bytes=+1-5", 100).kind == range_request::none);
    CHECK(range("bytes=99999999999999999999-", 100).kind == range_request::none);
}

TEST_CASE("plan_response: files, ranges, If-Range, HEAD") {
    auto file = content::synthetic("a.bin", 1000, 7);
    request_facts req;

    auto whole = plan_response(req, &file, nullptr, 0);
    CHECK(whole.status == 200);
    CHECK(whole.content_length == 1000);
    CHECK(whole.body_from_content);
    CHECK(whole.offset == 0);
    CHECK(whole.length == 1000);
    CHECK(whole.etag == file.etag());
    CHECK(whole.accept_ranges);
    CHECK(whole.content_range.empty());

    req.range = "bytes=10-19";
    auto part = plan_response(req, &file, nullptr, 0);
    CHECK(part.status == 206);
    CHECK(part.content_range == "bytes 10-19/1000");
    CHECK(part.offset == 10);
    CHECK(part.length == 10);
    CHECK(part.content_length == 10);

    req.if_range = file.etag();
    CHECK(plan_response(req, &file, nullptr, 0).status == 206);
    req.if_range = file.last_modified();
    CHECK(plan_response(req, &file, nullptr, 0).status == 206);
    req.if_range = "\"another\"";
    auto changed = plan_response(req, &file, nullptr, 0);
    CHECK(changed.status == 200);
    CHECK(changed.length == 1000);

    req.if_range = {};
    req.range = "bytes=1000-";
    auto unsatisfiable = plan_response(req, &file, nullptr, 0);
    CHECK(unsatisfiable.status == 416);
    CHECK(unsatisfiable.content_range == "bytes */1000");
    CHECK(unsatisfiable.content_length == 0);
    CHECK_FALSE(unsatisfiable.body_from_content);

    req.range = "bytes=0-1";
    req.head = true;
    auto head = plan_response(req, &file, nullptr, 0);
    CHECK(head.status == 206);
    CHECK(head.content_length == 2);
    CHECK_FALSE(head.send_body);

    auto missing = plan_response(request_facts{}, nullptr, nullptr, 0);
    CHECK(missing.status == 404);
    CHECK(missing.content_length == missing.text.size());
}

TEST_CASE("plan_response: faults") {
    auto file = content::synthetic("a.bin", 1000, 7);
    request_facts req;
    req.range = "bytes=100-199";

    fault status{.status = 503, .retry_after = "2"};
    auto busy = plan_response(req, &file, &status, 0);
    CHECK(busy.status == 503);
    CHECK(busy.retry_after == "2");
    CHECK_FALSE(busy.body_from_content);
    CHECK(busy.content_length == busy.text.size());
    CHECK(plan_response(req, nullptr, &status, 0).status == 503); // needs no file

    fault moved{.status = 307, .location = "/b.bin"};
    CHECK(plan_response(req, nullptr, &moved, 0).location == "/b.bin");

    fault whole{.ignore_range = true};
    CHECK(plan_response(req, &file, &whole, 0).status == 200);

    fault shifted{.content_range_shift = 50};
    auto lie = plan_response(req, &file, &shifted, 0);
    CHECK(lie.content_range == "bytes 150-249/1000");
    CHECK(lie.offset == 100);
    shifted.shifted_body = true;
    CHECK(plan_response(req, &file, &shifted, 0).offset == 150);
    shifted.content_range_shift = 5000; // clamped: the claim stays inside the file
    CHECK(plan_response(req, &file, &shifted, 0).content_range == "bytes 900-999/1000");
    shifted.content_range_shift = -5000;
    CHECK(plan_response(req, &file, &shifted, 0).content_range == "bytes 0-99/1000");

    fault cut{.drop_after = 10, .short_body = 7, .long_body = 3};
    auto broken = plan_response(req, &file, &cut, 0);
    CHECK(*broken.drop_after == 10);
    CHECK(broken.content_length == 107);
    CHECK(broken.close_after);
    CHECK(broken.extra_bytes == 3);

    fault slow{.rate = 1000};
    CHECK(plan_response(req, &file, &slow, 0).rate == 1000);
    CHECK(plan_response(req, &file, &slow, 500).rate == 500); // the stricter cap
    CHECK(plan_response(req, &file, nullptr, 500).rate == 500);

    fault closing{.close = true};
    auto last = plan_response(req, &file, &closing, 0);
    CHECK_FALSE(last.keep_alive);
    CHECK(last.close_after);
}

TEST_CASE("format_head writes a complete HTTP/1.1 head") {
    auto file = content::synthetic("a.bin", 1000, 7);
    request_facts req;
    req.range = "bytes=0-9";
    fault padded{.header_padding = 100};
    auto plan = plan_response(req, &file, &padded, 0);
    std::string head;
    format_head(plan, "Thu, 01 Jan 2026 00:00:00 GMT", head);
    CHECK(head.starts_with("HTTP/1.1 206 Partial Content\r\n"));
    CHECK(head.find("\r\nContent-Length: 10\r\n") != std::string::npos);
    CHECK(head.find("\r\nContent-Range: bytes 0-9/1000\r\n") != std::string::npos);
    CHECK(head.find("\r\nAccept-Ranges: bytes\r\n") != std::string::npos);
    CHECK(head.find("\r\nETag: " + file.etag() + "\r\n") != std::string::npos);
    CHECK(head.find("\r\nLast-Modified: Thu, 01 Jan 2026 00:00:00 GMT\r\n") != std::string::npos);
    CHECK(head.find("\r\nX-Padding-1: " + std::string(100, 'p') + "\r\n") != std::string::npos);
    CHECK(head.find("Connection:") == std::string::npos);
    CHECK(head.ends_with("\r\n\r\n"));
}

TEST_CASE("content versions have other validators and bytes") {
    auto file = content::synthetic("a.bin", 1000, 7);
    auto next = file.with_version(1);
    CHECK(next.etag() != file.etag());
    CHECK(next.last_modified() != file.last_modified());
    CHECK(next.size() == file.size());
    CHECK(file.with_version(0).etag() == file.etag());
    CHECK(content::synthetic("a.bin", 1000, 7).etag() == file.etag()); // stable
    CHECK(content::synthetic("a.bin", 1001, 7).etag() != file.etag());
    CHECK(http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK(http_date(1767225600) == "Thu, 01 Jan 2026 00:00:00 GMT");
}
