// The per-connection coroutine of the origin. The only translation unit of ferry_origin that
// instantiates Beast's HTTP templates.
#include "tools/origin/origin_connection.hpp"

#include "tools/origin/connection_watchdog.hpp"
#include "tools/origin/hub_api.hpp"
#include "tools/origin/response_plan.hpp"
#include "tools/origin/signed_url.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <memory>

namespace ferry::origin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t request_header_limit = 64 * 1024;
/// The body of the one request with a body the origin reads (the Hub's paths-info POST).
constexpr std::size_t request_body_limit = 1024 * 1024;
constexpr std::chrono::seconds handshake_timeout{15};
constexpr std::chrono::seconds lingering_close{2};
constexpr std::size_t extra_chunk = 16 * 1024;

struct open_connection {
    stats_recorder& stats;
    std::uint64_t id;
    explicit open_connection(stats_recorder& s) : stats(s), id(s.connection_opened()) {}
    ~open_connection() { stats.connection_closed(); }
    open_connection(const open_connection&) = delete;
    open_connection& operator=(const open_connection&) = delete;
};

std::string now_http_date() {
    return http_date(std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count());
}

/// Orderly close: our FIN goes after the last byte, and the peer's remaining bytes are read (for a
/// moment) so that closing does not send a reset that could destroy data still in flight to it.
asio::awaitable<void> close_gently(tcp::socket& socket, connection_watchdog& watchdog) {
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    watchdog.expires_after(lingering_close);
    std::array<char, 4096> sink;
    for (;;) {
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(sink), use_nothrow);
        if (ec)
            break;
    }
    socket.close(ignored);
}

/// A fault's drop: the body stops here and the connection is gone (no TLS close_notify).
void drop(tcp::socket& socket) {
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
}

/// A fault's stall: nothing more is sent; the socket stays open until the peer gives up.
asio::awaitable<void> wait_for_peer_to_close(tcp::socket& socket, connection_watchdog& watchdog) {
    watchdog.expires_never();
    std::array<char, 4096> sink;
    for (;;) {
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(sink), use_nothrow);
        if (ec)
            break;
    }
    error_code ignored;
    socket.close(ignored);
}

/// Whether the TLS layer holds bytes of the peer not handed out yet (records read ahead): the
/// next request of a client that sent several at once may wait there rather than in the socket.
template <class Stream>
bool tls_holds_input(Stream& stream) {
    if constexpr (requires { SSL_has_pending(stream.native_handle()); })
        return SSL_has_pending(stream.native_handle()) == 1;
    else
        return false;
}

/// One connection's request loop, over TLS or plain TCP.
template <class Stream>
class http_session {
public:
    http_session(Stream& stream, connection_watchdog& watchdog, const origin_state& state, std::uint64_t id)
        : stream_(stream), socket_(beast::get_lowest_layer(stream)), watchdog_(watchdog), state_(state), id_(id),
          chunk_(std::make_unique_for_overwrite<std::byte[]>(std::max<std::size_t>(state.config.chunk_size, 1024))),
          timer_(stream.get_executor()) {}

    asio::awaitable<void> run() {
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(request_header_limit);
            parser.body_limit(boost::none); // checked in respond(), which answers 413 rather than hang up
            watchdog_.expires_after(state_.config.idle_timeout);
            auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, use_nothrow);
            if (ec)
                co_return; // the peer closed, went idle, or sent garbage
            if (!co_await respond(parser))
                co_return;
            // The next request is already here: the client sent it before this response ended.
            boost::system::error_code ignored;
            if (buffer_.size() > 0 || socket_.available(ignored) > 0 || tls_holds_input(stream_))
                state_.stats.request_sent_ahead();
        }
    }

