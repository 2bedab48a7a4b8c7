#include "net/connection_pool.hpp"

#include "net/error.hpp"

#include <algorithm>
#include <limits>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <openssl/ssl.h>

namespace ferry {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

} // namespace

connection_pool::handle::handle(handle&& other) noexcept
    : pool_(other.pool_), conn_(std::move(other.conn_)), reused_(other.reused_),
      request_sent_(std::exchange(other.request_sent_, std::nullopt)),
      first_byte_(std::exchange(other.first_byte_, std::nullopt)), status_(std::exchange(other.status_, 0u)) {}

connection_pool::handle& connection_pool::handle::operator=(handle&& other) noexcept {
    if (this != &other) {
        release();
        pool_ = other.pool_;
        conn_ = std::move(other.conn_);
        reused_ = other.reused_;
        request_sent_ = std::exchange(other.request_sent_, std::nullopt);
        first_byte_ = std::exchange(other.first_byte_, std::nullopt);
        status_ = std::exchange(other.status_, 0u);
    }
    return *this;
}

connection_pool::handle::~handle() {
    release();
}

void connection_pool::handle::release() {
    if (conn_ && pool_) {
        end_request();
        pool_->give_back(std::move(conn_));
    }
}

void connection_pool::handle::start_request() {
    end_request();
    request_sent_ = std::chrono::steady_clock::now();
}

void connection_pool::handle::head_received(unsigned status) {
    if (request_sent_ && !first_byte_)
        first_byte_ = std::chrono::steady_clock::now() - *request_sent_;
    status_ = status;
    // A TLS 1.3 server sends its session tickets before the first response: connections opened
    // from now on can resume without waiting for this one to come back.
    if (pool_ && conn_ && conn_->requests_served() == 1)
        pool_->keep_session(*conn_);
}

void connection_pool::handle::end_request() {
    if (!request_sent_ || !conn_ || !pool_)
        return;
    request_timing timing{first_byte_, std::chrono::steady_clock::now() - *request_sent_, std::exchange(status_, 0u)};
    request_sent_.reset();
    first_byte_.reset();
    pool_->report(conn_->origin(), timing);
}

connection_pool::connection_pool(asio::any_io_executor executor, asio::ssl::context& tls, pool_config config)
    : executor_(std::move(executor)), tls_(tls), resolver_(executor_, config.addresses), config_(std::move(config)),
      warm_stop_(executor_, asio::steady_timer::time_point::max()) {}

connection_pool::~connection_pool() {
    for (auto& [origin, host] : hosts_)
        if (host.session)
            SSL_SESSION_free(host.session);
}

asio::awaitable<boost::system::result<connection_pool::handle>> connection_pool::acquire(const url& where,
                                                                                         int priority) {
    const std::string origin = where.origin();
    for (;;) {
        if (shut_down_)
            co_return make_error_code(asio::error::operation_aborted);
        close_expired_idle();
        // hosts_ is a std::map: `host` stays valid across suspensions.
        auto& host = host_of(origin);

        // Others in line for this origin wait for something (room, a hold, the circuit) that
        // would stop us too, or that just ended and their gate timer is about to tell them:
        // taking it first would be barging in.
        grant free;
        if (host.waiting == 0)
            free = take_free(origin, host);
        if (!free) {
            auto waiting = wait_turn(origin, priority);
            auto granted = co_await std::move(waiting);
            if (!granted)
                co_return make_error_code(asio::error::operation_aborted);
            free = std::move(*granted);
        }
        const bool probe = free.probe;
        boost::system::result<handle> got = make_error_code(asio::error::operation_aborted);
        if (free.idle) {
            ++host.stats.reused;
            got = handle(this, std::move(free.idle), true);
        } else {
            auto opening = open_new(where, host, priority, probe);
            got = co_await std::move(opening);
            if (!got && got.error() == net_error::circuit_open)
                continue;
        }
        // A hold that came while we waited for our turn or connected still stops the request.
        if (got && host.hold_end) {
            auto sitting = sit_out_hold(host);
            if (!co_await std::move(sitting))
                co_return make_error_code(asio::error::operation_aborted);
        }
        co_return got;
    }
}

connection_pool::host_state& connection_pool::host_of(const std::string& origin) {
    auto [it, inserted] = hosts_.try_emplace(origin);
    if (inserted) {
        it->second.breaker = circuit_breaker(config_.circuit);
        it->second.cap = config_.max_per_host;
    }
    return it->second;
}

