#include "memory/hub_cache_evict.hpp"
#include "memory/hub_cache_dirs.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry {

namespace fs = std::filesystem;
namespace errc = boost::system::errc;

namespace {

/// Revisions chosen for removal: (index of repo in the scan, shas).
using removal_plan = std::map<std::size_t, std::set<std::string>>;

/// Blob inodes linked by the revisions not in `plan`, and the bytes freed by removing those in it.
std::uint64_t bytes_freed_by(const hub_cache_contents& contents, const removal_plan& plan) {
    std::set<hub_inode> kept;
    std::map<hub_inode, std::uint64_t> dropped;
    for (std::size_t r = 0; r < contents.repos.size(); ++r) {
        auto planned = plan.find(r);
        for (const auto& revision : contents.repos[r].revisions) {
            bool removed = planned != plan.end() && planned->second.count(revision.sha);
            for (const auto& file : revision.files) {
                if (removed)
                    dropped[file.inode] = file.size;
                else
                    kept.insert(file.inode);
            }
        }
    }
    std::uint64_t freed = 0;
    for (const auto& [inode, size] : dropped)
        if (!kept.count(inode))
            freed += size;
    return freed;
}

bool is_partial_name(const std::string& name) {
    return name.ends_with(".part") || name.ends_with(".part.journal") || name.ends_with(".ferry-part") ||
           name.ends_with(".incomplete");
}

/// Blob locks of the partial downloads in blobs/, taken; false when one is held elsewhere (a
/// transfer in progress).
bool lock_partials(const fs::path& root, int blobs_dir, const std::string& folder, std::vector<blob_lock>& held) {
    for (const auto& e : hub_dirs::list(blobs_dir)) {
        if (!is_partial_name(e.name))
            continue;
        auto etag = e.name.substr(0, e.name.find('.'));
        if (!is_blob_etag(etag))
            continue;
        auto lock = blob_lock::try_acquire(root / ".locks" / folder / (etag + ".lock"));
        if (lock && !lock->has_value())
            return false;
        if (lock)
            held.push_back(std::move(**lock));
    }
    return true;
}

/// Removes refs/{name} and the folders under refs/ it leaves empty.
void remove_ref(int refs_dir, const std::string& name) {
    auto slash = name.rfind('/');
    if (slash == std::string::npos) {
        ::unlinkat(refs_dir, name.c_str(), 0);
        return;
    }
    auto parent = name.substr(0, slash);
    if (auto dir = hub_dirs::open_dir_at(refs_dir, parent, false))
        ::unlinkat(dir->get(), name.substr(slash + 1).c_str(), 0);
    // Empty parents go, deepest first; a folder still holding refs stays (ENOTEMPTY).
    while (true) {
        if (::unlinkat(refs_dir, parent.c_str(), AT_REMOVEDIR) != 0)
            break;
        auto up = parent.rfind('/');
        if (up == std::string::npos)
            break;
        parent.resize(up);
    }
}

/// Removes ROOT/{folder} and ROOT/.locks/{folder} with all they hold.
void remove_repo_folder(const fs::path& root, const std::string& folder) {
    if (auto root_dir = hub_dirs::open_dir(root, "", false))
        hub_dirs::remove_tree(root_dir->get(), folder);
    if (auto locks = hub_dirs::open_dir(root, ".locks", false))
        hub_dirs::remove_tree(locks->get(), folder);
}

/// Removes the revisions `shas` of `repo` from disk (see the header); true when the repo went whole.
bool remove_revisions(const fs::path& root, const hub_cached_repo& repo, const std::set<std::string>& shas) {
    auto folder = repo.repo.folder_name();
    auto repo_dir = hub_dirs::open_dir(root, folder, false);
    if (!repo_dir)
        return false;
    std::set<std::string> linked_by_kept;
    for (const auto& revision : repo.revisions)
        if (!shas.count(revision.sha))
            for (const auto& file : revision.files)
                if (!file.blob.empty())
                    linked_by_kept.insert(file.blob);
    bool nothing_left = std::all_of(repo.revisions.begin(), repo.revisions.end(),
                                    [&](const hub_cached_revision& r) { return shas.count(r.sha) > 0; });
    auto blobs = hub_dirs::open_subdir(repo_dir->get(), "blobs");
    std::vector<blob_lock> held;
    if (nothing_left && (!blobs || lock_partials(root, blobs->get(), folder, held))) {
        remove_repo_folder(root, folder);
        return true;
    }

    auto snapshots = hub_dirs::open_subdir(repo_dir->get(), "snapshots");
    auto refs = hub_dirs::open_subdir(repo_dir->get(), "refs");
    auto no_exist = hub_dirs::open_subdir(repo_dir->get(), ".no_exist");
    auto trees = hub_dirs::open_subdir(repo_dir->get(), "trees");
    for (const auto& revision : repo.revisions) {
        if (!shas.count(revision.sha))
            continue;
        // Refs first: a ref must never name a snapshot that is gone.
        if (refs)
            for (const auto& ref : revision.refs)
                remove_ref(refs->get(), ref);
        if (snapshots)
            hub_dirs::remove_tree(snapshots->get(), revision.sha);
        if (no_exist)
            hub_dirs::remove_tree(no_exist->get(), revision.sha);
        if (trees)
            ::unlinkat(trees->get(), (revision.sha + ".json").c_str(), 0);
        if (blobs)
            for (const auto& file : revision.files)
                if (!file.blob.empty() && !linked_by_kept.count(file.blob))
                    ::unlinkat(blobs->get(), file.blob.c_str(), 0);
    }
    return false;
}

hub_evicted_revision evicted(const hub_cached_repo& repo, const hub_cached_revision& revision) {
    return {repo.repo, revision.sha, revision.refs, revision.size_on_disk, revision.last_access};
}

hub_eviction carry_out(const fs::path& root, const hub_cache_contents& contents, const removal_plan& plan,
                       std::vector<hub_evicted_revision> order, bool dry_run) {
    hub_eviction result;
    result.size_before = contents.size_on_disk;
    result.bytes_freed = bytes_freed_by(contents, plan);
    result.revisions = std::move(order);
    for (const auto& [index, shas] : plan) {
        const auto& repo = contents.repos[index];
        bool whole = shas.size() == repo.revisions.size();
        if (!dry_run)
            whole = remove_revisions(root, repo, shas);
        if (whole)
            result.repos_removed.push_back(repo.repo);
    }
    return result;
}

} // namespace

