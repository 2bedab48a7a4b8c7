// blob_lock: the flock huggingface_hub's filelock takes on ROOT/.locks/{repo folder}/{etag}.lock.
#include "memory/hub_cache.hpp"
#include "memory/hub_cache_dirs.hpp"

#include <cerrno>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace ferry {

namespace {

boost::system::result<int> open_lock_file(const std::filesystem::path& lock_path) {
    std::error_code ec;
    std::filesystem::create_directories(lock_path.parent_path(), ec);
    if (ec)
        return boost::system::error_code(ec.value(), boost::system::system_category());
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return hub_dirs::last_error();
    return fd;
}

/// True when taken, false when another open file description holds it.
boost::system::result<bool> try_lock(int fd) {
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            return false;
        if (errno != EINTR)
            return {boost::system::in_place_error, hub_dirs::last_error()};
    }
    return true;
}

} // namespace

boost::system::result<std::optional<blob_lock>> blob_lock::try_acquire(const std::filesystem::path& lock_path) {
    auto fd = open_lock_file(lock_path);
    if (!fd)
        return fd.error();
    hub_dirs::unique_fd owner(*fd);
    auto taken = try_lock(owner.get());
    if (!taken)
        return taken.error();
    if (!*taken)
        return std::optional<blob_lock>();
    return std::optional<blob_lock>(blob_lock(owner.release()));
}

boost::system::result<blob_lock> blob_lock::acquire(const std::filesystem::path& lock_path,
                                                    std::chrono::milliseconds timeout) {
    auto fd = open_lock_file(lock_path);
    if (!fd)
        return fd.error();
    hub_dirs::unique_fd owner(*fd);
    // flock has no timed wait: try, then sleep a little (the caller is a CLI thread, not the
    // io_context), as filelock does.
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto pause = std::chrono::milliseconds(5);
    while (true) {
        auto taken = try_lock(owner.get());
        if (!taken)
            return taken.error();
        if (*taken)
            return blob_lock(owner.release());
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline)
            return boost::system::errc::make_error_code(boost::system::errc::timed_out);
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
        pause = std::min(pause * 2, std::chrono::milliseconds(100));
    }
}

blob_lock::blob_lock(blob_lock&& other) noexcept : fd_(other.fd_) {
    other.fd_ = -1;
}

blob_lock& blob_lock::operator=(blob_lock&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

blob_lock::~blob_lock() {
    // Closing the last descriptor of the open file description releases the flock.
    if (fd_ >= 0)
        ::close(fd_);
}

} // namespace ferry
