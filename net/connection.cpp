#include "net/connection.hpp"

#include "net/error.hpp"

#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace ferry {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using asio::ip::tcp;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t header_limit = 64 * 1024;
constexpr std::size_t field_count_limit = 100;

bool is_ip_literal(const std::string& host) {
    error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

} // namespace

struct connection::impl {
    impl(asio::any_io_executor ex, asio::ssl::context* tls, const connection_timeouts& t)
        : executor(ex), timeouts(t) {
        if (tls)
            secure.emplace(ex, *tls);
        else
            plain.emplace(ex);
    }

    beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

    /// Sets the deadline for a step; the next body read re-arms the stall timer.
    void expire_after(std::chrono::milliseconds limit) {
        lowest().expires_after(limit);
        stall_armed_at = {};
    }

    void disarm() {
        lowest().expires_never();
        stall_armed_at = {};
    }

    /// Body reads come in 16 KiB TLS records: re-arming the timer for each would cost a syscall
    /// each. Re-arm once a quarter of the stall timeout has passed instead, so a stall is noticed
    /// after between 3/4 and all of the timeout.
    void arm_stall_timer() {
        auto now = std::chrono::steady_clock::now();
        if (now - stall_armed_at >= timeouts.stall / 4) {
            lowest().expires_after(timeouts.stall);
            stall_armed_at = now;
        }
    }

    /// Runs `f` with whichever stream this connection has; both give the same awaitable type.
    template <class F>
    auto with_stream(F&& f) {
        return secure ? f(*secure) : f(*plain);
    }

    asio::any_io_executor executor;
    connection_timeouts timeouts;
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
    beast::flat_buffer buffer{header_limit + 16 * 1024};
    std::optional<http::response_parser<http::buffer_body>> parser;
    // Body state of the current response.
    std::optional<std::uint64_t> remaining; ///< fast path: bytes left of a Content-Length body
    bool body_done = true;
    bool keep_alive = false;
    std::chrono::steady_clock::time_point stall_armed_at{};
};

connection::connection(std::unique_ptr<impl> impl) : impl_(std::move(impl)) {}
connection::~connection() = default;

asio::awaitable<boost::system::result<std::unique_ptr<connection>>>
connection::open(asio::any_io_executor executor, const url& where, asio::ssl::context& tls,
                 SSL_SESSION* resume, const connection_timeouts& timeouts) {
    using namespace asio::experimental::awaitable_operators;
    auto state = std::make_unique<impl>(executor, where.tls() ? &tls : nullptr, timeouts);

    // Resolve and connect within one deadline.
    tcp::resolver resolver(executor);
    asio::steady_timer deadline(executor, timeouts.connect);
    auto resolved = co_await (resolver.async_resolve(where.host, std::to_string(where.port), use_nothrow) ||
                              deadline.async_wait(use_nothrow));
    if (resolved.index() == 1)
        co_return make_error_code(net_error::connect_timeout);
    auto [resolve_error, endpoints] = std::get<0>(resolved);
    if (resolve_error)
        co_return resolve_error;

    auto& tcp_layer = state->lowest();
    tcp_layer.expires_at(deadline.expiry());
    auto [connect_error, endpoint] = co_await tcp_layer.async_connect(endpoints, use_nothrow);
    if (connect_error)
        co_return connect_error == beast::error::timeout ? make_error_code(net_error::connect_timeout)
                                                         : connect_error;
    tcp_layer.socket().set_option(tcp::no_delay(true));

    bool resumed = false;
    if (state->secure) {
        SSL* ssl = state->secure->native_handle();
        // Verify the peer's name natively, so failures carry OpenSSL's precise reason.
        if (is_ip_literal(where.host)) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), where.host.c_str());
        } else {
            SSL_set_tlsext_host_name(ssl, where.host.c_str()); // SNI
            SSL_set1_host(ssl, where.host.c_str());
        }
        if (resume)
            SSL_set_session(ssl, resume);
        tcp_layer.expires_after(timeouts.handshake);
        auto [handshake_error] = co_await state->secure->async_handshake(asio::ssl::stream_base::client, use_nothrow);
        if (handshake_error) {
            long verify = SSL_get_verify_result(ssl);
            if (verify != X509_V_OK)
                co_return make_verify_error(verify);
            co_return handshake_error == beast::error::timeout ? make_error_code(net_error::handshake_timeout)
                                                               : handshake_error;
        }
        resumed = SSL_session_reused(ssl) == 1;
    }
    tcp_layer.expires_never();

    std::unique_ptr<connection> conn(new connection(std::move(state)));
    conn->origin_ = where.origin();
    conn->resumed_ = resumed;
    co_return conn;
}

asio::awaitable<error_code> connection::send(const url& target, const http_request& request) {
    http::request<http::empty_body> req{http::string_to_verb(request.method), target.target, 11};
    req.set(http::field::host, target.host_header());
    req.set(http::field::user_agent, "ferry/0.1");
    for (auto& [name, value] : request.fields)
        req.set(name, value);

    auto& p = impl_->parser.emplace();
    p.header_limit(header_limit);
    p.body_limit(boost::none);
    if (req.method() == http::verb::head)
        p.skip(true);
    impl_->remaining.reset();
    impl_->body_done = false;
    ++requests_;

    impl_->expire_after(impl_->timeouts.stall);
    auto [ec, n] = co_await impl_->with_stream(
        [&](auto& stream) { return http::async_write(stream, req, use_nothrow); });
    if (ec) {
        broken_ = true;
        co_return ec == beast::error::timeout ? make_error_code(net_error::stall_timeout) : ec;
    }
    co_return error_code{};
}

