#include "perf/rate_limiter.hpp"

#include <algorithm>
#include <array>
#include <exception>

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
    if (!first_) {
        bucket_.refill(token_bucket::clock::now());
        if (bucket_.available() >= worthwhile(want))
            co_return static_cast<std::size_t>(bucket_.take(want));
    }
    asio::steady_timer wake(executor_, asio::steady_timer::time_point::max());
    waiter self{want, 0, &wake};
    enqueue(self);
    schedule_tick();
    auto waited = wake.async_wait(asio::as_tuple(asio::use_awaitable));
    try {
        co_await std::move(waited);
    } catch (...) {
        // A caller cancelled before it could suspend (throw_if_cancelled): leave the queue, and
        // return a grant that came meanwhile.
        remove(self);
        bucket_.give_back(self.granted);
        throw;
    }
    if (self.granted == 0) {
        // Woken without a grant: cancelled.
        remove(self);
        throw boost::system::system_error(asio::error::operation_aborted);
    }
    co_return self.granted;
}

void rate_limiter::serve() {
    bucket_.refill(token_bucket::clock::now());
    while (first_) {
        waiter* front = first_;
        if (bucket_.available() < worthwhile(front->want))
            break;
        auto granted = bucket_.take(front->want);
        front->granted = static_cast<std::size_t>(granted);
        remove(*front);
        front->wake->cancel();
    }
    if (first_)
        schedule_tick();
}

void rate_limiter::enqueue(waiter& w) noexcept {
    w.next = nullptr;
    (last_ ? last_->next : first_) = &w;
    last_ = &w;
}

void rate_limiter::remove(waiter& w) noexcept {
    waiter* before = nullptr;
    for (waiter* p = first_; p; before = p, p = p->next) {
        if (p != &w)
            continue;
        (before ? before->next : first_) = w.next;
        if (last_ == &w)
            last_ = before;
        w.next = nullptr;
        return;
    }
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

asio::awaitable<std::size_t> acquire_all(std::span<rate_limiter* const> limiters, std::size_t want) {
    want = std::max<std::size_t>(want, 1);
    // Slowest first: it decides the grant, and tokens held from the others while it makes us
    // wait would be withheld from their other users.
    std::array<rate_limiter*, 8> order{};
    std::array<std::size_t, 8> granted_by{};
    std::size_t count = 0;
    for (auto* l : limiters)
        if (l && !l->unlimited() && count < order.size())
            order[count++] = l;
    std::sort(order.begin(), order.begin() + count, [](auto* a, auto* b) { return a->rate() < b->rate(); });

    std::size_t granted = want;
    std::size_t held = 0;
    std::exception_ptr failure;
    for (; held < count; ++held) {
        try {
            auto asked = order[held]->acquire(granted);
            granted_by[held] = co_await std::move(asked);
        } catch (...) {
            failure = std::current_exception();
            break;
        }
        granted = std::min(granted, granted_by[held]);
    }
    if (failure) {
        for (std::size_t i = 0; i < held; ++i)
            order[i]->give_back(granted_by[i]);
        std::rethrow_exception(failure);
    }
    for (std::size_t i = 0; i < count; ++i)
        order[i]->give_back(granted_by[i] - granted);
    co_return granted;
}

void give_back_all(std::span<rate_limiter* const> limiters, std::size_t n) noexcept {
    if (n == 0)
        return;
    for (auto* l : limiters)
        if (l)
            l->give_back(n);
}

bool any_limited(std::span<rate_limiter* const> limiters) noexcept {
    return std::any_of(limiters.begin(), limiters.end(), [](auto* l) { return l && !l->unlimited(); });
}

} // namespace ferry