boost::system::result<hub_eviction> remove_from_hub_cache(const fs::path& root, const hub_repo_id& repo,
                                                          const std::optional<std::string>& revision,
                                                          std::string& message) {
    auto folder = repo.folder_name();
    if (!valid_hub_repo_id(repo.id)) {
        message = "invalid repo id '" + repo.id + "'";
        return errc::make_error_code(errc::invalid_argument);
    }
    auto contents = scan_hub_cache(root);
    auto found = std::find_if(contents.repos.begin(), contents.repos.end(),
                              [&](const hub_cached_repo& r) { return r.repo == repo; });
    if (found == contents.repos.end()) {
        struct stat info {};
        bool broken = ::lstat((root / folder).c_str(), &info) == 0 && S_ISDIR(info.st_mode);
        if (!broken) {
            message = std::string(to_string(repo.type)) + " " + repo.id + " is not in the cache " + root.string();
            return errc::make_error_code(errc::no_such_file_or_directory);
        }
        if (revision) {
            message = std::string(to_string(repo.type)) + " " + repo.id +
                      " is broken in the cache; remove the whole repo instead";
            return errc::make_error_code(errc::invalid_argument);
        }
        // A broken repo folder goes whole: no revision of it can be read anyway.
        hub_eviction result;
        result.size_before = contents.size_on_disk;
        remove_repo_folder(root, folder);
        result.repos_removed.push_back(repo);
        return result;
    }
    auto index = static_cast<std::size_t>(found - contents.repos.begin());
    removal_plan plan;
    std::vector<hub_evicted_revision> order;
    for (const auto& r : found->revisions) {
        bool chosen = !revision || r.sha == *revision ||
                      std::find(r.refs.begin(), r.refs.end(), *revision) != r.refs.end();
        if (chosen) {
            plan[index].insert(r.sha);
            order.push_back(evicted(*found, r));
        }
    }
    if (revision && order.empty()) {
        message = "revision " + *revision + " of " + repo.id + " is not in the cache";
        return errc::make_error_code(errc::no_such_file_or_directory);
    }
    if (!revision) {
        // The whole repo, partial downloads included.
        hub_eviction result;
        result.size_before = contents.size_on_disk;
        result.bytes_freed = bytes_freed_by(contents, plan);
        result.revisions = std::move(order);
        remove_repo_folder(root, folder);
        result.repos_removed.push_back(repo);
        return result;
    }
    return carry_out(root, contents, plan, std::move(order), false);
}

hub_eviction prune_hub_cache(const fs::path& root, std::uint64_t max_size, bool dry_run) {
    auto contents = scan_hub_cache(root);
    struct candidate {
        std::size_t repo;
        std::size_t revision;
    };
    std::vector<candidate> candidates;
    for (std::size_t r = 0; r < contents.repos.size(); ++r)
        for (std::size_t v = 0; v < contents.repos[r].revisions.size(); ++v)
            candidates.push_back({r, v});
    // Oldest access first; ties broken by repo and sha so that a run is reproducible.
    std::stable_sort(candidates.begin(), candidates.end(), [&](const candidate& a, const candidate& b) {
        return contents.repos[a.repo].revisions[a.revision].last_access <
               contents.repos[b.repo].revisions[b.revision].last_access;
    });

    // How many kept revisions link each inode: a blob is freed when the last one goes.
    std::map<hub_inode, std::size_t> links;
    std::map<hub_inode, std::uint64_t> sizes;
    for (const auto& repo : contents.repos)
        for (const auto& revision : repo.revisions) {
            std::set<hub_inode> distinct;
            for (const auto& file : revision.files)
                if (distinct.insert(file.inode).second) {
                    ++links[file.inode];
                    sizes[file.inode] = file.size;
                }
        }

    std::uint64_t size = contents.size_on_disk;
    removal_plan plan;
    std::vector<hub_evicted_revision> order;
    for (const auto& c : candidates) {
        if (size <= max_size)
            break;
        const auto& repo = contents.repos[c.repo];
        const auto& revision = repo.revisions[c.revision];
        std::set<hub_inode> distinct;
        for (const auto& file : revision.files)
            if (distinct.insert(file.inode).second && --links[file.inode] == 0)
                size -= sizes[file.inode];
        plan[c.repo].insert(revision.sha);
        order.push_back(evicted(repo, revision));
    }
    return carry_out(root, contents, plan, std::move(order), dry_run);
}

} // namespace ferry
