#include "engine/range_exchange.hpp"

#include "net/error.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ferry {

namespace asio = boost::asio;
using kind = response_verdict::kind;

response_verdict transport_verdict(const boost::system::error_code& ec) {
    response_verdict v;
    v.what = is_transient(ec) || ec == asio::error::operation_aborted ? kind::retry : kind::drop_mirror;
    v.error = ec;
    v.discard_connection = true;
    return v;
}

namespace {

response_verdict refused_redirect(boost::system::error_code ec) {
    response_verdict v;
    v.what = kind::drop_mirror;
    v.error = ec;
    return v;
}

http_request make_request(const mirror_set::mirror& m, const exchange_request& r,
                          const std::vector<std::pair<std::string, std::string>>& origin_fields) {
    http_request req;
    if (r.head_only)
        req.method = "HEAD";
    if (r.begin > 0 || r.end)
        req.fields.emplace_back("Range", "bytes=" + std::to_string(r.begin) + "-" +
                                             (r.end ? std::to_string(*r.end - 1) : std::string()));
    // Only for a range: a whole-file request has nothing to keep if the file changed.
    if (r.begin > 0 || r.end) {
        if (!m.etag.empty())
            req.fields.emplace_back("If-Range", m.etag);
        else if (!m.last_modified.empty())
            req.fields.emplace_back("If-Range", m.last_modified);
    }
    for (const auto& field : r.fields)
        req.fields.push_back(field);
    // User headers (credentials among them) go only to the origin the user named: not to a
    // CDN a redirect leads to, nor to another port or scheme of the same host.
    if (m.current().origin() == m.original.origin())
        for (const auto& field : origin_fields)
            req.fields.push_back(field);
    return req;
}

} // namespace

asio::awaitable<boost::system::error_code> send_range_ahead(transfer_context& ctx, connection_pool::handle& conn,
                                                            mirror_set& mirrors, const exchange_request& request,
                                                            std::optional<std::chrono::steady_clock::duration> wait,
                                                            std::size_t depth) {
    const std::size_t i = request.mirror;
    const url& target = mirrors[i].current();
    // A signed URL must still be good when the server gets to the request, after the response
    // ahead of it.
    bool fresh_then = !mirrors[i].expires ||
                      (wait && !mirrors.needs_fresh_url(i, std::chrono::system_clock::now() +
                                                               std::chrono::duration_cast<std::chrono::system_clock::duration>(*wait)));
    if (!conn || conn->origin() != target.origin() || !conn->can_send_ahead(depth) || !fresh_then ||
        ctx.pool.held_until(target.origin()))
        co_return make_error_code(boost::system::errc::operation_not_permitted);
    co_return co_await conn->send_ahead(target, make_request(mirrors[i], request, mirrors.origin_fields), depth);
}

asio::awaitable<boost::system::error_code> ready_connection(transfer_context& ctx, connection_pool::handle& conn,
                                                            const url& target, int priority) {
    if (conn && conn->reusable() && conn->origin() == target.origin())
        co_return boost::system::error_code{};
    conn = {};
    auto acquired = co_await ctx.pool.acquire(target, priority);
    if (!acquired)
        co_return acquired.error();
    conn = std::move(*acquired);
    co_return boost::system::error_code{};
}

