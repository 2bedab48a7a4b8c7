#include "engine/mirror_set.hpp"

#include "net/signed_url.hpp"

#include <algorithm>

namespace ferry {

mirror_set::mirror_set(std::vector<url> urls) {
    for (auto& u : urls) {
        mirror m;
        m.original = std::move(u);
        mirrors_.push_back(std::move(m));
    }
}

std::optional<std::size_t> mirror_set::pick(std::size_t worker) const {
    std::vector<std::size_t> live;
    for (std::size_t i = 0; i < mirrors_.size(); ++i)
        if (!mirrors_[i].dropped)
            live.push_back(i);
    if (live.empty())
        return std::nullopt;
    return live[worker % live.size()];
}

std::optional<std::size_t> mirror_set::next_after(std::size_t i) const {
    for (std::size_t step = 1; step <= mirrors_.size(); ++step) {
        auto j = (i + step) % mirrors_.size();
        if (!mirrors_[j].dropped)
            return j;
    }
    return std::nullopt;
}

mirror_knowledge mirror_set::knowledge(std::size_t i, std::optional<std::uint64_t> size, bool size_from_manifest) const {
    const auto& m = mirrors_[i];
    mirror_knowledge k;
    k.size = size;
    k.size_from_manifest = size_from_manifest;
    k.etag = m.etag;
    k.last_modified = m.etag.empty() ? m.last_modified : std::string();
    k.ranges_seen = m.ranges_seen;
    k.size_from_other_mirror = size && !size_from_manifest && !m.answered && m.etag.empty() && m.last_modified.empty();
    return k;
}

void mirror_set::learn(std::size_t i, const response_verdict& v, bool ranged) {
    auto& m = mirrors_[i];
    m.answered = true;
    if (m.etag.empty() && m.last_modified.empty()) {
        m.etag = v.etag;
        m.last_modified = v.etag.empty() ? v.last_modified : std::string();
    }
    if (ranged && !v.whole_body)
        m.ranges_seen = true;
}

void mirror_set::forget_validators() {
    for (auto& m : mirrors_) {
        m.etag.clear();
        m.last_modified.clear();
        m.ranges_seen = false;
        m.answered = false;
    }
}

void mirror_set::redirect(std::size_t i, url next, system_clock::time_point now) {
    auto& m = mirrors_[i];
    m.expires = signed_url_expiry(next);
    m.resolved_at = now;
    m.moved_to = std::make_unique<url>(std::move(next));
}

void mirror_set::re_resolve(std::size_t i) {
    auto& m = mirrors_[i];
    m.moved_to.reset();
    m.expires.reset();
}

bool mirror_set::needs_fresh_url(std::size_t i, system_clock::time_point now) const {
    const auto& m = mirrors_[i];
    if (!m.expires || !m.redirected())
        return false;
    auto lifetime = *m.expires - m.resolved_at;
    auto margin = std::min<system_clock::duration>(std::chrono::seconds(5), lifetime / 4);
    return now >= *m.expires - margin;
}

void mirror_set::drop(std::size_t i) { mirrors_[i].dropped = true; }

std::vector<mirror_validator> mirror_set::validators() const {
    std::vector<mirror_validator> out;
    for (const auto& m : mirrors_)
        if (m.ranges_seen && (!m.etag.empty() || !m.last_modified.empty()))
            out.push_back({m.original.redacted(), m.etag, m.last_modified});
    return out;
}

void mirror_set::restore(const std::vector<mirror_validator>& saved) {
    for (auto& m : mirrors_) {
        auto key = m.original.redacted();
        for (const auto& v : saved)
            if (v.url == key) {
                m.etag = v.etag;
                m.last_modified = v.last_modified;
                m.ranges_seen = true; // a journal exists only after ranged answers
            }
    }
}

} // namespace ferry
