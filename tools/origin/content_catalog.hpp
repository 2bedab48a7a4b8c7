#pragma once

#include "tools/origin/content.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace ferry::origin {

/// What the origin serves, by URL path: synthetic files added by path, then files beneath a root
/// directory. Thread-safe (add while serving).
class content_catalog {
public:
    /// `etag_salt`: given to every file found (content::with_etag_salt).
    content_catalog(std::filesystem::path root, std::uint64_t seed, std::string etag_salt = {})
        : root_(std::move(root)), seed_(seed), etag_salt_(std::move(etag_salt)) {}

    /// Serves synthetic bytes (name: `path` without its leading '/') at `/path`.
    void add_synthetic(std::string_view path, std::uint64_t size);

    /// The content at decoded URL path `path` (starting with '/'): a synthetic file, else a regular
    /// file beneath the root. Paths with `..`, `.` or empty segments, or a NUL, find nothing.
    std::optional<content> find(std::string_view path) const;

    std::uint64_t seed() const noexcept { return seed_; }

private:
    std::optional<content> find_unsalted(std::string_view path) const;

    std::filesystem::path root_;
    std::uint64_t seed_;
    std::string etag_salt_;
    mutable std::mutex mutex_;
    std::map<std::string, std::uint64_t, std::less<>> synthetic_; ///< path → size
};

/// `/a/b` for "a/b" and "/a/b": URL paths as the catalog and the fault table store them.
std::string normalize_path(std::string_view path);

/// Decodes %XX escapes (nothing else: '+' stays); nullopt when one is malformed.
std::optional<std::string> percent_decode(std::string_view text);

/// The raw (still encoded) value of parameter `name` in `query` (the part after '?'): "" for
/// `name` or `name=`, nullopt when absent.
std::optional<std::string_view> query_value(std::string_view query, std::string_view name);

/// Lower-case hex of raw bytes (digests).
std::string hex_text(std::string_view bytes);

/// Percent-decodes the path of a request target (the part before '?'); nullopt when malformed.
std::optional<std::string> decode_target_path(std::string_view target);

} // namespace ferry::origin
