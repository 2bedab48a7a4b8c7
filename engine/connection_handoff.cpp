#include "engine/connection_handoff.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ferry {

namespace asio = boost::asio;

void end_line(connection_handoff::line& l) noexcept {
    for (auto& h : l)
        h->settle_empty();
    l.clear();
}

void connection_handoff::offer(mirror_set& mirrors, const exchange_request& request) {
    mirrors_ = &mirrors;
    request_ = request;
    offered_.cancel();
}

asio::awaitable<void> connection_handoff::wait_offer(std::chrono::steady_clock::duration limit) {
    if (request_ || over())
        co_return;
    offered_.expires_after(limit);
    co_await offered_.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<bool> connection_handoff::take(connection_pool::handle& into, line& rest) {
    if (!settled_)
        co_await signal_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!settled_ || !conn_) {
        abandon(); // cancelled, or nothing was passed on
        co_return false;
    }
    into = std::move(conn_);
    rest = std::move(rest_);
    mirrors_ = nullptr;
    co_return true;
}

void connection_handoff::abandon() noexcept {
    abandoned_ = true;
    offered_.cancel();
    mirrors_ = nullptr;
    conn_ = {}; // passed on but not taken: closed (its answer is not read)
    end_line(rest_);
}

asio::awaitable<bool> connection_handoff::send_ahead(transfer_context& ctx, connection_pool::handle& conn,
                                                     std::optional<std::chrono::steady_clock::duration> wait,
                                                     std::size_t depth) {
    if (!wants_sending() || !conn)
        co_return false;
    const connection* on = &*conn;
    auto sending = send_range_ahead(ctx, conn, *mirrors_, *request_, wait, depth);
    if (co_await std::move(sending))
        co_return false;
    sent_on_ = on;
    co_return true;
}

void connection_handoff::settle(connection_pool::handle& conn, line rest,
                                std::optional<std::chrono::steady_clock::duration> round_trip) {
    if (settled_ || !conn || &*conn != sent_on_) {
        end_line(rest);
        settle_empty();
        return;
    }
    settled_ = true;
    if (abandoned_) {
        conn->poison(); // the answer to its request would be nobody's
        end_line(rest);
    } else {
        conn_ = std::move(conn);
        rest_ = std::move(rest);
        round_trip_ = round_trip;
    }
    signal_.cancel();
}

void connection_handoff::settle_empty() noexcept {
    if (settled_)
        return;
    settled_ = true;
    signal_.cancel();
}

} // namespace ferry
