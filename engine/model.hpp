#pragma once

#include "memory/sha256.hpp"
#include "queue/priority.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/system/error_code.hpp>

namespace ferry {

/// One file to fetch.
struct file_spec {
    std::vector<std::string> urls;         ///< mirrors, tried and shared in order (at least one)
    std::filesystem::path path;            ///< relative to the model's directory
    /// What events call the file; empty: its path. (A Hub blob lands at blobs/{etag} and is
    /// shown by its repo path.)
    std::string name;
    std::optional<std::uint64_t> size;     ///< expected size, when known
    std::optional<sha256_digest> sha256;   ///< expected digest, when known
    /// Expected git blob id (40 hex: sha1 of "blob SIZE\0" + content), when known: the Hub's id
    /// of a file not stored with LFS. Checked after the download, as sha256 is.
    std::optional<std::string> git_blob_id;
    std::uint64_t limit_rate = 0;          ///< bytes/s for this file, 0 = no limit of its own
    /// Extra request fields for this file's URLs, sent to their own origins only (never after a
    /// redirect to another scheme, host or port): an access token, say.
    std::vector<std::pair<std::string, std::string>> headers;
    /// The URLs answer with a redirect elsewhere (a Hub resolve URL of an LFS file, which goes to
    /// its CDN): no connection to their own host is opened ahead of the first answer.
    bool redirects = false;
};

/// A group of files fetched together under one priority.
struct model_spec {
    std::string id;                        ///< unique among the engine's models
    priority prio = priority::normal;
    std::filesystem::path dir;             ///< destination directory of its files (must exist or be creatable)
    std::vector<file_spec> files;
    std::uint64_t limit_rate = 0;          ///< bytes/s for the model, 0 = no limit of its own
};

enum class file_outcome { done, skipped, failed, cancelled };
const char* to_string(file_outcome o) noexcept;

struct file_result {
    std::filesystem::path path;            ///< final path (model dir / file path)
    std::string url;                       ///< the first URL, redacted
    file_outcome outcome = file_outcome::failed;
    boost::system::error_code error;
    std::string message;                   ///< one line for the user when failed
    std::uint64_t size = 0;
    std::uint64_t bytes_fetched = 0;       ///< body bytes received this run
    std::uint64_t bytes_resumed = 0;       ///< bytes already on disk from an earlier run
    int retries = 0;
};

struct model_result {
    std::string id;
    std::vector<file_result> files;
    bool ok() const noexcept;              ///< every file done or skipped
};

} // namespace ferry
