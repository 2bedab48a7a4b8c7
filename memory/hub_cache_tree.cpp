// trees/{sha}.json: every file of a commit, as huggingface_hub >= 1.22 writes and reads it.
#include "memory/hub_cache.hpp"
#include "memory/hub_cache_dirs.hpp"

#include <cerrno>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <fcntl.h>
#include <unistd.h>

namespace ferry {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace errc = boost::system::errc;

namespace {

/// trees/ files are small; anything past this is not ours.
constexpr std::size_t max_tree_bytes = 256 << 20;

std::optional<std::string> read_small_file(int dir, const std::string& name) {
    int fd = ::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt;
    hub_dirs::unique_fd file(fd);
    std::string text;
    bool too_big = false;
    auto ec = hub_dirs::read_chunks(file.get(), [&](const char* data, std::size_t size) {
        if (text.size() + size > max_tree_bytes)
            too_big = true;
        else
            text.append(data, size);
    });
    if (ec || too_big)
        return std::nullopt;
    return text;
}

std::optional<hub_tree_file> file_from_json(std::string_view path, const json::value& value) {
    const auto* entry = value.if_object();
    if (!entry || !valid_hub_file_path(path))
        return std::nullopt;
    hub_tree_file file;
    file.path = std::string(path);
    const auto* size = entry->if_contains("size");
    const auto* blob_id = entry->if_contains("blob_id");
    if (!size || !blob_id || !blob_id->is_string())
        return std::nullopt;
    if (size->is_uint64())
        file.size = size->as_uint64();
    else if (size->is_int64() && size->as_int64() >= 0)
        file.size = static_cast<std::uint64_t>(size->as_int64());
    else
        return std::nullopt;
    file.blob_id = std::string(blob_id->as_string());
    if (const auto* lfs = entry->if_contains("lfs_sha256"); lfs && !lfs->is_null()) {
        if (!lfs->is_string())
            return std::nullopt;
        file.lfs_sha256 = std::string(lfs->as_string());
    }
    if (!is_blob_etag(file.etag()))
        return std::nullopt;
    return file;
}

} // namespace

boost::system::error_code hub_cache::write_tree(const hub_repo_id& repo, std::string_view sha,
                                                const std::vector<hub_tree_file>& files) {
    if (!valid_hub_repo_id(repo.id) || !is_commit_sha(sha))
        return errc::make_error_code(errc::invalid_argument);
    json::object listed;
    for (const auto& file : files) {
        if (!valid_hub_file_path(file.path) || !is_blob_etag(file.etag()))
            return errc::make_error_code(errc::invalid_argument);
        json::object entry;
        entry["size"] = file.size;
        entry["blob_id"] = file.blob_id;
        if (file.lfs_sha256) {
            entry["lfs_sha256"] = *file.lfs_sha256;
            // An LFS file's content is what the pointer describes: its size is the content's.
            entry["lfs_size"] = file.size;
        }
        listed[file.path] = std::move(entry);
    }
    json::object tree;
    tree["format_version"] = 1;
    tree["files"] = std::move(listed);

    auto dir = hub_dirs::open_dir(root_, fs::path(repo.folder_name()) / "trees", true);
    if (!dir)
        return dir.error();
    std::string leaf = std::string(sha) + ".json";
    auto temp = hub_dirs::temp_name(leaf);
    int fd = ::openat(dir->get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return hub_dirs::last_error();
    hub_dirs::unique_fd file(fd);
    std::string text = json::serialize(tree);
    std::string_view rest = text;
    boost::system::error_code ec;
    while (!rest.empty()) {
        ssize_t n = ::write(file.get(), rest.data(), rest.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ec = hub_dirs::last_error();
            break;
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    if (!ec && ::renameat(dir->get(), temp.c_str(), dir->get(), leaf.c_str()) != 0)
        ec = hub_dirs::last_error();
    if (ec)
        ::unlinkat(dir->get(), temp.c_str(), 0);
    return ec;
}

std::optional<std::vector<hub_tree_file>> hub_cache::read_tree(const hub_repo_id& repo, std::string_view sha) const {
    if (!valid_hub_repo_id(repo.id) || !is_commit_sha(sha))
        return std::nullopt;
    auto dir = hub_dirs::open_dir(root_, fs::path(repo.folder_name()) / "trees", false);
    if (!dir)
        return std::nullopt;
    auto text = read_small_file(dir->get(), std::string(sha) + ".json");
    if (!text)
        return std::nullopt;
    boost::system::error_code ec;
    auto value = json::parse(*text, ec);
    const auto* tree = value.if_object();
    if (ec || !tree)
        return std::nullopt;
    const auto* version = tree->if_contains("format_version");
    const auto* listed = tree->if_contains("files");
    if (!version || !version->is_number() || version->to_number<double>() != 1 || !listed || !listed->is_object())
        return std::nullopt;
    std::vector<hub_tree_file> files;
    for (const auto& [path, entry] : listed->as_object()) {
        auto file = file_from_json(path, entry);
        if (!file)
            return std::nullopt;
        files.push_back(std::move(*file));
    }
    return files;
}

} // namespace ferry
