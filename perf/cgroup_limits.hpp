#pragma once

// The limits a container puts on this process: its cgroup's memory and CPU quota (cgroup v2, or
// v1's memory and cpu controllers).

#include <cstdint>
#include <optional>
#include <string_view>

namespace ferry {

struct cgroup_limits {
    std::optional<std::uint64_t> memory_max;  ///< bytes the cgroup may use; nullopt: no limit
    std::optional<std::uint64_t> memory_used; ///< bytes it uses now (memory.current / usage_in_bytes)
    std::optional<double> cpu_cores;          ///< CPU quota in cores (1.5: 150 ms per 100 ms); nullopt: none
};

/// A memory file's number: memory.max / memory.current (v2) or memory.limit_in_bytes /
/// memory.usage_in_bytes (v1). "max" and v1's "no limit" (a number near 2^63) are nullopt. No I/O.
std::optional<std::uint64_t> parse_cgroup_bytes(std::string_view text);

/// v2's cpu.max ("QUOTA PERIOD", QUOTA "max" for none) in cores. No I/O.
std::optional<double> parse_cpu_max(std::string_view text);

/// v1's cpu.cfs_quota_us and cpu.cfs_period_us (quota -1 for none) in cores. No I/O.
std::optional<double> parse_cfs_quota(std::string_view quota, std::string_view period);

/// The cgroup directory of a controller from /proc/self/cgroup's text: v2's "0::/path" when
/// `controller` is empty, else the v1 line naming it ("4:memory:/path"). No I/O.
std::optional<std::string_view> cgroup_path(std::string_view proc_self_cgroup, std::string_view controller);

/// Reads the limits of this process's cgroup from /sys/fs/cgroup (v2 first, then v1).
cgroup_limits read_cgroup_limits();

} // namespace ferry
