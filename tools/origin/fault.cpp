#include "tools/origin/fault.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ferry::origin {

namespace {

/// 53 random bits as a double in [0, 1): the same on every platform, unlike
/// std::uniform_real_distribution, whose algorithm the standard leaves open.
double uniform(std::mt19937_64& random) { return double(random() >> 11) * 0x1.0p-53; }

} // namespace

fault_table::fault_table(std::uint64_t seed) : random_(seed) {}

void fault_table::add(std::string pattern, fault what) {
    rule r;
    if (what.chance && !(*what.chance >= 0 && *what.chance <= 1))
        throw std::invalid_argument("a fault's chance is between 0 and 1");
    if (pattern.ends_with('*')) {
        pattern.pop_back();
        r.prefix = true;
    }
    if (!pattern.starts_with('/') && !(r.prefix && pattern.empty()))
        pattern.insert(pattern.begin(), '/');
    r.pattern = std::move(pattern);
    r.what = std::move(what);
    std::lock_guard lock(mutex_);
    if (r.what.chance) {
        // A little slack for sums like 0.1 + 0.2 + 0.7 that binary fractions make exceed 1.
        if (chances_ + *r.what.chance > 1 + 1e-9)
            throw std::invalid_argument("the chances of the fault rules add up to more than 1");
        r.slice_begin = chances_;
        chances_ += *r.what.chance;
    }
    rules_.push_back(std::move(r));
}

void fault_table::clear() {
    std::lock_guard lock(mutex_);
    rules_.clear();
    chances_ = 0;
}

std::optional<fault> fault_table::match(std::string_view path, bool presigned, std::uint64_t connection) {
    std::optional<fault> chosen;
    std::lock_guard lock(mutex_);
    const double u = uniform(random_);
    for (auto& r : rules_) {
        bool matches = r.prefix ? path.starts_with(r.pattern) : path == r.pattern;
        if (!matches || (presigned && r.what.signed_redirect) || (r.what.connection && r.what.connection != connection))
            continue;
        std::int64_t n = r.seen++;
        bool applies = n >= r.what.skip && (r.what.times < 0 || n < std::int64_t(r.what.skip) + r.what.times);
        double point = u;
        if (r.what.chance) {
            // Where u falls inside the slice is uniform too: it places a drop or pause.
            double share = *r.what.chance;
            applies = applies && u >= r.slice_begin && u < r.slice_begin + share;
            point = share > 0 ? std::min((u - r.slice_begin) / share, std::nextafter(1.0, 0.0)) : 0;
        }
        if (applies && !chosen) {
            chosen = r.what;
            chosen->point = point;
        }
    }
    return chosen;
}

} // namespace ferry::origin
