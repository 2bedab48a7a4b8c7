#include "queue/connection_growth.hpp"

#include <algorithm>
#include <cmath>

namespace ferry {

connection_growth::connection_growth(settings s, clock::time_point start, std::uint64_t bytes_done)
    : settings_(s),
      next_check_(start + s.interval),
      interval_start_(start),
      last_doubling_(start),
      bytes_at_interval_start_(bytes_done) {
    settings_.initial = initial_workers(s);
    settings_.ceiling = std::max<std::size_t>(settings_.ceiling, 1);
    growing_ = settings_.initial < settings_.ceiling;
    wanted_ = settings_.initial;
}

std::size_t connection_growth::initial_for_round_trip(clock::duration rtt, std::size_t base, std::size_t ceiling,
                                                      clock::duration per_doubling) {
    std::size_t workers = std::clamp<std::size_t>(base, 1, std::max<std::size_t>(ceiling, 1));
    for (auto left = rtt; left >= per_doubling && workers < ceiling; left -= per_doubling)
        workers = std::min(2 * workers, ceiling);
    return workers;
}

std::chrono::milliseconds connection_growth::interval_for_round_trip(clock::duration rtt,
                                                                    std::chrono::milliseconds usual) {
    return rtt < std::chrono::milliseconds(2) ? usual / 2 : usual;
}

std::size_t connection_growth::initial_workers(const settings& s) noexcept {
    return std::clamp<std::size_t>(s.initial, 1, std::max<std::size_t>(s.ceiling, 1));
}

std::size_t connection_growth::workers_wanted(clock::time_point now, std::uint64_t bytes_done,
                                              std::size_t workers, std::size_t flowing) {
    if (limit_) {
        wanted_ = std::min(workers, *limit_);
        return wanted_;
    }
    wanted_ = grow(now, bytes_done, workers, flowing);
    return wanted_;
}

void connection_growth::on_pushback(clock::time_point now) {
    growing_ = false;
    if (last_halving_ && now - *last_halving_ < settings_.interval)
        return;
    last_halving_ = now;
    limit_ = std::max<std::size_t>(wanted_ / 2, 1);
    wanted_ = *limit_;
}

bool connection_growth::worth_adding(std::optional<std::uint64_t> left, double rate, clock::duration first_byte) {
    if (!left || rate <= 0)
        return true;
    return double(*left) / rate > 4 * std::chrono::duration<double>(first_byte).count();
}

std::size_t connection_growth::grow(clock::time_point now, std::uint64_t bytes_done, std::size_t workers,
                                    std::size_t flowing) {
    if (!growing_)
        return workers;
    // (The first interval with bytes doubles whatever it shows: nothing to wait for, unless it
    // only sets the rate to beat.)
    const bool judging = best_rate_ > 0 || !settings_.double_first;
    if (judging && (flowing < workers || settling_) && now - last_doubling_ < settings_.settle_limit) {
        // New connections are still connecting: the interval to judge starts once they flow.
        settling_ = flowing < workers;
        interval_start_ = now;
        next_check_ = now + settings_.interval;
        bytes_at_interval_start_ = bytes_done;
        return workers;
    }
    if (now < next_check_)
        return workers;
    if (bytes_done == bytes_at_interval_start_) {
        // Nothing has arrived yet (handshakes, a slow first byte): nothing to judge by.
        next_check_ = now + settings_.interval;
        return workers;
    }
    double seconds = std::chrono::duration<double>(now - interval_start_).count();
    double rate = double(bytes_done - bytes_at_interval_start_) / std::max(seconds, 1e-9);
    const bool baseline = best_rate_ == 0 && !settings_.double_first;
    const bool blind = best_rate_ == 0 && settings_.double_first;
    bool rising = best_rate_ == 0 || rate > best_rate_ * settings_.rise;
    best_rate_ = std::max(best_rate_, rate);
    interval_start_ = now;
    next_check_ = now + settings_.interval;
    bytes_at_interval_start_ = bytes_done;
    if (baseline && settings_.after_baseline <= 1.0)
        return workers;
    if (!baseline && !rising) {
        if (++flat_ >= std::max<std::size_t>(settings_.flat_to_stop, 1))
            growing_ = false;
        return workers;
    }
    flat_ = 0;
    const double factor = blind ? settings_.first_growth : baseline ? settings_.after_baseline : 2.0;
    const auto grown = static_cast<std::size_t>(std::ceil(double(workers) * factor));
    std::size_t wanted = std::min(settings_.ceiling, std::max<std::size_t>(grown, 1));
    if (wanted >= settings_.ceiling)
        growing_ = false;
    if (wanted > workers)
        last_doubling_ = now;
    return std::max(wanted, workers);
}

} // namespace ferry
