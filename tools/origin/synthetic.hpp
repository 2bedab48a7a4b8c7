#pragma once

#include "memory/sha256.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ferry::origin {

/// Synthetic file content: byte `i` of file `name` is a pure function of (name, seed, i), so a test
/// can serve, fetch and check gigabytes without fixtures. The file's size only truncates it: a
/// prefix of a longer file has the same bytes.
///
/// The stream is splitmix64: 8-byte word `w` is `mix(key + (w + 1) * 0x9E3779B97F4A7C15)`, stored
/// little-endian, with `key` derived from the name and the seed. Any offset is reachable directly
/// (no state), and the fill runs at several GB/s.
///
/// `name` is the URL path without its leading '/' (origin_server uses it that way).
void synthetic_fill(std::string_view name, std::uint64_t seed, std::uint64_t offset, std::span<std::byte> out);

/// SHA-256 of the first `size` bytes of synthetic file `name`.
sha256_digest synthetic_sha256(std::string_view name, std::uint64_t size, std::uint64_t seed);

/// The per-file key of the stream (exposed for ETags: equal keys, equal bytes).
std::uint64_t synthetic_key(std::string_view name, std::uint64_t seed) noexcept;

} // namespace ferry::origin
