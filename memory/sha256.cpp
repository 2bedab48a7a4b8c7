#include "memory/sha256.hpp"

#include <openssl/evp.h>

#include <fstream>
#include <vector>

#include <stdexcept>

namespace ferry {

struct sha256::impl {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();

    impl() {
        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) {
            EVP_MD_CTX_free(ctx);
            throw std::runtime_error("OpenSSL cannot provide SHA-256");
        }
    }
    ~impl() { EVP_MD_CTX_free(ctx); }
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;
};

sha256::sha256() = default;
sha256::~sha256() = default;
sha256::sha256(sha256&&) noexcept = default;
sha256& sha256::operator=(sha256&&) noexcept = default;

void sha256::update(const void* data, std::size_t size) {
    if (!impl_) // the first bytes (or the first since a move)
        impl_ = std::make_unique<impl>();
    if (size != 0 && EVP_DigestUpdate(impl_->ctx, data, size) != 1)
        throw std::runtime_error("SHA-256 update failed");
}

sha256_digest sha256::finish() {
    if (!impl_)
        impl_ = std::make_unique<impl>();
    sha256_digest out{};
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(impl_->ctx, out.data(), &length) != 1 || length != out.size() ||
        EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("SHA-256 finish failed");
    return out;
}

std::optional<sha256_digest> sha256_of_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return std::nullopt;
    sha256 h;
    std::vector<char> buffer(1 << 20);
    while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        h.update(buffer.data(), static_cast<std::size_t>(in.gcount()));
    }
    if (in.bad())
        return std::nullopt;
    return h.finish();
}

std::string to_hex(const sha256_digest& digest) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(digest.size() * 2);
    for (auto byte : digest) {
        out += digits[byte >> 4];
        out += digits[byte & 15];
    }
    return out;
}

std::optional<sha256_digest> parse_sha256_hex(std::string_view hex) {
    sha256_digest out{};
    if (hex.size() != out.size() * 2)
        return std::nullopt;
    auto value = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < out.size(); ++i) {
        int hi = value(hex[2 * i]);
        int lo = value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return out;
}

} // namespace ferry
