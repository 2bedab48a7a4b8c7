#include "memory/disk_space.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>

namespace ferry {

std::optional<std::uint64_t> free_space(const std::filesystem::path& path) noexcept {
    struct statvfs fs {};
    if (::statvfs(path.c_str(), &fs) != 0)
        return std::nullopt;
    return std::uint64_t(fs.f_bavail) * std::uint64_t(fs.f_frsize);
}

std::uint64_t bytes_on_disk(const std::filesystem::path& dir, const std::filesystem::path& relative) noexcept {
    struct stat st {};
    auto final_path = dir / relative;
    if (::lstat(final_path.c_str(), &st) == 0 && S_ISREG(st.st_mode))
        return std::uint64_t(st.st_size);
    auto part = final_path.string() + ".part";
    // A .part may be preallocated (or sparse, on tmpfs): its blocks, not its length, say what it
    // already holds.
    if (::lstat(part.c_str(), &st) == 0 && S_ISREG(st.st_mode))
        return std::uint64_t(st.st_blocks) * 512;
    return 0;
}

} // namespace ferry
