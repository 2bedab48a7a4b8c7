// scan_hub_cache: the cache as huggingface_hub's scan_cache_dir sees it, read through directory
// descriptors (no symlink followed but a snapshot's links into blobs/, resolved by name).
#include "memory/hub_cache_scan.hpp"
#include "memory/hub_cache_dirs.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry {

namespace fs = std::filesystem;

namespace {

hub_time time_of(const struct timespec& ts) {
    return hub_time(std::chrono::duration_cast<hub_time::duration>(std::chrono::seconds(ts.tv_sec) +
                                                                   std::chrono::nanoseconds(ts.tv_nsec)));
}

hub_inode inode_of(const struct stat& info) {
    return {info.st_dev, info.st_ino};
}

/// Thrown inside one repo's scan only, turned into its warning.
struct repo_rejected {
    std::string message;
};

std::optional<std::string> read_link(int dir, const std::string& name) {
    std::array<char, 4096> target{};
    auto n = ::readlinkat(dir, name.c_str(), target.data(), target.size() - 1);
    if (n <= 0)
        return std::nullopt;
    return std::string(target.data(), static_cast<std::size_t>(n));
}

std::optional<std::string> read_ref_file(int dir, const std::string& name) {
    int fd = ::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt;
    hub_dirs::unique_fd file(fd);
    std::array<char, 128> bytes{};
    ssize_t n = ::read(file.get(), bytes.data(), bytes.size());
    if (n < 0)
        return std::nullopt;
    return std::string(bytes.data(), static_cast<std::size_t>(n));
}

/// Walks one revision's snapshot folder.
class revision_reader {
public:
    revision_reader(const fs::path& repo_dir, int blobs_dir, hub_cached_revision& revision)
        : repo_dir_(repo_dir), blobs_dir_(blobs_dir), revision_(revision) {}

