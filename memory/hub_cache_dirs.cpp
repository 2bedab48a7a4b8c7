#include "memory/hub_cache_dirs.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

namespace ferry::hub_dirs {

namespace errc = boost::system::errc;

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = other.release();
    }
    return *this;
}

unique_fd::~unique_fd() {
    if (fd_ >= 0)
        ::close(fd_);
}

boost::system::error_code last_error() noexcept {
    return {errno, boost::system::system_category()};
}

boost::system::result<unique_fd> open_subdir(int dir, const std::string& name) {
    int fd = ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        // O_NOFOLLOW on a symlink gives ELOOP (or ENOTDIR with O_DIRECTORY): both mean "not a
        // directory we may enter".
        if (errno == ELOOP || errno == ENOTDIR)
            return errc::make_error_code(errc::not_a_directory);
        return last_error();
    }
    return unique_fd(fd);
}

boost::system::result<unique_fd> open_dir_at(int dir, const std::filesystem::path& relative, bool create,
                                             std::string* message) {
    int start = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (start < 0)
        return last_error();
    unique_fd current(start);
    std::filesystem::path so_far;
    for (const auto& part : relative) {
        std::string name = part.string();
        if (name.empty() || name == ".")
            continue;
        if (name == "..")
            return errc::make_error_code(errc::invalid_argument);
        so_far /= name;
        if (create && ::mkdirat(current.get(), name.c_str(), 0755) != 0 && errno != EEXIST)
            return last_error();
        auto next = open_subdir(current.get(), name);
        if (!next) {
            if (message && next.error() == errc::not_a_directory)
                *message = so_far.string() + " is a symlink or not a directory; refusing to go through it";
            return next.error();
        }
        current = std::move(*next);
    }
    return current;
}

boost::system::result<unique_fd> open_dir(const std::filesystem::path& root, const std::filesystem::path& relative,
                                          bool create, std::string* message) {
    if (create) {
        std::error_code ignored;
        std::filesystem::create_directories(root, ignored);
    }
    int root_fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0)
        return last_error();
    unique_fd top(root_fd);
    auto opened = open_dir_at(top.get(), relative, create, message);
    if (!opened && message && opened.error() == errc::not_a_directory)
        *message = (root / *message).string();
    return opened;
}

std::vector<entry> list(int dir) {
    std::vector<entry> entries;
    int fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM) // O_NOATIME needs ownership
        fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return entries;
    DIR* stream = ::fdopendir(fd);
    if (!stream) {
        ::close(fd);
        return entries;
    }
    while (auto* e = ::readdir(stream)) {
        std::string_view name = e->d_name;
        if (name == "." || name == "..")
            continue;
        entry item;
        item.name = std::string(name);
        if (::fstatat(dir, item.name.c_str(), &item.info, AT_SYMLINK_NOFOLLOW) == 0)
            entries.push_back(std::move(item));
    }
    ::closedir(stream);
    std::sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) { return a.name < b.name; });
    return entries;
}

void remove_tree(int dir, const std::string& name) noexcept {
    struct stat info {};
    if (::fstatat(dir, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0)
        return;
    if (S_ISDIR(info.st_mode)) {
        if (auto sub = open_subdir(dir, name))
            for (const auto& e : list(sub->get()))
                remove_tree(sub->get(), e.name);
        ::unlinkat(dir, name.c_str(), AT_REMOVEDIR);
    } else {
        ::unlinkat(dir, name.c_str(), 0);
    }
}

boost::system::error_code read_chunks(int fd, const std::function<void(const char*, std::size_t)>& chunk) {
    std::vector<char> buffer(1 << 16);
    while (true) {
        ssize_t n = ::read(fd, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return last_error();
        if (n == 0)
            return {};
        chunk(buffer.data(), static_cast<std::size_t>(n));
    }
}

std::string temp_name(std::string_view name) {
    static std::atomic<unsigned> counter{0};
    // Built by appending: GCC 12 warns falsely (-Wrestrict) on "." + std::string.
    std::string temp(1, '.');
    temp.append(name);
    temp.append(".ferry-tmp-");
    temp.append(std::to_string(::getpid()));
    temp.push_back('-');
    temp.append(std::to_string(counter.fetch_add(1)));
    return temp;
}

void touch_access_time(int dir, const char* name, bool follow) noexcept {
    struct timespec times[2];
    times[0].tv_sec = 0;
    times[0].tv_nsec = UTIME_NOW;
    times[1].tv_sec = 0;
    times[1].tv_nsec = UTIME_OMIT;
    ::utimensat(dir, name, times, follow ? 0 : AT_SYMLINK_NOFOLLOW);
}

} // namespace ferry::hub_dirs
