// Signed, expiring redirects: the pure signing and checking, then a real client following one.
#include "test_client.hpp"

#include "tools/origin/fault_spec.hpp"
#include "tools/origin/origin_server.hpp"
#include "tools/origin/signed_url.hpp"

#include <doctest/doctest.h>

#include <chrono>

using namespace ferry::origin;
using namespace ferry::origin::testing;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t issued = 1767225600; // 2026-01-01T00:00:00Z
const std::string secret = "test secret";
const std::string path = "/models/a b.bin";

/// The target (path and query) of an absolute URL.
std::string target_of(const std::string& url) {
    auto scheme = url.find("://");
    return url.substr(url.find('/', scheme == std::string::npos ? 0 : scheme + 3));
}

std::string query_of(const std::string& url) { return url.substr(url.find('?') + 1); }

} // namespace

TEST_CASE("sign_query: the three styles' parameters") {
    auto amz = sign_query(sign_style::amz, path, issued, 3600s, secret);
    CHECK(amz.starts_with("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=FERRYORIGIN%2F20260101%2F"));
    CHECK(amz.find("&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&") != std::string::npos);
    auto signature = amz.substr(amz.find("X-Amz-Signature=") + 16);
    CHECK(signature.size() == 64);
    CHECK(signature.find_first_not_of("0123456789abcdef") == std::string::npos);

    auto cloudfront = sign_query(sign_style::cloudfront, path, issued, 3600s, secret);
    CHECK(cloudfront.starts_with("Expires=1767229200&Signature="));
    CHECK(cloudfront.ends_with("&Key-Pair-Id=KFERRYORIGIN"));
    auto cloudfront_signature = cloudfront.substr(cloudfront.find("Signature=") + 10);
    cloudfront_signature.resize(cloudfront_signature.find('&'));
    CHECK(cloudfront_signature.size() == 44); // base64 of 32 bytes, with CloudFront's alphabet
    CHECK(cloudfront_signature.find_first_of("+/=") == std::string::npos);

    auto azure = sign_query(sign_style::azure, path, issued, 3600s, secret);
    CHECK(azure.starts_with("sv=2022-11-02&sr=b&sp=r&se=2026-01-01T01%3A00%3A00Z&sig="));
    CHECK(azure.find_first_of("+/", azure.find("sig=")) == std::string::npos);
}

TEST_CASE("check_signed_query: valid until the expiry, then expired; tampering is forged") {
    for (auto style : {sign_style::amz, sign_style::cloudfront, sign_style::azure}) {
        CAPTURE(int(style));
        auto query = sign_query(style, path, issued, 60s, secret);
        auto at = [&](std::int64_t now, std::string_view q, std::string_view p = path) {
            return check_signed_query(q, p, now, secret);
        };
        CHECK(at(issued, query).verdict == signature_verdict::valid);
        CHECK(at(issued, query).style == style);
        CHECK(at(issued + 59, query).verdict == signature_verdict::valid);
        CHECK(at(issued + 60, query).verdict == signature_verdict::expired);
        CHECK(at(issued + 86400, query).verdict == signature_verdict::expired);

        CHECK(at(issued, query, "/models/other.bin").verdict == signature_verdict::forged);
        CHECK(check_signed_query(query, path, issued, "other secret").verdict == signature_verdict::forged);
        // A later expiry written into the query does not carry the signature along.
        auto extended = query;
        for (auto [from, to] : {std::pair{"X-Amz-Expires=60", "X-Amz-Expires=99999"},
                                std::pair{"Expires=1767225660", "Expires=1767299999"},
                                std::pair{"se=2026-01-01T00%3A01%3A00Z", "se=2027-01-01T00%3A01%3A00Z"}}) {
            if (auto at_from = extended.find(from); at_from != std::string::npos)
                extended.replace(at_from, std::string_view(from).size(), to);
        }
        REQUIRE(extended != query);
        CHECK(at(issued + 120, extended).verdict == signature_verdict::forged);
    }
    CHECK(check_signed_query("", path, issued, secret).verdict == signature_verdict::unsigned_request);
    CHECK(check_signed_query("a=1&b=2", path, issued, secret).verdict == signature_verdict::unsigned_request);
    CHECK(check_signed_query("X-Amz-Signature=00", path, issued, secret).verdict == signature_verdict::forged);
    CHECK(check_signed_query("sig=abc&se=bad", path, issued, secret).verdict == signature_verdict::forged);
}

