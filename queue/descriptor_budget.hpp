#pragma once

// How many files and connections fit in the descriptors a process may open. A file being
// downloaded holds one (its .part; its directory is opened only for the final rename), a
// connection one, and a few more come and go (journals, directories at commit, the event loop's
// own, standard streams). Ten thousand transfers under a 10,000-descriptor limit would fail
// half-way with "Too many open files"; fitted, they run a share at a time and all complete.

#include <cstddef>
#include <cstdint>

namespace ferry {

struct descriptor_budget {
    std::size_t max_files = 0;
    std::size_t max_connections = 0;
    bool reduced = false; ///< the limits asked for did not fit and were scaled down
};

/// Descriptors a running file holds, and those kept aside for everything else.
constexpr std::size_t descriptors_per_file = 1;
constexpr std::size_t descriptors_reserved = 64;

/// `max_files` and `max_connections` as asked, or both scaled down in proportion (at least 1
/// each) so that files × 2 + connections + the reserve stay within `limit`. No I/O.
descriptor_budget fit_descriptors(std::size_t max_files, std::size_t max_connections, std::uint64_t limit) noexcept;

} // namespace ferry
