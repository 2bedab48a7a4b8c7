#include "net/request_gate.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ferry {

namespace asio = boost::asio;

// A waiting call: its timer is both its deadline and its wake-up (cancelled when its turn comes
// or it is evicted). Leaves the queue when destroyed, whatever ended the wait.
struct request_gate::waiter {
    waiter(request_gate& g, request_queue::ticket t) : gate(g), id(t), timer(g.executor_) {
        gate.waiters_.emplace(id, this);
    }
    ~waiter() {
        gate.waiters_.erase(id);
        if (!woken)
            gate.queue_.abandon(id);
        else if (started && !handed_over)
            gate.release(); // the turn came but nobody took it
    }
    waiter(const waiter&) = delete;
    waiter& operator=(const waiter&) = delete;

    request_gate& gate;
    request_queue::ticket id;
    asio::steady_timer timer;
    bool woken = false;
    bool started = false;
    bool handed_over = false;
};

request_gate::pass& request_gate::pass::operator=(pass&& other) noexcept {
    if (this != &other) {
        reset();
        gate_ = std::exchange(other.gate_, nullptr);
    }
    return *this;
}

void request_gate::pass::reset() noexcept {
    if (auto* gate = std::exchange(gate_, nullptr))
        gate->release();
}

request_gate::request_gate(asio::any_io_executor executor, settings s)
    : executor_(std::move(executor)), settings_(s), queue_(s.limits) {}

asio::awaitable<request_gate::pass> request_gate::enter(request_class what) {
    auto admission = queue_.arrive(what);
    if (admission.evicted)
        wake(*admission.evicted, false);
    if (admission.what == request_queue::verdict::refuse)
        co_return pass();
    if (admission.what == request_queue::verdict::run)
        co_return pass(this);

    waiter w(*this, admission.id);
    w.timer.expires_after(settings_.max_wait);
    co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!w.started)
        co_return pass(); // evicted, waited too long, or cancelled
    w.handed_over = true;
    co_return pass(this);
}

request_gate::pass request_gate::try_enter(request_class what) {
    if (queue_.waiting() > 0 || queue_.running() >= queue_.bounds().running)
        return pass();
    queue_.arrive(what); // runs: a slot is free and nobody waits
    return pass(this);
}

void request_gate::release() noexcept {
    // A started ticket whose waiter is gone hands its turn straight on.
    for (auto next = queue_.finished(); next; next = queue_.finished())
        if (wake(*next, true))
            return;
}

bool request_gate::wake(request_queue::ticket id, bool started) noexcept {
    auto it = waiters_.find(id);
    if (it == waiters_.end())
        return false;
    it->second->woken = true;
    it->second->started = started;
    it->second->timer.cancel();
    return true;
}

} // namespace ferry