asio::awaitable<exchange_result> range_exchange(transfer_context& ctx, connection_pool::handle& conn,
                                                mirror_set& mirrors, const exchange_request& request,
                                                connection_pool::handle* left_behind) {
    const std::size_t i = request.mirror;
    std::chrono::steady_clock::duration first_byte{};
    bool sent_ahead = request.sent_ahead;
    bool sent_ahead_lost = false;
    for (int redirects = 0;; ++redirects) {
        // (A request sent ahead is out already, for the URL it was sent for.)
        if (!sent_ahead && mirrors.needs_fresh_url(i, std::chrono::system_clock::now()))
            mirrors.re_resolve(i);
        const url target = mirrors[i].current();
        // The host asked for a pause (Retry-After, RateLimit): a kept-alive connection waits too.
        std::optional<std::chrono::steady_clock::time_point> until;
        if (!sent_ahead)
            until = ctx.pool.held_until(target.origin());
        if (until) {
            asio::steady_timer pause(ctx.executor, *until);
            auto [ec] = co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
            if (ec)
                co_return exchange_result{transport_verdict(asio::error::operation_aborted), std::nullopt};
        }

        // A kept-alive connection the server closed meanwhile gets one more try on a fresh one.
        // Garbage where the head should start (a previous body longer than announced) is the
        // same: the kept-alive connection is to blame, not this request.
        boost::system::result<response_head> head = make_error_code(net_error::body_too_short);
        std::chrono::steady_clock::time_point sent_at{};
        for (bool fresh_retry_allowed = true;;) {
            bool reused = true;
            if (sent_ahead) {
                // Only its answer is left to read (timed from here: the body before it came first).
                conn.start_request();
                sent_at = std::chrono::steady_clock::now();
                head = co_await conn->read_head();
            } else {
                if (auto ec = co_await ready_connection(ctx, conn, target, request.priority))
                    co_return exchange_result{transport_verdict(ec), std::nullopt};
                reused = conn.reused() || conn->requests_served() > 0;
                conn.start_request();
                sent_at = std::chrono::steady_clock::now();
                auto sent = co_await conn->send(target, make_request(mirrors[i], request, mirrors.origin_fields));
                // (No co_await inside a conditional expression: GCC 12 miscompiles its temporaries.)
                if (sent)
                    head = sent;
                else
                    head = co_await conn->read_head();
            }
            if (head) {
                conn.head_received(head->status);
                first_byte = std::chrono::steady_clock::now() - sent_at;
                break;
            }
            conn->poison();
            conn = {};
            if (sent_ahead && head.error() != asio::error::operation_aborted)
                sent_ahead_lost = true;
            sent_ahead = false;
            bool stale = reused && fresh_retry_allowed && head.error() != asio::error::operation_aborted;
            if (!stale) {
                // (acquire() failures are counted by the pool itself; this request's are ours.)
                if (head.error() != asio::error::operation_aborted)
                    ctx.pool.record_failure(target.origin());
                co_return exchange_result{transport_verdict(head.error()), std::nullopt};
            }
            fresh_retry_allowed = false;
        }

        request_facts asked;
        asked.begin = request.begin;
        asked.end = request.end;
        asked.probing = request.probing;
        asked.redirected = mirrors[i].redirected();
        asked.conditional = !request.fields.empty();
        auto known = mirrors.knowledge(i, request.size, request.size_from_manifest);
        if (request.accept_whole_body)
            known.ranges_seen = false;
        auto verdict = judge_response(asked, known, *head, std::chrono::system_clock::now());

        if (verdict.host_failure)
            ctx.pool.record_failure(target.origin());
        else
            ctx.pool.record_success(target.origin());
        if (verdict.host_pause && *verdict.host_pause > std::chrono::milliseconds::zero())
            ctx.pool.hold_host(target.origin(), std::chrono::steady_clock::now() + *verdict.host_pause);

        if (verdict.what == kind::redirect) {
            co_await conn->discard_body();
            if (redirects + 1 >= ctx.config.max_redirects)
                co_return exchange_result{refused_redirect(make_error_code(net_error::too_many_redirects)), head.value()};
            auto next = resolve_location(target, verdict.location);
            if (!next)
                co_return exchange_result{refused_redirect(next.error()), head.value()};
            if (target.tls() && !next->tls())
                co_return exchange_result{refused_redirect(make_error_code(net_error::redirect_to_http)), head.value()};
            mirrors.redirect(i, std::move(*next), std::chrono::system_clock::now());
            sent_ahead = false;
            if (left_behind && !*left_behind && conn && conn->queued_requests() > 0 && !conn->poisoned())
                *left_behind = std::move(conn);
            continue;
        }

        if (verdict.what != kind::accept) {
            if (verdict.discard_connection)
                conn->poison();
            else
                co_await conn->discard_body();
        }
        co_return exchange_result{std::move(verdict), head.value(), first_byte, sent_ahead_lost};
    }
}

} // namespace ferry
