#include "memory/git_blob_id.hpp"

#include <openssl/evp.h>

#include <fstream>
#include <stdexcept>
#include <vector>

namespace ferry {

struct sha1::impl {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();

    impl() {
        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr) != 1) {
            EVP_MD_CTX_free(ctx);
            throw std::runtime_error("OpenSSL cannot provide SHA-1");
        }
    }
    ~impl() { EVP_MD_CTX_free(ctx); }
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;
};

sha1::sha1() : impl_(std::make_unique<impl>()) {}
sha1::~sha1() = default;
sha1::sha1(sha1&&) noexcept = default;
sha1& sha1::operator=(sha1&&) noexcept = default;

void sha1::update(const void* data, std::size_t size) {
    if (!impl_)
        impl_ = std::make_unique<impl>();
    if (size != 0 && EVP_DigestUpdate(impl_->ctx, data, size) != 1)
        throw std::runtime_error("SHA-1 update failed");
}

std::string sha1::finish() {
    if (!impl_)
        impl_ = std::make_unique<impl>();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(impl_->ctx, digest, &length) != 1 ||
        EVP_DigestInit_ex(impl_->ctx, EVP_sha1(), nullptr) != 1)
        throw std::runtime_error("SHA-1 finish failed");
    return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string git_object_header(std::string_view type, std::uint64_t size) {
    std::string header(type);
    header += ' ';
    header += std::to_string(size);
    header += '\0';
    return header;
}

std::string hex_text(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char byte : bytes) {
        out += digits[byte >> 4];
        out += digits[byte & 15];
    }
    return out;
}

std::string git_blob_id(std::string_view content) {
    sha1 hash;
    hash.update(git_object_header("blob", content.size()));
    hash.update(content);
    return hex_text(hash.finish());
}

std::optional<std::string> git_blob_id_of_file(const std::filesystem::path& path) {
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    std::ifstream in(path, std::ios::binary);
    if (ec || !in)
        return std::nullopt;
    sha1 hash;
    hash.update(git_object_header("blob", size));
    std::vector<char> buffer(1 << 20);
    std::uint64_t read = 0;
    while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        hash.update(buffer.data(), static_cast<std::size_t>(in.gcount()));
        read += static_cast<std::uint64_t>(in.gcount());
    }
    if (in.bad() || read != size) // changed while read
        return std::nullopt;
    return hex_text(hash.finish());
}

} // namespace ferry
