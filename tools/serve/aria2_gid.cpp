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
        if (gid != "0000000000000000" && !by_gid_.contains(gid))
            return gid;
    }
}

void aria2_gid_registry::bind(const std::string& gid, const std::string& model_id) {
    by_gid_[gid] = entry{model_id, issued_++};
    by_model_[model_id] = gid;
}

std::string aria2_gid_registry::issue(const std::string& model_id) {
    auto gid = reserve();
    bind(gid, model_id);
    return gid;
}

gid_lookup aria2_gid_registry::find(std::string_view text, std::string& gid) const {
    if (text.empty() || text.size() > 16 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }))
        return gid_lookup::malformed;
    std::string prefix(text);
    std::transform(prefix.begin(), prefix.end(), prefix.begin(), [](unsigned char c) { return std::tolower(c); });
    auto it = by_gid_.lower_bound(prefix);
    if (it == by_gid_.end() || !it->first.starts_with(prefix))
        return gid_lookup::not_found;
    auto next = std::next(it);
    if (prefix.size() < 16 && next != by_gid_.end() && next->first.starts_with(prefix))
        return gid_lookup::ambiguous;
    gid = it->first;
    return gid_lookup::found;
}

std::optional<std::string> aria2_gid_registry::model_of(const std::string& gid) const {
    auto it = by_gid_.find(gid);
    if (it == by_gid_.end())
        return std::nullopt;
    return it->second.model;
}

std::optional<std::string> aria2_gid_registry::gid_of(const std::string& model_id) const {
    auto it = by_model_.find(model_id);
    if (it == by_model_.end())
        return std::nullopt;
    return it->second;
}

bool aria2_gid_registry::erase(const std::string& gid) {
    auto it = by_gid_.find(gid);
    if (it == by_gid_.end())
        return false;
    by_model_.erase(it->second.model);
    by_gid_.erase(it);
    return true;
}

std::vector<std::string> aria2_gid_registry::in_issue_order() const {
    std::vector<std::pair<std::uint64_t, std::string>> all;
    for (auto& [gid, e] : by_gid_)
        all.emplace_back(e.order, gid);
    std::sort(all.begin(), all.end());
    std::vector<std::string> out;
    for (auto& [order, gid] : all)
        out.push_back(gid);
    return out;
}

} // namespace ferry::serve
