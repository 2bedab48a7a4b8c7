#include "perf/loop_lag_probe.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ferry {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

struct loop_lag_probe::state {
    state(asio::any_io_executor ex, std::chrono::milliseconds i) : timer(std::move(ex)), interval(i) {}
    asio::steady_timer timer;
    std::chrono::milliseconds interval;
    latency_histogram lags;
    std::chrono::nanoseconds last{0};
    std::uint64_t generation = 0; ///< a stopped run sees a newer generation and ends
    bool running = false;
};

loop_lag_probe::loop_lag_probe(asio::any_io_executor executor, std::chrono::milliseconds interval)
    : state_(std::make_shared<state>(std::move(executor), interval)) {}

loop_lag_probe::~loop_lag_probe() { stop(); }

void loop_lag_probe::start() {
    if (state_->running)
        return;
    state_->running = true;
    asio::co_spawn(state_->timer.get_executor(), measure(state_, state_->generation), asio::detached);
}

void loop_lag_probe::stop() {
    if (!state_->running)
        return;
    state_->running = false;
    ++state_->generation;
    state_->timer.cancel();
}

const latency_histogram& loop_lag_probe::lags() const noexcept { return state_->lags; }

std::chrono::nanoseconds loop_lag_probe::last() const noexcept { return state_->last; }

asio::awaitable<void> loop_lag_probe::measure(std::shared_ptr<state> s, std::uint64_t generation) {
    while (s->generation == generation) {
        // Each due time counts from the last wake-up, not from the schedule: after a long stall the
        // probe records one late wake-up rather than a burst of catching up.
        auto due = clock::now() + s->interval;
        s->timer.expires_at(due);
        auto [ec] = co_await s->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec || s->generation != generation)
            co_return;
        s->last = std::max(clock::now() - due, clock::duration::zero());
        s->lags.record(s->last);
    }
}

} // namespace ferry
