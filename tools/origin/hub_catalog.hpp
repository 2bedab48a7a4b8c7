#pragma once

// What the origin's Hub mode serves: repositories with revisions (commits), the refs that name
// them (branches, tags, refs/pr/N) and their files, as the Hugging Face Hub describes them
// (../shared/hf-hub.md). Files are small inline texts or synthetic bytes (synthetic.hpp); equal
// content is one blob with one sha256, whichever repo or revision names it.
//
// Built before the server starts, then read-only: an origin holds it as
// std::shared_ptr<const hub_catalog>, so reading it from several threads needs no lock.

#include "tools/origin/content.hpp"
#include "tools/origin/fault.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::origin {

enum class hub_repo_type { model, dataset };
/// What `gated` says in the repo's info: false, "auto" or "manual". Either gate refuses file
/// downloads without an approved token.
enum class hub_gate { none, automatic, manual };

/// One file of a revision as its author writes it down.
struct hub_file_spec {
    std::string path;                ///< repo path, '/'-separated, no leading '/'
    std::optional<std::string> text; ///< the bytes; nullopt: synthetic bytes
    std::uint64_t size = 0;          ///< synthetic: the size
    /// Synthetic: the name the bytes derive from (synthetic_fill); "" = "{repo id}/{path}". Two
    /// files with the same key and size have the same bytes, so the same sha256.
    std::string key;
    std::optional<bool> lfs; ///< stored with Git LFS; default: synthetic files are, texts not

    static hub_file_spec inline_text(std::string path, std::string text);
    static hub_file_spec synthetic(std::string path, std::uint64_t size, std::string key = {});
};

/// Bytes the Hub serves, and the digests it tells about them.
struct hub_blob {
    std::shared_ptr<const std::string> text; ///< null: synthetic (key, size, seed)
    std::string key;
    std::uint64_t seed = 0;
    std::uint64_t size = 0;
    bool lfs = false;
    std::string sha256;             ///< 64 hex of the content
    std::string git_oid;            ///< git blob sha1 of what git stores: the content, or the LFS pointer
    std::uint64_t pointer_size = 0; ///< LFS pointer length; 0 when not LFS

    /// The bytes, served under ETag `etag` (with its quotes).
    content bytes(std::string etag) const;
};

/// A file or directory of a commit, as the tree listing shows it.
struct hub_entry {
    std::string path;
    bool directory = false;
    std::string oid;              ///< git blob sha1 (file) or git tree sha1 (directory)
    const hub_blob* blob = nullptr; ///< files only
    /// The last commit that changed it (a new oid, or it appeared): what `lastCommit` names.
    std::string last_commit{};
};

struct hub_commit {
    std::string sha; ///< 40 hex
    std::map<std::string, std::shared_ptr<const hub_blob>, std::less<>> files; ///< by path
    std::vector<hub_entry> entries; ///< every file and directory, sorted by path
    std::string tree_oid;           ///< git tree sha1 of the root
};

struct hub_repo {
    hub_repo_type type = hub_repo_type::model;
    std::string id; ///< ORG/NAME or NAME
    hub_gate gate = hub_gate::none;
    bool is_private = false; ///< anyone without an approved token sees RepoNotFound
    bool disabled = false;   ///< everything answers 403 "Access to this resource is disabled."
    std::set<std::string, std::less<>> approved;              ///< tokens allowed past the gate or privacy
    std::map<std::string, std::string, std::less<>> refs;     ///< branch, tag, refs/pr/N → commit sha
    std::map<std::string, hub_commit, std::less<>> commits;   ///< by sha
    /// JSON texts (any value; objects, normally) appended as they are to every tree listing of
    /// this repo and to its paths-info answers that ask for their `path`: hostile entries for
    /// tests (a `../` path, an unknown type, a size that lies...). Not checked; a text that is not
    /// JSON is left out.
    std::vector<std::string> extra_tree_entries;

    /// The commit `revision` names: a ref, "HEAD" (= main) or a commit's full sha; null if none.
    const hub_commit* at(std::string_view revision) const;
};

/// How the Hub mode behaves. Plain data with defaults.
struct hub_options {
    std::size_t page_size = 1000;      ///< tree entries per page
    std::size_t expand_page_size = 50; ///< with expand=true
    std::chrono::seconds cdn_ttl{3600}; ///< lifetime of a signed CDN URL
    sign_style style = sign_style::cloudfront;
    /// Every token the Hub knows: a Bearer token outside this set is refused with 401 "Invalid
    /// credentials in Authorization header", even on a public repo.
    std::set<std::string, std::less<>> tokens;
    bool cdn_rejects_authorization = false; ///< a CDN request carrying Authorization gets 400
    /// Path prefix of CDN URLs (the host is the other loopback name): `{cdn_prefix}{sha256}`.
    std::string cdn_prefix = "/cdn-lfs/";
};

class hub_catalog {
public:
    /// `seed`: of the synthetic bytes (the origin's seed, so both serve the same bytes).
    explicit hub_catalog(std::uint64_t seed = 0) : seed_(seed) {}

    hub_options options;

    /// Adds an empty repo (or returns the one there). Throws std::invalid_argument on a bad id.
    hub_repo& add_repo(std::string id, hub_repo_type type = hub_repo_type::model);
    /// Adds a commit to `repo` holding the files of revision `from` (if given) with `files` put
    /// over them and `remove` taken out, points each of `refs` at it, and returns its sha. Hashes
    /// new content now (synthetic bytes are read once per distinct key and size). Throws
    /// std::invalid_argument on a bad path, an unknown `from`, or a repo not in this catalog.
    std::string add_commit(hub_repo& repo, const std::vector<hub_file_spec>& files,
                           const std::vector<std::string>& refs, std::string_view from = {},
                           const std::vector<std::string>& remove = {});
    /// Requests for `old_id` get 307 to the same place under `new_id`.
    void add_rename(hub_repo_type type, std::string old_id, std::string new_id);

    const hub_repo* find(hub_repo_type type, std::string_view id) const;
    /// The new id of a renamed repo, or "".
    std::string renamed(hub_repo_type type, std::string_view id) const;
    /// The LFS blob with this sha256 (what the CDN serves); null if none.
    const hub_blob* lfs_blob(std::string_view sha256) const;
    std::uint64_t seed() const noexcept { return seed_; }

private:
    std::shared_ptr<const hub_blob> blob_for(const hub_repo& repo, const hub_file_spec& file);

    std::uint64_t seed_;
    std::map<std::pair<hub_repo_type, std::string>, hub_repo, std::less<>> repos_;
    std::map<std::pair<hub_repo_type, std::string>, std::string, std::less<>> renames_;
    std::map<std::string, std::shared_ptr<const hub_blob>, std::less<>> blobs_;     ///< by source
    std::map<std::string, std::shared_ptr<const hub_blob>, std::less<>> lfs_blobs_; ///< by sha256
};

/// The Git LFS pointer text of content with this sha256 and size.
std::string lfs_pointer(std::string_view sha256_hex, std::uint64_t size);
/// A repo path that a tree may hold: relative, '/'-separated, no empty, `.` or `..` segment.
bool valid_hub_path(std::string_view path);

/// Reads a catalog from the JSON spec that `ferry origin --hub FILE` takes (README.md, "ferry
/// origin"). Throws std::invalid_argument naming what is wrong.
hub_catalog parse_hub_spec(std::string_view json, std::uint64_t seed);

} // namespace ferry::origin
