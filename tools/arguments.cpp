#include "tools/arguments.hpp"

#include <charconv>

namespace ferry::cli {

bool arguments::value(std::string_view arg, std::string_view long_name, std::string_view short_name,
                      std::string& out) {
    auto matches_with_equals = [&](std::string_view name) {
        return !name.empty() && arg.size() > name.size() && arg.starts_with(name) &&
               arg[name.size()] == '=';
    };
    if (matches_with_equals(long_name)) {
        out = std::string(arg.substr(long_name.size() + 1));
        return true;
    }
    if (arg != long_name && (short_name.empty() || arg != short_name))
        return false;
    if (done())
        throw usage_error("option " + std::string(arg) + " needs a value");
    out = std::string(take());
    return true;
}

std::uint64_t parse_count(std::string_view option, std::string_view text, bool zero_allowed) {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || end != text.data() + text.size() || (n == 0 && !zero_allowed))
        throw usage_error("option " + std::string(option) + " needs a " + (zero_allowed ? "whole" : "positive") +
                          " number, not '" + std::string(text) + "'");
    return n;
}

std::chrono::milliseconds parse_seconds(std::string_view option, std::string_view text) {
    double seconds = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    // At least a millisecond, at most a day: beyond either it is a typo, not a timeout.
    if (ec != std::errc{} || end != text.data() + text.size() || !(seconds >= 0.001 && seconds <= 86400))
        throw usage_error("option " + std::string(option) + " needs a number of seconds (e.g. 10 or 2.5), not '" +
                          std::string(text) + "'");
    return std::chrono::milliseconds(static_cast<long long>(seconds * 1000 + 0.5));
}

} // namespace ferry::cli
