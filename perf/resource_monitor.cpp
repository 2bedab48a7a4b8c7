#include "perf/resource_monitor.hpp"

#include "perf/process_stats.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

namespace ferry {

resource_monitor::resource_monitor(std::chrono::milliseconds refresh) : refresh_(refresh) {}

std::optional<double> resource_monitor::load_between(double cpu_before, double cpu_after, double wall) {
    if (wall <= 0 || cpu_after < cpu_before)
        return std::nullopt;
    return (cpu_after - cpu_before) / wall;
}

const resource_usage& resource_monitor::sample(clock::time_point now, const std::vector<std::filesystem::path>& dirs) {
    if (read_at_ && now - *read_at_ < refresh_ && dirs == dirs_)
        return usage_;
    auto process = read_process_stats();
    if (read_at_ && now > *read_at_)
        usage_.cpu_load = load_between(usage_.cpu_seconds, process.cpu_seconds,
                                       std::chrono::duration<double>(now - *read_at_).count());
    usage_.cpu_seconds = process.cpu_seconds;
    usage_.resident_bytes = process.resident_bytes;
    usage_.open_fds = process.open_fds;
    usage_.max_fds = process.max_fds;
    auto online = ::sysconf(_SC_NPROCESSORS_ONLN);
    usage_.cpus = online > 0 ? static_cast<unsigned>(online) : 0;
    usage_.cgroup = read_cgroup_limits();
    usage_.disks.clear();
    for (auto& dir : dirs) {
        struct statvfs fs {};
        // A directory not made yet: the nearest existing parent holds what it will hold.
        auto probe = dir;
        while (::statvfs(probe.c_str(), &fs) != 0 && probe.has_relative_path() && probe != probe.parent_path())
            probe = probe.parent_path();
        usage_.disks.push_back({dir.string(), std::uint64_t(fs.f_bavail) * fs.f_frsize,
                                std::uint64_t(fs.f_blocks) * fs.f_frsize});
    }
    dirs_ = dirs;
    read_at_ = now;
    return usage_;
}

} // namespace ferry
