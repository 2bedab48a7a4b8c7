#include "memory/part_file.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <limits>
#include <utility>
#include <vector>

namespace ferry {

using boost::system::error_code;
namespace errc = boost::system::errc;

namespace {

constexpr std::uint64_t max_offset = static_cast<std::uint64_t>(std::numeric_limits<off_t>::max());

error_code os_error(int err) { return {err, boost::system::system_category()}; }

/// Out-of-space and over-the-limit are worth telling apart from other write failures: the first
/// may pass when space is freed, the second (RLIMIT_FSIZE, file system maximum) will not.
error_code write_error(int err) {
    if (err == ENOSPC || err == EDQUOT)
        return errc::make_error_code(errc::no_space_on_device);
    if (err == EFBIG)
        return errc::make_error_code(errc::file_too_large);
    return os_error(err);
}

class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    ~unique_fd() { reset(); }

    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }
    void reset() noexcept {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

/// `relative` split at '/'; valid only after check_relative_path accepted it.
std::vector<std::string> components(const std::string& relative) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        auto slash = relative.find('/', start);
        out.emplace_back(relative.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
        if (slash == std::string::npos)
            return out;
        start = slash + 1;
    }
}

/// Why `name` in `dir_fd` could not be opened as a directory without following symlinks. The
/// kernel answers ELOOP or ENOTDIR for a symlink depending on the flags; look at what is there.
error_code component_error(int dir_fd, const std::string& name, int err) {
    if (err != ELOOP && err != ENOTDIR)
        return os_error(err);
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(st.st_mode))
        return errc::make_error_code(errc::not_a_directory);
    return errc::make_error_code(errc::too_many_symbolic_link_levels);
}

int open_directory_at(int dir_fd, const std::string& name) {
    int fd;
    do
        fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    return fd;
}

/// The directory that holds a file: open, or, for a file directly in `dir`, `dir` itself named
/// by its path (reached as the caller gave it, symlinks included, as an open would): a file of
/// the top level costs no open and close of its directory (thousands of small files).
class parent_dir {
public:
    explicit parent_dir(unique_fd fd) : fd_(std::move(fd)) {}
    explicit parent_dir(std::string dir) : prefix_(std::move(dir)) {
        if (!prefix_.empty() && prefix_.back() != '/')
            prefix_ += '/';
    }
    /// The descriptor to pass to a *at() call, with name().
    int at() const noexcept { return fd_.get() >= 0 ? fd_.get() : AT_FDCWD; }
    /// `entry` as the *at() calls want it with at().
    std::string name(const std::string& entry) const { return fd_.get() >= 0 ? entry : prefix_ + entry; }
    /// Syncs the directory (opening it when held by path).
    int sync() const {
        if (fd_.get() >= 0)
            return ::fsync(fd_.get());
        unique_fd dir(::open(prefix_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        return dir.get() < 0 ? -1 : ::fsync(dir.get());
    }

private:
    unique_fd fd_;
    std::string prefix_;
};

/// The directory that holds the last of `parts` beneath `dir`, opened one component at a time and
/// never following a symlink, creating missing directories when `create`. `dir` itself is the
/// caller's choice and may be reached through symlinks.
boost::system::result<parent_dir> open_parent(const std::filesystem::path& dir, const std::vector<std::string>& parts,
                                              bool create) {
    if (parts.size() == 1 && !dir.empty())
        return parent_dir(dir.native());
    unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0)
        return os_error(errno); // ENOENT, ENOTDIR, EACCES: what the OS says about the destination
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        const auto& name = parts[i];
        int next = open_directory_at(fd.get(), name);
        if (next < 0 && errno == ENOENT && create) {
            // EEXIST: another transfer made it meanwhile; open it like any existing component.
            if (::mkdirat(fd.get(), name.c_str(), 0777) != 0 && errno != EEXIST)
                return os_error(errno);
            next = open_directory_at(fd.get(), name);
        }
        if (next < 0)
            return component_error(fd.get(), name, errno);
        fd = unique_fd(next);
    }
    return parent_dir(std::move(fd));
}

