#pragma once

// aria2's download handles: GIDs of 16 lowercase hex digits (the engine's model is named after its
// GID). No I/O.

#include <functional>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>

namespace ferry::serve {

/// What a GID given by a client resolved to.
enum class gid_lookup { found, not_found, ambiguous, malformed };

/// True for 16 lowercase hex digits.
bool well_formed_gid(std::string_view gid) noexcept;

/// A random GID, never 0 (aria2 hands out none) and none that `taken` says is in use.
std::string fresh_gid(std::mt19937_64& random, const std::function<bool(const std::string&)>& taken);

/// A client's text as a GID prefix: 1 to 16 hex digits in either case, lowercased; nullopt when
/// it is anything else.
std::optional<std::string> gid_prefix(std::string_view text);

/// Resolves a full GID or a prefix that matches exactly one GID (as aria2 allows) among the keys
/// of `by_gid`, a map ordered by GID (a prefix's matches are adjacent there). The entry when
/// found, else end().
template <class Map>
auto find_gid(Map& by_gid, std::string_view text) -> std::pair<gid_lookup, decltype(by_gid.begin())> {
    auto prefix = gid_prefix(text);
    if (!prefix)
        return {gid_lookup::malformed, by_gid.end()};
    auto it = by_gid.lower_bound(*prefix);
    if (it == by_gid.end() || !it->first.starts_with(*prefix))
        return {gid_lookup::not_found, by_gid.end()};
    if (auto next = std::next(it); prefix->size() < 16 && next != by_gid.end() && next->first.starts_with(*prefix))
        return {gid_lookup::ambiguous, by_gid.end()};
    return {gid_lookup::found, it};
}

} // namespace ferry::serve
