#include "queue/load_plan.hpp"

#include <algorithm>
#include <cmath>

namespace ferry {
namespace {

double seconds(std::chrono::nanoseconds t) { return std::chrono::duration<double>(t).count(); }
std::chrono::nanoseconds from_seconds(double s) {
    return std::chrono::nanoseconds(std::int64_t(std::llround(s * 1e9)));
}

} // namespace

vu_ramp::vu_ramp(double start, std::vector<load_stage> stages) : start_(start), stages_(std::move(stages)) {
    for (auto& s : stages_)
        length_ += s.duration;
}

std::uint64_t vu_ramp::target_at(std::chrono::nanoseconds t) const noexcept {
    if (t < std::chrono::nanoseconds(0) || t >= length_)
        return 0;
    double from = start_;
    std::chrono::nanoseconds begin{0};
    for (auto& s : stages_) {
        if (t < begin + s.duration) {
            const double done = seconds(t - begin) / seconds(s.duration);
            return std::uint64_t(std::max(0.0, std::floor(from + (s.target - from) * done + 1e-9)));
        }
        from = s.target;
        begin += s.duration;
    }
    return 0;
}

std::uint64_t vu_ramp::peak() const noexcept {
    double top = start_;
    for (auto& s : stages_)
        top = std::max(top, s.target);
    return std::uint64_t(std::max(0.0, top));
}

std::optional<std::chrono::nanoseconds> vu_ramp::next_change(std::chrono::nanoseconds t) const noexcept {
    if (t >= length_)
        return std::nullopt;
    if (t < std::chrono::nanoseconds(0))
        return std::chrono::nanoseconds(0);
    const auto now = target_at(t);
    double from = start_;
    std::chrono::nanoseconds begin{0};
    for (auto& s : stages_) {
        const auto end = begin + s.duration;
        if (t < end) {
            if (s.target != from) {
                // Where the line crosses the next whole number in the direction it moves (a
                // falling line leaves `now` just after it passes it).
                const double next = s.target > from ? double(now) + 1 : double(now);
                const double share = (next - from) / (s.target - from);
                auto when = begin + std::chrono::ceil<std::chrono::nanoseconds>(
                                        std::chrono::duration<double>(share * seconds(s.duration)));
                if (s.target < from)
                    when += std::chrono::nanoseconds(1);
                if (when > t && when < end)
                    return when;
            }
            // Constant to the end of the stage: the next stage (or the end of the plan) decides.
            return end;
        }
        from = s.target;
        begin = end;
    }
    return std::nullopt;
}

arrival_schedule::arrival_schedule(double start_rate, std::vector<load_stage> stages, std::chrono::nanoseconds time_unit) {
    const double unit = seconds(time_unit);
    double from = start_rate / unit;
    double at = 0, before = 0;
    for (auto& s : stages) {
        segment seg;
        seg.begin = at;
        seg.end = at + seconds(s.duration);
        seg.rate0 = from;
        seg.rate1 = s.target / unit;
        seg.before = before;
        before += (seg.rate0 + seg.rate1) / 2 * (seg.end - seg.begin);
        at = seg.end;
        from = seg.rate1;
        segments_.push_back(seg);
        length_ += s.duration;
    }
}

arrival_schedule arrival_schedule::constant(double rate, std::chrono::nanoseconds duration, std::chrono::nanoseconds time_unit) {
    return arrival_schedule(rate, {load_stage{duration, rate}}, time_unit);
}

double arrival_schedule::due_by(std::chrono::nanoseconds t) const noexcept {
    const double s = seconds(t);
    double due = 0;
    for (auto& seg : segments_) {
        if (s <= seg.begin)
            break;
        const double span = seg.end - seg.begin;
        const double x = std::min(s, seg.end) - seg.begin;
        const double slope = span > 0 ? (seg.rate1 - seg.rate0) / span : 0;
        due = seg.before + seg.rate0 * x + slope * x * x / 2;
    }
    return due;
}

std::optional<std::chrono::nanoseconds> arrival_schedule::send_time(std::uint64_t i) const noexcept {
    const double n = double(i);
    for (auto& seg : segments_) {
        const double span = seg.end - seg.begin;
        const double in_segment = (seg.rate0 + seg.rate1) / 2 * span;
        if (n >= seg.before + in_segment - 1e-9 || span <= 0)
            continue;
        const double k = n - seg.before; // iterations into this segment
        if (k <= 0)
            return from_seconds(seg.begin);
        // rate0·x + a·x² = k with a = (rate1 − rate0) / (2·span); this form of the root holds for
        // both signs of a and for a = 0.
        const double a = (seg.rate1 - seg.rate0) / (2 * span);
        const double disc = std::max(0.0, seg.rate0 * seg.rate0 + 4 * a * k);
        const double denom = seg.rate0 + std::sqrt(disc);
        if (denom <= 0)
            continue;
        const double x = std::min(span, 2 * k / denom);
        return from_seconds(seg.begin + x);
    }
    return std::nullopt;
}

vu_budget::vu_budget(std::uint64_t pre_allocated, std::uint64_t max) noexcept
    : max_(std::max(max, pre_allocated)), allocated_(pre_allocated) {}

vu_budget::outcome vu_budget::take() noexcept {
    if (busy_ < allocated_) {
        ++busy_;
        return outcome::idle;
    }
    if (allocated_ < max_) {
        ++allocated_;
        ++busy_;
        return outcome::spawn;
    }
    ++dropped_;
    return outcome::dropped;
}

void vu_budget::give_back() noexcept {
    if (busy_ > 0)
        --busy_;
}

} // namespace ferry
