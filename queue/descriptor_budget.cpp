#include "queue/descriptor_budget.hpp"

#include <algorithm>

namespace ferry {

descriptor_budget fit_descriptors(std::size_t max_files, std::size_t max_connections, std::uint64_t limit) noexcept {
    descriptor_budget out{max_files, max_connections, false};
    const long double needed =
        static_cast<long double>(max_files) * descriptors_per_file + static_cast<long double>(max_connections);
    const long double available = limit > descriptors_reserved ? static_cast<long double>(limit - descriptors_reserved) : 0;
    if (needed <= available)
        return out;
    const long double share = available / needed;
    out.max_files = std::max<std::size_t>(1, static_cast<std::size_t>(static_cast<long double>(max_files) * share));
    out.max_connections =
        std::max<std::size_t>(1, static_cast<std::size_t>(static_cast<long double>(max_connections) * share));
    out.reduced = true;
    return out;
}

} // namespace ferry
