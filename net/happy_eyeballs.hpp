#pragma once

// Happy Eyeballs (RFC 8305) for TCP connects: a host with an IPv6 address that black-holes
// connects must not cost the whole connect timeout when its IPv4 address answers at once.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/result.hpp>

namespace ferry {

/// Every address of `host` (a name or an IP literal) with `port`, in the resolver's order.
/// Errors: the resolver's (asio::error::no_descriptors, not host_not_found, when the process
/// is out of descriptors), net_error::connect_timeout when `deadline` passes first,
/// asio::error::operation_aborted when the calling coroutine is cancelled.
boost::asio::awaitable<boost::system::result<std::vector<boost::asio::ip::tcp::endpoint>>>
resolve_addresses(boost::asio::any_io_executor executor, const std::string& host, std::uint16_t port,
                  std::chrono::steady_clock::time_point deadline);

/// The order in which to try a host's addresses (RFC 8305 section 4): families interleaved, IPv6
/// first, each family in the resolver's order (which already sorts by RFC 6724 preference).
std::vector<boost::asio::ip::tcp::endpoint> eyeballs_order(const std::vector<boost::asio::ip::tcp::endpoint>& addresses);

/// When each connection attempt of a race starts. No I/O: the caller reports what happened and
/// asks what to do next.
///
/// Attempt 0 starts at once; each next one `stagger` after the previous start while none has
/// connected, or at once when an attempt fails. The first attempt to connect wins.
class connect_race {
public:
    using clock = std::chrono::steady_clock;
    static constexpr std::chrono::milliseconds default_stagger{250}; ///< RFC 8305's recommended delay

    explicit connect_race(std::size_t attempts, clock::duration stagger = default_stagger);

    /// The attempt to start at `now`, if one is due (call until it returns nullopt).
    std::optional<std::size_t> start_due(clock::time_point now);
    /// When the next attempt becomes due; time_point::max() when none is left to start or the race is won.
    clock::time_point next_start() const noexcept;

    void failed(std::size_t attempt);
    void connected(std::size_t attempt);

    /// The attempt that connected first.
    std::optional<std::size_t> winner() const noexcept { return winner_; }
    /// Every attempt started and failed.
    bool lost() const noexcept { return !winner_ && next_ == attempts_ && running_ == 0; }

private:
    std::size_t attempts_;
    clock::duration stagger_;
    std::size_t next_ = 0;    ///< the next attempt to start
    std::size_t running_ = 0; ///< started, not finished
    clock::time_point due_ = clock::time_point::min();
    std::optional<std::size_t> winner_;
};

/// Connects to one of `addresses` (in the order given: see eyeballs_order) as connect_race says,
/// before `deadline`. The winner comes back connected; the other attempts are cancelled and
/// closed. Errors: net_error::connect_timeout when the deadline passes first, the last attempt's
/// error when all fail (asio::error::host_not_found when there is no address),
/// asio::error::operation_aborted when the calling coroutine is cancelled.
///
/// Use from one thread or a strand: the attempts' completions and the coroutine share state.
boost::asio::awaitable<boost::system::result<boost::asio::ip::tcp::socket>>
race_connect(boost::asio::any_io_executor executor, const std::vector<boost::asio::ip::tcp::endpoint>& addresses,
             std::chrono::steady_clock::time_point deadline,
             std::chrono::steady_clock::duration stagger = connect_race::default_stagger);

} // namespace ferry
