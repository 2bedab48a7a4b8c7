#pragma once

// Directories of the Hugging Face cache opened one component at a time with O_NOFOLLOW, so that
// a symlink planted inside the cache is never followed: everything below the cache root is
// reached through directory file descriptors and the *at system calls. The root itself may be a
// symlink (the user chose it). Listing a directory does not change its access time, which is
// what `ferry cache prune` evicts by.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <sys/stat.h>

namespace ferry::hub_dirs {

/// An owned file descriptor, closed by the destructor. Movable.
class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
    unique_fd& operator=(unique_fd&& other) noexcept;
    ~unique_fd();

    int get() const noexcept { return fd_; }
    int release() noexcept {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }

private:
    int fd_ = -1;
};

/// The error code of the current errno.
boost::system::error_code last_error() noexcept;

/// Opens `root` (created with its parents when `create`), then each component of `relative`
/// (a relative path; "" for the root itself) without following symlinks, creating missing ones
/// when `create`. errc::not_a_directory when a component is a symlink or not a directory; then
/// `message` (when given) names it.
boost::system::result<unique_fd> open_dir(const std::filesystem::path& root, const std::filesystem::path& relative,
                                          bool create, std::string* message = nullptr);

/// Like open_dir, from the open directory `dir` instead of a root path.
boost::system::result<unique_fd> open_dir_at(int dir, const std::filesystem::path& relative, bool create,
                                             std::string* message = nullptr);

/// Opens the directory `name` beneath the open directory `dir`, not following a symlink.
boost::system::result<unique_fd> open_subdir(int dir, const std::string& name);

/// One entry of a directory with what lstat says of it.
struct entry {
    std::string name;
    struct stat info {};
};
/// The entries of an open directory except "." and "..", sorted by name, read without updating
/// its access time where the kernel allows (O_NOATIME). Entries that vanish meanwhile are left out.
std::vector<entry> list(int dir);

/// Removes `name` in `dir` and, when it is a directory, everything in it, without following a
/// symlink (a link is removed, never what it points at). Missing is fine.
void remove_tree(int dir, const std::string& name) noexcept;

/// Reads `fd` to its end in chunks handed to `chunk`; the error of a failed read, if any.
boost::system::error_code read_chunks(int fd, const std::function<void(const char*, std::size_t)>& chunk);

/// A temporary name beside `name` for temp + rename: unique within this host and process.
std::string temp_name(std::string_view name);

/// Sets the access time of `name` in `dir` (the directory itself when `name` is ".") to now,
/// leaving the modification time, following a final symlink when `follow`.
void touch_access_time(int dir, const char* name, bool follow) noexcept;

} // namespace ferry::hub_dirs
