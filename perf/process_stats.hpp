#pragma once

// This process's resource usage as Prometheus's process_* metrics report it (Linux /proc).

#include <cstdint>
#include <optional>
#include <string_view>

namespace ferry {

struct process_stats {
    double cpu_seconds = 0;            ///< user + system time since the process started
    std::uint64_t resident_bytes = 0;  ///< resident set size
    std::uint64_t virtual_bytes = 0;   ///< virtual memory size
    std::uint64_t open_fds = 0;        ///< open file descriptors
    std::uint64_t max_fds = 0;         ///< the soft limit on them (RLIMIT_NOFILE)
    double start_time_seconds = 0;     ///< when the process started, in seconds since the Unix epoch
};

/// What /proc/self/stat says: `stat` is its text, `ticks_per_second` sysconf(_SC_CLK_TCK),
/// `page_size` in bytes, `boot_time` the btime of /proc/stat (seconds since the epoch). Fills
/// cpu_seconds, resident_bytes, virtual_bytes and start_time_seconds; nullopt when the text is
/// not what the kernel writes. No I/O.
std::optional<process_stats> parse_proc_self_stat(std::string_view stat, long ticks_per_second, long page_size,
                                                  std::uint64_t boot_time);

/// The `btime` line of /proc/stat: when the system booted, in seconds since the epoch. No I/O.
std::optional<std::uint64_t> parse_boot_time(std::string_view proc_stat);

/// Reads everything above from /proc (and getrlimit). Fields that cannot be read stay 0.
process_stats read_process_stats();

} // namespace ferry
