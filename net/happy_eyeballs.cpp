#include "net/happy_eyeballs.hpp"

#include "net/descriptor_limit.hpp"
#include "net/error.hpp"

#include <algorithm>
#include <deque>
#include <memory>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ferry {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

asio::awaitable<boost::system::result<std::vector<tcp::endpoint>>>
resolve_addresses(asio::any_io_executor executor, const std::string& host, std::uint16_t port,
                  std::chrono::steady_clock::time_point deadline) {
    using namespace asio::experimental::awaitable_operators;
    tcp::resolver resolver(executor);
    asio::steady_timer timer(executor, deadline);
    auto resolved = co_await (resolver.async_resolve(host, std::to_string(port), asio::as_tuple(asio::use_awaitable)) ||
                              timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (resolved.index() == 1) {
        auto [ec] = std::get<1>(resolved);
        co_return ec == asio::error::operation_aborted ? ec : make_error_code(net_error::connect_timeout);
    }
    auto [ec, results] = std::get<0>(resolved);
    // The system resolver says "no such name" when it could open neither /etc/hosts nor a socket
    // for want of descriptors: a shortage of ours (transient), not the host's fault.
    if (ec == asio::error::host_not_found && descriptors_exhausted())
        co_return make_error_code(asio::error::no_descriptors);
    if (ec)
        co_return ec;
    std::vector<tcp::endpoint> out;
    for (auto& entry : results)
        out.push_back(entry.endpoint());
    co_return out;
}

std::vector<tcp::endpoint> eyeballs_order(const std::vector<tcp::endpoint>& addresses) {
    std::vector<tcp::endpoint> v6, v4, out;
    for (auto& a : addresses)
        (a.address().is_v6() ? v6 : v4).push_back(a);
    out.reserve(addresses.size());
    for (std::size_t i = 0; i < std::max(v6.size(), v4.size()); ++i) {
        if (i < v6.size())
            out.push_back(v6[i]);
        if (i < v4.size())
            out.push_back(v4[i]);
    }
    return out;
}

connect_race::connect_race(std::size_t attempts, clock::duration stagger) : attempts_(attempts), stagger_(stagger) {}

std::optional<std::size_t> connect_race::start_due(clock::time_point now) {
    if (winner_ || next_ == attempts_ || now < due_)
        return std::nullopt;
    due_ = now + stagger_;
    ++running_;
    return next_++;
}

connect_race::clock::time_point connect_race::next_start() const noexcept {
    return winner_ || next_ == attempts_ ? clock::time_point::max() : due_;
}

void connect_race::failed(std::size_t) {
    --running_;
    due_ = clock::time_point::min(); // no reason to wait for the stagger: try the next address now
}

void connect_race::connected(std::size_t attempt) {
    --running_;
    if (!winner_)
        winner_ = attempt;
}

namespace {

/// What the attempts' completion handlers share with the racing coroutine. Handlers may run
/// after the coroutine returned (closed losers complete with operation_aborted), hence shared.
struct race_state {
    explicit race_state(asio::any_io_executor executor) : wake(executor) {}

    asio::steady_timer wake; ///< cancelled by every completion to wake the coroutine
    std::deque<tcp::socket> sockets;
    std::vector<std::optional<error_code>> outcomes;

    void close_all() {
        for (auto& s : sockets) {
            error_code ignored;
            s.close(ignored);
        }
    }
};

} // namespace

asio::awaitable<boost::system::result<tcp::socket>>
race_connect(asio::any_io_executor executor, const std::vector<tcp::endpoint>& addresses,
             std::chrono::steady_clock::time_point deadline, std::chrono::steady_clock::duration stagger) {
    auto state = std::make_shared<race_state>(executor);
    connect_race race(addresses.size(), stagger);
    std::vector<bool> counted;
    error_code last_error = asio::error::host_not_found;
    for (;;) {
        for (std::size_t i = 0; i < state->outcomes.size(); ++i) {
            if (counted[i] || !state->outcomes[i])
                continue;
            counted[i] = true;
            if (auto ec = *state->outcomes[i]) {
                last_error = ec;
                race.failed(i);
            } else {
                race.connected(i);
            }
        }
        // A cancel that came with the winning connect still cancels: the caller stopped waiting.
        auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
        if (cancelled != asio::cancellation_type::none) {
            state->close_all();
            co_return asio::error::operation_aborted;
        }
        if (auto won = race.winner()) {
            tcp::socket socket = std::move(state->sockets[*won]);
            state->close_all();
            co_return socket;
        }
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) {
            state->close_all();
            co_return net_error::connect_timeout;
        }
        while (auto attempt = race.start_due(now)) {
            auto& socket = state->sockets.emplace_back(executor);
            state->outcomes.emplace_back();
            counted.push_back(false);
            socket.async_connect(addresses[*attempt], [state, index = *attempt](const error_code& ec) {
                state->outcomes[index] = ec;
                state->wake.cancel();
            });
        }
        if (race.lost())
            co_return last_error;
        state->wake.expires_at(std::min(race.next_start(), deadline));
        co_await state->wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

} // namespace ferry
