#pragma once

// What the machine gives this process and what it takes: CPU, memory, descriptors, the room
// left on the disks it writes to, and its cgroup's limits. Read at most once per refresh
// interval, so that frequent stats snapshots (an RPC poll, a scrape) cost nothing more.

#include "perf/cgroup_limits.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ferry {

/// The file system holding a directory.
struct disk_space {
    std::string dir;
    std::uint64_t free_bytes = 0;  ///< available to this (unprivileged) process
    std::uint64_t total_bytes = 0;
};

struct resource_usage {
    double cpu_seconds = 0;        ///< user + system since the process started
    /// Cores kept busy over the last interval (1.0: one core all the time); nullopt at first.
    std::optional<double> cpu_load;
    unsigned cpus = 0;             ///< online CPUs
    std::uint64_t resident_bytes = 0;
    std::uint64_t open_fds = 0, max_fds = 0;
    cgroup_limits cgroup;
    std::vector<disk_space> disks; ///< one per directory asked about
};

/// Samples resource_usage; not thread-safe (the engine calls it on its strand).
class resource_monitor {
public:
    using clock = std::chrono::steady_clock;
    explicit resource_monitor(std::chrono::milliseconds refresh = std::chrono::seconds(1));

    /// The usage, read anew when the last reading is older than the refresh interval or was of
    /// other directories.
    const resource_usage& sample(clock::time_point now, const std::vector<std::filesystem::path>& dirs);

    /// The CPU load between two readings of cpu_seconds `wall` seconds apart. No I/O.
    static std::optional<double> load_between(double cpu_before, double cpu_after, double wall);

private:
    std::chrono::milliseconds refresh_;
    std::optional<clock::time_point> read_at_;
    std::vector<std::filesystem::path> dirs_;
    resource_usage usage_;
};

} // namespace ferry