connection_pool::grant connection_pool::take_free(const std::string& origin, host_state& host) {
    grant free;
    if (host.hold_end) {
        arm_gate(origin, host, *host.hold_end);
        return free;
    }
    const bool idle = !host.idle.empty();
    // Connections warming up go to those in line first: while they cover the line (this caller
    // included), nobody opens one more.
    if (!idle && host.warming >= std::max<std::size_t>(host.waiting, 1))
        return free;
    if (!idle && !(host.open < host.cap && (open_ < max_open() || has_idle_elsewhere(origin))))
        return free;
    // Asked only when something is free: in half-open, allow() hands out the one probe.
    const auto now = std::chrono::steady_clock::now();
    free.probe = host.breaker.current(now) != circuit_breaker::state::closed;
    if (!host.breaker.allow(now)) {
        free.probe = false;
        arm_gate(origin, host, host.breaker.retry_at());
        return free;
    }
    if (idle) {
        free.idle = std::move(host.idle.back());
        host.idle.pop_back();
    } else {
        if (open_ >= max_open())
            close_one_idle_elsewhere(origin);
        opened(host);
        free.room = true;
    }
    return free;
}

bool connection_pool::has_idle_elsewhere(const std::string& origin) const {
    for (auto& [other, host] : hosts_)
        if (other != origin && !host.idle.empty())
            return true;
    return false;
}

void connection_pool::arm_gate(const std::string& origin, host_state& host,
                               std::chrono::steady_clock::time_point when) {
    if (!host.gate)
        host.gate = std::make_unique<asio::steady_timer>(executor_);
    if (host.gate_armed) {
        if (host.gate->expiry() <= when)
            return;
        // Nothing was cancelled: the handler has already been queued and looks again when it runs.
        if (host.gate->expires_at(when) == 0)
            return;
    } else {
        host.gate->expires_at(when);
    }
    host.gate_armed = true;
    host.gate->async_wait([this, origin, alive = std::weak_ptr<int>(alive_)](error_code ec) {
        if (ec == asio::error::operation_aborted || alive.expired())
            return;
        gate_fired(origin);
    });
}

void connection_pool::gate_fired(const std::string& origin) {
    auto& host = host_of(origin);
    host.gate_armed = false;
    if (host.hold_end) {
        if (std::chrono::steady_clock::now() >= *host.hold_end)
            host.hold_end.reset();
        else
            arm_gate(origin, host, *host.hold_end); // extended since the timer was armed
    }
    // Each waiter still refused re-arms the gate for what stops it now (a hold, the circuit).
    serve_waiters();
}

asio::awaitable<bool> connection_pool::sit_out_hold(host_state& host) {
    asio::steady_timer until(executor_);
    // The hold may be extended while we wait; each round waits for the end known then.
    while (host.hold_end && std::chrono::steady_clock::now() < *host.hold_end && !shut_down_) {
        until.expires_at(*host.hold_end);
        auto [ec] = co_await until.async_wait(use_nothrow);
        if (ec)
            co_return false;
    }
    co_return !shut_down_;
}

std::vector<std::string> connection_pool::hosts_at_cap() const {
    std::vector<std::string> out;
    for (auto& [origin, host] : hosts_)
        if (host.waiting > 0 && host.open >= host.cap && !host.hold_end)
            out.push_back(origin);
    return out;
}

std::size_t connection_pool::host_cap(const std::string& origin) const {
    auto it = hosts_.find(origin);
    return it == hosts_.end() ? config_.max_per_host : it->second.cap;
}

void connection_pool::raise_host_cap(const std::string& origin, std::size_t cap) {
    auto& host = host_of(origin);
    if (cap <= host.cap)
        return;
    raised_ += cap - host.cap;
    host.cap = cap;
    serve_waiters();
}

std::size_t connection_pool::max_open() const noexcept {
    return config_.max_connections + raised_;
}

void connection_pool::hold_host(const std::string& origin, std::chrono::steady_clock::time_point until) {
    auto& host = host_of(origin);
    if (host.hold_end ? until <= *host.hold_end : until <= std::chrono::steady_clock::now())
        return;
    host.hold_end = until;
    arm_gate(origin, host, until);
}

std::optional<std::chrono::steady_clock::time_point> connection_pool::held_until(const std::string& origin) const {
    auto it = hosts_.find(origin);
    if (it == hosts_.end())
        return std::nullopt;
    return it->second.hold_end;
}

