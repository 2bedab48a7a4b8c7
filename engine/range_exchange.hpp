#pragma once

#include "engine/mirror_set.hpp"
#include "engine/response_verdict.hpp"
#include "engine/transfer_context.hpp"
#include "net/connection_pool.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

namespace ferry {

/// One request of a file and how its answer is to be taken.
struct exchange_request {
    std::size_t mirror = 0;
    std::uint64_t begin = 0;
    std::optional<std::uint64_t> end;   ///< exclusive; nullopt: to the end
    bool probing = false;               ///< the file's first request (see request_facts)
    std::optional<std::uint64_t> size;  ///< the file's size when known
    bool size_from_manifest = false;
    /// Extra fields: the conditional ones of a rerun (If-None-Match, If-Modified-Since).
    std::vector<std::pair<std::string, std::string>> fields;
    int priority = 1;                   ///< for the pool's waiters
    bool head_only = false;             ///< HEAD instead of GET (a rerun's conditional check)
    /// A 200 to a range is taken as the file in one stream even where the mirror did ranges
    /// before (they were struck out).
    bool accept_whole_body = false;
    /// Already sent on the connection, ahead of the response before it (send_range_ahead): only
    /// its answer is read. Should that never come, the request goes again on a fresh connection.
    bool sent_ahead = false;
};

/// The request went out and its answer was judged: `verdict` is never `redirect` (redirects are
/// followed). Transport failures (no head at all) are verdicts too: `retry` when transient,
/// `drop_mirror` otherwise (a certificate the mirror cannot prove, say).
struct exchange_result {
    response_verdict verdict;
    std::optional<response_head> head;
    /// From sending the (last) request to reading its head: a round trip plus the server's time
    /// (connecting is not in it). Zero without a head.
    std::chrono::steady_clock::duration first_byte{};
    /// A request sent ahead got no answer on its connection (the server closed it after the
    /// response before): it went again on a fresh one.
    bool sent_ahead_lost = false;
};

/// The verdict on a request that got no answer (or whose body broke off): `retry` when the
/// error is transient (or a cancellation), `drop_mirror` otherwise.
response_verdict transport_verdict(const boost::system::error_code& ec);

/// Sends `request` on `conn` while the body of the response before it is still being read
/// (connection::send_ahead, with at most `depth` requests queued): a range_exchange() with
/// `sent_ahead` set reads its answer. `wait` is about when the server will get to it (the rest of
/// the responses ahead; nullopt: unknown). Fails without sending when the connection cannot take
/// it now, the mirror's signed URL is due to be refreshed by then (or `wait` is unknown), or its
/// host asked for a pause.
boost::asio::awaitable<boost::system::error_code> send_range_ahead(transfer_context& ctx, connection_pool::handle& conn,
                                                                   mirror_set& mirrors, const exchange_request& request,
                                                                   std::optional<std::chrono::steady_clock::duration> wait,
                                                                   std::size_t depth = 1);

/// Makes `conn` a connection to `target`'s origin that can take a request: kept when it is one,
/// else a pooled one (waiting in line while the host is at its limit).
boost::asio::awaitable<boost::system::error_code> ready_connection(transfer_context& ctx, connection_pool::handle& conn,
                                                                   const url& target, int priority);

/// Sends one request on `conn` (acquiring a pooled connection to the mirror's current URL when
/// `conn` is empty, stale or to another origin), follows redirects, retries once on a fresh
/// connection when a kept-alive one turns out closed, and judges the answer. On `accept` the
/// body is ready to be read from `conn`; otherwise the connection is either left reusable (a
/// small body read to its end) or poisoned. Updates `mirrors` (redirect targets, fresh signed
/// URLs) and tells the pool what the host did (circuit breaker, Retry-After holds). Sets no
/// flags: everything is in the result. When a redirect leads away from `conn` while requests
/// sent ahead behind this one wait on it (the files in line), `conn` goes to `*left_behind`
/// (their answers come next on it) rather than back to the pool, which would close it.
boost::asio::awaitable<exchange_result> range_exchange(transfer_context& ctx, connection_pool::handle& conn,
                                                       mirror_set& mirrors, const exchange_request& request,
                                                       connection_pool::handle* left_behind = nullptr);

} // namespace ferry
