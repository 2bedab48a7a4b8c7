// ferry::crc32, the checksum of the resume journal, exposed so the fuzz target can seal inputs
// with the same function the decoder checks.
#include "memory/resume_journal.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>

TEST_CASE("crc32 is the standard CRC-32 (IEEE 802.3, reflected)") {
    CHECK(ferry::crc32("") == 0u);
    CHECK(ferry::crc32("123456789") == 0xCBF43926u); // the catalogue's check value
    CHECK(ferry::crc32("The quick brown fox jumps over the lazy dog") == 0x414FA339u);
    CHECK(ferry::crc32(std::string(1, '\0')) == 0xD202EF8Du);
}

TEST_CASE("crc32 is what a journal's crc32 line holds") {
    ferry::journal_record record;
    record.url = "https://h.example/a.bin";
    record.size = 1000;
    record.etag = "\"v1\"";
    record.done = {{0, 100}, {200, 300}};
    auto text = ferry::encode_journal(record);
    auto last = text.rfind('\n', text.size() - 2); // the end of the line before the crc32 line
    REQUIRE(last != std::string::npos);
    auto body = text.substr(0, last + 1);
    char line[32];
    std::snprintf(line, sizeof line, "crc32 %08x\n", static_cast<unsigned>(ferry::crc32(body)));
    CHECK(text.substr(last + 1) == line);
    CHECK(ferry::decode_journal(body + line).has_value());
}
