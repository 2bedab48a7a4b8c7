#pragma once

#include "net/circuit_breaker.hpp"
#include "net/connection.hpp"
#include "net/host_resolver.hpp"
#include "net/proxy_config.hpp"
#include "net/url.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/result.hpp>

namespace ferry {

/// How long one request took, from the moment it was sent.
struct request_timing {
    /// Until its response head arrived; nullopt when none did (the request failed before).
    std::optional<std::chrono::steady_clock::duration> first_byte;
    /// Until the response was finished with: its last body byte read, or the request abandoned
    /// or failed.
    std::chrono::steady_clock::duration total{};
    unsigned status = 0; ///< the response's status code; 0 when no head arrived
};

struct pool_config {
    std::size_t max_connections = 64;   ///< open connections in total (in use + idle)
    std::size_t max_per_host = 16;      ///< open connections per origin
    /// Connections being established (resolve, connect, TLS handshake) at once: thousands of
    /// transfers starting together queue here instead of flooding the server's accept backlog.
    std::size_t max_connecting = 64;
    std::chrono::milliseconds idle_timeout{30'000}; ///< idle connections older than this close
    connection_timeouts timeouts;
    std::size_t tls_read_ahead = 0; ///< see connection::open
    proxy_policy proxies; ///< which proxy each origin's connections go through (none by default)
    circuit_config circuit;
    /// How long a host name's addresses are used before it is looked up again, and how many
    /// hosts are kept (host_resolver).
    address_cache::settings addresses;
    /// Told of every request timed on a handle (handle::start_request()) when it ends, with the
    /// connection's origin; called on the pool's executor. May be empty.
    std::function<void(const std::string& origin, const request_timing&)> on_request_done;
};

/// Counters for one origin or for the whole pool.
struct pool_stats {
    std::uint64_t opened = 0;      ///< connections established
    std::uint64_t reused = 0;      ///< requests served by a pooled connection
    std::uint64_t failed = 0;      ///< connection attempts that failed
    std::uint64_t tls_resumed = 0; ///< new connections that resumed a TLS session
    std::size_t open = 0;          ///< open now (in use + idle)
    std::size_t idle = 0;
    std::size_t peak_open = 0;
    std::string circuit = "closed";
    /// Seconds until the origin's hold (connection_pool::hold_host) ends; 0 when it is not held.
    double held_for = 0;
    double reuse_ratio() const noexcept {
        auto total = opened + reused;
        return total ? double(reused) / double(total) : 0.0;
    }
};

/// Keep-alive connections per origin (scheme, host, port) with a total and a per-host cap,
/// idle expiry, TLS session reuse and a circuit breaker per origin.
///
/// acquire() hands out a `handle`; when the handle goes away the connection returns to the idle
/// list if its response was read to the end and nothing (timeout, cancel, error) touched it,
/// and is closed otherwise. Modelled on a pool of nodes with explicit states and a timer used as a
/// condition variable: waiting for a slot never polls.
///
/// Waiters are served by priority (lower values first), first come first served within one: a
/// connection that comes back, or room for a new one, is handed straight to the first waiter that
/// can use it, so a later acquire() cannot take it from under them. The same holds for the limit
/// on connections being established (max_connecting). A host that is held (hold_host) or whose
/// circuit is open hands out nothing: its waiters stay in line, in their order, and one timer per
/// host wakes the line when the hold ends or the circuit lets its probe through.
///
/// The circuit breaker of an origin counts the failures the engine reports (record_failure) and
/// the pool's own failures to establish a connection to it: refused or reset connections, DNS
/// failures, connect and handshake timeouts, TLS handshake failures, and certificate verification
/// failures too (a host whose certificate we reject is as broken for us as one that is down, and
/// hammering it helps nobody). Cancellation (operation_aborted, a cancelled caller, shutdown) and
/// a URL we cannot use (bad_url, unsupported_scheme) are not the host's failures and do not count.
/// While the circuit is open nothing starts; once its cool-down ends exactly one acquire() (the
/// first in line) goes through as the probe, and the rest wait for its verdict: a success
/// (record_success) lets them all through at once, a failure opens the circuit again.
///
/// Not thread-safe: use it from one strand (the engine's). It must outlive its handles.
class connection_pool {
public:
    class handle {
    public:
        handle() = default;
        handle(handle&& other) noexcept;
        handle& operator=(handle&& other) noexcept;
        ~handle();
        connection* operator->() const noexcept { return conn_.get(); }
        connection& operator*() const noexcept { return *conn_; }
        explicit operator bool() const noexcept { return conn_ != nullptr; }
        /// True when this connection served an earlier request (came from the idle list).
        bool reused() const noexcept { return reused_; }

