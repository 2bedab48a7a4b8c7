#pragma once

#include <optional>
#include <string_view>

namespace ferry::cli {

/// --profile: what a download favours when its flags do not say (flags given explicitly win).
enum class transfer_profile {
    balanced,   ///< the defaults
    speed,      ///< more connections and memory where they were measured to help
    memory,     ///< the smallest buffer budget that keeps nine tenths of balanced's throughput
    background, ///< yields to other traffic: the link (delay-based), the CPU and the disk
};

/// "speed", "balanced", "memory", "background"; none for anything else.
std::optional<transfer_profile> parse_transfer_profile(std::string_view name) noexcept;

/// Lowers the process's CPU and I/O priority (nice 10, best-effort I/O at its lowest level) for
/// the background profile; false (with errno) when the kernel refused.
bool lower_process_priority() noexcept;

} // namespace ferry::cli
