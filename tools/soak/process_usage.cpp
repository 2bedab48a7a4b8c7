#include "tools/soak/process_usage.hpp"

#include <dirent.h>
#include <malloc.h>
#include <sys/resource.h>

#include <fstream>
#include <string>

namespace ferry::soak {

std::uint64_t resident_bytes() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with("VmRSS:"))
            return std::stoull(line.substr(6)) * 1024; // "VmRSS:   123456 kB"
    return 0;
}

std::uint64_t heap_in_use() {
    auto info = ::mallinfo2();
    return info.uordblks + info.hblkhd;
}

std::uint64_t open_fds() {
    DIR* dir = ::opendir("/proc/self/fd");
    if (!dir)
        return 0;
    std::uint64_t n = 0;
    while (auto* entry = ::readdir(dir))
        if (entry->d_name[0] != '.')
            ++n;
    ::closedir(dir);
    return n - 1; // the directory stream's own descriptor
}

std::uint64_t raise_fd_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return 0;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
        ::getrlimit(RLIMIT_NOFILE, &limit);
    }
    return limit.rlim_cur;
}

} // namespace ferry::soak
