#include "engine/retry_policy.hpp"

#include <algorithm>

namespace ferry {

namespace {
/// Spreads a seed over all 64 bits (splitmix64's finalizer): neighbouring seeds (0, 1, 2, ...)
/// would otherwise start a linear congruential generator on neighbouring, small first draws.
std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
} // namespace

retry_policy::retry_policy(retry_config config, std::uint64_t seed)
    : config_(config), random_(static_cast<std::minstd_rand::result_type>(mix(seed) >> 33)) {}

std::uint64_t retry_policy::fresh_seed() {
    static thread_local std::mt19937_64 seeds{std::random_device{}()};
    return seeds();
}

std::optional<std::chrono::milliseconds> retry_policy::next_delay(const attempt_failure& failure,
                                                                  clock::time_point now) {
    using std::chrono::milliseconds;
    if (failure.made_progress) {
        failures_ = 0;
        gave_up_ = false;
    }
    if (gave_up_)
        return std::nullopt;
    if (failure.retry_after && *failure.retry_after > config_.max_retry_after) {
        gave_up_ = true;
        return std::nullopt;
    }
    if (failures_ > 0 && now < round_ends_) {
        // Another connection of the file failed during this round's back-off: same round.
        auto rest = std::chrono::ceil<milliseconds>(round_ends_ - now);
        return std::max(rest, failure.retry_after.value_or(milliseconds::zero()));
    }
    if (failures_ == 0)
        first_failure_ = now;
    ++failures_;
    if (failures_ > config_.max_retries &&
        (config_.max_retries == 0 || now - first_failure_ >= config_.give_up_after)) {
        gave_up_ = true;
        return std::nullopt;
    }

    milliseconds delay;
    if (failure.retry_after) {
        delay = std::max(*failure.retry_after, milliseconds::zero());
    } else {
        // Doubling by steps rather than by shifting: no overflow whatever the configuration.
        using rep = milliseconds::rep;
        const rep cap = std::max<rep>(config_.max_delay.count(), 0);
        rep ceiling = std::clamp<rep>(config_.base_delay.count(), 0, cap);
        for (int i = 1; i < failures_ && ceiling > 0 && ceiling < cap; ++i)
            ceiling = ceiling > cap / 2 ? cap : ceiling * 2;
        std::uniform_int_distribution<rep> pick(ceiling / 2, ceiling);
        delay = milliseconds(pick(random_));
    }
    // Saturating: a configuration of "forever" must not overflow the clock.
    const auto headroom = std::chrono::duration_cast<milliseconds>(clock::time_point::max() - now);
    round_ends_ = delay >= headroom ? clock::time_point::max() : now + delay;
    return delay;
}

} // namespace ferry
