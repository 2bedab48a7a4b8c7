#pragma once

// aria2's download handles: GIDs of 16 lowercase hex digits, and their mapping to engine model ids.

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::serve {

/// What a GID given by a client resolved to.
enum class gid_lookup { found, not_found, ambiguous, malformed };

/// Issues GIDs and maps each to the engine model that carries the download. A client may name a
/// GID by any prefix that matches exactly one GID (as aria2 allows). No I/O; not thread-safe.
class aria2_gid_registry {
public:
    aria2_gid_registry();
    /// A fixed seed, for tests that want the same GIDs every run.
    explicit aria2_gid_registry(std::uint64_t seed);

    /// A new GID (never one issued before and still registered), mapped to `model_id`.
    std::string issue(const std::string& model_id);
    /// A fresh unused GID, not yet mapped: the engine model is then named after it (bind() it).
    std::string reserve();
    void bind(const std::string& gid, const std::string& model_id);

    /// Resolves a full GID or a unique prefix of one: the full GID in `gid` when found.
    gid_lookup find(std::string_view text, std::string& gid) const;
    /// The model behind a full GID.
    std::optional<std::string> model_of(const std::string& gid) const;
    /// The GID of a model.
    std::optional<std::string> gid_of(const std::string& model_id) const;
    /// Forgets a GID (purged results); true when it was known.
    bool erase(const std::string& gid);

    std::size_t size() const noexcept { return by_gid_.size(); }
    /// Every GID, in the order they were issued.
    std::vector<std::string> in_issue_order() const;

    /// True for 16 lowercase hex digits.
    static bool well_formed(std::string_view gid) noexcept;

private:
    std::mt19937_64 random_;
    std::uint64_t issued_ = 0;
    struct entry {
        std::string model;
        std::uint64_t order = 0;
    };
    std::map<std::string, entry, std::less<>> by_gid_; ///< sorted: a prefix's matches are adjacent
    std::map<std::string, std::string> by_model_;
};

} // namespace ferry::serve
