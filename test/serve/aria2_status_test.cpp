#include "tools/serve/aria2_status.hpp"

#include <doctest/doctest.h>

#include <boost/json/serialize.hpp>

using namespace ferry;
using namespace ferry::serve;

TEST_CASE("tellStatus: numbers as strings, aria2's status names, key filters") {
    aria2_download d;
    d.gid = "0123456789abcdef";
    d.uris = {"https://h/x.bin"};
    d.dir = "/data";
    d.out = "x.bin";
    model_stats s;
    s.state = model_state::active;
    s.bytes_done = 1024;
    s.bytes_total = 3 * 1024 * 1024 + 1;
    s.speed = 2048.7;
    s.files_running = 1;
    auto o = status_object(d, s);
    CHECK(o.at("gid") == "0123456789abcdef");
    CHECK(o.at("status") == "active");
    CHECK(o.at("completedLength") == "1024");
    CHECK(o.at("totalLength") == "3145729");
    CHECK(o.at("downloadSpeed") == "2048");
    CHECK(o.at("numPieces") == "4");
    CHECK(o.at("connections") == "1");
    CHECK(o.at("dir") == "/data");
    CHECK_FALSE(o.contains("errorCode"));
    CHECK(o.at("bitfield") == "00");
    auto& file = o.at("files").as_array().at(0).as_object();
    CHECK(file.at("path") == "/data/x.bin");
    CHECK(file.at("uris").as_array().at(0).at("status") == "used");

    auto picked = status_object(d, s, {"gid", "status", "nosuchkey"});
    CHECK(boost::json::serialize(picked) == R"({"gid":"0123456789abcdef","status":"active"})");

    s.state = model_state::error;
    d.error_message = "HTTP 404";
    auto failed = status_object(d, s);
    CHECK(failed.at("status") == "error");
    CHECK(failed.at("errorCode") == "1");
    CHECK(failed.at("errorMessage") == "HTTP 404");
    CHECK(failed.at("downloadSpeed") == "0"); // the last seconds' speed is not the download's now
    s.state = model_state::complete;
    CHECK(status_object(d, s).at("downloadSpeed") == "0");
    // Forgotten by the engine: removed.
    CHECK(status_object(d, std::nullopt).at("status") == "removed");
    CHECK(std::string(aria2_status_name(model_state::paused)) == "paused");
    CHECK(std::string(aria2_status_name(model_state::waiting)) == "waiting");
    CHECK(std::string(aria2_status_name(model_state::complete)) == "complete");
}

TEST_CASE("the bitfield: one bit per piece, high bit first, whole bytes") {
    CHECK(piece_bitfield(0, 1, 1024) == "00");
    CHECK(piece_bitfield(1, 1, 1024) == "80");
    CHECK(piece_bitfield(10 * 1024, 10 * 1024, 1024) == "ffc0");
    CHECK(piece_bitfield(3 * 1024 + 5, 10 * 1024, 1024) == "e000");
    CHECK(piece_bitfield(16 * 1024, 16 * 1024, 1024) == "ffff");
}

TEST_CASE("offset/num windows as tellWaiting and tellStopped take them, negative offsets backwards") {
    using v = std::vector<std::size_t>;
    CHECK(aria2_window(5, 0, 2) == v{0, 1});
    CHECK(aria2_window(5, 3, 10) == v{3, 4});
    CHECK(aria2_window(5, 7, 2) == v{});
    CHECK(aria2_window(5, -1, 2) == v{4, 3});
    CHECK(aria2_window(5, -2, 10) == v{3, 2, 1, 0});
    CHECK(aria2_window(5, -9, 3) == v{});
    CHECK(aria2_window(5, 0, 0) == v{});
    CHECK(aria2_window(0, -1, 3) == v{});
}
