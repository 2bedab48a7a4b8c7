// websocket_frame: the client frame headers the server accepts and refuses, unmasking, the
// server's headers at each length encoding, and the UTF-8 check of text messages.

#include "net/websocket_frame.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace frame = ferry::websocket_frame;

namespace {

std::vector<unsigned char> bytes(std::initializer_list<int> values) {
    std::vector<unsigned char> out;
    for (int v : values)
        out.push_back(static_cast<unsigned char>(v));
    return out;
}

frame::parse_result parse(const std::vector<unsigned char>& data, frame::header& h) {
    return frame::parse_client_header(data.data(), data.size(), h);
}

} // namespace

TEST_CASE("websocket_frame: client headers with 7-, 16- and 64-bit lengths, and when more bytes are needed") {
    frame::header h;
    auto small = bytes({0x81, 0x85, 1, 2, 3, 4});
    REQUIRE(parse(small, h) == frame::parse_result::ok);
    CHECK(h.fin);
    CHECK(h.op == frame::opcode::text);
    CHECK(h.length == 5);
    CHECK(h.size == 6);
    CHECK(h.mask == std::array<unsigned char, 4>{1, 2, 3, 4});
    for (std::size_t n = 0; n < small.size(); ++n)
        CHECK(frame::parse_client_header(small.data(), n, h) == frame::parse_result::incomplete);

    auto medium = bytes({0x02, 0xfe, 0x01, 0x00, 9, 9, 9, 9});
    REQUIRE(parse(medium, h) == frame::parse_result::ok);
    CHECK_FALSE(h.fin);
    CHECK(h.op == frame::opcode::binary);
    CHECK(h.length == 256);
    CHECK(h.size == 8);

    auto large = bytes({0x80, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 5, 6, 7, 8});
    REQUIRE(parse(large, h) == frame::parse_result::ok);
    CHECK(h.op == frame::opcode::continuation);
    CHECK(h.length == (std::uint64_t(1) << 32));
    CHECK(h.size == 14);
    CHECK(frame::parse_client_header(large.data(), 13, h) == frame::parse_result::incomplete);
}

TEST_CASE("websocket_frame: headers a client may not send are bad") {
    frame::header h;
    CHECK(parse(bytes({0x81, 0x05, 0, 0, 0, 0}), h) == frame::parse_result::bad);       // not masked
    CHECK(parse(bytes({0xc1, 0x85, 0, 0, 0, 0}), h) == frame::parse_result::bad);       // RSV1 (no extension)
    CHECK(parse(bytes({0x83, 0x85, 0, 0, 0, 0}), h) == frame::parse_result::bad);       // opcode 3
    CHECK(parse(bytes({0x8b, 0x80, 0, 0, 0, 0}), h) == frame::parse_result::bad);       // opcode 11
    CHECK(parse(bytes({0x09, 0x80, 0, 0, 0, 0}), h) == frame::parse_result::bad);       // fragmented ping
    CHECK(parse(bytes({0x88, 0xfe, 0, 126, 0, 0, 0, 0}), h) == frame::parse_result::bad); // control over 125
    CHECK(parse(bytes({0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), h) == frame::parse_result::bad);
    CHECK(parse(bytes({0x89, 0xfd, 0, 0, 0, 0}), h) == frame::parse_result::ok); // a ping of 125 bytes
}

TEST_CASE("websocket_frame: unmasking restores the payload, at every length and offset of the key") {
    const std::array<unsigned char, 4> key{0x37, 0xfa, 0x21, 0x3d};
    for (std::size_t n : {0, 1, 3, 7, 8, 9, 16, 31, 100}) {
        std::string plain;
        for (std::size_t i = 0; i < n; ++i)
            plain += static_cast<char>('a' + i % 26);
        std::string masked = plain;
        for (std::size_t i = 0; i < n; ++i)
            masked[i] = static_cast<char>(static_cast<unsigned char>(masked[i]) ^ key[i % 4]);
        if (n > 0)
            CHECK(masked != plain);
        frame::unmask(masked.data(), masked.size(), key);
        CHECK(masked == plain);
    }
    // The RFC's example: "Hello" masked with 37 fa 21 3d.
    std::string hello = "\x7f\x9f\x4d\x51\x58";
    frame::unmask(hello.data(), hello.size(), key);
    CHECK(hello == "Hello");
}

TEST_CASE("websocket_frame: server headers are final, unmasked, with the shortest length encoding") {
    unsigned char head[frame::max_server_header];
    REQUIRE(frame::server_header(frame::opcode::text, 5, head) == 2);
    CHECK(head[0] == 0x81);
    CHECK(head[1] == 5);
    REQUIRE(frame::server_header(frame::opcode::close, 125, head) == 2);
    CHECK(head[0] == 0x88);
    CHECK(head[1] == 125);
    REQUIRE(frame::server_header(frame::opcode::text, 126, head) == 4);
    CHECK(head[1] == 126);
    CHECK(head[2] == 0);
    CHECK(head[3] == 126);
    REQUIRE(frame::server_header(frame::opcode::text, 65535, head) == 4);
    CHECK(head[2] == 0xff);
    CHECK(head[3] == 0xff);
    REQUIRE(frame::server_header(frame::opcode::pong, 65536, head) == 10);
    CHECK(head[0] == 0x8a);
    CHECK(head[1] == 127);
    CHECK(std::vector<unsigned char>(head + 2, head + 10) == bytes({0, 0, 0, 0, 0, 1, 0, 0}));
}

TEST_CASE("websocket_frame: UTF-8 check") {
    CHECK(frame::is_utf8(""));
    CHECK(frame::is_utf8(R"({"jsonrpc":"2.0","method":"aria2.tellStatus"})"));
    CHECK(frame::is_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 and a longer ASCII tail after them"));
    CHECK(frame::is_utf8("\xed\x9f\xbf"));     // U+D7FF, just below the surrogates
    CHECK(frame::is_utf8("\xf4\x8f\xbf\xbf")); // U+10FFFF
    CHECK_FALSE(frame::is_utf8("\xc0\xaf"));             // overlong '/'
    CHECK_FALSE(frame::is_utf8("\xe0\x80\xaf"));         // overlong, three bytes
    CHECK_FALSE(frame::is_utf8("\xf0\x80\x80\xaf"));     // overlong, four bytes
    CHECK_FALSE(frame::is_utf8("\xed\xa0\x80"));         // a surrogate
    CHECK_FALSE(frame::is_utf8("\xf4\x90\x80\x80"));     // past U+10FFFF
    CHECK_FALSE(frame::is_utf8("abcdefgh\xc3"));         // cut short
    CHECK_FALSE(frame::is_utf8("\x80 a lone continuation byte"));
    CHECK_FALSE(frame::is_utf8("\xff"));
    CHECK_FALSE(frame::is_utf8("\xe2\x82\x41"));         // a bad continuation
}