asio::awaitable<std::optional<connection_pool::grant>> connection_pool::wait_turn(const std::string& origin,
                                                                                  int priority) {
    // Whatever frees up goes to the first waiter that can use it (serve_waiters), which takes it
    // out of the line and cancels its timer.
    asio::steady_timer signal(executor_, asio::steady_timer::time_point::max());
    waiter me{origin, &signal, {}};
    const turn mine{priority, ++arrivals_};
    waiters_.emplace(mine, &me);
    auto& host = host_of(origin);
    ++host.waiting;
    auto woken = signal.async_wait(use_nothrow);
    co_await std::move(woken);
    if (waiters_.erase(mine)) // still in line when cancelled or shut down
        --host.waiting;
    auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
    if (cancelled != asio::cancellation_type::none || shut_down_ || !me.granted) {
        return_grant(origin, std::move(me.granted));
        co_return std::nullopt;
    }
    co_return std::move(me.granted);
}

void connection_pool::serve_waiters() {
    if (shut_down_)
        return;
    // What an origin's first waiter in line was refused, its later ones would be too (serving
    // others only takes room): each origin is asked until it refuses, and the pass ends when every
    // origin in line has. With thousands in line for one host (a load test's VUs queueing for its
    // connections), a release costs a look or two instead of one per waiter.
    std::size_t origins_waiting = 0;
    for (auto& [origin, host] : hosts_)
        origins_waiting += host.waiting > 0 ? 1 : 0;
    std::vector<const std::string*> refused;
    for (auto it = waiters_.begin(); it != waiters_.end() && refused.size() < origins_waiting;) {
        auto& w = *it->second;
        if (std::find_if(refused.begin(), refused.end(), [&](const std::string* o) { return *o == w.origin; }) !=
            refused.end()) {
            ++it;
            continue;
        }
        w.granted = take_free(w.origin, host_of(w.origin));
        if (!w.granted) {
            refused.push_back(&w.origin);
            ++it;
            continue;
        }
        w.signal->cancel();
        --host_of(w.origin).waiting;
        it = waiters_.erase(it);
    }
}

void connection_pool::return_grant(const std::string& origin, grant unused) {
    if (unused.probe)
        host_of(origin).breaker.on_probe_abandoned();
    if (unused.idle) {
        give_back(std::move(unused.idle));
    } else if (unused.room) {
        closed(host_of(origin));
        serve_waiters();
    }
}

asio::awaitable<boost::system::result<connection_pool::handle>>
connection_pool::open_new(const url& where, host_state& host, int priority, bool probe) {
    auto slot = wait_connecting_slot(priority);
    if (!co_await std::move(slot)) {
        if (probe)
            host.breaker.on_probe_abandoned();
        closed(host);
        serve_waiters();
        co_return make_error_code(asio::error::operation_aborted);
    }
    // Others' failures may have opened the circuit while we waited for a slot: back in line.
    if (!probe && host.breaker.current(std::chrono::steady_clock::now()) != circuit_breaker::state::closed) {
        release_connecting_slot();
        closed(host);
        serve_waiters();
        co_return make_error_code(net_error::circuit_open);
    }
    // Our own reference: give_back() may replace the host's session while we connect.
    SSL_SESSION* resume = host.session;
    if (resume)
        SSL_SESSION_up_ref(resume);
    auto connecting = connection::open(executor_, where, tls_, resume, config_.timeouts, config_.tls_read_ahead,
                                       config_.proxies.route(where), &resolver_);
    auto opened_conn = co_await std::move(connecting);
    if (resume)
        SSL_SESSION_free(resume);
    release_connecting_slot();
    if (!opened_conn) {
        ++host.stats.failed;
        closed(host);
        auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
        connect_failed(host, opened_conn.error(), cancelled != asio::cancellation_type::none, probe);
        serve_waiters();
        co_return opened_conn.error();
    }
    ++host.stats.opened;
    if ((*opened_conn)->resumed_session())
        ++host.stats.tls_resumed;
    co_return handle(this, std::move(*opened_conn), false);
}

void connection_pool::keep_session(host_state& host, const connection& conn) {
    if (SSL_SESSION* session = conn.take_session()) {
        if (host.session)
            SSL_SESSION_free(host.session);
        host.session = session;
    }
}

void connection_pool::keep_session(const connection& conn) {
    if (auto it = hosts_.find(conn.origin()); it != hosts_.end())
        keep_session(it->second, conn);
}

void connection_pool::give_back(std::unique_ptr<connection> conn) {
    auto it = hosts_.find(conn->origin());
    if (it == hosts_.end()) {
        conn->close();
        return;
    }
    auto& host = it->second;
    keep_session(host, *conn);
    if (conn->reusable() && !shut_down_) {
        conn->mark_idle();
        host.idle.push_back(std::move(conn));
    } else {
        conn->close();
        closed(host);
    }
    serve_waiters();
}

