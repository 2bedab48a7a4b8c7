#include "queue/tail_hedge.hpp"

#include <algorithm>

namespace ferry {

namespace {
double seconds(tail_hedge::clock::duration d) { return std::chrono::duration<double>(d).count(); }
} // namespace

tail_hedge::tail_hedge() : tail_hedge(settings{}) {}
tail_hedge::tail_hedge(settings s) : settings_(s) {}

void tail_hedge::started(std::size_t claim, clock::time_point now) { meters_[claim] = meter{now, now, 0, -1}; }

void tail_hedge::received(std::size_t claim, std::uint64_t bytes, clock::time_point now) {
    auto it = meters_.find(claim);
    if (it == meters_.end())
        return;
    auto& m = it->second;
    m.window_bytes += bytes;
    if (now - m.window_start < settings_.window)
        return;
    m.last_rate = double(m.window_bytes) / seconds(now - m.window_start);
    m.window_start = now;
    m.window_bytes = 0;
    if (recent_.size() < std::max<std::size_t>(settings_.samples, 1)) {
        recent_.push_back(static_cast<float>(m.last_rate));
    } else {
        recent_[oldest_] = static_cast<float>(m.last_rate);
        oldest_ = (oldest_ + 1) % recent_.size();
    }
    std::vector<float> rates(recent_);
    std::nth_element(rates.begin(), rates.begin() + rates.size() / 2, rates.end());
    typical_ = rates[rates.size() / 2];
}

std::optional<double> tail_hedge::slow_rate() const {
    if (recent_.size() < 4)
        return std::nullopt; // no typical rate yet
    return typical_ / settings_.slowness;
}

bool tail_hedge::went_slow(const meter& m, clock::time_point now, double slow) const {
    double window = seconds(now - m.window_start);
    if (now - m.started < settings_.slow_for || window < seconds(settings_.window) / 2)
        return false;
    double current = double(m.window_bytes) / window;
    return current < slow && (m.last_rate < 0 || m.last_rate < slow);
}

bool tail_hedge::slow(std::size_t claim, clock::time_point now, clock::duration for_at_least) const {
    auto slow = slow_rate();
    auto it = meters_.find(claim);
    if (!slow || it == meters_.end() || now - it->second.started < for_at_least)
        return false;
    return went_slow(it->second, now, *slow);
}

void tail_hedge::ended(std::size_t claim) { meters_.erase(claim); }

std::optional<std::size_t> tail_hedge::pick(const std::vector<candidate>& candidates, clock::time_point now) const {
    auto slow = slow_rate();
    if (!slow)
        return std::nullopt;
    std::optional<std::size_t> best;
    std::uint64_t most_left = 0;
    for (const auto& c : candidates) {
        auto it = meters_.find(c.claim);
        if (it != meters_.end() && c.left > most_left && went_slow(it->second, now, *slow)) {
            most_left = c.left;
            best = c.claim;
        }
    }
    return best;
}

} // namespace ferry
