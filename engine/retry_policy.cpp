#include "engine/retry_policy.hpp"

#include <algorithm>

namespace ferry {

retry_policy::retry_policy(retry_config config, std::uint64_t seed) : config_(config), random_(seed) {}

std::uint64_t retry_policy::fresh_seed() {
    static thread_local std::mt19937_64 seeds{std::random_device{}()};
    return seeds();
}

bool retry_policy::is_retryable(const attempt_failure& failure) {
    if (failure.transient)
        return true;
    const unsigned s = failure.http_status;
    return s == 408 || s == 429 || (s >= 500 && s <= 599);
}

std::optional<std::chrono::milliseconds> retry_policy::next_delay(const attempt_failure& failure) {
    if (!is_retryable(failure))
        return std::nullopt;
    if (failure.made_progress)
        failures_ = 0;
    if (failures_ > config_.max_retries) // already gave up: stay given up
        return std::nullopt;
    if (++failures_ > config_.max_retries)
        return std::nullopt;

    if (failure.retry_after) {
        if (*failure.retry_after > config_.max_retry_after)
            return std::nullopt;
        return std::max(*failure.retry_after, std::chrono::milliseconds::zero());
    }

    // Doubling by steps rather than by shifting: no overflow whatever the configuration.
    using rep = std::chrono::milliseconds::rep;
    const rep cap = std::max<rep>(config_.max_delay.count(), 0);
    rep ceiling = std::clamp<rep>(config_.base_delay.count(), 0, cap);
    for (int i = 1; i < failures_ && ceiling > 0 && ceiling < cap; ++i)
        ceiling = ceiling > cap / 2 ? cap : ceiling * 2;
    std::uniform_int_distribution<rep> pick(0, ceiling);
    return std::chrono::milliseconds(pick(random_));
}

} // namespace ferry
