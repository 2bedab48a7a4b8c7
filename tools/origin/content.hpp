#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace ferry::origin {

/// One servable file: synthetic bytes or a file on disk, with its validators (strong ETag,
/// Last-Modified). Cheap to copy (a file's descriptor is shared). Reading is thread-safe.
class content {
public:
    /// Synthetic file `name` (see synthetic.hpp) of `size` bytes.
    static content synthetic(std::string name, std::uint64_t size, std::uint64_t seed);
    /// A regular file on disk, opened now (reads go to the open descriptor, so the file is read in
    /// pieces and never held in memory); nullopt when it is not a readable regular file.
    static std::optional<content> open_file(const std::filesystem::path& path);
    /// Bytes held in memory (shared, never copied), Last-Modified as synthetic files have it.
    static content in_memory(std::shared_ptr<const std::string> bytes);

    /// Version `n` of this file (fault::version): other ETag, Last-Modified and bytes. 0 = this.
    content with_version(std::uint64_t n) const;
    /// The same file under another ETag, as a second server would tag the same bytes: `salt`
    /// goes into the ETag (not into Last-Modified or the bytes). "" = no salt.
    content with_etag_salt(std::string salt) const;
    /// The same bytes under exactly this ETag (with its quotes), as the fake Hub tags a blob by
    /// its digest; versions and salts no longer change it. "" = the computed one.
    content with_etag(std::string etag) const;

    std::uint64_t size() const noexcept { return size_; }
    const std::string& etag() const noexcept { return etag_; }       ///< with its quotes
    const std::string& last_modified() const noexcept { return last_modified_; } ///< an HTTP-date

    /// Fills `out` with the bytes at `offset` (offset + out.size() <= size()). False when the file
    /// cannot be read (it shrank, an I/O error).
    bool read(std::uint64_t offset, std::span<std::byte> out) const;

private:
    struct descriptor;
    content() = default;
    void describe();

    std::string name_;                  ///< synthetic: the name; file: empty
    std::uint64_t seed_ = 0;
    std::shared_ptr<descriptor> file_;  ///< file on disk, or null for synthetic
    std::shared_ptr<const std::string> memory_; ///< bytes in memory, or null
    std::uint64_t size_ = 0;
    std::uint64_t version_ = 0;
    std::int64_t modified_ns_ = 0;      ///< file: mtime
    std::string etag_salt_;
    std::string fixed_etag_;
    std::string etag_;
    std::string last_modified_;
};

/// Formats an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) from seconds since the epoch.
std::string http_date(std::int64_t unix_seconds);

} // namespace ferry::origin
