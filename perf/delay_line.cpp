#include "perf/delay_line.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ferry {

delay_line::delay_line(settings s, time_point start) noexcept
    : settings_(s), busy_until_(start), last_release_(time_point::min()) {
    if (settings_.delay < duration::zero())
        settings_.delay = duration::zero();
}

std::uint64_t delay_line::room(time_point now) {
    while (!acking_.empty() && acking_.front().ack <= now) {
        in_flight_ -= acking_.front().bytes;
        acking_.pop_front();
    }
    if (settings_.window == 0)
        return std::numeric_limits<std::uint64_t>::max();
    return in_flight_ >= settings_.window ? 0 : settings_.window - in_flight_;
}

delay_line::time_point delay_line::send(std::uint64_t n, time_point now) {
    time_point leaves = std::max(now, busy_until_);
    if (settings_.rate != 0) {
        // Rounded up to a whole tick: the link never carries more than the rate.
        using ticks = duration::rep;
        constexpr auto per_second = static_cast<ticks>(duration::period::den / duration::period::num);
        auto whole = static_cast<ticks>(n / settings_.rate) * per_second;
        auto part = static_cast<ticks>(std::ceil(static_cast<double>(n % settings_.rate) *
                                                 static_cast<double>(per_second) /
                                                 static_cast<double>(settings_.rate)));
        leaves += duration(whole + part);
    }
    busy_until_ = leaves;
    time_point release = std::max(leaves + settings_.delay, last_release_);
    last_release_ = release;
    in_flight_ += n;
    undelivered_.push_back({n, release});
    return release;
}

void delay_line::delivered(time_point now) {
    if (undelivered_.empty())
        return;
    pending p = undelivered_.front();
    undelivered_.pop_front();
    time_point ack = std::max(now, p.release) + settings_.delay;
    if (!acking_.empty())
        ack = std::max(ack, acking_.back().ack);
    acking_.push_back({p.bytes, ack});
}

std::optional<delay_line::time_point> delay_line::next_room() const noexcept {
    if (acking_.empty())
        return std::nullopt;
    return acking_.front().ack;
}

} // namespace ferry