private:
    /// Answers one request; false when the connection is over.
    asio::awaitable<bool> respond(http::request_parser<http::string_body>& parser) {
        const auto& req = parser.get();
        auto target = std::string_view(req.target().data(), req.target().size());
        auto field = [&req](http::field f) { return std::string_view(req[f].data(), req[f].size()); };
        auto path = decode_target_path(target);

        // Requests the origin does not serve get a status through the same path as a fault's. The
        // only body it reads is that of a Hub POST (paths-info), bounded.
        std::optional<fault> f;
        bool has_body = parser.chunked() || parser.content_length().value_or(0) > 0;
        const bool hub_post = req.method() == http::verb::post && state_.config.hub && path &&
                              hub_takes_post(*state_.config.hub, target);
        if (hub_post && parser.content_length().value_or(0) > request_body_limit) {
            f = fault{.status = 413, .close = true};
        } else if (hub_post && has_body) {
            parser.body_limit(request_body_limit); // a chunked body counts as it comes
            watchdog_.expires_after(state_.config.idle_timeout);
            auto [ec, n] = co_await http::async_read(stream_, buffer_, parser, use_nothrow);
            if (ec == http::error::body_limit)
                f = fault{.status = 413, .close = true};
            else if (ec)
                co_return false;
        }
        const bool served_method = req.method() == http::verb::get || req.method() == http::verb::head || hub_post;
        if (!f && !served_method)
            f = fault{.status = 405, .close = true};
        else if (!f && ((has_body && !hub_post) || !path))
            f = fault{.status = 400, .close = true};
        bool faulted = false;
        bool signed_valid = false;
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        if (!f) {
            auto query = target.find('?') == std::string_view::npos ? std::string_view{}
                                                                     : target.substr(target.find('?') + 1);
            auto check = check_signed_query(query, *path, now, state_.config.signing_secret);
            bool presigned = check.verdict != signature_verdict::unsigned_request;
            signed_valid = check.verdict == signature_verdict::valid;
            if (presigned)
                state_.stats.signed_request(check.verdict == signature_verdict::valid,
                                            check.verdict == signature_verdict::expired);
            if (presigned && check.verdict != signature_verdict::valid)
                f = signed_refusal(check);
            else if ((f = state_.faults.match(*path, presigned, id_)))
                faulted = true;
            if (f && f->signed_redirect) {
                f = signed_redirect_answer(*f, target, *path, field(http::field::host), state_.tls != nullptr, now,
                                           state_.config.signing_secret);
                state_.stats.signed_redirect_issued();
            }
        }

        // Hub mode: its paths answer from the hub catalog (a fault's status still comes first).
        std::optional<hub_answer> hub;
        if (state_.config.hub && path && !(f && f->status)) {
            hub = answer_hub(*state_.config.hub,
                             {.method = std::string_view(req.method_string().data(), req.method_string().size()),
                              .target = target,
                              .range = field(http::field::range),
                              .content_type = field(http::field::content_type),
                              .body = req.body(),
                              .host = field(http::field::host),
                              .authorization = field(http::field::authorization),
                              .tls = state_.tls != nullptr,
                              .signed_valid = signed_valid,
                              .now = now,
                              .signing_secret = state_.config.signing_secret,
                              .request_id = "ferry-" + std::to_string(id_) + "-" + std::to_string(++requests_)});
            if (hub && !hub->file) {
                fault answer = f.value_or(fault{});
                answer.status = hub->status;
                answer.text = std::move(hub->body);
                answer.text_type = std::move(hub->content_type);
                f = std::move(answer);
            }
        }

        std::optional<content> file;
        if (hub) {
            if (hub->file && hub->whole_body) {
                if (!f)
                    f = fault{};
                f->ignore_range = true;
            }
            file = std::move(hub->file);
        } else if (path && !(f && f->status)) {
            file = state_.catalog.find(*path);
        }
        // Another version of the bytes than the one listed: a CDN serving stale content.
        if (file && f && f->version)
            file = file->with_version(f->version);
        request_facts facts;
        facts.head = req.method() == http::verb::head;
        facts.keep_alive = req.keep_alive();
        facts.http10 = req.version() == 10;
        facts.range = field(http::field::range);
        facts.if_range = field(http::field::if_range);
        facts.if_none_match = field(http::field::if_none_match);
        facts.if_modified_since = field(http::field::if_modified_since);
        auto plan = plan_response(facts, file ? &*file : nullptr, f ? &*f : nullptr,
                                  state_.config.rate_per_connection);
        if (hub)
            plan.fields = std::move(hub->fields);

        request_record record;
        record.connection = id_;
        record.method = std::string(req.method_string());
        record.target = std::string(target);
        record.path = path.value_or(std::string());
        record.host = field(http::field::host);
        record.range = facts.range;
        record.if_range = facts.if_range;
        record.authorization = field(http::field::authorization);
        record.cookie = field(http::field::cookie);
        record.if_none_match = facts.if_none_match;
        record.if_modified_since = facts.if_modified_since;
        record.accept_encoding = field(http::field::accept_encoding);
        record.proxy_authorization = field(http::field::proxy_authorization);
        record.received = std::chrono::steady_clock::now();
        record.status = plan.status;
        record.faulted = faulted;
        state_.stats.request(std::move(record));

        co_return co_await send(plan, file ? &*file : nullptr);
    }

    asio::awaitable<bool> send(const response_plan& plan, const content* file) {
        if (plan.delay.count() > 0)
            co_await wait(plan.delay);
        head_.clear();
        format_head(plan, now_http_date(), head_);
        if (plan.send_body && !plan.body_from_content)
            head_ += plan.text; // small: one write with the head
        if (!co_await write(asio::buffer(head_)))
            co_return false;

        if (plan.send_body && plan.body_from_content) {
            std::uint64_t stop = std::min(plan.drop_after.value_or(plan.length), plan.stall_after.value_or(plan.length));
            std::uint64_t pause_at = std::min(plan.pause_at.value_or(stop), stop);
            if (!co_await send_content(*file, plan.offset, pause_at, plan.rate))
                co_return false;
            if (plan.pause_at && pause_at < stop) {
                // Pacing starts again after the pause: the client sees the rate, then silence.
                co_await wait(plan.pause);
                if (!co_await send_content(*file, plan.offset + pause_at, stop - pause_at, plan.rate))
                    co_return false;
            }
            if (plan.drop_after) {
                drop(socket_);
                co_return false;
            }
            if (plan.stall_after) {
                co_await wait_for_peer_to_close(socket_, watchdog_);
                co_return false;
            }
        }
        if (plan.send_body && plan.extra_bytes && !co_await send_extra(plan.extra_bytes))
            co_return false;
        if (plan.close_after) {
            co_await close_gently(socket_, watchdog_);
            co_return false;
        }
        co_return true;
    }

    /// Streams content bytes [offset, offset + length), paced to `rate` bytes/s when nonzero: the
    /// piece that would end at byte B leaves no earlier than B / rate after the start, so there is
    /// never a burst above the rate.
    asio::awaitable<bool> send_content(const content& file, std::uint64_t offset, std::uint64_t length,
                                       std::uint64_t rate) {
        const std::size_t chunk = std::max<std::size_t>(state_.config.chunk_size, 1024);
        // Paced pieces of about 20 ms keep the flow smooth; slow connections get pieces of at
        // least 1 KiB (a real server sends full segments, not a TLS record per 80 bytes), so
        // thousands of them at a few KB/s do not cost either end a wakeup per few bytes.
        const std::size_t piece = rate ? std::clamp<std::uint64_t>(rate / 50, 1024, chunk) : chunk;
        const auto start = std::chrono::steady_clock::now();
        std::uint64_t sent = 0;
        while (sent < length) {
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(piece, length - sent));
            if (!file.read(offset + sent, {chunk_.get(), n}))
                co_return false; // the file shrank or failed: the client sees a short body
            if (rate) {
                auto due = start + std::chrono::nanoseconds(
                                       static_cast<std::int64_t>(double(sent + n) * 1e9 / double(rate)));
                if (due > std::chrono::steady_clock::now()) {
                    watchdog_.expires_never();
                    timer_.expires_at(due);
                    co_await timer_.async_wait(use_nothrow);
                }
            }
            if (!co_await write(asio::buffer(chunk_.get(), n)))
                co_return false;
            sent += n;
            state_.stats.body_sent(n);
        }
        co_return true;
    }

    asio::awaitable<bool> send_extra(std::uint64_t bytes) {
        std::memset(chunk_.get(), 'x', std::min<std::uint64_t>(bytes, extra_chunk));
        while (bytes) {
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(bytes, extra_chunk));
            if (!co_await write(asio::buffer(chunk_.get(), n)))
                co_return false;
            bytes -= n;
        }
        co_return true;
    }

    /// Sends nothing for `how_long` (a fault), however long the write timeout is.
    asio::awaitable<void> wait(std::chrono::milliseconds how_long) {
        watchdog_.expires_never();
        timer_.expires_after(how_long);
        co_await timer_.async_wait(use_nothrow);
    }

    asio::awaitable<bool> write(asio::const_buffer data) {
        watchdog_.expires_after(state_.config.write_timeout);
        auto [ec, n] = co_await asio::async_write(stream_, data, use_nothrow);
        co_return !ec;
    }

    Stream& stream_;
    tcp::socket& socket_;
    connection_watchdog& watchdog_;
    const origin_state& state_;
    std::uint64_t id_;
    std::uint64_t requests_ = 0; ///< on this connection, for X-Request-Id
    beast::flat_buffer buffer_;
    std::unique_ptr<std::byte[]> chunk_;
    std::string head_;
    asio::steady_timer timer_;
};

} // namespace

asio::awaitable<void> serve_connection(tcp::socket socket, const origin_state& state) {
    open_connection guard(state.stats);
    try {
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        if (!state.tls) {
            connection_watchdog watchdog(socket);
            http_session<tcp::socket> session(socket, watchdog, state, guard.id);
            co_await session.run();
            co_return;
        }
        beast::ssl_stream<tcp::socket> stream(std::move(socket), *state.tls);
        connection_watchdog watchdog(beast::get_lowest_layer(stream));
        watchdog.expires_after(handshake_timeout);
        auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_nothrow);
        if (ec) {
            state.stats.handshake_failed();
            co_return;
        }
        state.stats.handshake_done(SSL_session_reused(stream.native_handle()) == 1);
        http_session<beast::ssl_stream<tcp::socket>> session(stream, watchdog, state, guard.id);
        co_await session.run();
    } catch (const std::exception&) {
        // A failed allocation or similar: this connection ends, the server goes on.
    }
}

} // namespace ferry::origin
