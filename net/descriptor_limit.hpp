#pragma once

#include <cstdint>

namespace ferry {

/// Raises this process's soft limit on open descriptors (`ulimit -n`) to its hard limit, or to
/// `wanted` if that is lower, and returns the soft limit now in force. A server holding thousands
/// of connections calls it at start: distributions ship a soft limit of 1024 and a much higher
/// hard one. Never lowers the limit; failures leave it as it was.
std::uint64_t raise_descriptor_limit(std::uint64_t wanted = UINT64_MAX) noexcept;

/// Whether this process could not open one more descriptor now (its limit, or the system's, is
/// reached): opens /dev/null and closes it again.
bool descriptors_exhausted() noexcept;

} // namespace ferry
