#include "perf/hdr_log_writer.hpp"

#include <bit>
#include <cstdio>
#include <ctime>
#include <stdexcept>

#include <openssl/evp.h>
#include <zlib.h>

namespace ferry {
namespace {

// HdrHistogram's V2 cookies, with word size 8 in the second nibble of the low byte.
constexpr std::uint32_t encoding_cookie = 0x1c849303 | 0x10;
constexpr std::uint32_t compressed_cookie = 0x1c849304 | 0x10;

void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
        out.push_back(std::uint8_t(v >> shift));
}
void put64(std::vector<std::uint8_t>& out, std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8)
        out.push_back(std::uint8_t(v >> shift));
}
void set32(std::vector<std::uint8_t>& out, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i)
        out[at + std::size_t(i)] = std::uint8_t(v >> (24 - 8 * i));
}

/// ZigZag, then LEB128 in at most 9 bytes (the ninth carries 8 bits), as HdrHistogram's
/// ZigZagEncoding.putLong.
void put_varint(std::vector<std::uint8_t>& out, std::int64_t value) {
    std::uint64_t v = (std::uint64_t(value) << 1) ^ std::uint64_t(value >> 63);
    for (int i = 0; i < 8; ++i) {
        if (v < 0x80) {
            out.push_back(std::uint8_t(v));
            return;
        }
        out.push_back(std::uint8_t((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(std::uint8_t(v));
}

} // namespace

std::vector<std::uint8_t> hdr_encode(const hdr_histogram& h) {
    std::vector<std::uint8_t> out;
    put32(out, encoding_cookie);
    put32(out, 0); // payload length, set below
    put32(out, 0); // normalizing index offset
    put32(out, std::uint32_t(h.significant_digits()));
    put64(out, std::uint64_t(h.lowest_discernible()));
    put64(out, std::uint64_t(h.highest_trackable()));
    put64(out, std::bit_cast<std::uint64_t>(1.0));
    const std::size_t header = out.size();
    if (h.total_count() != 0) {
        const std::size_t limit = h.counts_index(h.max()) + 1;
        std::size_t i = 0;
        while (i < limit) {
            const std::uint64_t count = h.count_at_index(i++);
            if (count != 0) {
                put_varint(out, std::int64_t(count));
                continue;
            }
            std::int64_t zeros = 1;
            while (i < limit && h.count_at_index(i) == 0) {
                ++zeros;
                ++i;
            }
            put_varint(out, zeros > 1 ? -zeros : 0);
        }
    }
    set32(out, 4, std::uint32_t(out.size() - header));
    return out;
}

std::vector<std::uint8_t> hdr_encode_compressed(const hdr_histogram& h) {
    const auto plain = hdr_encode(h);
    uLongf size = compressBound(uLong(plain.size()));
    std::vector<std::uint8_t> out(8 + size);
    if (compress2(out.data() + 8, &size, plain.data(), uLong(plain.size()), Z_DEFAULT_COMPRESSION) != Z_OK)
        throw std::runtime_error("zlib compress2 failed");
    out.resize(8 + size);
    set32(out, 0, compressed_cookie);
    set32(out, 4, std::uint32_t(size));
    return out;
}

std::string base64(const std::vector<std::uint8_t>& bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(), int(bytes.size()));
    out.resize(std::size_t(n));
    return out;
}

void hdr_log_writer::write_header(double start) {
    const auto whole = std::time_t(start);
    std::tm utc{};
    gmtime_r(&whole, &utc);
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &utc);
    char line[160];
    std::snprintf(line, sizeof line, "#[StartTime: %.3f (seconds since epoch), %s]\n", start, when);
    out_ << "#[Histogram log format version 1.3]\n" << line
         << "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";
}

void hdr_log_writer::write_interval(std::string_view tag, double start, double length, const hdr_histogram& h) {
    std::string clean(tag);
    for (char& c : clean)
        if (c == ',' || c == ' ' || c == '\n' || c == '\r')
            c = '_';
    char numbers[96];
    std::snprintf(numbers, sizeof numbers, "%.3f,%.3f,%.3f,", start, length, double(h.max()) / ratio_);
    if (!clean.empty())
        out_ << "Tag=" << clean << ",";
    out_ << numbers << base64(hdr_encode_compressed(h)) << "\n";
}

} // namespace ferry
