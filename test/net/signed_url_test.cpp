#include "net/signed_url.hpp"

#include <doctest/doctest.h>

using namespace ferry;
using std::chrono::system_clock;

namespace {
std::optional<system_clock::time_point> expiry(const std::string& text) { return signed_url_expiry(*parse_url(text)); }
system_clock::time_point at(std::int64_t epoch) { return system_clock::time_point(std::chrono::seconds(epoch)); }
} // namespace

TEST_CASE("S3 SigV4: X-Amz-Date plus X-Amz-Expires") {
    // 2024-05-01T12:00:00Z = 1714564800
    CHECK(expiry("https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20240501T120000Z"
                 "&X-Amz-Expires=3600&X-Amz-Signature=ab") == at(1714564800 + 3600));
    CHECK_FALSE(expiry("https://b/k?X-Amz-Date=20240501T120000Z").has_value()); // no lifetime
    CHECK_FALSE(expiry("https://b/k?X-Amz-Date=2024-05-01&X-Amz-Expires=10").has_value());
    CHECK_FALSE(expiry("https://b/k?X-Amz-Date=20241301T120000Z&X-Amz-Expires=10").has_value());
}

TEST_CASE("CloudFront and others: Expires as epoch seconds") {
    CHECK(expiry("https://cdn.example/f?Expires=1714564800&Signature=x&Key-Pair-Id=K") == at(1714564800));
    CHECK_FALSE(expiry("https://cdn.example/f?Expires=soon").has_value());
    CHECK_FALSE(expiry("https://cdn.example/f?expires=1714564800").has_value()); // case matters
}

TEST_CASE("Azure SAS: se as an ISO 8601 time, percent-encoded or not") {
    CHECK(expiry("https://a.blob.core.windows.net/c/f?sv=2022&se=2024-05-01T12%3A00%3A00Z&sig=x") == at(1714564800));
    CHECK(expiry("https://a.blob.core.windows.net/c/f?se=2024-05-01T12:00:00Z&sig=x") == at(1714564800));
    CHECK(expiry("https://a.blob.core.windows.net/c/f?se=2024-05-01&sig=x") == at(1714521600));
    CHECK(expiry("https://a/c?se=2024-05-01T12:00:00.1234567Z") == at(1714564800));
    CHECK_FALSE(expiry("https://a/c?se=yesterday").has_value());
}

TEST_CASE("a URL that says nothing of expiry") {
    CHECK_FALSE(expiry("https://host/file").has_value());
    CHECK_FALSE(expiry("https://host/file?token=abc").has_value());
}