TEST_CASE("signed_redirect_answer: the other loopback name, the same port and encoded path") {
    fault f = parse_fault_spec("signed-redirect=90s,sign-style=cloudfront");
    REQUIRE(f.signed_redirect == 90s);
    auto answer = signed_redirect_answer(f, "/models/a%20b.bin?x=1", path, "localhost:8443", true, issued, secret);
    CHECK(answer.status == 302);
    CHECK_FALSE(answer.signed_redirect);
    CHECK(answer.location == "https://127.0.0.1:8443/models/a%20b.bin?" +
                                 sign_query(sign_style::cloudfront, path, issued, 90s, secret));
    CHECK(signed_redirect_answer(f, "/p", "/p", "127.0.0.1:1", false, issued, secret).location.starts_with(
        "http://localhost:1/p?Expires="));
    CHECK(signed_redirect_answer(f, "/p", "/p", "[::1]:2", true, issued, secret).location.starts_with(
        "https://localhost:2/p?"));
    f.sign_host = "cdn.test";
    f.status = 307;
    auto named = signed_redirect_answer(f, "/p", "/p", "localhost:3", true, issued, secret);
    CHECK(named.status == 307);
    CHECK(named.location.starts_with("https://cdn.test:3/p?"));
}

TEST_CASE("signed_refusal: S3's XML for amz, text for the others") {
    auto expired = signed_refusal({signature_verdict::expired, sign_style::amz});
    CHECK(expired.status == 403);
    CHECK(expired.text_type == "application/xml");
    CHECK(expired.text.find("<Code>AccessDenied</Code><Message>Request has expired</Message>") != std::string::npos);
    auto forged = signed_refusal({signature_verdict::forged, sign_style::amz});
    CHECK(forged.text.find("<Code>SignatureDoesNotMatch</Code>") != std::string::npos);
    auto azure = signed_refusal({signature_verdict::expired, sign_style::azure});
    CHECK(azure.text_type.empty());
    CHECK(azure.text.find("expired") != std::string::npos);
}

TEST_CASE("origin: a signed redirect followed before expiry, refused after it or when forged") {
    origin_server server;
    server.add_synthetic("/m/a.bin", 10000);
    server.add_synthetic("/m/b.bin", 100);
    server.add_fault("/m/a.bin", parse_fault_spec("signed-redirect=1h"));
    server.add_fault("/m/b.bin", parse_fault_spec("signed-redirect=0,sign-style=azure"));
    server.start();
    test_client to_localhost(server);
    test_client to_ip(server, "127.0.0.1");

    auto redirect = to_localhost.get("/m/a.bin", {{"Range", "bytes=0-99"}});
    REQUIRE(redirect.status == 302);
    const auto location = redirect.field("location");
    CHECK(location.starts_with(server.ip_url("/m/a.bin") + "?X-Amz-Algorithm="));
    auto signed_get = to_ip.get(target_of(location), {{"Range", "bytes=0-99"}});
    CHECK(signed_get.status == 206);
    CHECK(signed_get.body.size() == 100);
    CHECK(signed_get.field("etag") == server.etag("/m/a.bin"));

    // A signature is checked wherever it arrives, and a wrong one is refused like S3 does.
    auto forged_target = target_of(location);
    forged_target.back() = forged_target.back() == '0' ? '1' : '0';
    auto forged = to_ip.get(forged_target);
    CHECK(forged.status == 403);
    CHECK(forged.field("content-type") == "application/xml");
    CHECK(forged.body.find("SignatureDoesNotMatch") != std::string::npos);
    CHECK(to_ip.get("/m/b.bin?" + query_of(location)).status == 403); // signed for another path

    // TTL 0: expired on arrival.
    auto short_lived = to_ip.get("/m/b.bin");
    REQUIRE(short_lived.status == 302);
    CHECK(short_lived.field("location").starts_with(server.url("/m/b.bin") + "?sv="));
    auto expired = to_localhost.get(target_of(short_lived.field("location")));
    CHECK(expired.status == 403);
    CHECK(expired.body.find("expired") != std::string::npos);

    auto stats = server.stats();
    CHECK(stats.signed_redirects == 2);
    CHECK(stats.signed_accepted == 1);
    CHECK(stats.signed_expired == 1);
    CHECK(stats.signed_forged == 2);
    CHECK(stats.statuses[302] == 2);
    CHECK(stats.statuses[403] == 3);
}

TEST_CASE("origin: a signed request still gets the other faults, never another redirect") {
    origin_server server;
    server.add_synthetic("/s.bin", 1000);
    server.add_fault("*", parse_fault_spec("signed-redirect=1h,sign-style=cloudfront"));
    // Both rules count the plain request: the 503 skips it.
    server.add_fault("*", parse_fault_spec("status=503,retry-after=1,skip=1,times=1"));
    server.start();
    test_client client(server);
    auto redirect = client.get("/s.bin");
    REQUIRE(redirect.status == 302);
    test_client to_ip(server, "127.0.0.1");
    auto busy = to_ip.get(target_of(redirect.field("location")));
    CHECK(busy.status == 503);
    CHECK(busy.field("retry-after") == "1");
    auto served = to_ip.get(target_of(redirect.field("location")));
    CHECK(served.status == 200);
    CHECK(served.body.size() == 1000);
}
