#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace ferry {

/// The addresses of recently resolved hosts, kept for a while as curl and aria2 keep theirs: a
/// download that opens dozens of connections to one host looks its name up once, not once per
/// connection (the system resolver runs one lookup at a time, each a round trip to a DNS server).
/// No I/O: the caller resolves and stores, and forgets a host whose addresses all failed.
class address_cache {
public:
    using clock = std::chrono::steady_clock;
    using endpoints = std::vector<boost::asio::ip::tcp::endpoint>;

    struct settings {
        clock::duration ttl = std::chrono::seconds(60); ///< how long a lookup's answer is used (curl's default)
        std::size_t capacity = 256;                      ///< hosts kept; the oldest answer goes first beyond it
    };

    address_cache() : address_cache(settings{}) {}
    explicit address_cache(settings s) : settings_(s) {}

    /// The addresses of `host`:`port` looked up less than the ttl before `now`; null when none.
    const endpoints* find(const std::string& host, std::uint16_t port, clock::time_point now) const;
    /// Keeps what a lookup at `now` answered (an empty answer is not kept).
    void store(const std::string& host, std::uint16_t port, endpoints addresses, clock::time_point now);
    /// Drops the host's addresses: none of them took a connection, so the next connection asks again.
    void forget(const std::string& host, std::uint16_t port);
    std::size_t size() const noexcept { return entries_.size(); }

    /// How a host and port are named among the entries ("host:port").
    static std::string key(const std::string& host, std::uint16_t port);

private:
    struct entry {
        endpoints addresses;
        clock::time_point stored;
    };

    settings settings_;
    std::map<std::string, entry> entries_;
};

} // namespace ferry
