#include "tools/serve/aria2_session.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <unistd.h>

using namespace ferry::serve;

TEST_CASE("session text: aria2's layout, read back as written") {
    std::vector<session_entry> entries(2);
    entries[0].uris = {"https://a/x.bin", "https://b/x.bin"};
    entries[0].options = {{"gid", "2089b05ecca3d829"}, {"pause", "true"}, {"header", "X-A: 1"}, {"header", "X-B: 2"}};
    entries[1].uris = {"https://a/y.bin"};
    entries[1].options = {{"gid", "0123456789abcdef"}, {"checksum", "sha-256=00ff"}};
    auto text = write_session(entries);
    CHECK(text == "https://a/x.bin\thttps://b/x.bin\t\n gid=2089b05ecca3d829\n pause=true\n header=X-A: 1\n"
                  " header=X-B: 2\nhttps://a/y.bin\t\n gid=0123456789abcdef\n checksum=sha-256=00ff\n");
    auto parsed = parse_session(text);
    REQUIRE(parsed);
    REQUIRE(parsed.entries.size() == 2);
    CHECK(parsed.entries[0].uris == entries[0].uris);
    CHECK(parsed.entries[0].options == entries[0].options);
    CHECK(parsed.entries[1].option("checksum") == "sha-256=00ff"); // the first '=' splits
    CHECK(parsed.entries[1].option("pause") == std::nullopt);
    CHECK(write_session({}).empty());
    CHECK(parse_session("").entries.empty());
}

TEST_CASE("session text: what aria2 tolerates (comments, blank lines, CRLF, tabs) and what it does not") {
    auto parsed = parse_session("# saved by hand\r\n\r\nhttps://a/x.bin\r\n\tdir=/srv\r\n  out=x.bin\r\n");
    REQUIRE(parsed);
    REQUIRE(parsed.entries.size() == 1);
    CHECK(parsed.entries[0].uris == std::vector<std::string>{"https://a/x.bin"});
    CHECK(parsed.entries[0].option("dir") == "/srv");
    CHECK(parsed.entries[0].option("out") == "x.bin");

    auto orphan = parse_session("\n gid=2089b05ecca3d829\n");
    CHECK_FALSE(orphan);
    CHECK(orphan.error == "line 2: an option before any URI");
    auto no_value = parse_session("https://a/x.bin\n pause\n");
    CHECK_FALSE(no_value);
    CHECK(no_value.error == "line 2: an option needs the form key=value");
}

TEST_CASE("replace_file_durably swaps the whole file in, and says why when it cannot") {
    auto dir = std::filesystem::temp_directory_path() / ("ferry-session-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto file = dir / "session.txt";
    CHECK(replace_file_durably(file, "one\n").empty());
    CHECK(replace_file_durably(file, "two\n").empty());
    std::ifstream in(file);
    CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == "two\n");
    CHECK_FALSE(std::filesystem::exists(dir / "session.txt.tmp"));
    auto error = replace_file_durably(dir / "missing" / "session.txt", "x");
    CHECK(error.find("cannot create") == 0);
    CHECK(error.find("No such file or directory") != std::string::npos);
    std::filesystem::remove_all(dir);
}