asio::awaitable<boost::system::result<response_head>> connection::read_head() {
    auto& p = *impl_->parser;
    impl_->expire_after(impl_->timeouts.first_byte);
    auto [ec, n] = co_await impl_->with_stream(
        [&](auto& stream) { return http::async_read_header(stream, impl_->buffer, p, use_nothrow); });
    if (ec) {
        broken_ = true;
        co_return ec == beast::error::timeout ? make_error_code(net_error::first_byte_timeout) : ec;
    }

    const auto& res = p.get();
    if (static_cast<std::size_t>(std::distance(res.begin(), res.end())) > field_count_limit) {
        broken_ = true;
        co_return make_error_code(http::error::header_limit);
    }
    response_head head;
    head.status = res.result_int();
    head.chunked = p.chunked();
    head.keep_alive = p.keep_alive();
    if (auto length = p.content_length())
        head.content_length = *length;
    auto field = [&](http::field f) { return std::string(res[f]); };
    head.content_range = field(http::field::content_range);
    head.etag = field(http::field::etag);
    head.last_modified = field(http::field::last_modified);
    head.location = field(http::field::location);
    head.retry_after = field(http::field::retry_after);
    head.accept_ranges = field(http::field::accept_ranges);

    impl_->keep_alive = head.keep_alive;
    if (p.is_done())
        impl_->body_done = true;
    else if (head.content_length && !head.chunked)
        impl_->remaining = *head.content_length; // fast path: straight from the socket
    co_return head;
}

asio::awaitable<boost::system::result<std::size_t>> connection::read_body(void* data, std::size_t size) {
    auto& st = *impl_;
    if (st.body_done || size == 0)
        co_return std::size_t{0};

    if (st.remaining) {
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size, *st.remaining));
        std::size_t got = 0;
        if (st.buffer.size() > 0) {
            // Body bytes that arrived with the head.
            got = std::min(want, st.buffer.size());
            std::memcpy(data, st.buffer.data().data(), got);
            st.buffer.consume(got);
        } else {
            st.arm_stall_timer();
            auto [ec, n] = co_await st.with_stream([&](auto& stream) {
                return stream.async_read_some(asio::buffer(data, want), use_nothrow);
            });
            if (ec && n == 0) {
                broken_ = true;
                if (ec == beast::error::timeout)
                    co_return make_error_code(net_error::stall_timeout);
                if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
                    co_return make_error_code(net_error::body_too_short);
                co_return ec;
            }
            got = n;
        }
        *st.remaining -= got;
        if (*st.remaining == 0) {
            st.body_done = true;
            st.disarm();
        }
        co_return got;
    }

    // Chunked or close-delimited bodies go through Beast's parser.
    auto& p = *st.parser;
    for (;;) {
        p.get().body().data = data;
        p.get().body().size = size;
        p.get().body().more = true;
        st.arm_stall_timer();
        auto [ec, n] = co_await st.with_stream(
            [&](auto& stream) { return http::async_read(stream, st.buffer, p, use_nothrow); });
        std::size_t got = size - p.get().body().size;
        if (ec == http::error::need_buffer)
            ec = {};
        if (ec) {
            broken_ = true;
            if (ec == beast::error::timeout)
                co_return make_error_code(net_error::stall_timeout);
            if (ec == http::error::partial_message || ec == asio::ssl::error::stream_truncated)
                co_return make_error_code(net_error::body_too_short);
            co_return ec;
        }
        if (p.is_done()) {
            st.body_done = true;
            st.disarm();
        }
        if (got > 0 || st.body_done)
            co_return got;
    }
}

asio::awaitable<void> connection::discard_body(std::size_t limit) {
    if (impl_->body_done)
        co_return;
    if (impl_->remaining && *impl_->remaining > limit) {
        broken_ = true;
        co_return;
    }
    char scratch[16 * 1024];
    std::size_t total = 0;
    while (total <= limit) {
        auto n = co_await read_body(scratch, sizeof scratch);
        if (!n || *n == 0)
            co_return;
        total += *n;
    }
    broken_ = true;
}

bool connection::reusable() const noexcept {
    return !broken_ && impl_->body_done && impl_->keep_alive && impl_->buffer.size() == 0 &&
           impl_->lowest().socket().is_open();
}

std::optional<std::uint64_t> connection::body_remaining() const noexcept {
    if (impl_->body_done)
        return 0;
    return impl_->remaining;
}

SSL_SESSION* connection::take_session() const {
    return impl_->secure ? SSL_get1_session(impl_->secure->native_handle()) : nullptr;
}

void connection::close() noexcept {
    broken_ = true;
    error_code ignored;
    impl_->lowest().socket().close(ignored);
}

} // namespace ferry
