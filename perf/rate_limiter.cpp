#include "perf/rate_limiter.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

namespace ferry {

namespace asio = boost::asio;

namespace {

// Grants smaller than this would turn into many tiny socket reads.
std::size_t worthwhile(std::size_t want) { return std::min<std::size_t>(want, 16 * 1024); }

} // namespace

rate_limiter::rate_limiter(asio::any_io_executor executor, std::uint64_t rate, std::chrono::milliseconds tick)
    : executor_(executor), bucket_(rate), tick_(tick), ticker_(executor) {}

void rate_limiter::set_rate(std::uint64_t rate) {
    bucket_.refill(token_bucket::clock::now());
    bucket_.set_rate(rate);
    serve();
}

asio::awaitable<std::size_t> rate_limiter::acquire(std::size_t want) {
    want = std::max<std::size_t>(want, 1);
    if (bucket_.unlimited())
        co_return want;
    if (waiters_.empty()) {
        bucket_.refill(token_bucket::clock::now());
        if (bucket_.available() >= worthwhile(want))
            co_return static_cast<std::size_t>(bucket_.take(want));
    }
    asio::steady_timer wake(executor_, asio::steady_timer::time_point::max());
    waiter self{want, 0, &wake};
    waiters_.push_back(&self);
    schedule_tick();
    co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
    if (self.granted == 0) {
        // Woken without a grant: cancelled.
        std::erase(waiters_, &self);
        throw boost::system::system_error(asio::error::operation_aborted);
    }
    co_return self.granted;
}

void rate_limiter::serve() {
    bucket_.refill(token_bucket::clock::now());
    while (!waiters_.empty()) {
        waiter* front = waiters_.front();
        if (bucket_.available() < worthwhile(front->want))
            break;
        auto granted = bucket_.take(front->want);
        front->granted = static_cast<std::size_t>(granted);
        waiters_.pop_front();
        front->wake->cancel();
    }
    if (!waiters_.empty())
        schedule_tick();
}

void rate_limiter::schedule_tick() {
    if (ticking_)
        return;
    ticking_ = true;
    ticker_.expires_after(tick_);
    ticker_.async_wait([this](boost::system::error_code ec) {
        if (ec)
            return; // the limiter is going away
        ticking_ = false;
        serve();
    });
}

} // namespace ferry
