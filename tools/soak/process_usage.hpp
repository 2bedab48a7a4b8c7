#pragma once

// What the soak watches for leaks: this process's resident memory, heap and open file
// descriptors (Linux, glibc).

#include <cstdint>

namespace ferry::soak {

/// VmRSS of /proc/self/status in bytes; 0 when it cannot be read.
std::uint64_t resident_bytes();

/// Bytes the allocator has handed out and not had back (glibc's mallinfo2: arena and mmapped
/// blocks in use). Unlike the RSS it does not include memory freed but kept by the allocator.
std::uint64_t heap_in_use();

/// Entries of /proc/self/fd (sockets, files, pipes, epoll...), not counting the one used to list
/// them; 0 when it cannot be read.
std::uint64_t open_fds();

/// Raises the soft RLIMIT_NOFILE to the hard limit and returns the new soft limit.
std::uint64_t raise_fd_limit();

} // namespace ferry::soak
