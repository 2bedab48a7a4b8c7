#include "tools/origin/fault.hpp"

namespace ferry::origin {

void fault_table::add(std::string pattern, fault what) {
    rule r;
    if (pattern.ends_with('*')) {
        pattern.pop_back();
        r.prefix = true;
    }
    if (!pattern.starts_with('/') && !(r.prefix && pattern.empty()))
        pattern.insert(pattern.begin(), '/');
    r.pattern = std::move(pattern);
    r.what = std::move(what);
    std::lock_guard lock(mutex_);
    rules_.push_back(std::move(r));
}

void fault_table::clear() {
    std::lock_guard lock(mutex_);
    rules_.clear();
}

std::optional<fault> fault_table::match(std::string_view path) {
    std::optional<fault> chosen;
    std::lock_guard lock(mutex_);
    for (auto& r : rules_) {
        bool matches = r.prefix ? path.starts_with(r.pattern) : path == r.pattern;
        if (!matches)
            continue;
        std::int64_t n = r.seen++;
        bool applies = n >= r.what.skip && (r.what.times < 0 || n < std::int64_t(r.what.skip) + r.what.times);
        if (applies && !chosen)
            chosen = r.what;
    }
    return chosen;
}

} // namespace ferry::origin
