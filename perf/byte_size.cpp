#include "perf/byte_size.hpp"

#include <charconv>
#include <cmath>

namespace ferry {

std::optional<std::uint64_t> parse_byte_size(std::string_view text) {
    if (text.empty())
        return std::nullopt;
    double multiplier = 1;
    switch (text.back()) {
    case 'k': case 'K': multiplier = 1024.0; break;
    case 'm': case 'M': multiplier = 1024.0 * 1024; break;
    case 'g': case 'G': multiplier = 1024.0 * 1024 * 1024; break;
    case 't': case 'T': multiplier = 1024.0 * 1024 * 1024 * 1024; break;
    default: break;
    }
    if (multiplier != 1)
        text.remove_suffix(1);
    double number = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec != std::errc{} || end != text.data() + text.size() || !(number >= 0))
        return std::nullopt;
    double bytes = std::floor(number * multiplier);
    if (bytes >= 1.8e19)
        return std::nullopt;
    return static_cast<std::uint64_t>(bytes);
}

} // namespace ferry
