// hub_cache: paths, refs, snapshot links, .no_exist markers, blob reuse and access times. Every
// write below the root goes through directory descriptors opened without following symlinks
// (hub_cache_dirs), so a link planted in the cache cannot redirect it.
#include "memory/hub_cache.hpp"
#include "memory/hub_cache_dirs.hpp"

#include <array>
#include <cerrno>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry {

namespace fs = std::filesystem;
namespace errc = boost::system::errc;
using hub_dirs::last_error;
using hub_dirs::unique_fd;

namespace {

/// A repo path split at its last '/': the directory part ("" at the top) and the leaf.
struct split_path {
    std::string dir;
    std::string leaf;
};

split_path split(std::string_view path) {
    auto slash = path.rfind('/');
    if (slash == std::string_view::npos)
        return {"", std::string(path)};
    return {std::string(path.substr(0, slash)), std::string(path.substr(slash + 1))};
}

boost::system::error_code invalid(std::string& message, std::string text) {
    message = std::move(text);
    return errc::make_error_code(errc::invalid_argument);
}

boost::system::error_code write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return last_error();
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

/// Writes `bytes` to a temp file in `temp_dir`, then renames it to `leaf` in `dir`: readers see
/// the old content or the new, never a part.
boost::system::error_code replace_file(int temp_dir, int dir, const std::string& leaf, std::string_view bytes) {
    auto temp = hub_dirs::temp_name(leaf);
    int fd = ::openat(temp_dir, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return last_error();
    unique_fd file(fd);
    auto ec = write_all(file.get(), bytes);
    if (!ec && ::fdatasync(file.get()) != 0)
        ec = last_error();
    if (!ec && ::renameat(temp_dir, temp.c_str(), dir, leaf.c_str()) != 0)
        ec = last_error();
    if (ec)
        ::unlinkat(temp_dir, temp.c_str(), 0);
    return ec;
}

bool is_regular_at(int dir, const std::string& name, bool follow) {
    struct stat info {};
    return ::fstatat(dir, name.c_str(), &info, follow ? 0 : AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(info.st_mode);
}

/// Touches the blobs a snapshot directory links (and plain copies in it), recursively.
void touch_snapshot_files(int dir, int blobs_dir) {
    for (const auto& e : hub_dirs::list(dir)) {
        if (S_ISDIR(e.info.st_mode)) {
            if (auto sub = hub_dirs::open_subdir(dir, e.name))
                touch_snapshot_files(sub->get(), blobs_dir);
        } else if (S_ISLNK(e.info.st_mode)) {
            std::array<char, 4096> target{};
            auto n = ::readlinkat(dir, e.name.c_str(), target.data(), target.size() - 1);
            if (n <= 0)
                continue;
            auto blob = split(std::string_view(target.data(), static_cast<std::size_t>(n))).leaf;
            if (blobs_dir >= 0 && is_blob_etag(blob))
                hub_dirs::touch_access_time(blobs_dir, blob.c_str(), false);
        } else if (S_ISREG(e.info.st_mode)) {
            hub_dirs::touch_access_time(dir, e.name.c_str(), false);
        }
    }
}

/// Copies `source` to a temp file beside `dest`, then renames it into place.
boost::system::error_code copy_into_place(const fs::path& source, const fs::path& dest) {
    int in = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return last_error();
    unique_fd input(in);
    auto temp = dest.parent_path() / hub_dirs::temp_name(dest.filename().string());
    int out = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out < 0)
        return last_error();
    unique_fd output(out);
    boost::system::error_code write_error;
    auto ec = hub_dirs::read_chunks(input.get(), [&](const char* data, std::size_t size) {
        if (!write_error)
            write_error = write_all(output.get(), std::string_view(data, size));
    });
    if (!ec)
        ec = write_error;
    if (!ec && ::fdatasync(output.get()) != 0)
        ec = last_error();
    if (!ec && ::rename(temp.c_str(), dest.c_str()) != 0)
        ec = last_error();
    if (ec)
        ::unlink(temp.c_str());
    return ec;
}

} // namespace

hub_cache::hub_cache(fs::path root) : root_(std::move(root)) {}

fs::path hub_cache::repo_dir(const hub_repo_id& repo) const {
    return root_ / repo.folder_name();
}

fs::path hub_cache::blobs_dir(const hub_repo_id& repo) const {
    return repo_dir(repo) / "blobs";
}

fs::path hub_cache::blob_path(const hub_repo_id& repo, std::string_view etag) const {
    return blobs_dir(repo) / std::string(etag);
}

fs::path hub_cache::snapshot_dir(const hub_repo_id& repo, std::string_view sha) const {
    return repo_dir(repo) / "snapshots" / std::string(sha);
}

fs::path hub_cache::lock_path(const hub_repo_id& repo, std::string_view etag) const {
    return root_ / ".locks" / repo.folder_name() / (std::string(etag) + ".lock");
}

boost::system::error_code hub_cache::prepare_repo(const hub_repo_id& repo) {
    if (!valid_hub_repo_id(repo.id))
        return errc::make_error_code(errc::invalid_argument);
    for (const char* sub : {"blobs", "snapshots", "refs"}) {
        auto dir = hub_dirs::open_dir(root_, fs::path(repo.folder_name()) / sub, true);
        if (!dir)
            return dir.error();
    }
    return {};
}

std::optional<std::string> hub_cache::read_ref(const hub_repo_id& repo, std::string_view revision) const {
    if (!valid_hub_repo_id(repo.id) || !valid_hub_revision(revision))
        return std::nullopt;
    auto [dir_part, leaf] = split(revision);
    auto dir = hub_dirs::open_dir(root_, fs::path(repo.folder_name()) / "refs" / dir_part, false);
    if (!dir)
        return std::nullopt;
    int fd = ::openat(dir->get(), leaf.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt;
    unique_fd file(fd);
    std::array<char, 64> bytes{};
    std::size_t size = 0;
    while (size < bytes.size()) {
        ssize_t n = ::read(file.get(), bytes.data() + size, bytes.size() - size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size += static_cast<std::size_t>(n);
    }
    std::string sha(bytes.data(), size);
    if (!is_commit_sha(sha))
        return std::nullopt;
    return sha;
}

boost::system::error_code hub_cache::write_ref(const hub_repo_id& repo, std::string_view revision,
                                               std::string_view sha) {
    if (!valid_hub_repo_id(repo.id) || !valid_hub_revision(revision) || !is_commit_sha(sha))
        return errc::make_error_code(errc::invalid_argument);
    auto folder = hub_dirs::open_dir(root_, repo.folder_name(), true);
    if (!folder)
        return folder.error();
    auto [dir_part, leaf] = split(revision);
    auto dir = hub_dirs::open_dir(root_, fs::path(repo.folder_name()) / "refs" / dir_part, true);
    if (!dir)
        return dir.error();
    // The temp file sits in the repo folder, not in refs/: scanners read every file under refs/
    // as a ref, and a temp left by a crash must not become one.
    return replace_file(folder->get(), dir->get(), leaf, sha);
}

boost::system::error_code hub_cache::link_snapshot_file(const hub_repo_id& repo, std::string_view sha,
                                                        std::string_view path, std::string_view etag,
                                                        std::string& message) {
    if (!valid_hub_repo_id(repo.id))
        return invalid(message, "invalid repo id '" + repo.id + "'");
    if (!is_commit_sha(sha))
        return invalid(message, "invalid commit '" + std::string(sha) + "'");
    if (!is_blob_etag(etag))
        return invalid(message, "invalid blob name '" + std::string(etag) + "' for " + std::string(path));
    if (!valid_hub_file_path(path))
        return invalid(message, "invalid file path '" + std::string(path) + "'");
    auto [dir_part, leaf] = split(path);
    auto dir = hub_dirs::open_dir(root_, fs::path(repo.folder_name()) / "snapshots" / std::string(sha) / dir_part,
                                  true, &message);
    if (!dir)
        return dir.error();

    // relpath(blobs/E, dirname(link)): up out of snapshots/{sha}/ and each directory of the path.
    std::string target = "../../";
    for (char c : path)
        if (c == '/')
            target += "../";
    target += "blobs/";
    target += etag;

    struct stat info {};
    if (::fstatat(dir->get(), leaf.c_str(), &info, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(info.st_mode)) {
            message = (snapshot_dir(repo, sha) / std::string(path)).string() + " is a directory";
            return errc::make_error_code(errc::file_exists);
        }
        if (S_ISLNK(info.st_mode)) {
            std::array<char, 4096> current{};
            auto n = ::readlinkat(dir->get(), leaf.c_str(), current.data(), current.size() - 1);
            if (n > 0 && std::string_view(current.data(), static_cast<std::size_t>(n)) == target)
                return {};
        }
    }
    auto temp = hub_dirs::temp_name(leaf);
    if (::symlinkat(target.c_str(), dir->get(), temp.c_str()) != 0)
        return last_error();
    if (::renameat(dir->get(), temp.c_str(), dir->get(), leaf.c_str()) != 0) {
        auto ec = last_error();
        ::unlinkat(dir->get(), temp.c_str(), 0);
        return ec;
    }
    return {};
}

bool hub_cache::has_snapshot_file(const hub_repo_id& repo, std::string_view sha, std::string_view path) const {
    if (!valid_hub_repo_id(repo.id) || !is_commit_sha(sha) || !valid_hub_file_path(path))
        return false;
    auto [dir_part, leaf] = split(path);
    auto dir = hub_dirs::open_dir(root_, fs::path(repo.folder_name()) / "snapshots" / std::string(sha) / dir_part,
                                  false);
    return dir && is_regular_at(dir->get(), leaf, true);
}

boost::system::error_code hub_cache::mark_no_exist(const hub_repo_id& repo, std::string_view sha,
                                                   std::string_view path) {
    if (!valid_hub_repo_id(repo.id) || !is_commit_sha(sha) || !valid_hub_file_path(path))
        return errc::make_error_code(errc::invalid_argument);
    auto [dir_part, leaf] = split(path);
    auto dir = hub_dirs::open_dir(root_, fs::path(repo.folder_name()) / ".no_exist" / std::string(sha) / dir_part,
                                  true);
    if (!dir)
        return dir.error();
    int fd = ::openat(dir->get(), leaf.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return last_error();
    ::close(fd);
    return {};
}

bool hub_cache::is_no_exist(const hub_repo_id& repo, std::string_view sha, std::string_view path) const {
    if (!valid_hub_repo_id(repo.id) || !is_commit_sha(sha) || !valid_hub_file_path(path))
        return false;
    auto [dir_part, leaf] = split(path);
    auto dir = hub_dirs::open_dir(root_, fs::path(repo.folder_name()) / ".no_exist" / std::string(sha) / dir_part,
                                  false);
    return dir && is_regular_at(dir->get(), leaf, false);
}

std::optional<fs::path> hub_cache::find_blob(std::string_view etag, const hub_repo_id& prefer) const {
    if (!is_blob_etag(etag))
        return std::nullopt;
    std::string name(etag);
    auto complete_in = [&](const std::string& folder) {
        auto dir = hub_dirs::open_dir(root_, fs::path(folder) / "blobs", false);
        return dir && is_regular_at(dir->get(), name, false);
    };
    std::string preferred = valid_hub_repo_id(prefer.id) ? prefer.folder_name() : std::string();
    if (!preferred.empty() && complete_in(preferred))
        return root_ / preferred / "blobs" / name;
    auto root = hub_dirs::open_dir(root_, "", false);
    if (!root)
        return std::nullopt;
    for (const auto& e : hub_dirs::list(root->get())) {
        if (!S_ISDIR(e.info.st_mode) || e.name == preferred || e.name.find("--") == std::string::npos)
            continue;
        if (complete_in(e.name))
            return root_ / e.name / "blobs" / name;
    }
    return std::nullopt;
}

boost::system::error_code hub_cache::adopt_blob(const fs::path& source, const fs::path& dest) {
    struct stat info {};
    if (::lstat(dest.c_str(), &info) == 0)
        return {};
    if (::link(source.c_str(), dest.c_str()) == 0 || errno == EEXIST)
        return {};
    // Across filesystems (EXDEV), or where hard links are refused (EPERM on some FUSE and
    // network filesystems, EMLINK at the link limit): a copy.
    if (errno != EXDEV && errno != EPERM && errno != EMLINK)
        return last_error();
    return copy_into_place(source, dest);
}

void hub_cache::touch_revision(const hub_repo_id& repo, std::string_view sha) {
    if (!valid_hub_repo_id(repo.id) || !is_commit_sha(sha))
        return;
    auto snapshot = hub_dirs::open_dir(root_, fs::path(repo.folder_name()) / "snapshots" / std::string(sha), false);
    if (!snapshot)
        return;
    auto blobs = hub_dirs::open_dir(root_, fs::path(repo.folder_name()) / "blobs", false);
    touch_snapshot_files(snapshot->get(), blobs ? blobs->get() : -1);
    // Last: listing the snapshot could have moved its access time, this sets it.
    hub_dirs::touch_access_time(snapshot->get(), ".", false);
}

} // namespace ferry