        /// Request timing, reported to pool_config::on_request_done: call start_request() just
        /// before sending a request and head_received() once its response head is read. The
        /// request ends at the next start_request() or when the handle lets the connection go.
        void start_request();
        void head_received(unsigned status = 0);

    private:
        friend class connection_pool;
        handle(connection_pool* pool, std::unique_ptr<connection> conn, bool reused)
            : pool_(pool), conn_(std::move(conn)), reused_(reused) {}
        void end_request();
        void release();

        connection_pool* pool_ = nullptr;
        std::unique_ptr<connection> conn_;
        bool reused_ = false;
        std::optional<std::chrono::steady_clock::time_point> request_sent_;
        std::optional<std::chrono::steady_clock::duration> first_byte_;
        unsigned status_ = 0;
    };

    connection_pool(boost::asio::any_io_executor executor, boost::asio::ssl::context& tls, pool_config config = {});
    ~connection_pool();
    connection_pool(const connection_pool&) = delete;
    connection_pool& operator=(const connection_pool&) = delete;

    /// A connection to `where`'s origin: an idle one when there is one, a new one when the caps
    /// allow, otherwise waits its turn (or for a hold to end, or for an open circuit's cool-down).
    /// Waiters with a lower `priority` go first (the engine passes its model priority: high 0,
    /// normal 1, low 2). Errors are those of connection::open, or operation_aborted when the caller
    /// is cancelled or the pool shut down.
    boost::asio::awaitable<boost::system::result<handle>> acquire(const url& where, int priority = 0);

    /// Outcome of a request on `origin`, for the origin's circuit breaker. A success closes the
    /// circuit and lets the origin's waiters through.
    void record_success(const std::string& origin);
    void record_failure(const std::string& origin);

    /// No request to `origin` starts before `until` (a server that asked for a pause: 429/503
    /// with Retry-After, an exhausted RateLimit): acquire() for it waits, in line, without
    /// polling; a connection being established meanwhile is held back once open. Other origins
    /// are unaffected. A later `until` extends a hold, an earlier one changes nothing. A hold
    /// ends by a timer on the pool's executor, shortly after `until`.
    void hold_host(const std::string& origin, std::chrono::steady_clock::time_point until);
    /// The end of `origin`'s hold while one is in effect; nullopt otherwise.
    std::optional<std::chrono::steady_clock::time_point> held_until(const std::string& origin) const;

    /// The origins whose line waits at their cap: every connection allowed open and someone in
    /// line for another (what raise_host_cap() may relieve).
    std::vector<std::string> hosts_at_cap() const;
    /// `origin`'s cap now: max_per_host, or what raise_host_cap() set.
    std::size_t host_cap(const std::string& origin) const;
    /// Lets `origin` open up to `cap` connections (no fewer than max_per_host) and the pool as
    /// many more in total as its cap rose above max_per_host; its line is served at once.
    void raise_host_cap(const std::string& origin, std::size_t cap);

    /// Room for up to `count` more connections to `origin`, to be opened ahead of need (warm()):
    /// as much as the caps allow now, without closing another origin's idle connections, and
    /// none while someone is in line for the origin, it is held or its circuit is not closed.
    /// Returns how many were reserved. Until they land, acquire() waits for them rather than
    /// opening connections of its own.
    std::size_t reserve_warm(const std::string& origin, std::size_t count);
    /// Opens a connection in room reserve_warm() made and parks it idle (the first in line gets
    /// it at once); a failure gives the room back and counts for the circuit like any other.
    /// Ends early, the room given back, on stop_warming() or shutdown().
    boost::asio::awaitable<void> warm(url where);
    /// Stops the warm() calls in progress (an engine with nothing left to do).
    void stop_warming();

    /// Closes idle connections and wakes every waiter with operation_aborted.
    void shutdown();

