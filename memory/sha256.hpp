#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ferry {

using sha256_digest = std::array<std::uint8_t, 32>;

/// Incremental SHA-256 (OpenSSL EVP). Movable, not copyable. OpenSSL's context is made by the
/// first update() or finish(): a file that is not hashed costs none.
class sha256 {
public:
    sha256();
    ~sha256();
    sha256(sha256&&) noexcept;
    sha256& operator=(sha256&&) noexcept;

    void update(const void* data, std::size_t size);
    /// Finishes and resets for a new message.
    sha256_digest finish();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

std::string to_hex(const sha256_digest& digest);
/// SHA-256 of a whole file on disk; nullopt when it cannot be read.
std::optional<sha256_digest> sha256_of_file(const std::filesystem::path& path);
/// 64 hex digits (either case); nullopt otherwise.
std::optional<sha256_digest> parse_sha256_hex(std::string_view hex);

} // namespace ferry
