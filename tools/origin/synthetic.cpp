#include "tools/origin/synthetic.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>

namespace ferry::origin {

namespace {

constexpr std::uint64_t golden_gamma = 0x9E3779B97F4A7C15ull;

constexpr std::uint64_t mix(std::uint64_t z) noexcept {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

std::uint64_t word_at(std::uint64_t key, std::uint64_t index) noexcept {
    std::uint64_t w = mix(key + (index + 1) * golden_gamma);
    if constexpr (std::endian::native == std::endian::big)
        w = __builtin_bswap64(w);
    return w;
}

} // namespace

std::uint64_t synthetic_key(std::string_view name, std::uint64_t seed) noexcept {
    // FNV-1a over the name, then mixed with the seed: different names or seeds, unrelated streams.
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : name)
        h = (h ^ c) * 0x100000001b3ull;
    return mix(h ^ mix(seed + golden_gamma));
}

void synthetic_fill(std::string_view name, std::uint64_t seed, std::uint64_t offset, std::span<std::byte> out) {
    const std::uint64_t key = synthetic_key(name, seed);
    std::byte* p = out.data();
    std::size_t left = out.size();
    std::uint64_t index = offset / 8;

    // A partial first word when the offset is not a multiple of 8.
    if (std::size_t skip = offset % 8; skip != 0 && left > 0) {
        std::uint64_t w = word_at(key, index++);
        std::size_t n = std::min<std::size_t>(8 - skip, left);
        std::memcpy(p, reinterpret_cast<const std::byte*>(&w) + skip, n);
        p += n;
        left -= n;
    }
    // Whole words: the hot loop (no branches, so the compiler unrolls it).
    std::size_t words = left / 8;
    for (std::size_t i = 0; i < words; ++i) {
        std::uint64_t w = word_at(key, index + i);
        std::memcpy(p + i * 8, &w, 8);
    }
    p += words * 8;
    left -= words * 8;
    index += words;
    if (left > 0) {
        std::uint64_t w = word_at(key, index);
        std::memcpy(p, &w, left);
    }
}

sha256_digest synthetic_sha256(std::string_view name, std::uint64_t size, std::uint64_t seed) {
    constexpr std::size_t chunk = 1 << 20;
    auto buffer = std::make_unique_for_overwrite<std::byte[]>(chunk);
    sha256 hash;
    for (std::uint64_t offset = 0; offset < size;) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, size - offset));
        synthetic_fill(name, seed, offset, {buffer.get(), n});
        hash.update(buffer.get(), n);
        offset += n;
    }
    return hash.finish();
}

} // namespace ferry::origin
