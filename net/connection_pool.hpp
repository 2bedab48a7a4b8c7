#pragma once

#include "net/circuit_breaker.hpp"
#include "net/connection.hpp"
#include "net/url.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/result.hpp>

namespace ferry {

struct pool_config {
    std::size_t max_connections = 64;   ///< open connections in total (in use + idle)
    std::size_t max_per_host = 16;      ///< open connections per origin
    /// Connections being established (resolve, connect, TLS handshake) at once: thousands of
    /// transfers starting together queue here instead of flooding the server's accept backlog.
    std::size_t max_connecting = 32;
    std::chrono::milliseconds idle_timeout{30'000}; ///< idle connections older than this close
    connection_timeouts timeouts;
    std::size_t tls_read_ahead = 0; ///< see connection::open
    circuit_config circuit;
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
/// Not thread-safe: use it from one strand (the engine's). It must outlive its handles.
class connection_pool {
public:
    class handle {
    public:
        handle() = default;
        handle(handle&&) noexcept = default;
        handle& operator=(handle&& other) noexcept;
        ~handle();
        connection* operator->() const noexcept { return conn_.get(); }
        connection& operator*() const noexcept { return *conn_; }
        explicit operator bool() const noexcept { return conn_ != nullptr; }
        /// True when this connection served an earlier request (came from the idle list).
        bool reused() const noexcept { return reused_; }

    private:
        friend class connection_pool;
        handle(connection_pool* pool, std::unique_ptr<connection> conn, bool reused)
            : pool_(pool), conn_(std::move(conn)), reused_(reused) {}
        connection_pool* pool_ = nullptr;
        std::unique_ptr<connection> conn_;
        bool reused_ = false;
    };

    connection_pool(boost::asio::any_io_executor executor, boost::asio::ssl::context& tls, pool_config config = {});
    ~connection_pool();
    connection_pool(const connection_pool&) = delete;
    connection_pool& operator=(const connection_pool&) = delete;

    /// A connection to `where`'s origin: an idle one when there is one, a new one when the caps
    /// allow, otherwise waits for a slot (or for an open circuit's cool-down). Errors are those of
    /// connection::open, or operation_aborted when the caller is cancelled or the pool shut down.
    boost::asio::awaitable<boost::system::result<handle>> acquire(const url& where);

    /// Outcome of a request on `origin`, for the origin's circuit breaker.
    void record_success(const std::string& origin);
    void record_failure(const std::string& origin);

    /// Closes idle connections and wakes every waiter with operation_aborted.
    void shutdown();

    pool_stats totals() const;
    std::map<std::string, pool_stats> per_origin() const;
    const pool_config& config() const noexcept { return config_; }

private:
    struct host_state {
        std::deque<std::unique_ptr<connection>> idle; // most recently used at the back
        std::size_t open = 0;
        SSL_SESSION* session = nullptr;
        circuit_breaker breaker;
        pool_stats stats;
    };

    void give_back(std::unique_ptr<connection> conn);
    void close_expired_idle();
    bool close_one_idle_elsewhere(const std::string& origin);
    void wake_waiters();
    /// Waits for a free connecting slot (FIFO); false when cancelled or shut down.
    boost::asio::awaitable<bool> wait_connecting_slot();
    void release_connecting_slot();
    void wake_next_connecting();
    void opened(host_state& host);
    void closed(host_state& host);

    boost::asio::any_io_executor executor_;
    boost::asio::ssl::context& tls_;
    pool_config config_;
    std::map<std::string, host_state> hosts_;
    std::size_t open_ = 0;
    std::size_t peak_open_ = 0;
    bool shut_down_ = false;
    std::list<boost::asio::steady_timer*> waiters_;
    std::size_t connecting_ = 0;
    std::deque<boost::asio::steady_timer*> connect_waiters_;
};

} // namespace ferry
