#pragma once

// A Hub snapshot turned into engine work on the Hugging Face cache, and the cache completed
// afterwards (../shared/hf-hub.md §4):
//
//   plan_hub_model    which selected files the cache has (linked already, or a blob of the same
//                     name in this or another repo: the model store), and a model_spec for the
//                     rest: one file per distinct blob, fetched to blobs/{etag} from its resolve
//                     URL, verified against the listing's sha256 (LFS) or git blob id;
//   finish_hub_model  after the engine: blobs from elsewhere hard-linked, the snapshot's
//                     relative links made, trees/{sha}.json, then refs/{revision}.
//
// With a local directory instead of the cache, files land there under their repo paths.
// Filesystem work only, no network; not thread-safe.

#include "engine/hub_client.hpp"
#include "engine/hub_filter.hpp"
#include "engine/model.hpp"
#include "memory/hub_cache.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/system/result.hpp>

namespace ferry {

/// Which files of a revision are wanted.
struct hub_selection {
    std::vector<std::string> filenames; ///< exact repo paths; empty: every file the filter keeps
    hub_path_filter filter;
};

/// How a Hub model's files are fetched.
struct hub_fetch_options {
    std::string endpoint = "https://huggingface.co";
    std::optional<std::string> token;   ///< goes to the endpoint's origin only
    std::string model_id;               ///< default: the repo id
    priority prio = priority::normal;
    std::uint64_t limit_rate = 0;
    std::optional<std::filesystem::path> local_dir; ///< plain files there instead of the cache
};

/// One blob the cache already holds under another repo (or gets from another model of this run).
struct hub_adoption {
    std::string etag;
    std::filesystem::path source;
    std::uint64_t size = 0;
};

/// What a Hub model needs, decided before anything is fetched.
struct hub_model {
    hub_snapshot snapshot;
    std::optional<std::filesystem::path> local_dir;
    std::vector<hub_tree_file> files;       ///< the selected files
    std::vector<std::string> missing;       ///< requested filenames the commit does not have
    model_spec fetch;                       ///< what the engine fetches (may have no files)
    std::vector<hub_adoption> adoptions;    ///< blobs linked from elsewhere instead of fetched
    std::size_t hits = 0;                   ///< selected files whose blob this repo has already
    std::uint64_t hit_bytes = 0;
    std::uint64_t adopted_bytes = 0;        ///< bytes the model store saved fetching

    /// The snapshot directory (or the local directory) the caller hands to its user.
    std::filesystem::path destination(const hub_cache& cache) const;
};

/// Blobs this run fetches, by etag, and where they land: a second model needing one adopts it
/// after the first has fetched it (single flight).
using hub_blobs_in_flight = std::map<std::string, std::filesystem::path, std::less<>>;

/// Decides what `snapshot` needs under `selection`. Requested filenames absent from the commit
/// are marked in `.no_exist` and listed in `missing`; the model is then not planned at all.
hub_model plan_hub_model(hub_cache& cache, hub_snapshot snapshot, const hub_selection& selection,
                         const hub_fetch_options& options, hub_blobs_in_flight& in_flight);

/// Completes the cache after the engine ran `model.fetch`: adopts blobs, links every selected
/// file whose blob is there, writes trees/{sha}.json and (for a named revision) the ref. Returns
/// one line per file it could not place (a blob that never arrived, a link refused).
std::vector<std::string> finish_hub_model(hub_cache& cache, const hub_model& model);

/// A revision answered from the cache alone (offline, or a sha whose snapshot is complete): its
/// snapshot directory when every selected file is there. Without trees/{sha}.json only the
/// requested filenames can be checked; with none, the snapshot directory itself is taken as the
/// answer unless `need_listing` (then errc: nothing says what the snapshot should hold).
/// `message` says what is missing.
boost::system::result<std::filesystem::path> cached_hub_snapshot(const hub_cache& cache, const hub_repo_id& repo,
                                                                 const std::string& revision,
                                                                 const hub_selection& selection, std::string& message,
                                                                 bool need_listing = false);

} // namespace ferry
