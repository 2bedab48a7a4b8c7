#include "memory/resume_journal.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

using namespace ferry;
using ferry::test::entry_count;
using ferry::test::read_text;
using ferry::test::temp_dir;
using ferry::test::write_text;
namespace fs = std::filesystem;

namespace {

/// An independent, bitwise CRC-32 (IEEE, reflected), to seal hand-made journals.
std::uint32_t reference_crc32(std::string_view data) {
    std::uint32_t crc = 0xFFFFFFFFu;
    for (unsigned char byte : data) {
        crc ^= byte;
        for (int k = 0; k < 8; ++k)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

std::string seal(const std::string& body) {
    char line[32];
    std::snprintf(line, sizeof line, "crc32 %08x\n", static_cast<unsigned>(reference_crc32(body)));
    return body + line;
}

const std::string header = "ferry-journal 1\nurl https://h/f\nsize 1000\netag \"e\"\nlast-modified \n";

journal_record sample() {
    journal_record r;
    r.url = "https://cdn.example/models/t2v/model-00001.safetensors";
    r.size = 10'000'000'000ull;
    r.etag = "\"abc-123\"";
    r.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT";
    r.done = {{0, 4096}, {1'000'000, 2'000'000}, {9'999'999'000ull, 10'000'000'000ull}};
    return r;
}

void check_same(const journal_record& a, const journal_record& b) {
    CHECK(a.url == b.url);
    CHECK(a.size == b.size);
    CHECK(a.etag == b.etag);
    CHECK(a.last_modified == b.last_modified);
    CHECK(a.done == b.done);
}

} // namespace

TEST_CASE("the reference CRC-32 is the standard one") {
    CHECK(reference_crc32("123456789") == 0xCBF43926u);
}

TEST_CASE("journal encode and decode round trip") {
    auto record = sample();
    auto text = encode_journal(record);
    CHECK(text.starts_with("ferry-journal 1\n"));
    CHECK(text.find("\ndone 1000000-2000000\n") != std::string::npos);
    auto decoded = decode_journal(text);
    REQUIRE(decoded);
    check_same(*decoded, record);
    CHECK(encode_journal(*decoded) == text);

    journal_record empty;
    auto e = decode_journal(encode_journal(empty));
    REQUIRE(e);
    check_same(*e, empty);
}

TEST_CASE("journal fields with control bytes and backslashes stay on one line") {
    auto record = sample();
    record.etag = "W/\"a\nb\\c\r\x01\x7f\"";
    record.last_modified = "line1\nsize 5\ndone 0-5";
    auto text = encode_journal(record);
    // magic, url, size, etag, last-modified, 3 ranges, crc
    CHECK(std::count(text.begin(), text.end(), '\n') == 9);
    auto decoded = decode_journal(text);
    REQUIRE(decoded);
    check_same(*decoded, record);
}

TEST_CASE("journal ranges are normalised on encode") {
    journal_record r;
    r.size = 1000;
    r.done = {{500, 600}, {0, 100}, {100, 200}, {550, 700}, {300, 300}, {900, 5000}, {2000, 3000}};
    auto decoded = decode_journal(encode_journal(r));
    REQUIRE(decoded);
    CHECK(decoded->done == std::vector<byte_range>{{0, 200}, {500, 700}, {900, 1000}});
}

TEST_CASE("credentials, query and fragment never reach the journal") {
    auto record = sample();
    record.url = "https://alice:s3cret@cdn.example/m/model.bin?X-Amz-Signature=deadbeef&token=t0k#frag";
    auto text = encode_journal(record);
    for (std::string secret : {"alice", "s3cret", "Signature", "deadbeef", "t0k", "frag", "?", "@"})
        CHECK_MESSAGE(text.find(secret) == std::string::npos, secret);
    auto decoded = decode_journal(text);
    REQUIRE(decoded);
    CHECK(decoded->url == "https://cdn.example/m/model.bin");

    record.url = "not a url at all\n";
    decoded = decode_journal(encode_journal(record));
    REQUIRE(decoded);
    CHECK(decoded->url.empty());
}

TEST_CASE("any corrupted byte or truncation is detected") {
    auto text = encode_journal(sample());
    for (std::size_t i = 0; i < text.size(); ++i) {
        for (unsigned char flip : {0x01, 0x20, 0x80}) {
            auto bad = text;
            bad[i] = static_cast<char>(bad[i] ^ flip);
            CHECK_MESSAGE(!decode_journal(bad), "byte ", i, " ^ ", int(flip));
        }
    }
    for (std::size_t n = 0; n < text.size(); ++n)
        CHECK_MESSAGE(!decode_journal(text.substr(0, n)), "prefix of ", n);
    CHECK_FALSE(decode_journal(text + "\n"));
    CHECK_FALSE(decode_journal(text + "done 0-1\n"));
    CHECK_FALSE(decode_journal(text + text));
}

TEST_CASE("journals with a valid checksum but inconsistent contents are refused") {
    // The seal works: a well-formed hand-made journal decodes.
    auto good = decode_journal(seal(header + "done 0-10\ndone 20-1000\n"));
    REQUIRE(good);
    CHECK(good->done == std::vector<byte_range>{{0, 10}, {20, 1000}});
    CHECK(good->etag == "\"e\"");
    CHECK(good->last_modified.empty());

    const char* bad_ranges[] = {
        "done 0-10\ndone 5-20\n",  // overlapping
        "done 20-30\ndone 0-10\n", // unsorted
        "done 0-10\ndone 10-20\n", // touching: encode merges these
        "done 0-1001\n",           // beyond size
        "done 10-10\n",            // empty
        "done 20-10\n",            // inverted
        "done 01-10\n",            // leading zero
        "done -1-10\n",
        "done 0-10 \n",
        "done 0 - 10\n",
        "done 0-\n",
        "done 0\n",
        "done 0-99999999999999999999999\n",
        "done 18446744073709551616-18446744073709551617\n", // 2^64
        "\n",
        "size 5\n", // duplicate field
        "comment x\n",
    };
    for (const char* ranges : bad_ranges)
        CHECK_MESSAGE(!decode_journal(seal(header + ranges)), ranges);

    const char* bad_headers[] = {
        "ferry-journal 2\nurl \nsize 10\netag \nlast-modified \n",
        "ferry-journal 1\nsize 10\nurl \netag \nlast-modified \n", // fields out of order
        "ferry-journal 1\nurl \nsize 10\netag \n",                 // field missing
        "ferry-journal 1\nurl\nsize 10\netag \nlast-modified \n",  // no space after the key
        "ferry-journal 1\nurl \nsize +10\netag \nlast-modified \n",
        "ferry-journal 1\nurl \nsize \netag \nlast-modified \n",
        "ferry-journal 1\nurl \nsize 10\netag a\\nb\nlast-modified \n",  // unknown escape
        "ferry-journal 1\nurl \nsize 10\netag a\\x4\nlast-modified \n",  // short escape
        "ferry-journal 1\nurl \nsize 10\netag a\\x41\nlast-modified \n", // needless escape
        "ferry-journal 1\nurl \nsize 10\netag a\tb\nlast-modified \n",   // raw control byte
        "ferry-journal 1\r\nurl \nsize 10\netag \nlast-modified \n",
        "",
    };
    for (const char* body : bad_headers)
        CHECK_MESSAGE(!decode_journal(seal(body)), body);
    CHECK(decode_journal(seal("ferry-journal 1\nurl \nsize 10\netag a\\x0ab\\\\\nlast-modified \n"))->etag ==
          "a\nb\\");

    // The checksum line itself: lowercase, 8 digits, last, newline-terminated.
    std::string body = header;
    char upper[32];
    std::snprintf(upper, sizeof upper, "crc32 %08X\n", static_cast<unsigned>(reference_crc32(body)));
    if (std::string(upper) != seal(body).substr(body.size()))
        CHECK_FALSE(decode_journal(body + upper));
    auto sealed = seal(body);
    CHECK(decode_journal(sealed));
    CHECK_FALSE(decode_journal(sealed.substr(0, sealed.size() - 1)));
    CHECK_FALSE(decode_journal(sealed + "x"));
    CHECK_FALSE(decode_journal(std::string_view("\0\n", 2)));
}

TEST_CASE("decode is bounded: too many ranges or bytes are refused") {
    journal_record many;
    many.size = 100'000'000'000ull;
    many.done.reserve(1'000'001);
    for (std::uint64_t i = 0; i < 1'000'000; ++i)
        many.done.push_back({i * 4, i * 4 + 1});
    auto at_limit = decode_journal(encode_journal(many));
    REQUIRE(at_limit);
    CHECK(at_limit->done.size() == 1'000'000);
    many.done.push_back({9'000'000, 9'000'001});
    CHECK_FALSE(decode_journal(encode_journal(many)));

    std::string huge(64 * 1024 * 1024 + 1, 'x');
    CHECK_FALSE(decode_journal(huge));
    std::string long_etag = "ferry-journal 1\nurl \nsize 1\netag ";
    long_etag.append(20'000, 'e');
    long_etag += "\nlast-modified \n";
    CHECK_FALSE(decode_journal(seal(long_etag)));
}

TEST_CASE("write_journal replaces an existing journal and leaves nothing else behind") {
    temp_dir tmp;
    auto path = journal_path(tmp / "model.bin.part");
    CHECK(path == tmp / "model.bin.part.journal");
    CHECK_FALSE(read_journal(path));

    auto first = sample();
    REQUIRE_FALSE(write_journal(path, first));
    auto read = read_journal(path);
    REQUIRE(read);
    check_same(*read, first);

    auto second = sample();
    second.done.push_back({9'000'000'000ull, 9'000'000'100ull});
    second.etag = "\"v2\"";
    REQUIRE_FALSE(write_journal(path, second));
    read = read_journal(path);
    REQUIRE(read);
    check_same(*read, [&] {
        auto expected = second;
        std::sort(expected.done.begin(), expected.done.end(),
                  [](const byte_range& a, const byte_range& b) { return a.begin < b.begin; });
        return expected;
    }());
    CHECK(entry_count(tmp.path()) == 1); // no temporary files left

    // The file mode follows the umask like any other file ferry writes.
    auto umask_now = ::umask(0);
    ::umask(umask_now);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == (0666 & ~umask_now));

    remove_journal(path);
    CHECK_FALSE(fs::exists(path));
    remove_journal(path); // already gone: fine
}

TEST_CASE("journal files that are not plain regular files are not read or written through") {
    temp_dir tmp;
    fs::create_directory(tmp / "outside");
    auto target = tmp / "outside/target";
    REQUIRE_FALSE(write_journal(target, sample()));
    auto before = read_text(target);

    // A symlink as the journal: reading does not follow it, writing replaces the link itself.
    auto path = tmp / "f.part.journal";
    fs::create_symlink(target, path);
    CHECK_FALSE(read_journal(path));
    journal_record other;
    other.size = 7;
    REQUIRE_FALSE(write_journal(path, other));
    CHECK_FALSE(fs::is_symlink(path));
    CHECK(read_journal(path)->size == 7);
    CHECK(read_text(target) == before);

    // A FIFO must not hang the reader.
    auto fifo = tmp / "g.part.journal";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_FALSE(read_journal(fifo));

    // Garbage and oversized files are simply no journal.
    write_text(tmp / "h.part.journal", "not a journal\n");
    CHECK_FALSE(read_journal(tmp / "h.part.journal"));
    {
        int fd = ::open((tmp / "big.part.journal").c_str(), O_WRONLY | O_CREAT, 0600);
        REQUIRE(fd >= 0);
        CHECK(::ftruncate(fd, 64 * 1024 * 1024 + 1) == 0); // sparse: costs no disk
        ::close(fd);
    }
    CHECK_FALSE(read_journal(tmp / "big.part.journal"));

    // A directory that does not exist: an error, not a crash.
    CHECK(write_journal(tmp / "missing/x.journal", other));
}

TEST_CASE("per-mirror validators round-trip, with tabs and credentials kept out") {
    journal_record r;
    r.url = "https://a.example/f";
    r.size = 1000;
    r.etag = "\"a\"";
    r.done = {{0, 100}};
    r.mirrors = {{"https://user:pw@a.example/f?sig=secret", "\"a\"", ""},
                 {"https://b.example/f", "\"b\ttab\"", "Mon, 01 Jan 2024 00:00:00 GMT"}};
    auto text = encode_journal(r);
    CHECK(text.find("secret") == std::string::npos);
    CHECK(text.find("pw@") == std::string::npos);
    auto back = decode_journal(text);
    REQUIRE(back.has_value());
    REQUIRE(back->mirrors.size() == 2);
    CHECK(back->mirrors[0].url == "https://a.example/f");
    CHECK(back->mirrors[1].etag == "\"b\ttab\"");
    CHECK(back->mirrors[1].last_modified == "Mon, 01 Jan 2024 00:00:00 GMT");
    CHECK(back->done == r.done);
    // A journal of the earlier format (no mirror lines) still reads.
    r.mirrors.clear();
    auto old = decode_journal(encode_journal(r));
    REQUIRE(old.has_value());
    CHECK(old->mirrors.empty());
}