/// The path exactly as given (native() on Linux): generic_string() would fold "a//b" into "a/b".
std::string relative_string(const std::filesystem::path& relative) { return relative.native(); }

} // namespace

std::string check_relative_path(std::string_view path) {
    if (path.empty())
        return "path is empty";
    if (path.find('\0') != std::string_view::npos)
        return "path contains a NUL byte";
    if (path.front() == '/')
        return "path is absolute";
    if (path.size() > 4096)
        return "path is longer than 4096 bytes";
    std::size_t start = 0;
    for (;;) {
        auto slash = path.find('/', start);
        auto part = path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (part.empty())
            return "path contains an empty component (\"a//b\" or a trailing '/')";
        if (part == "..")
            return "path contains '..'";
        if (part == ".")
            return "path contains a '.' component";
        if (part.size() > 255)
            return "path has a component longer than 255 bytes";
        if (slash == std::string_view::npos)
            return {};
        start = slash + 1;
    }
}

part_file::part_file(part_file&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), in_memory_(other.in_memory_), bare_(other.bare_), dir_(std::move(other.dir_)),
      parts_(std::move(other.parts_)) {}

part_file& part_file::operator=(part_file&& other) noexcept {
    if (this != &other) {
        close();
        fd_ = std::exchange(other.fd_, -1);
        in_memory_ = other.in_memory_;
        bare_ = other.bare_;
        dir_ = std::move(other.dir_);
        parts_ = std::move(other.parts_);
    }
    return *this;
}

part_file::~part_file() { close(); }

