#pragma once

// Git's object ids (SHA-1), which the Hub gives for files not stored with LFS: the id of a blob is
// sha1("blob " + decimal size + "\0" + content).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ferry {

/// Incremental SHA-1 (OpenSSL EVP). Movable, not copyable.
class sha1 {
public:
    sha1();
    ~sha1();
    sha1(sha1&&) noexcept;
    sha1& operator=(sha1&&) noexcept;

    void update(const void* data, std::size_t size);
    void update(std::string_view text) { update(text.data(), text.size()); }
    /// The 20 raw bytes; resets for a new message.
    std::string finish();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// "blob <size>\0": what git hashes before a blob's content (any object type: "tree", ...).
std::string git_object_header(std::string_view type, std::uint64_t size);
/// Lowercase hex of raw bytes.
std::string hex_text(std::string_view bytes);
/// The git blob id (40 hex) of `content`.
std::string git_blob_id(std::string_view content);
/// The git blob id of a file on disk; nullopt when it cannot be read.
std::optional<std::string> git_blob_id_of_file(const std::filesystem::path& path);

} // namespace ferry
