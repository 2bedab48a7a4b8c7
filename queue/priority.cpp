#include "queue/priority.hpp"

namespace ferry {

const char* to_string(priority p) noexcept {
    switch (p) {
    case priority::high: return "high";
    case priority::normal: return "normal";
    case priority::low: return "low";
    }
    return "normal";
}

std::optional<priority> parse_priority(std::string_view text) noexcept {
    if (text == "high") return priority::high;
    if (text == "normal") return priority::normal;
    if (text == "low") return priority::low;
    return std::nullopt;
}

} // namespace ferry
