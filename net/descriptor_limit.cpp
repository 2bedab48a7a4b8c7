#include "net/descriptor_limit.hpp"

#include <algorithm>
#include <cerrno>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace ferry {

std::uint64_t raise_descriptor_limit(std::uint64_t wanted) noexcept {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return 0;
    auto target = std::min<std::uint64_t>(wanted, limit.rlim_max);
    if (target > limit.rlim_cur) {
        rlimit raised = limit;
        raised.rlim_cur = static_cast<rlim_t>(target);
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
            return target;
    }
    return limit.rlim_cur;
}

bool descriptors_exhausted() noexcept {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ::close(fd);
        return false;
    }
    return errno == EMFILE || errno == ENFILE;
}

} // namespace ferry
