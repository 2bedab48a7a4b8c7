#include "tools/serve/aria2_gid.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace ferry::serve {

bool well_formed_gid(std::string_view gid) noexcept {
    return gid.size() == 16 &&
           std::all_of(gid.begin(), gid.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string fresh_gid(std::mt19937_64& random, const std::function<bool(const std::string&)>& taken) {
    for (;;) {
        char text[17];
        std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(random()));
        std::string gid(text, 16);
        if (gid != "0000000000000000" && !taken(gid))
            return gid;
    }
}

std::optional<std::string> gid_prefix(std::string_view text) {
    if (text.empty() || text.size() > 16 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }))
        return std::nullopt;
    std::string prefix(text);
    std::transform(prefix.begin(), prefix.end(), prefix.begin(), [](unsigned char c) { return std::tolower(c); });
    return prefix;
}

} // namespace ferry::serve
