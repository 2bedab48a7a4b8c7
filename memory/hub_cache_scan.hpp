#pragma once

// What a Hugging Face cache holds, read the way huggingface_hub's scan_cache_dir reads it
// (../shared/hf-hub.md §4, "What readers check"): repos, their revisions and files, refs, sizes
// and access times. A repo folder that a reader would reject is left out and named in `warnings`.
//
// Sizes are apparent sizes (st_size), as huggingface_hub reports them, of the blobs that
// snapshots link; partial downloads and blobs no snapshot links are not counted:
// - a revision's size counts each blob it links once;
// - a repo's size counts each blob of its revisions once (by inode), so a blob hard-linked into
//   two repos counts fully in each;
// - the cache's size counts each inode once across all repos: a hard-linked blob shared by two
//   repos counts once. This is the size `prune` brings under its limit.
//
// "Last access" of a revision is the newest access time among its snapshot directory and its
// blobs (hub_cache::touch_revision sets them); scanning does not change access times.

#include "memory/hub_cache.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include <sys/types.h>

namespace ferry {

using hub_time = std::chrono::system_clock::time_point;

/// A file identity: device and inode.
struct hub_inode {
    dev_t device = 0;
    ino_t inode = 0;
    friend auto operator<=>(const hub_inode&, const hub_inode&) = default;
};

/// One file of a revision.
struct hub_cached_file {
    std::string path;             ///< repo path, '/'-separated
    std::string blob;             ///< the blob's name in blobs/ (the etag); "" for a plain copy in the snapshot
    std::filesystem::path blob_path; ///< what the file resolves to
    std::uint64_t size = 0;
    hub_inode inode;
};

struct hub_cached_revision {
    std::string sha;                 ///< the snapshot folder's name
    std::vector<std::string> refs;   ///< refs naming it, sorted
    std::vector<hub_cached_file> files; ///< sorted by path
    std::uint64_t size_on_disk = 0;  ///< its distinct blobs
    hub_time last_access{};
    hub_time last_modified{};
};

struct hub_cached_repo {
    hub_repo_id repo;
    std::filesystem::path dir;
    std::vector<hub_cached_revision> revisions; ///< sorted by sha
    std::map<std::string, std::string> refs;    ///< ref name → sha
    std::uint64_t size_on_disk = 0;
    std::size_t blob_count = 0;                 ///< distinct blobs its revisions link
    hub_time last_access{};
    hub_time last_modified{};
};

struct hub_cache_warning {
    std::filesystem::path path;
    std::string message; ///< one line
};

struct hub_cache_contents {
    std::vector<hub_cached_repo> repos; ///< sorted by type, then id
    std::vector<hub_cache_warning> warnings;
    std::uint64_t size_on_disk = 0;     ///< each inode once across repos
};

/// Scans every repo folder under `root`. A missing root is an empty cache.
hub_cache_contents scan_hub_cache(const std::filesystem::path& root);

/// Scans one repo folder (its name, e.g. "models--acme--tiny"); the warning when a reader would
/// reject it.
std::variant<hub_cached_repo, hub_cache_warning> scan_hub_repo(const std::filesystem::path& root,
                                                                const std::string& folder);

/// The repo a folder name stands for ("models--acme--tiny" → model acme/tiny); nullopt for
/// anything else.
std::optional<hub_repo_id> repo_of_folder(std::string_view folder);

} // namespace ferry
