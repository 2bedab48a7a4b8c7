#include "synthetic_text.hpp"

#include "memory/sha256.hpp"
#include "tools/origin/synthetic.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace ferry;
using namespace ferry::origin;
using ferry::origin::testing::synthetic_text;

TEST_CASE("synthetic bytes are the same whatever the offset and length of the read") {
    const std::string whole = synthetic_text("models/a.bin", 42, 0, 4096);
    REQUIRE(whole == synthetic_text("models/a.bin", 42, 0, 4096));
    for (std::uint64_t offset : {0u, 1u, 3u, 7u, 8u, 9u, 15u, 16u, 17u, 1000u, 4000u})
        for (std::size_t size : {0u, 1u, 2u, 7u, 8u, 9u, 13u, 64u, 65u})
            if (offset + size <= whole.size())
                CHECK(synthetic_text("models/a.bin", 42, offset, size) == whole.substr(offset, size));
}

TEST_CASE("synthetic bytes differ between names and seeds and look random") {
    auto a = synthetic_text("a.bin", 1, 0, 4096);
    CHECK(a != synthetic_text("b.bin", 1, 0, 4096));
    CHECK(a != synthetic_text("a.bin", 2, 0, 4096));
    // Every byte value appears in 64 KiB of random-looking data.
    auto big = synthetic_text("a.bin", 1, 0, 65536);
    std::vector<int> seen(256);
    for (unsigned char c : big)
        ++seen[c];
    for (int count : seen)
        CHECK(count > 0);
    // Offsets far beyond 4 GiB work (no 32-bit wrap): the bytes differ from the start of the file.
    CHECK(synthetic_text("a.bin", 1, (1ull << 33) + 5, 64) != a.substr(5, 64));
}

TEST_CASE("synthetic_sha256 is the SHA-256 of the synthetic bytes") {
    const std::uint64_t size = 3 * 1024 * 1024 + 77; // not a multiple of the internal chunk
    sha256 expected;
    // Hash in odd pieces so the comparison does not share the implementation's chunking.
    for (std::uint64_t offset = 0; offset < size;) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(333'333, size - offset));
        auto piece = synthetic_text("t2v/model.safetensors", 2026, offset, n);
        expected.update(piece.data(), piece.size());
        offset += n;
    }
    CHECK(synthetic_sha256("t2v/model.safetensors", size, 2026) == expected.finish());
    CHECK(synthetic_sha256("t2v/model.safetensors", size, 2027) != synthetic_sha256("t2v/model.safetensors", size, 2026));

    sha256 empty;
    CHECK(synthetic_sha256("x", 0, 0) == empty.finish());
}
