#include "memory/memory_limits.hpp"

#include "perf/cgroup_limits.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

namespace ferry {

std::uint64_t memory_limit() noexcept {
    auto pages = sysconf(_SC_PHYS_PAGES);
    auto page_size = sysconf(_SC_PAGESIZE);
    std::uint64_t limit = pages > 0 && page_size > 0 ? std::uint64_t(pages) * std::uint64_t(page_size) : 0;
    if (auto cgroup = read_cgroup_limits().memory_max; cgroup && *cgroup > 0)
        limit = limit ? std::min(limit, *cgroup) : *cgroup;
    return limit;
}

std::uint64_t resident_memory() noexcept {
    std::ifstream in("/proc/self/statm");
    std::uint64_t size = 0, resident = 0;
    if (!(in >> size >> resident))
        return 0;
    return resident * std::uint64_t(sysconf(_SC_PAGESIZE));
}

std::uint64_t default_buffer_budget() noexcept {
    constexpr std::uint64_t MiB = 1024 * 1024;
    auto limit = memory_limit();
    if (limit == 0)
        return 64 * MiB;
    return std::clamp<std::uint64_t>(limit / 64, 32 * MiB, 256 * MiB);
}

} // namespace ferry
