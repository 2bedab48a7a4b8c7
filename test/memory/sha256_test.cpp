#include "memory/sha256.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace ferry;

namespace {

std::string hash_hex(std::string_view text) {
    sha256 h;
    h.update(text.data(), text.size());
    return to_hex(h.finish());
}

} // namespace

TEST_CASE("sha256 of the standard vectors") {
    CHECK(hash_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(hash_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hash_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    sha256 h;
    std::string block(1000, 'a');
    for (int i = 0; i < 1000; ++i)
        h.update(block.data(), block.size());
    CHECK(to_hex(h.finish()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256 fed in pieces equals one shot, and finish resets") {
    std::string message;
    for (int i = 0; i < 5000; ++i)
        message += static_cast<char>((i * 131 + 7) & 0xFF);
    auto expected = hash_hex(message);

    for (std::size_t piece : {1u, 3u, 63u, 64u, 65u, 1000u, 4999u}) {
        CAPTURE(piece);
        sha256 h;
        for (std::size_t at = 0; at < message.size(); at += piece)
            h.update(message.data() + at, std::min(piece, message.size() - at));
        CHECK(to_hex(h.finish()) == expected);
        // finish() starts a new message.
        h.update("abc", 3);
        CHECK(to_hex(h.finish()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    sha256 h;
    h.update(nullptr, 0);
    CHECK(to_hex(h.finish()) == hash_hex(""));
}

TEST_CASE("sha256 moves") {
    sha256 a;
    a.update("ab", 2);
    sha256 b = std::move(a);
    b.update("c", 1);
    CHECK(to_hex(b.finish()) == hash_hex("abc"));
    a = sha256();
    a.update("abc", 3);
    CHECK(to_hex(a.finish()) == hash_hex("abc"));
}

TEST_CASE("hex digests parse in either case and nothing else") {
    auto hex = hash_hex("abc");
    auto parsed = parse_sha256_hex(hex);
    REQUIRE(parsed);
    CHECK(to_hex(*parsed) == hex);

    std::string upper = hex;
    for (auto& c : upper)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    REQUIRE(parse_sha256_hex(upper));
    CHECK(*parse_sha256_hex(upper) == *parsed);

    CHECK_FALSE(parse_sha256_hex(""));
    CHECK_FALSE(parse_sha256_hex(hex.substr(1)));
    CHECK_FALSE(parse_sha256_hex(hex + "0"));
    CHECK_FALSE(parse_sha256_hex(std::string("g").append(hex, 1)));
    CHECK_FALSE(parse_sha256_hex(std::string(" ").append(hex, 1)));
    CHECK_FALSE(parse_sha256_hex(std::string("sha256:").append(hex)));
}
