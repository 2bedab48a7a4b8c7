#include "net/address_cache.hpp"

#include <algorithm>

namespace ferry {

std::string address_cache::key(const std::string& host, std::uint16_t port) {
    return host + ':' + std::to_string(port);
}

const address_cache::endpoints* address_cache::find(const std::string& host, std::uint16_t port,
                                                    clock::time_point now) const {
    auto it = entries_.find(key(host, port));
    if (it == entries_.end() || now - it->second.stored >= settings_.ttl)
        return nullptr;
    return &it->second.addresses;
}

void address_cache::store(const std::string& host, std::uint16_t port, endpoints addresses, clock::time_point now) {
    if (addresses.empty() || settings_.capacity == 0)
        return;
    auto k = key(host, port);
    if (entries_.size() >= settings_.capacity && !entries_.contains(k)) {
        auto oldest = std::min_element(entries_.begin(), entries_.end(),
                                       [](const auto& a, const auto& b) { return a.second.stored < b.second.stored; });
        entries_.erase(oldest);
    }
    entries_.insert_or_assign(std::move(k), entry{std::move(addresses), now});
}

void address_cache::forget(const std::string& host, std::uint16_t port) {
    entries_.erase(key(host, port));
}

} // namespace ferry