void part_file::close() noexcept {
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

boost::system::result<part_file> part_file::open(const std::filesystem::path& dir,
                                                 const std::filesystem::path& relative) {
    auto text = relative_string(relative);
    if (!check_relative_path(text).empty())
        return errc::make_error_code(errc::invalid_argument);
    auto parts = components(text);
    auto parent = open_parent(dir, parts, true);
    if (!parent)
        return parent.error();

    auto part_name = parent->name(parts.back() + ".part");
    // Created here (O_EXCL), the file is known to carry no attributes; an existing one (a resume,
    // or whatever was planted) is opened as it is, never through a symlink.
    bool created = true;
    int fd;
    do
        fd = ::openat(parent->at(), part_name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
                      0666);
    while (fd < 0 && errno == EINTR);
    if (fd < 0 && errno == EEXIST) {
        created = false;
        do
            fd = ::openat(parent->at(), part_name.c_str(), O_RDWR | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
        while (fd < 0 && errno == EINTR);
    }
    if (fd < 0)
        return errno == ELOOP ? errc::make_error_code(errc::too_many_symbolic_link_levels) : os_error(errno);
    unique_fd file(fd);

    // A file found there may be anything; one created here is a new regular file.
    struct stat st {};
    if (!created && ::fstat(file.get(), &st) != 0)
        return os_error(errno);
    if (!created && !S_ISREG(st.st_mode))
        return errc::make_error_code(errc::invalid_argument);
    // A hard link planted as NAME.part would let our writes land in a file elsewhere.
    if (!created && st.st_nlink != 1)
        return errc::make_error_code(errc::too_many_links);

    part_file f;
    struct statfs fs {};
    f.in_memory_ = ::fstatfs(file.get(), &fs) == 0 && fs.f_type == TMPFS_MAGIC;
    f.fd_ = file.release();
    f.bare_ = created;
    f.dir_ = dir.native();
    f.parts_ = std::move(parts);
    return f;
}

std::filesystem::path part_file::path() const {
    std::filesystem::path p = dir_;
    for (const auto& part : parts_)
        p /= part;
    p += ".part";
    return p;
}

error_code part_file::preallocate(std::uint64_t size) {
    if (!is_open())
        return errc::make_error_code(errc::bad_file_descriptor);
    if (size > max_offset)
        return errc::make_error_code(errc::file_too_large);
    struct stat st {};
    if (::fstat(fd_, &st) != 0)
        return os_error(errno);
    // A stale, longer .part must not leave bytes beyond the end of the new file.
    if (static_cast<std::uint64_t>(st.st_size) > size || size == 0)
        if (auto ec = resize(size))
            return ec;
    if (size == 0)
        return {};
    struct statfs fs {};
    if (in_memory_ && ::fstatfs(fd_, &fs) == 0) {
        // In RAM there is nothing to keep contiguous, and fallocate would zero every page only
        // for the download to overwrite it (28 ms per 256 MiB, before the first byte is kept).
        // The room is checked instead of reserved.
        std::uint64_t held = static_cast<std::uint64_t>(st.st_blocks) * 512;
        if (size - std::min(size, held) > std::uint64_t(fs.f_bavail) * std::uint64_t(fs.f_bsize))
            return errc::make_error_code(errc::no_space_on_device);
        return static_cast<std::uint64_t>(st.st_size) < size ? resize(size) : error_code{};
    }
    int rc;
    do
        rc = ::fallocate(fd_, 0, 0, static_cast<off_t>(size));
    while (rc != 0 && errno == EINTR);
    if (rc == 0)
        return {};
    if (errno == EOPNOTSUPP || errno == ENOSYS) // e.g. some network and FUSE file systems
        return static_cast<std::uint64_t>(st.st_size) < size ? resize(size) : error_code{};
    return write_error(errno);
}

error_code part_file::resize(std::uint64_t size) {
    if (!is_open())
        return errc::make_error_code(errc::bad_file_descriptor);
    if (size > max_offset)
        return errc::make_error_code(errc::file_too_large);
    int rc;
    do
        rc = ::ftruncate(fd_, static_cast<off_t>(size));
    while (rc != 0 && errno == EINTR);
    return rc == 0 ? error_code{} : write_error(errno);
}

error_code part_file::write_at(std::uint64_t offset, const void* data, std::size_t size) {
    if (!is_open())
        return errc::make_error_code(errc::bad_file_descriptor);
    if (offset > max_offset || size > max_offset - offset)
        return errc::make_error_code(errc::file_too_large);
    auto* p = static_cast<const char*>(data);
    while (size > 0) {
        auto n = ::pwrite(fd_, p, std::min<std::size_t>(size, SSIZE_MAX), static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return write_error(errno);
        }
        if (n == 0) // cannot happen for a regular file; never spin on it
            return errc::make_error_code(errc::io_error);
        p += n;
        offset += static_cast<std::uint64_t>(n);
        size -= static_cast<std::size_t>(n);
    }
    return {};
}

boost::system::result<std::size_t> part_file::read_at(std::uint64_t offset, void* data, std::size_t size) {
    if (!is_open())
        return errc::make_error_code(errc::bad_file_descriptor);
    if (offset > max_offset)
        return std::size_t{0};
    for (;;) {
        auto n = ::pread(fd_, data, std::min<std::size_t>(size, SSIZE_MAX), static_cast<off_t>(offset));
        if (n >= 0)
            return static_cast<std::size_t>(n);
        if (errno != EINTR)
            return os_error(errno);
    }
}

boost::system::result<std::uint64_t> part_file::size_on_disk() const {
    if (!is_open())
        return errc::make_error_code(errc::bad_file_descriptor);
    struct stat st {};
    if (::fstat(fd_, &st) != 0)
        return os_error(errno);
    return static_cast<std::uint64_t>(st.st_size);
}

error_code part_file::sync() {
    if (!is_open())
        return errc::make_error_code(errc::bad_file_descriptor);
    if (!in_memory_ && ::fsync(fd_) != 0) // tmpfs has nothing to sync (its fsync does nothing)
        return write_error(errno);
    return {};
}

int part_file::sync_handle() const noexcept {
    if (!is_open() || in_memory_)
        return -1;
    return ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
}

namespace {
constexpr const char* etag_attribute = "user.ferry.etag";
constexpr const char* last_modified_attribute = "user.ferry.last-modified";

std::string read_attribute(int fd, const char* name) {
    char value[1024];
    auto n = ::fgetxattr(fd, name, value, sizeof value);
    return n > 0 ? std::string(value, static_cast<std::size_t>(n)) : std::string();
}

} // namespace

void part_file::set_validators(const stored_validators& v) {
    if (!is_open())
        return;
    // Best effort: a file system without user attributes only costs the next run a download.
    const bool bare = bare_;
    auto write_attribute = [&](const char* name, const std::string& value) {
        if (value.empty() || value.size() > 1024) {
            if (!bare)
                ::fremovexattr(fd_, name); // one from before may be there
        } else {
            ::fsetxattr(fd_, name, value.data(), value.size(), 0);
            bare_ = false;
        }
    };
    write_attribute(etag_attribute, v.etag);
    write_attribute(last_modified_attribute, v.last_modified);
}

error_code part_file::commit(bool durable) {
    if (!is_open())
        return errc::make_error_code(errc::bad_file_descriptor);
    if (durable)
        if (auto ec = sync())
            return ec;
    // The directory is opened again as at open(), never through a symlink beneath `dir_`:
    // holding it for the whole transfer would take a second descriptor per file.
    auto parent = open_parent(std::filesystem::path(dir_), parts_, false);
    if (!parent)
        return parent.error();
    const auto name = parent->name(parts_.back());
    const auto part_name = name + ".part";
    // Rename only the file we wrote: if NAME.part was replaced behind our back (another process,
    // a planted link, a directory swapped), whatever is there now must not become the final file.
    struct stat ours {}, there {};
    if (::fstat(fd_, &ours) != 0)
        return os_error(errno);
    if (::fstatat(parent->at(), part_name.c_str(), &there, AT_SYMLINK_NOFOLLOW) != 0)
        return os_error(errno);
    if (ours.st_dev != there.st_dev || ours.st_ino != there.st_ino)
        return os_error(ESTALE); // no errc name for it
    if (::renameat(parent->at(), part_name.c_str(), parent->at(), name.c_str()) != 0)
        return os_error(errno);
    // The file is in place now; a failed directory sync is reported but the handle is done.
    error_code ec;
    if (durable && !in_memory_ && parent->sync() != 0)
        ec = os_error(errno);
    close();
    return ec;
}

error_code part_file::discard() {
    if (!is_open())
        return errc::make_error_code(errc::bad_file_descriptor);
    error_code ec;
    auto parent = open_parent(std::filesystem::path(dir_), parts_, false);
    if (!parent)
        ec = parent.error();
    else if (::unlinkat(parent->at(), parent->name(parts_.back() + ".part").c_str(), 0) != 0)
        ec = os_error(errno);
    close();
    return ec;
}

stored_validators existing_file_validators(const std::filesystem::path& dir, const std::filesystem::path& relative) {
    auto text = relative_string(relative);
    if (!check_relative_path(text).empty())
        return {};
    auto parts = components(text);
    auto parent = open_parent(dir, parts, false);
    if (!parent)
        return {};
    unique_fd fd(::openat(parent->at(), parent->name(parts.back()).c_str(),
                          O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (fd.get() < 0)
        return {};
    return {read_attribute(fd.get(), etag_attribute), read_attribute(fd.get(), last_modified_attribute)};
}

boost::system::result<std::uint64_t> existing_file_size(const std::filesystem::path& dir,
                                                        const std::filesystem::path& relative) {
    auto text = relative_string(relative);
    if (!check_relative_path(text).empty())
        return errc::make_error_code(errc::invalid_argument);
    auto parts = components(text);
    auto parent = open_parent(dir, parts, false);
    if (!parent)
        return parent.error();
    struct stat st {};
    if (::fstatat(parent->at(), parent->name(parts.back()).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return os_error(errno);
    if (S_ISLNK(st.st_mode))
        return errc::make_error_code(errc::too_many_symbolic_link_levels);
    if (S_ISDIR(st.st_mode))
        return errc::make_error_code(errc::is_a_directory);
    if (!S_ISREG(st.st_mode))
        return errc::make_error_code(errc::invalid_argument);
    return static_cast<std::uint64_t>(st.st_size);
}

} // namespace ferry
