#include "memory/hub_cache_verify.hpp"
#include "memory/git_blob_id.hpp"
#include "memory/hub_cache.hpp"
#include "memory/hub_cache_dirs.hpp"
#include "memory/sha256.hpp"

#include <cerrno>
#include <map>
#include <optional>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry {

namespace fs = std::filesystem;

namespace {

/// The hash `name` claims (sha256 for 64 hex, git blob id for 40) of the blob `name` in `dir`;
/// nullopt when unreadable.
std::optional<std::string> hash_blob(int dir, const std::string& name, std::uint64_t size) {
    int fd = ::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM) // O_NOATIME needs ownership
        fd = ::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt;
    hub_dirs::unique_fd file(fd);
    bool lfs = name.size() == 64;
    sha256 content_hash;
    sha1 git_hash;
    if (!lfs)
        git_hash.update(git_object_header("blob", size));
    auto ec = hub_dirs::read_chunks(file.get(), [&](const char* data, std::size_t n) {
        if (lfs)
            content_hash.update(data, n);
        else
            git_hash.update(data, n);
    });
    if (ec)
        return std::nullopt;
    return lfs ? to_hex(content_hash.finish()) : hex_text(git_hash.finish());
}

} // namespace

hub_verify_result verify_hub_cache(const fs::path& root) {
    hub_verify_result result;
    auto root_dir = hub_dirs::open_dir(root, "", false);
    if (!root_dir)
        return result;
    // (device, inode) → what it hashed to: hard links share their content.
    std::map<std::pair<dev_t, ino_t>, std::optional<std::string>> hashed;
    for (const auto& folder : hub_dirs::list(root_dir->get())) {
        if (!S_ISDIR(folder.info.st_mode) || folder.name.find("--") == std::string::npos)
            continue;
        auto blobs = hub_dirs::open_dir(root, fs::path(folder.name) / "blobs", false);
        if (!blobs)
            continue;
        for (const auto& blob : hub_dirs::list(blobs->get())) {
            if (!S_ISREG(blob.info.st_mode) || !is_blob_etag(blob.name))
                continue;
            ++result.checked;
            auto key = std::make_pair(blob.info.st_dev, blob.info.st_ino);
            auto found = hashed.find(key);
            if (found == hashed.end())
                found = hashed
                            .emplace(key, hash_blob(blobs->get(), blob.name,
                                                    static_cast<std::uint64_t>(blob.info.st_size)))
                            .first;
            if (found->second != blob.name)
                result.damaged.push_back({root / folder.name / "blobs" / blob.name, found->second.value_or("")});
        }
    }
    return result;
}

} // namespace ferry
