#include "tools/transfer_profile.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ferry::cli {

std::optional<transfer_profile> parse_transfer_profile(std::string_view name) noexcept {
    if (name == "balanced") return transfer_profile::balanced;
    if (name == "speed") return transfer_profile::speed;
    if (name == "memory") return transfer_profile::memory;
    if (name == "background") return transfer_profile::background;
    return std::nullopt;
}

bool lower_process_priority() noexcept {
    // ioprio_set(IOPRIO_WHO_PROCESS, self, class best-effort (2) << 13 | level 7): glibc has no
    // wrapper. Idle (class 3) would starve the final syncs behind any other disk traffic.
    constexpr int who_process = 1;
    constexpr int best_effort_lowest = (2 << 13) | 7;
    if (::setpriority(PRIO_PROCESS, 0, 10) != 0)
        return false;
    return ::syscall(SYS_ioprio_set, who_process, 0, best_effort_lowest) == 0;
}

} // namespace ferry::cli
