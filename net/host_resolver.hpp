#pragma once

#include "net/address_cache.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/result.hpp>

namespace ferry {

/// Host names resolved for the connections of one executor, through an address_cache: a name is
/// looked up once per ttl, and connections that ask while its lookup runs wait for that lookup
/// rather than queue one of their own behind it (the system resolver answers one at a time).
/// Not thread-safe: used from its executor only.
class host_resolver {
public:
    explicit host_resolver(boost::asio::any_io_executor executor, address_cache::settings settings = {});

    /// The addresses of `host` (a name or an IP literal) with `port`, in the resolver's order.
    /// Errors as resolve_addresses(): the resolver's, net_error::connect_timeout when `deadline`
    /// passes first, operation_aborted when the calling coroutine is cancelled.
    boost::asio::awaitable<boost::system::result<address_cache::endpoints>>
    resolve(const std::string& host, std::uint16_t port, std::chrono::steady_clock::time_point deadline);
    /// Drops what is known of `host`: none of its addresses took a connection.
    void forget(const std::string& host, std::uint16_t port) { cache_.forget(host, port); }
    /// Lookups made so far (answers taken from the cache or from another's lookup not counted).
    std::uint64_t lookups() const noexcept { return lookups_; }

private:
    boost::asio::any_io_executor executor_;
    address_cache cache_;
    /// Hosts being looked up, each with the timers of those waiting for its answer (cancelled
    /// to wake them when it comes).
    std::map<std::string, std::vector<boost::asio::steady_timer*>> in_flight_;
    std::uint64_t lookups_ = 0;
};

} // namespace ferry
