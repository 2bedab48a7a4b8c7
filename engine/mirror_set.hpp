#pragma once

#include "engine/response_verdict.hpp"
#include "memory/resume_journal.hpp"
#include "net/url.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>


namespace ferry {

/// The URLs of one file and what each has told us: its own validator (mirrors may carry
/// different ETags for the same bytes), whether it does ranges, where it redirected to and when
/// that signed URL expires, and whether it was dropped. No I/O, not thread-safe (the file's
/// coroutine owns it).
class mirror_set {
public:
    using system_clock = std::chrono::system_clock;

    struct mirror {
        url original;                ///< as given: credentials go only to its host
        /// Where a redirect sent requests (none: to `original`); apart, as most files have none.
        std::unique_ptr<url> moved_to;
        std::optional<system_clock::time_point> expires; ///< of `current`, when it is signed
        system_clock::time_point resolved_at{};
        std::string etag;
        std::string last_modified;
        bool ranges_seen = false;    ///< answered 206 for this validator
        bool answered = false;       ///< an answer of this mirror was accepted
        bool dropped = false;

        /// Where requests go (after redirects).
        const url& current() const noexcept { return moved_to ? *moved_to : original; }
        bool redirected() const noexcept { return moved_to && moved_to->text != original.text; }
    };

    explicit mirror_set(std::vector<url> urls);

    /// Fields sent with every request to a mirror's original origin (never after a redirect to
    /// another origin): the engine's user headers and the file's own.
    std::vector<std::pair<std::string, std::string>> origin_fields;

    std::size_t size() const noexcept { return mirrors_.size(); }
    mirror& operator[](std::size_t i) { return mirrors_[i]; }
    const mirror& operator[](std::size_t i) const { return mirrors_[i]; }

    /// A mirror that is not dropped, spreading `worker` over them; nullopt when all are dropped.
    std::optional<std::size_t> pick(std::size_t worker) const;
    /// The next usable mirror after `i` (itself when it is the only one left).
    std::optional<std::size_t> next_after(std::size_t i) const;

    /// What judge_response needs to know of mirror `i`.
    mirror_knowledge knowledge(std::size_t i, std::optional<std::uint64_t> size, bool size_from_manifest) const;
    /// An accepted answer: the mirror's validator, and whether it did a range.
    void learn(std::size_t i, const response_verdict& v, bool ranged);
    /// The file changed: every mirror's validator is forgotten.
    void forget_validators();
    void redirect(std::size_t i, url next, system_clock::time_point now);
    /// Back to the original URL (a signed URL expired or was refused).
    void re_resolve(std::size_t i);
    /// A signed URL close to its expiry: ask the original URL again before using it (a quarter
    /// of its lifetime ahead, at most 5 s).
    bool needs_fresh_url(std::size_t i, system_clock::time_point now) const;
    /// Mirror `i` cannot serve the file: no more requests go there.
    void drop(std::size_t i);

    /// Validators of the mirrors that did ranges, for the journal, and back from it (matched by
    /// URL without query).
    std::vector<mirror_validator> validators() const;
    void restore(const std::vector<mirror_validator>& saved);

private:
    std::vector<mirror> mirrors_;
};

} // namespace ferry