void connection_pool::report(const std::string& origin, const request_timing& timing) const {
    if (config_.on_request_done)
        config_.on_request_done(origin, timing);
}

void connection_pool::connect_failed(host_state& host, const error_code& ec, bool cancelled, bool probe) {
    const bool ours = cancelled || shut_down_ || ec == asio::error::operation_aborted ||
                      ec == net_error::bad_url || ec == net_error::unsupported_scheme || out_of_descriptors(ec);
    if (!ours)
        host.breaker.on_failure(std::chrono::steady_clock::now());
    else if (probe)
        host.breaker.on_probe_abandoned();
}

void connection_pool::record_success(const std::string& origin) {
    auto it = hosts_.find(origin);
    if (it == hosts_.end())
        return;
    auto& breaker = it->second.breaker;
    const auto now = std::chrono::steady_clock::now();
    const bool was_closed = breaker.current(now) == circuit_breaker::state::closed;
    breaker.on_success(now);
    if (!was_closed)
        serve_waiters(); // the host answers: its line goes on at once, not at the next cool-down
}

void connection_pool::record_failure(const std::string& origin) {
    if (auto it = hosts_.find(origin); it != hosts_.end())
        it->second.breaker.on_failure(std::chrono::steady_clock::now());
}

std::size_t connection_pool::reserve_warm(const std::string& origin, std::size_t count) {
    if (shut_down_)
        return 0;
    auto& host = host_of(origin);
    const auto now = std::chrono::steady_clock::now();
    if (host.waiting > 0 || host.hold_end || host.breaker.current(now) != circuit_breaker::state::closed)
        return 0;
    std::size_t reserved = 0;
    for (; reserved < count && host.open < host.cap && open_ < max_open(); ++reserved) {
        opened(host);
        ++host.warming;
    }
    return reserved;
}

asio::awaitable<void> connection_pool::warm(url where) {
    using namespace asio::experimental::awaitable_operators;
    constexpr int after_everyone = std::numeric_limits<int>::max(); // for a connecting slot
    auto& host = host_of(where.origin());
    auto opened_or_stopped =
        co_await (open_new(where, host, after_everyone, false) || warm_stop_.async_wait(use_nothrow));
    --host.warming;
    if (opened_or_stopped.index() == 0 && std::get<0>(opened_or_stopped))
        co_return; // the handle, going out of scope here, parks the connection idle
    serve_waiters(); // its room was given back: those in line may open their own
}

void connection_pool::stop_warming() {
    warm_stop_.cancel();
}

void connection_pool::shutdown() {
    shut_down_ = true;
    warm_stop_.cancel();
    for (auto& [turn, w] : connect_waiters_)
        w->signal->cancel();
    for (auto& [turn, w] : waiters_)
        w->signal->cancel();
    for (auto& [origin, host] : hosts_) {
        if (host.gate)
            host.gate->cancel();
        host.gate_armed = false;
        for (auto& conn : host.idle) {
            conn->close();
            closed(host);
        }
        host.idle.clear();
    }
}

void connection_pool::close_expired_idle() {
    // No waiter can use the room this makes: one of this origin would have had the idle
    // connection, one of another origin would have closed it to open its own.
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

asio::awaitable<bool> connection_pool::wait_connecting_slot(int priority) {
    // A free slot means nobody waits for one: release_connecting_slot() hands slots on directly.
    if (connecting_ < config_.max_connecting) {
        ++connecting_;
        co_return true;
    }
    asio::steady_timer signal(executor_, asio::steady_timer::time_point::max());
    connect_waiter me{&signal};
    const turn mine{priority, ++arrivals_};
    connect_waiters_.emplace(mine, &me);
    auto woken = signal.async_wait(use_nothrow);
    co_await std::move(woken);
    connect_waiters_.erase(mine); // still in line when cancelled or shut down
    auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
    if (cancelled != asio::cancellation_type::none || shut_down_ || !me.granted) {
        if (me.granted)
            release_connecting_slot(); // pass it on to the next in line
        co_return false;
    }
    co_return true;
}

void connection_pool::release_connecting_slot() {
    // The slot stays counted and goes to the next in line, so nobody barges in meanwhile.
    if (!connect_waiters_.empty() && !shut_down_) {
        auto next = connect_waiters_.begin();
        next->second->granted = true;
        next->second->signal->cancel();
        connect_waiters_.erase(next);
        return;
    }
    --connecting_;
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
        if (host.hold_end && *host.hold_end > now)
            s.held_for = std::chrono::duration<double>(*host.hold_end - now).count();
        out.emplace(origin, s);
    }
    return out;
}

} // namespace ferry
