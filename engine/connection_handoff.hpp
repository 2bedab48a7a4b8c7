#pragma once

#include "engine/mirror_set.hpp"
#include "engine/range_exchange.hpp"
#include "engine/transfer_context.hpp"
#include "net/connection_pool.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace ferry {

/// A connection passed from a file's last response to the next file of the same origin, with
/// that file's first request sent ahead on it (HTTP/1.1 pipelining across files): on a long path
/// the next file's answer follows the last bytes of the one before instead of a round trip later.
///
/// A connection carries a *line* of them, in the order their requests went out: its holder sends
/// each offered request ahead (send_ahead) while its own last response arrives, then passes the
/// connection with the rest of the line to the first (settle), which reads its answer, and so on.
/// The successor offers its first request (offer) and waits (take) until it is settled: with the
/// connection (only its answer left to read) and the line behind it, or with nothing (it then asks
/// the pool as usual: its predecessor failed or ended first, or nothing went ahead). A successor
/// that goes away abandons its place: a request sent for it is never answered, so the connection
/// is closed rather than passed on, and the line behind it ends empty.
///
/// Lives on the engine's strand; shared by the two transfers (and the engine, which counts the
/// files started early).
class connection_handoff {
public:
    using line = std::vector<std::shared_ptr<connection_handoff>>;

    explicit connection_handoff(boost::asio::any_io_executor executor)
        : signal_(executor, boost::asio::steady_timer::time_point::max()), offered_(executor) {}

    // The successor's side.
    /// The request to send ahead, for `mirrors` (which must stay until take() returns).
    void offer(mirror_set& mirrors, const exchange_request& request);
    /// Waits to be settled; true when the request went ahead on the connection now in `into`,
    /// with the rest of the line in `rest`. Abandons when cancelled.
    boost::asio::awaitable<bool> take(connection_pool::handle& into, line& rest);
    /// The round trip of the path, as the file before measured it (its answer, coming right
    /// after the response before, cannot tell).
    std::optional<std::chrono::steady_clock::duration> round_trip() const noexcept { return round_trip_; }
    void abandon() noexcept;

    // The holder's side.
    /// Waits up to `limit` for the successor to offer its request (at once when it has, or is
    /// over).
    boost::asio::awaitable<void> wait_offer(std::chrono::steady_clock::duration limit);
    /// Whether an offered request waits to be sent ahead.
    bool wants_sending() const noexcept { return request_ && !sent_on_ && !abandoned_ && !settled_; }
    bool sent() const noexcept { return sent_on_ != nullptr; }
    /// The connection the request went ahead on (nullptr: not sent).
    const connection* sent_on() const noexcept { return sent_on_; }
    /// Over: settled or abandoned.
    bool over() const noexcept { return settled_ || abandoned_; }
    /// Sends the offered request ahead on `conn` (send_range_ahead, behind at most `depth` - 1
    /// others; `wait`: until the server gets to it); true when it went.
    boost::asio::awaitable<bool> send_ahead(transfer_context& ctx, connection_pool::handle& conn,
                                            std::optional<std::chrono::steady_clock::duration> wait, std::size_t depth);
    /// Hands `conn`, on which the request went ahead and now comes next, to the successor with the
    /// `rest` of the line behind it and the path's `round_trip`; closes it and ends the rest when
    /// the successor is gone.
    void settle(connection_pool::handle& conn, line rest, std::optional<std::chrono::steady_clock::duration> round_trip);
    /// Ends it without a connection (idempotent).
    void settle_empty() noexcept;

private:
    boost::asio::steady_timer signal_;  ///< cancelled when settled
    boost::asio::steady_timer offered_; ///< cancelled when offered (wait_offer)
    mirror_set* mirrors_ = nullptr;
    std::optional<exchange_request> request_;
    const connection* sent_on_ = nullptr;
    connection_pool::handle conn_;
    line rest_;
    std::optional<std::chrono::steady_clock::duration> round_trip_;
    bool settled_ = false;
    bool abandoned_ = false;
};

/// Settles every handoff of `l` empty and clears it.
void end_line(connection_handoff::line& l) noexcept;

} // namespace ferry
