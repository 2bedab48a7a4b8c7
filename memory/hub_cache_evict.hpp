#pragma once

// Removing revisions from a Hugging Face cache: `ferry cache rm` (one repo or one revision) and
// `ferry cache prune` (least recently used revisions until the cache fits a size).
//
// A revision is its snapshot folder, the refs naming it, .no_exist/{sha}/ and trees/{sha}.json,
// and the blobs that no remaining revision of its repo links. A repo left without revisions is
// removed whole, with ROOT/.locks/{folder}/ — unless a transfer is making a blob there (a
// `*.part` whose blob lock is held): then only the revisions go. Removing a whole repo takes
// everything, partial downloads included. Bytes freed count the blob inodes no revision left in
// the cache links (hub_cache_scan.hpp's "size on disk"): a blob hard-linked into another repo
// frees nothing.

#include "memory/hub_cache_scan.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <boost/system/result.hpp>

namespace ferry {

/// One revision removed (or, in a dry run, that would be).
struct hub_evicted_revision {
    hub_repo_id repo;
    std::string sha;
    std::vector<std::string> refs;
    std::uint64_t size_on_disk = 0; ///< the revision's own size (its distinct blobs)
    hub_time last_access{};
};

struct hub_eviction {
    std::vector<hub_evicted_revision> revisions; ///< in eviction order
    std::vector<hub_repo_id> repos_removed;      ///< repos removed whole
    std::uint64_t size_before = 0;               ///< the cache's size on disk before
    std::uint64_t bytes_freed = 0;
    std::uint64_t size_after() const noexcept { return size_before - bytes_freed; }
};

/// Removes `repo` whole, or only `revision` of it (a sha or a ref name). errc::no_such_file_or_directory
/// with `message` set when the repo or revision is not in the cache; errc::invalid_argument when
/// the repo folder is broken and a revision was asked for (remove the whole repo instead).
boost::system::result<hub_eviction> remove_from_hub_cache(const std::filesystem::path& root, const hub_repo_id& repo,
                                                          const std::optional<std::string>& revision,
                                                          std::string& message);

/// Evicts the least recently used revisions (by last access, oldest first) across all repos
/// until the cache's size on disk is at most `max_size`. A blob a kept revision links is never
/// deleted. With `dry_run`, only says what it would do.
hub_eviction prune_hub_cache(const std::filesystem::path& root, std::uint64_t max_size, bool dry_run);

} // namespace ferry
