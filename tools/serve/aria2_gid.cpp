#include "tools/serve/aria2_gid.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace ferry::serve {

aria2_gid_registry::aria2_gid_registry() : random_(std::random_device{}()) {}
aria2_gid_registry::aria2_gid_registry(std::uint64_t seed) : random_(seed) {}

bool aria2_gid_registry::well_formed(std::string_view gid) noexcept {
    return gid.size() == 16 &&
           std::all_of(gid.begin(), gid.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string aria2_gid_registry::reserve() {
    for (;;) {
        char text[17];
        std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(random_()));
        std::string gid(text, 16);
        // aria2 never hands out GID 0; neither a GID in use.
        if (gid != "0000000000000000" && !in_use_.contains(gid))
            return gid;
    }
}

void aria2_gid_registry::add(const std::string& gid) { in_use_.insert(gid); }

gid_lookup aria2_gid_registry::find(std::string_view text, std::string& gid) const {
    if (text.empty() || text.size() > 16 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }))
        return gid_lookup::malformed;
    std::string prefix(text);
    std::transform(prefix.begin(), prefix.end(), prefix.begin(), [](unsigned char c) { return std::tolower(c); });
    auto it = in_use_.lower_bound(prefix);
    if (it == in_use_.end() || !it->starts_with(prefix))
        return gid_lookup::not_found;
    auto next = std::next(it);
    if (prefix.size() < 16 && next != in_use_.end() && next->starts_with(prefix))
        return gid_lookup::ambiguous;
    gid = *it;
    return gid_lookup::found;
}

bool aria2_gid_registry::erase(const std::string& gid) { return in_use_.erase(gid) > 0; }

} // namespace ferry::serve
