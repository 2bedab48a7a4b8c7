#pragma once

#include <optional>
#include <string_view>

namespace ferry {

/// How soon a model's files start: every high one before any normal one, every normal one before
/// any low one (files already running are never preempted).
enum class priority { high = 0, normal = 1, low = 2 };

const char* to_string(priority p) noexcept;
/// "high", "normal" or "low"; nullopt for anything else.
std::optional<priority> parse_priority(std::string_view text) noexcept;

} // namespace ferry
