#pragma once

// aria2's download handles: GIDs of 16 lowercase hex digits (the engine's model is named after its
// GID).

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>

namespace ferry::serve {

/// What a GID given by a client resolved to.
enum class gid_lookup { found, not_found, ambiguous, malformed };

/// The GIDs in use: hands out fresh ones and resolves what clients name. A client may name a GID
/// by any prefix that matches exactly one GID (as aria2 allows). No I/O; not thread-safe.
class aria2_gid_registry {
public:
    aria2_gid_registry();
    /// A fixed seed, for tests that want the same GIDs every run.
    explicit aria2_gid_registry(std::uint64_t seed);

    /// A fresh GID, never 0 and none in use; not in use itself until add()ed.
    std::string reserve();
    void add(const std::string& gid);

    /// Resolves a full GID or a unique prefix of one: the full GID in `gid` when found.
    gid_lookup find(std::string_view text, std::string& gid) const;
    /// Forgets a GID (purged results); true when it was in use.
    bool erase(const std::string& gid);

    std::size_t size() const noexcept { return in_use_.size(); }

    /// True for 16 lowercase hex digits.
    static bool well_formed(std::string_view gid) noexcept;

private:
    std::mt19937_64 random_;
    std::set<std::string, std::less<>> in_use_; ///< sorted: a prefix's matches are adjacent
};

} // namespace ferry::serve
