#pragma once

#include <cstdint>

namespace ferry {

/// Memory this process may use: the smaller of physical RAM and the cgroup limit (v2
/// memory.max or v1 memory.limit_in_bytes) when one is set.
std::uint64_t memory_limit() noexcept;

/// Resident set size of this process now, in bytes (0 if unknown).
std::uint64_t resident_memory() noexcept;

/// The default budget for I/O buffers: 1/64 of memory_limit(), between 32 MiB and 256 MiB.
std::uint64_t default_buffer_budget() noexcept;

} // namespace ferry
