#include "perf/hdr_histogram.hpp"
#include "perf/hdr_log_writer.hpp"

#include <doctest/doctest.h>

#include <zlib.h>

#include <sstream>
#include <string>
#include <vector>

using ferry::hdr_histogram;

TEST_CASE("hdr_histogram: layout of 3 digits up to an hour of microseconds, as HdrHistogram's") {
    hdr_histogram h;
    CHECK(h.counts_length() == 23552); // 22 buckets + 1, 1024 sub-buckets each half
    // Below 2048 every value is its own index; above, equivalent ranges double per bucket.
    CHECK(h.equivalent_range(2047) == 1);
    CHECK(h.equivalent_range(2048) == 2);
    CHECK(h.lowest_equivalent(2049) == 2048);
    CHECK(h.highest_equivalent(2048) == 2049);
    CHECK(h.lowest_equivalent(100000) == 99968);
    CHECK(h.highest_equivalent(100000) == 100031);
    for (std::int64_t v : {0LL, 1LL, 1023LL, 2047LL, 2048LL, 5000LL, 123456789LL, 3'600'000'000LL}) {
        CAPTURE(v);
        CHECK(h.value_from_index(h.counts_index(v)) == h.lowest_equivalent(v));
        // Three significant digits: the equivalent range is within 0.1% of the value.
        if (v > 0)
            CHECK(double(h.equivalent_range(v)) <= double(v) / 1000.0 + 1.0);
    }
}

TEST_CASE("hdr_histogram: percentiles, min, max and mean of 1..1000") {
    hdr_histogram h;
    for (std::int64_t v = 1; v <= 1000; ++v)
        h.record(v);
    CHECK(h.total_count() == 1000);
    CHECK(h.value_at_percentile(50) == 500);
    CHECK(h.value_at_percentile(99) == 990);
    CHECK(h.value_at_percentile(99.9) == 999);
    CHECK(h.value_at_percentile(100) == 1000);
    CHECK(h.value_at_percentile(0) == 1);
    CHECK(h.min() == 1);
    CHECK(h.max() == 1000);
    CHECK(h.mean() == doctest::Approx(500.5));
}

TEST_CASE("hdr_histogram: a value answers its highest equivalent; an outlier does not move p99") {
    hdr_histogram h;
    h.record(1000, 10000);
    h.record(100000);
    CHECK(h.value_at_percentile(99) == 1000);
    CHECK(h.value_at_percentile(99.99) == 1000);
    CHECK(h.value_at_percentile(100) == 100031);
    CHECK(h.max() == 100031);
}

TEST_CASE("hdr_histogram: merge adds counts, reset empties, out-of-range values are clamped") {
    hdr_histogram a(1'000'000), b(1'000'000);
    a.record(10, 3);
    b.record(20, 1);
    b.record(5'000'000); // above highest: counted as highest
    a.merge(b);
    CHECK(a.total_count() == 5);
    CHECK(a.clamped() == 1);
    CHECK(a.min() == 10);
    CHECK(a.value_at_percentile(60) == 10);
    CHECK(a.value_at_percentile(80) == 20);
    CHECK(a.max() == a.highest_equivalent(1'000'000));
    a.record(-5);
    CHECK(a.min() == 0);
    a.reset();
    CHECK(a.total_count() == 0);
    CHECK(a.max() == 0);
    CHECK(a.value_at_percentile(99) == 0);
    hdr_histogram other(2'000'000);
    CHECK_THROWS(a.merge(other));
}

TEST_CASE("hdr_encode: V2 header and zero runs") {
    hdr_histogram h(1'000'000);
    h.record(1);
    h.record(3, 2);
    h.record(9);
    const auto bytes = ferry::hdr_encode(h);
    REQUIRE(bytes.size() == 40 + 6);
    CHECK(bytes[0] == 0x1c);
    CHECK(bytes[3] == 0x13);
    CHECK(bytes[7] == 6);   // payload length
    CHECK(bytes[15] == 3);  // significant digits
    CHECK(bytes[23] == 1);  // lowest discernible
    // indexes 0..9: 0 (one zero), 1, 0 (one zero), 2, five zeros, 1 — ZigZag: 0, 2, 0, 4, -5 → 9, 2
    const std::vector<std::uint8_t> payload(bytes.begin() + 40, bytes.end());
    CHECK(payload == std::vector<std::uint8_t>{0, 2, 0, 4, 9, 2});
}

TEST_CASE("hdr_encode_compressed: a zlib stream of the V2 encoding, base64 'HISTFAAA'") {
    hdr_histogram h;
    for (std::int64_t v = 1; v < 100000; v += 7)
        h.record(v);
    const auto plain = ferry::hdr_encode(h);
    const auto packed = ferry::hdr_encode_compressed(h);
    REQUIRE(packed.size() > 8);
    const std::size_t length = (std::size_t(packed[4]) << 24) | (std::size_t(packed[5]) << 16) |
                               (std::size_t(packed[6]) << 8) | std::size_t(packed[7]);
    CHECK(length == packed.size() - 8);
    std::vector<std::uint8_t> out(plain.size() + 16);
    uLongf out_size = uLongf(out.size());
    REQUIRE(uncompress(out.data(), &out_size, packed.data() + 8, uLong(length)) == Z_OK);
    out.resize(out_size);
    CHECK(out == plain);
    CHECK(ferry::base64(packed).rfind("HISTFAAA", 0) == 0);
    CHECK(ferry::base64({'a', 'b', 'c', 'd'}) == "YWJjZA==");
}

TEST_CASE("hdr_log_writer: header, legend and tagged interval lines") {
    std::ostringstream out;
    ferry::hdr_log_writer log(out);
    log.write_header(1700000000.25);
    hdr_histogram h;
    h.record(1500); // µs: 1.5 ms in the log's max column
    log.write_interval("http req,duration", 1.0, 1.0, h);
    const std::string text = out.str();
    CHECK(text.find("#[Histogram log format version 1.3]\n") == 0);
    CHECK(text.find("#[StartTime: 1700000000.250 (seconds since epoch), 2023-11-14T22:13:20Z]\n") != std::string::npos);
    CHECK(text.find("\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n") != std::string::npos);
    CHECK(text.find("Tag=http_req_duration,1.000,1.000,1.500,HISTFAAA") != std::string::npos);
}

TEST_CASE("hdr_histogram: the count at a percentile is rounded up, as HdrHistogram and hdr-histogram-js count it") {
    hdr_histogram h;
    for (int v = 1; v <= 160; ++v)
        h.record(v);
    CHECK(h.value_at_percentile(99) == 159); // 99 % of 160 is 158.4: the 159th value
    CHECK(h.value_at_percentile(50) == 80);  // exactly the 80th, not the 81st
    hdr_histogram three;
    for (int v = 1; v <= 300; ++v)
        three.record(v);
    CHECK(three.value_at_percentile(99) == 297); // 297.00000000000006 in floating point
}