    void read(int dir, const std::string& prefix) {
        for (const auto& e : hub_dirs::list(dir)) {
            std::string path = prefix.empty() ? e.name : prefix + "/" + e.name;
            if (S_ISDIR(e.info.st_mode)) {
                auto sub = hub_dirs::open_subdir(dir, e.name);
                if (!sub)
                    throw repo_rejected{"cannot read snapshots/" + revision_.sha + "/" + path};
                read(sub->get(), path);
            } else if (S_ISLNK(e.info.st_mode)) {
                add_link(dir, e.name, path);
            } else if (S_ISREG(e.info.st_mode)) {
                // Where symlinks are impossible, a snapshot holds plain copies.
                add(path, "", repo_dir_ / "snapshots" / revision_.sha / path, e.info);
            }
        }
    }

private:
    void add_link(int dir, const std::string& name, const std::string& path) {
        auto target = read_link(dir, name);
        if (!target)
            throw repo_rejected{"cannot read the link snapshots/" + revision_.sha + "/" + path};
        // Where the link points, relative to the repo folder, judged by name only.
        auto link_dir = (fs::path("snapshots") / revision_.sha / path).parent_path();
        auto resolved = (link_dir / *target).lexically_normal();
        auto first = resolved.begin();
        auto blob = first == resolved.end() ? fs::path() : std::next(first) == resolved.end() ? fs::path() : *std::next(first);
        if (fs::path(*target).is_absolute() || first == resolved.end() || *first != "blobs" ||
            std::distance(resolved.begin(), resolved.end()) != 2)
            throw repo_rejected{"snapshots/" + revision_.sha + "/" + path + " links outside blobs/"};
        struct stat info {};
        if (blobs_dir_ < 0 || ::fstatat(blobs_dir_, blob.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(info.st_mode))
            throw repo_rejected{"snapshots/" + revision_.sha + "/" + path + " links to a missing blob " +
                                blob.string()};
        add(path, blob.string(), repo_dir_ / "blobs" / blob, info);
    }

    void add(const std::string& path, std::string blob, fs::path blob_path, const struct stat& info) {
        hub_cached_file file;
        file.path = path;
        file.blob = std::move(blob);
        file.blob_path = std::move(blob_path);
        file.size = static_cast<std::uint64_t>(info.st_size);
        file.inode = inode_of(info);
        if (seen_.insert(file.inode).second)
            revision_.size_on_disk += file.size;
        revision_.last_access = std::max(revision_.last_access, time_of(info.st_atim));
        revision_.files.push_back(std::move(file));
    }

    const fs::path& repo_dir_;
    int blobs_dir_;
    hub_cached_revision& revision_;
    std::set<hub_inode> seen_;
};

void read_refs(int dir, const std::string& prefix, hub_cached_repo& repo) {
    for (const auto& e : hub_dirs::list(dir)) {
        std::string name = prefix.empty() ? e.name : prefix + "/" + e.name;
        if (S_ISDIR(e.info.st_mode)) {
            if (auto sub = hub_dirs::open_subdir(dir, e.name))
                read_refs(sub->get(), name, repo);
        } else if (S_ISREG(e.info.st_mode) && !e.name.starts_with('.')) {
            auto sha = read_ref_file(dir, e.name);
            if (!sha)
                throw repo_rejected{"cannot read refs/" + name};
            auto named = std::find_if(repo.revisions.begin(), repo.revisions.end(),
                                      [&](const hub_cached_revision& r) { return r.sha == *sha; });
            if (named == repo.revisions.end())
                throw repo_rejected{"refs/" + name + " names no snapshot"};
            repo.refs[name] = *sha;
            named->refs.push_back(name);
        }
    }
}

hub_cached_repo read_repo(const fs::path& root, const std::string& folder, const hub_repo_id& id) {
    hub_cached_repo repo;
    repo.repo = id;
    repo.dir = root / folder;
    auto repo_dir = hub_dirs::open_dir(root, folder, false);
    if (!repo_dir)
        throw repo_rejected{"cannot open the repo folder"};
    auto snapshots = hub_dirs::open_subdir(repo_dir->get(), "snapshots");
    if (!snapshots)
        throw repo_rejected{"no snapshots/ folder"};
    auto blobs = hub_dirs::open_subdir(repo_dir->get(), "blobs");
    int blobs_fd = blobs ? blobs->get() : -1;

    for (const auto& e : hub_dirs::list(snapshots->get())) {
        if (!S_ISDIR(e.info.st_mode))
            throw repo_rejected{"snapshots/" + e.name + " is not a directory"};
        hub_cached_revision revision;
        revision.sha = e.name;
        revision.last_access = time_of(e.info.st_atim);
        revision.last_modified = time_of(e.info.st_mtim);
        auto dir = hub_dirs::open_subdir(snapshots->get(), e.name);
        if (!dir)
            throw repo_rejected{"cannot open snapshots/" + e.name};
        revision_reader(repo.dir, blobs_fd, revision).read(dir->get(), "");
        repo.revisions.push_back(std::move(revision));
    }
    if (auto refs = hub_dirs::open_subdir(repo_dir->get(), "refs"))
        read_refs(refs->get(), "", repo);

    std::set<hub_inode> seen;
    for (auto& revision : repo.revisions) {
        std::sort(revision.refs.begin(), revision.refs.end());
        std::sort(revision.files.begin(), revision.files.end(),
                  [](const hub_cached_file& a, const hub_cached_file& b) { return a.path < b.path; });
        repo.last_access = std::max(repo.last_access, revision.last_access);
        repo.last_modified = std::max(repo.last_modified, revision.last_modified);
        for (const auto& file : revision.files) {
            if (seen.insert(file.inode).second) {
                repo.size_on_disk += file.size;
                ++repo.blob_count;
            }
        }
    }
    return repo;
}

} // namespace

std::optional<hub_repo_id> repo_of_folder(std::string_view folder) {
    auto dashes = folder.find("--");
    if (dashes == std::string_view::npos)
        return std::nullopt;
    auto type_name = folder.substr(0, dashes);
    if (!type_name.ends_with('s'))
        return std::nullopt;
    auto type = parse_hub_repo_type(type_name.substr(0, type_name.size() - 1));
    if (!type)
        return std::nullopt;
    std::string id(folder.substr(dashes + 2));
    if (auto more = id.find("--"); more != std::string::npos)
        id.replace(more, 2, "/");
    if (!valid_hub_repo_id(id))
        return std::nullopt;
    return hub_repo_id{*type, id};
}

std::variant<hub_cached_repo, hub_cache_warning> scan_hub_repo(const fs::path& root, const std::string& folder) {
    auto id = repo_of_folder(folder);
    if (!id)
        return hub_cache_warning{root / folder, "not a repo folder ({models,datasets,spaces}--ORG--NAME)"};
    try {
        return read_repo(root, folder, *id);
    } catch (const repo_rejected& rejected) {
        return hub_cache_warning{root / folder, rejected.message};
    }
}

hub_cache_contents scan_hub_cache(const fs::path& root) {
    hub_cache_contents contents;
    auto dir = hub_dirs::open_dir(root, "", false);
    if (!dir)
        return contents;
    static const std::set<std::string> skipped{".locks", "CACHEDIR.TAG", ".DS_Store", "Thumbs.db", "desktop.ini"};
    std::set<hub_inode> seen;
    for (const auto& e : hub_dirs::list(dir->get())) {
        if (skipped.count(e.name))
            continue;
        if (!S_ISDIR(e.info.st_mode)) {
            contents.warnings.push_back({root / e.name, "not a repo folder"});
            continue;
        }
        auto scanned = scan_hub_repo(root, e.name);
        if (auto* warning = std::get_if<hub_cache_warning>(&scanned)) {
            contents.warnings.push_back(std::move(*warning));
            continue;
        }
        auto& repo = std::get<hub_cached_repo>(scanned);
        for (const auto& revision : repo.revisions)
            for (const auto& file : revision.files)
                if (seen.insert(file.inode).second)
                    contents.size_on_disk += file.size;
        contents.repos.push_back(std::move(repo));
    }
    std::sort(contents.repos.begin(), contents.repos.end(),
              [](const hub_cached_repo& a, const hub_cached_repo& b) { return a.repo < b.repo; });
    return contents;
}

} // namespace ferry