    pool_stats totals() const;
    std::map<std::string, pool_stats> per_origin() const;
    const pool_config& config() const noexcept { return config_; }
    /// Host names looked up so far (connections to a known host reuse its addresses).
    std::uint64_t lookups() const noexcept { return resolver_.lookups(); }

private:
    struct host_state {
        std::deque<std::unique_ptr<connection>> idle; // most recently used at the back
        std::size_t open = 0;
        SSL_SESSION* session = nullptr;
        circuit_breaker breaker;
        pool_stats stats;
        /// Set by hold_host(); cleared by the gate timer once it has passed, so that the line is
        /// served before anyone who comes later.
        std::optional<std::chrono::steady_clock::time_point> hold_end;
        /// Wakes the origin's line when a hold ends or an open circuit's cool-down does.
        std::unique_ptr<boost::asio::steady_timer> gate;
        bool gate_armed = false;
        std::size_t waiting = 0; ///< waiters in line for this origin
        std::size_t warming = 0; ///< connections reserve_warm() counted open that have not landed
        std::size_t cap = 0;     ///< open connections allowed (max_per_host unless raised)
    };

    /// What a waiter is handed: an idle connection of its origin, or room to open one (already
    /// counted as open).
    struct grant {
        std::unique_ptr<connection> idle;
        bool room = false;
        bool probe = false; ///< the half-open circuit's probe
        explicit operator bool() const noexcept { return idle || room; }
    };
    /// A coroutine waiting in acquire(); its timer never expires and is cancelled to wake it.
    struct waiter {
        std::string origin;
        boost::asio::steady_timer* signal = nullptr;
        grant granted;
    };
    /// A coroutine waiting to establish a connection (max_connecting).
    struct connect_waiter {
        boost::asio::steady_timer* signal = nullptr;
        bool granted = false;
    };
    /// Order of service: priority, then arrival.
    using turn = std::pair<int, std::uint64_t>;

    host_state& host_of(const std::string& origin);
    /// An idle connection, or room for a new one under the caps; nothing when neither is free or
    /// the origin is held or its circuit refuses (then its gate timer is armed).
    grant take_free(const std::string& origin, host_state& host);
    bool has_idle_elsewhere(const std::string& origin) const;
    /// Makes the origin's gate timer fire no later than `when`.
    void arm_gate(const std::string& origin, host_state& host, std::chrono::steady_clock::time_point when);
    void gate_fired(const std::string& origin);
    /// Waits while the origin is held (for a caller that already has its connection); false when
    /// cancelled or shut down.
    boost::asio::awaitable<bool> sit_out_hold(host_state& host);
    /// A failure to establish a connection: for the breaker unless it is ours (see the class).
    void connect_failed(host_state& host, const boost::system::error_code& ec, bool cancelled, bool probe);
    /// Queues for the next grant; nullopt when cancelled or shut down.
    boost::asio::awaitable<std::optional<grant>> wait_turn(const std::string& origin, int priority);
    /// Hands what is free to waiters, in their order.
    void serve_waiters();
    /// Gives back what a waiter was handed but will not use (it was cancelled meanwhile).
    void return_grant(const std::string& origin, grant unused);
    void give_back(std::unique_ptr<connection> conn);
    /// Remembers the connection's TLS session for the next connection to its origin.
    void keep_session(const connection& conn);
    void keep_session(host_state& host, const connection& conn);
    void report(const std::string& origin, const request_timing& timing) const;
    /// Establishes a connection in the room a grant made; the room is given up on failure.
    /// Fails with net_error::circuit_open, without trying, when the circuit stopped admitting this
    /// (non-probe) grant while it waited for a connecting slot: the caller queues again.
    boost::asio::awaitable<boost::system::result<handle>> open_new(const url& where, host_state& host, int priority,
                                                                   bool probe);
    void close_expired_idle();
    bool close_one_idle_elsewhere(const std::string& origin);
    /// Waits for a free connecting slot; false when cancelled or shut down.
    boost::asio::awaitable<bool> wait_connecting_slot(int priority);
    void release_connecting_slot();
    void opened(host_state& host);
    void closed(host_state& host);

    boost::asio::any_io_executor executor_;
    boost::asio::ssl::context& tls_;
    host_resolver resolver_;
    /// Open connections allowed in total: max_connections, plus what raise_host_cap() added.
    std::size_t max_open() const noexcept;
    std::size_t raised_ = 0; ///< connections the raised host caps added to the total
    pool_config config_;
    std::map<std::string, host_state> hosts_;
    std::size_t open_ = 0;
    std::size_t peak_open_ = 0;
    bool shut_down_ = false;
    std::uint64_t arrivals_ = 0;
    std::map<turn, waiter*> waiters_;
    std::size_t connecting_ = 0;
    /// Never expires: warm() waits on it beside the connection it opens; cancelled to stop them.
    boost::asio::steady_timer warm_stop_;
    std::map<turn, connect_waiter*> connect_waiters_;
    /// Gate timer handlers hold a weak reference: one queued before the pool went away does nothing.
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

} // namespace ferry
