#include "perf/throughput_window.hpp"

#include <algorithm>

namespace ferry {

throughput_window::throughput_window(clock::duration span) : span_(span), spacing_(span / 20) {}

void throughput_window::record(clock::time_point now, std::uint64_t total) {
    if (!samples_.empty())
        total = std::max(total, samples_.back().total);
    // The newest sample moves forward until it is far enough from the one before to stay.
    bool merge = samples_.size() >= 2 && now - samples_[samples_.size() - 2].at < spacing_;
    if (merge)
        samples_.back() = {now, total};
    else
        samples_.push_back({now, total});
    // Keep one sample at or before the window's start: the base the rate is measured from.
    while (samples_.size() > 2 && samples_[1].at <= now - span_)
        samples_.pop_front();
}

std::optional<double> throughput_window::rate(clock::time_point now) const {
    if (samples_.empty())
        return std::nullopt;
    // The newest sample at or before the window's start, else the oldest there is.
    auto base = samples_.front();
    for (auto& s : samples_)
        if (s.at <= now - span_)
            base = s;
    auto elapsed = std::chrono::duration<double>(now - base.at);
    if (now - base.at < span_ / 50 || elapsed.count() <= 0)
        return std::nullopt;
    return double(samples_.back().total - base.total) / elapsed.count();
}

} // namespace ferry
