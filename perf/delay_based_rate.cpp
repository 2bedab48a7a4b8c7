#include "perf/delay_based_rate.hpp"

#include <algorithm>

namespace ferry {

namespace {
constexpr auto sample_spacing = std::chrono::milliseconds(10);
constexpr double start_growth = 1.0;         ///< per update at no queueing delay, at first
constexpr double fast_growth = 0.25;         ///< per update at no queueing delay after that
constexpr double probe_growth = 0.01;        ///< per update just past the last saturated rate
constexpr double probe_acceleration = 0.02;  ///< added to it per second squared since the cut
constexpr auto cut_spacing = std::chrono::milliseconds(300);
constexpr auto silence = std::chrono::milliseconds(200);
} // namespace

delay_based_rate::delay_based_rate(delay_target target)
    : config_(target), rate_(std::max(target.start_rate, target.min_rate)) {}

bool delay_based_rate::wants_sample(std::chrono::steady_clock::time_point now) const noexcept {
    return !any_sample_ || now - last_sample_ >= sample_spacing;
}

void delay_based_rate::add_sample(std::chrono::steady_clock::time_point now, std::chrono::microseconds rtt) {
    if (rtt <= std::chrono::microseconds::zero())
        return;
    last_sample_ = now;
    if (recent_count_ < recent_.size())
        recent_[recent_count_++] = rtt;
    if (!any_sample_) {
        any_sample_ = true;
        history_[newest_] = {now, rtt};
        return;
    }
    if (now - history_[newest_].start < config_.base_bucket) {
        history_[newest_].lowest = std::min(history_[newest_].lowest, rtt);
        return;
    }
    // A new bucket; those older than the whole history (samples stopped for a while) expire too.
    newest_ = (newest_ + 1) % base_buckets;
    history_[newest_] = {now, rtt};
    for (auto& b : history_)
        if (now - b.start >= config_.base_bucket * static_cast<int>(base_buckets))
            b = {};
}

std::optional<std::chrono::microseconds> delay_based_rate::base_delay() const noexcept {
    if (!any_sample_)
        return std::nullopt;
    auto lowest = std::chrono::microseconds::max();
    for (auto& b : history_)
        lowest = std::min(lowest, b.lowest);
    return lowest;
}

std::uint64_t delay_based_rate::update(std::chrono::steady_clock::time_point now, std::uint64_t used_rate) {
    double off_target = 1;
    auto sampled = std::chrono::microseconds::zero();
    if (recent_count_ > 0) {
        // The median of the samples since the last update: the kernel's estimates lean low
        // already (a lower sample replaces one at once, higher ones are averaged in), so the
        // lowest would miss most of a queue that other flows keep.
        auto middle = recent_.begin() + recent_count_ / 2;
        std::nth_element(recent_.begin(), middle, recent_.begin() + recent_count_);
        sampled = *middle;
        recent_count_ = 0;
        queueing_ = sampled - *base_delay();
        off_target = 1.0 - std::chrono::duration<double>(queueing_) / config_.target;
    } else if (!any_sample_ || now - last_sample_ < silence) {
        return rate_; // nothing heard since the last update: no reason to change yet
    } else if (queueing_ >= config_.target / 2) {
        // Nothing heard for a while after a queue was seen: a trickle gives the kernel no
        // full-sized segment to measure, and a request's first byte comes rarely. Creep up (a
        // sixteenth an update, within twice what is used) so that a yield does not outlast what
        // it yielded to, without rushing back into the queue.
        rate_ = std::max(rate_, std::min(rate_ + rate_ / 16, std::max(2 * used_rate, config_.min_rate)));
        return rate_;
    }
    // Else samples were there, or nothing heard for a while over a queue last seen short (the
    // kernel measures round trips of a millisecond or more only): grow as over an empty queue.
    if (off_target >= 0) {
        // Grow: doubling until the queue first fills (a slow start), then fast up to the rate
        // that last filled it, then probing, slowly at first and faster the longer the queue
        // stays short (the link may have been freed).
        double growth = saturated_ ? fast_growth : start_growth;
        if (saturated_ && rate_ >= saturated_) {
            double since_cut = std::chrono::duration<double>(now - decreased_at_).count();
            growth = std::min(fast_growth, probe_growth + probe_acceleration * since_cut * since_cut);
        }
        auto grown = static_cast<std::uint64_t>(static_cast<double>(rate_) * (1 + growth * off_target));
        // Never far ahead of what is used: a limit the transfers do not reach does not hold them,
        // and the link's own queue would then set their pace (a loss-based one's).
        auto ceiling = std::max(2 * used_rate, config_.start_rate);
        rate_ = std::min(std::max(grown, rate_ + 1), std::max(ceiling, config_.min_rate));
    } else if (now - decreased_at_ >= sampled + cut_spacing) {
        // Over the target: down to what was used at most (the rate that filled the queue), then
        // less the further over it (half at twice the target); not again before the queue had a
        // round trip and the spacing to drain (its samples lag it).
        decreased_at_ = now;
        saturated_ = std::min(rate_, used_rate);
        double factor = std::max(0.5, 1 + 0.5 * off_target);
        auto from = std::min(rate_, std::max(used_rate, config_.min_rate));
        rate_ = static_cast<std::uint64_t>(static_cast<double>(from) * factor);
    }
    rate_ = std::max(rate_, config_.min_rate);
    return rate_;
}

std::size_t delay_based_rate::receive_window() const noexcept {
    constexpr double smallest = 64 * 1024, largest = 16 * 1024 * 1024;
    auto round_trip = std::chrono::duration<double>(base_delay().value_or(std::chrono::microseconds(0)) + config_.target);
    double share = static_cast<double>(rate_) / static_cast<double>(std::max<std::size_t>(connections_, 1));
    return static_cast<std::size_t>(std::clamp(2 * share * round_trip.count(), smallest, largest));
}

} // namespace ferry
