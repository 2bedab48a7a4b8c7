#pragma once

// The Hugging Face cache (../shared/hf-hub.md §4), as huggingface_hub and @huggingface/hub read
// it, and ferry's model store on top of it:
//
//   ROOT/{models,datasets,spaces}--ORG--NAME/
//       blobs/{etag}                  content (etag: 64-hex sha256 for LFS, 40-hex git sha1 else)
//       blobs/{etag}.part[.journal]   ferry's partial download (never `*.incomplete`)
//       snapshots/{sha}/{path}        relative symlink to ../../blobs/{etag} (+ ../ per level)
//       refs/{rev}                    the 40-hex commit, no newline (refs/pr/1 → refs/refs/pr/1)
//       .no_exist/{sha}/{path}        empty marker: the path is absent at that commit
//       trees/{sha}.json              every file of the commit (format_version 1)
//   ROOT/.locks/{repo folder}/{etag}.lock   flock(LOCK_EX) while a blob is being made
//
// Everything here is plain filesystem work, no network. Paths that come from the network (repo
// paths, etags, shas, revisions) are checked before they touch the disk: nothing is ever
// written outside the repo's folder, and nothing follows a symlink planted in the way.
// Errors are error codes plus, where a user reads them, one line in `message`.
//
// Not thread-safe: one object per thread. Several processes may share one cache: blobs are
// written under a blob_lock and renamed into place; refs are written to a temp file and renamed.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace ferry {

enum class hub_repo_type { model, dataset, space };
const char* to_string(hub_repo_type type) noexcept; ///< "model", "dataset", "space"
std::optional<hub_repo_type> parse_hub_repo_type(std::string_view text) noexcept;

/// A repository on the Hub: its type and id (`ORG/NAME` or a legacy `NAME`).
struct hub_repo_id {
    hub_repo_type type = hub_repo_type::model;
    std::string id;

    /// "models--ORG--NAME"
    std::string folder_name() const;
    friend bool operator==(const hub_repo_id&, const hub_repo_id&) = default;
    friend auto operator<=>(const hub_repo_id&, const hub_repo_id&) = default;
};

/// An id the Hub could have: one or two `/`-separated parts of [A-Za-z0-9._-], no part "." or
/// "..", no "--" (it would make the folder name ambiguous), at most 96 characters each.
bool valid_hub_repo_id(std::string_view id) noexcept;
/// 40 lowercase hex digits.
bool is_commit_sha(std::string_view text) noexcept;
/// A blob name: 40 or 64 lowercase hex digits.
bool is_blob_etag(std::string_view text) noexcept;
/// A repo path a snapshot may hold: relative, `/`-separated, no empty, "." or ".." segment, no
/// NUL or backslash, not longer than 4096.
bool valid_hub_file_path(std::string_view path) noexcept;
/// A revision a ref file may be named after: valid_hub_file_path, and not starting with '.'.
bool valid_hub_revision(std::string_view revision) noexcept;

/// One file of a commit, as trees/{sha}.json records it.
struct hub_tree_file {
    std::string path;               ///< repo path
    std::uint64_t size = 0;         ///< content size
    std::string blob_id;            ///< git blob sha1 (of the pointer for LFS)
    std::optional<std::string> lfs_sha256; ///< LFS: sha256 of the content
    /// The blob's name in the cache: lfs_sha256 when LFS, blob_id otherwise.
    const std::string& etag() const noexcept { return lfs_sha256 ? *lfs_sha256 : blob_id; }
};

/// An exclusive flock on ROOT/.locks/{repo folder}/{etag}.lock, the lock huggingface_hub takes
/// while it makes that blob. Released by the destructor (or when the process dies).
class blob_lock {
public:
    /// Takes the lock if free: nullopt (no error) when another process holds it.
    static boost::system::result<std::optional<blob_lock>> try_acquire(const std::filesystem::path& lock_path);
    /// Waits for the lock (blocking) at most `timeout`; errc::timed_out then.
    static boost::system::result<blob_lock> acquire(const std::filesystem::path& lock_path,
                                                    std::chrono::milliseconds timeout);
    blob_lock(blob_lock&&) noexcept;
    blob_lock& operator=(blob_lock&&) noexcept;
    ~blob_lock();

private:
    explicit blob_lock(int fd) : fd_(fd) {}
    int fd_ = -1;
};

/// One cache root (HF_HUB_CACHE).
class hub_cache {
public:
    explicit hub_cache(std::filesystem::path root);
    const std::filesystem::path& root() const noexcept { return root_; }

    std::filesystem::path repo_dir(const hub_repo_id& repo) const;
    std::filesystem::path blobs_dir(const hub_repo_id& repo) const;
    std::filesystem::path blob_path(const hub_repo_id& repo, std::string_view etag) const;
    std::filesystem::path snapshot_dir(const hub_repo_id& repo, std::string_view sha) const;
    std::filesystem::path lock_path(const hub_repo_id& repo, std::string_view etag) const;

    /// Creates the repo folder with blobs/, snapshots/ and refs/ (readers need refs/ even when
    /// no ref is written).
    boost::system::error_code prepare_repo(const hub_repo_id& repo);

    /// The commit refs/{revision} names (its 40 hex, checked); nullopt when absent or not a sha.
    std::optional<std::string> read_ref(const hub_repo_id& repo, std::string_view revision) const;
    /// Points refs/{revision} at `sha` (temp file + rename, no newline). Write it only after
    /// snapshots/{sha}/ exists: readers drop a repo whose ref names no snapshot.
    boost::system::error_code write_ref(const hub_repo_id& repo, std::string_view revision, std::string_view sha);

    /// Makes snapshots/{sha}/{path} a relative symlink to blobs/{etag} (replacing a link that is
    /// there; parent directories created). Refuses (errc::not_a_directory / file_exists, message
    /// set) when a parent is a symlink or a non-directory, or `path` is not a valid_hub_file_path.
    boost::system::error_code link_snapshot_file(const hub_repo_id& repo, std::string_view sha, std::string_view path,
                                                 std::string_view etag, std::string& message);
    /// Whether snapshots/{sha}/{path} resolves to an existing file.
    bool has_snapshot_file(const hub_repo_id& repo, std::string_view sha, std::string_view path) const;

    /// .no_exist/{sha}/{path}: the Hub said the path is absent at that commit.
    boost::system::error_code mark_no_exist(const hub_repo_id& repo, std::string_view sha, std::string_view path);
    bool is_no_exist(const hub_repo_id& repo, std::string_view sha, std::string_view path) const;

    /// trees/{sha}.json with every file of the commit (temp + rename).
    boost::system::error_code write_tree(const hub_repo_id& repo, std::string_view sha,
                                         const std::vector<hub_tree_file>& files);
    /// What write_tree wrote; nullopt when absent or unreadable.
    std::optional<std::vector<hub_tree_file>> read_tree(const hub_repo_id& repo, std::string_view sha) const;

    /// A complete blob named `etag` in any repo folder of this cache (the model store: equal
    /// names are equal content), preferring `prefer`'s own; nullopt when none.
    std::optional<std::filesystem::path> find_blob(std::string_view etag, const hub_repo_id& prefer) const;
    /// Makes `dest` hold the bytes of `source`: a hard link, or a copy (temp + rename) across
    /// filesystems. An existing `dest` is left as it is.
    static boost::system::error_code adopt_blob(const std::filesystem::path& source, const std::filesystem::path& dest);

    /// Records a use of the revision (its last access, which `prune` evicts by).
    void touch_revision(const hub_repo_id& repo, std::string_view sha);

private:
    std::filesystem::path root_;
};

} // namespace ferry
