#include "net/connection_pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <openssl/ssl.h>

namespace ferry {

namespace asio = boost::asio;
using boost::system::error_code;

connection_pool::handle& connection_pool::handle::operator=(handle&& other) noexcept {
    if (this != &other) {
        if (conn_ && pool_)
            pool_->give_back(std::move(conn_));
        pool_ = other.pool_;
        conn_ = std::move(other.conn_);
        reused_ = other.reused_;
    }
    return *this;
}

connection_pool::handle::~handle() {
    if (conn_ && pool_)
        pool_->give_back(std::move(conn_));
}

connection_pool::connection_pool(asio::any_io_executor executor, asio::ssl::context& tls, pool_config config)
    : executor_(std::move(executor)), tls_(tls), config_(config) {}

connection_pool::~connection_pool() {
    for (auto& [origin, host] : hosts_)
        if (host.session)
            SSL_SESSION_free(host.session);
}

asio::awaitable<boost::system::result<connection_pool::handle>> connection_pool::acquire(const url& where) {
    const std::string origin = where.origin();
    for (;;) {
        if (shut_down_)
            co_return make_error_code(asio::error::operation_aborted);
        close_expired_idle();
        auto [it, inserted] = hosts_.try_emplace(origin);
        if (inserted)
            it->second.breaker = circuit_breaker(config_.circuit);
        auto& host = it->second;

        auto now = std::chrono::steady_clock::now();
        if (!host.breaker.allow(now)) {
            // An open circuit: wait for its cool-down instead of burning retries.
            asio::steady_timer cool_down(executor_, host.breaker.retry_at());
            auto [ec] = co_await cool_down.async_wait(asio::as_tuple(asio::use_awaitable));
            if (ec)
                co_return make_error_code(asio::error::operation_aborted);
            continue;
        }

        if (!host.idle.empty()) {
            auto conn = std::move(host.idle.back());
            host.idle.pop_back();
            ++host.stats.reused;
            co_return handle(this, std::move(conn), true);
        }

        bool room = host.open < config_.max_per_host &&
                    (open_ < config_.max_connections || close_one_idle_elsewhere(origin));
        if (room) {
            opened(host);
            if (!co_await wait_connecting_slot()) {
                closed(host);
                wake_waiters();
                co_return make_error_code(asio::error::operation_aborted);
            }
            // Our own reference: give_back() may replace the host's session while we connect.
            SSL_SESSION* resume = host.session;
            if (resume)
                SSL_SESSION_up_ref(resume);
            auto opened_conn = co_await connection::open(executor_, where, tls_, resume, config_.timeouts, config_.tls_read_ahead);
            if (resume)
                SSL_SESSION_free(resume);
            release_connecting_slot();
            // hosts_ is a std::map: `host` is still valid after the suspension.
            if (!opened_conn) {
                ++host.stats.failed;
                closed(host);
                wake_waiters();
                co_return opened_conn.error();
            }
            ++host.stats.opened;
            if ((*opened_conn)->resumed_session())
                ++host.stats.tls_resumed;
            co_return handle(this, std::move(*opened_conn), false);
        }

        // Wait for a connection to come back; a timer that never expires is the condition variable.
        asio::steady_timer signal(executor_, asio::steady_timer::time_point::max());
        auto position = waiters_.insert(waiters_.end(), &signal);
        co_await signal.async_wait(asio::as_tuple(asio::use_awaitable));
        waiters_.erase(position);
        auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
        if (cancelled != asio::cancellation_type::none)
            co_return make_error_code(asio::error::operation_aborted);
    }
}

void connection_pool::give_back(std::unique_ptr<connection> conn) {
    auto it = hosts_.find(conn->origin());
    if (it == hosts_.end()) {
        conn->close();
        return;
    }
    auto& host = it->second;
    if (SSL_SESSION* session = conn->take_session()) {
        if (host.session)
            SSL_SESSION_free(host.session);
        host.session = session;
    }
    if (conn->reusable() && !shut_down_) {
        conn->mark_idle();
        host.idle.push_back(std::move(conn));
    } else {
        conn->close();
        closed(host);
    }
    wake_waiters();
}

void connection_pool::record_success(const std::string& origin) {
    if (auto it = hosts_.find(origin); it != hosts_.end())
        it->second.breaker.on_success(std::chrono::steady_clock::now());
}

void connection_pool::record_failure(const std::string& origin) {
    if (auto it = hosts_.find(origin); it != hosts_.end())
        it->second.breaker.on_failure(std::chrono::steady_clock::now());
}

void connection_pool::shutdown() {
    shut_down_ = true;
    for (auto* waiter : connect_waiters_)
        waiter->cancel();
    for (auto& [origin, host] : hosts_) {
        for (auto& conn : host.idle) {
            conn->close();
            closed(host);
        }
        host.idle.clear();
    }
    wake_waiters();
}

void connection_pool::close_expired_idle() {
    auto cutoff = std::chrono::steady_clock::now() - config_.idle_timeout;
    for (auto& [origin, host] : hosts_) {
        // The front holds the longest idle.
        while (!host.idle.empty() && host.idle.front()->idle_since() < cutoff) {
            host.idle.front()->close();
            host.idle.pop_front();
            closed(host);
        }
    }
}

bool connection_pool::close_one_idle_elsewhere(const std::string& origin) {
    for (auto& [other, host] : hosts_) {
        if (other != origin && !host.idle.empty()) {
            host.idle.front()->close();
            host.idle.pop_front();
            closed(host);
            return true;
        }
    }
    return false;
}

asio::awaitable<bool> connection_pool::wait_connecting_slot() {
    while (connecting_ >= config_.max_connecting) {
        asio::steady_timer signal(executor_, asio::steady_timer::time_point::max());
        connect_waiters_.push_back(&signal);
        co_await signal.async_wait(asio::as_tuple(asio::use_awaitable));
        std::erase(connect_waiters_, &signal);
        auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
        if (cancelled != asio::cancellation_type::none || shut_down_) {
            // Pass a wake-up we may have taken on to the next in line.
            if (connecting_ < config_.max_connecting)
                wake_next_connecting();
            co_return false;
        }
    }
    ++connecting_;
    co_return true;
}

void connection_pool::release_connecting_slot() {
    --connecting_;
    wake_next_connecting();
}

void connection_pool::wake_next_connecting() {
    // Out of the line as it is woken: two releases in a row wake two waiters.
    if (connect_waiters_.empty())
        return;
    auto* next = connect_waiters_.front();
    connect_waiters_.pop_front();
    next->cancel();
}

void connection_pool::wake_waiters() {
    for (auto* waiter : waiters_)
        waiter->cancel();
}

void connection_pool::opened(host_state& host) {
    ++host.open;
    ++open_;
    host.stats.peak_open = std::max(host.stats.peak_open, host.open);
    peak_open_ = std::max(peak_open_, open_);
}

void connection_pool::closed(host_state& host) {
    --host.open;
    --open_;
}

pool_stats connection_pool::totals() const {
    pool_stats total;
    for (auto& [origin, host] : hosts_) {
        total.opened += host.stats.opened;
        total.reused += host.stats.reused;
        total.failed += host.stats.failed;
        total.tls_resumed += host.stats.tls_resumed;
        total.idle += host.idle.size();
    }
    total.open = open_;
    total.peak_open = peak_open_;
    return total;
}

std::map<std::string, pool_stats> connection_pool::per_origin() const {
    std::map<std::string, pool_stats> out;
    auto now = std::chrono::steady_clock::now();
    for (auto& [origin, host] : hosts_) {
        auto s = host.stats;
        s.open = host.open;
        s.idle = host.idle.size();
        s.circuit = circuit_breaker::name(host.breaker.current(now));
        out.emplace(origin, s);
    }
    return out;
}

} // namespace ferry
