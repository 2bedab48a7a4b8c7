#include "tools/origin/range_header.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

namespace ferry::origin {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

std::optional<std::uint64_t> number(std::string_view s) {
    if (s.empty() || s.front() < '0' || s.front() > '9')
        return std::nullopt;
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc{} || end != s.data() + s.size())
        return std::nullopt;
    return n;
}

bool starts_with_bytes_unit(std::string_view s) {
    constexpr std::string_view unit = "bytes=";
    if (s.size() < unit.size())
        return false;
    for (std::size_t i = 0; i < unit.size(); ++i)
        if ((s[i] | 0x20) != unit[i] && s[i] != unit[i])
            return false;
    return true;
}

} // namespace

range_request parse_range(std::string_view header, std::uint64_t size) {
    header = trim(header);
    if (!starts_with_bytes_unit(header))
        return {};
    auto spec = trim(header.substr(6));
    if (spec.find(',') != std::string_view::npos)
        return {}; // several ranges: the whole file is a valid answer
    auto dash = spec.find('-');
    if (dash == std::string_view::npos)
        return {};
    auto first_text = trim(spec.substr(0, dash));
    auto last_text = trim(spec.substr(dash + 1));

    if (first_text.empty()) { // suffix: the last n bytes
        auto n = number(last_text);
        if (!n)
            return {};
        if (*n == 0 || size == 0)
            return {range_request::unsatisfiable};
        return {range_request::satisfiable, size - std::min(*n, size), size - 1};
    }
    auto first = number(first_text);
    if (!first)
        return {};
    std::optional<std::uint64_t> last;
    if (!last_text.empty()) {
        last = number(last_text);
        if (!last || *last < *first)
            return {};
    }
    if (*first >= size)
        return {range_request::unsatisfiable};
    return {range_request::satisfiable, *first, last ? std::min(*last, size - 1) : size - 1};
}

} // namespace ferry::origin
