#include "net/connection.hpp"

#include "net/block_recycler.hpp"
#include "net/error.hpp"
#include "net/happy_eyeballs.hpp"
#include "net/head_parser.hpp"
#include "net/proxy_tunnel.hpp"
#include "net/socket_stream.hpp"

#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
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
constexpr std::size_t head_read_size = 4096; ///< per read while looking for the end of a head

/// Header names and values go on the wire as they are: a line break in one would start a header
/// of its own.
bool safe_field(std::string_view text) {
    return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

} // namespace

struct connection::impl {
    impl(asio::any_io_executor ex, const connection_timeouts& t) : stream(ex), timeouts(t) {}

    /// Body reads come in 16 KiB TLS records: moving the deadline costs a clock read, so it moves
    /// on every read.
    void arm_stall_timer() { stream.set_deadline(timeouts.stall, net_error::stall_timeout); }

    /// Reads more bytes into `buffer`; false at the end of the stream (`ec` says how it ended).
    asio::awaitable<bool> fill(error_code& ec, std::size_t want) {
        auto space = buffer.prepare(want);
        auto n = co_await stream.read_some(space.data(), space.size());
        if (!n) {
            ec = n.error();
            co_return false;
        }
        buffer.commit(*n);
        co_return true;
    }

    socket_stream stream;
    connection_timeouts timeouts;
    beast::basic_flat_buffer<block_recycler<char>> buffer{header_limit + 16 * 1024};
    std::optional<head_parser> parser;
    response_head head; ///< the current response's, filled by `parser`
    // Body state of the current response.
    std::optional<std::uint64_t> remaining; ///< fast path: bytes left of a Content-Length body
    bool body_done = true;
    bool keep_alive = true; ///< until a response says otherwise: a fresh connection may wait idle
};

connection::connection(std::unique_ptr<impl> impl) : impl_(std::move(impl)) {}
connection::~connection() = default;

asio::awaitable<boost::system::result<std::unique_ptr<connection>>>
connection::open(asio::any_io_executor executor, const url& where, asio::ssl::context& tls,
                 SSL_SESSION* resume, const connection_timeouts& timeouts, std::size_t tls_read_ahead,
                 const proxy_endpoint* proxy, host_resolver* resolver) {
    auto state = std::make_unique<impl>(executor, timeouts);

    // Resolve, connect and go through the proxy within one deadline.
    const auto started = std::chrono::steady_clock::now();
    const auto deadline = started + timeouts.connect;
    const std::string& host = proxy ? proxy->host : where.host;
    const std::uint16_t port = proxy ? proxy->port : where.port;
    boost::system::result<std::vector<asio::ip::tcp::endpoint>> addresses;
    if (resolver)
        addresses = co_await resolver->resolve(host, port, deadline);
    else
        addresses = co_await resolve_addresses(executor, host, port, deadline);
    if (!addresses)
        co_return addresses.error();
    auto connected = co_await race_connect(executor, eyeballs_order(*addresses), deadline);
    if (!connected) {
        if (resolver)
            resolver->forget(host, port); // the next connection asks the name again
        co_return connected.error();
    }
    auto& stream = state->stream;
    if (auto ec = stream.adopt(std::move(*connected)))
        co_return ec;
    if (proxy) {
        stream.set_deadline(std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()),
                            net_error::connect_timeout);
        if (auto ec = co_await open_tunnel(executor, stream, *proxy, where, deadline))
            co_return ec;
    }

    const auto connected_at = std::chrono::steady_clock::now();
    bool resumed = false;
    if (where.tls()) {
        stream.set_deadline(timeouts.handshake, net_error::handshake_timeout);
        if (auto ec = co_await stream.handshake(tls.native_handle(), where.host, resume, tls_read_ahead)) {
            long verify = stream.native_handle() ? SSL_get_verify_result(stream.native_handle()) : X509_V_OK;
            if (verify != X509_V_OK)
                co_return make_verify_error(verify);
            co_return ec;
        }
        resumed = SSL_session_reused(stream.native_handle()) == 1;
    }
    stream.clear_deadline();

    std::unique_ptr<connection> conn(new connection(std::move(state)));
    conn->origin_ = where.origin();
    conn->resumed_ = resumed;
    conn->connect_time_ = connected_at - started;
    conn->handshake_time_ = where.tls() ? std::chrono::steady_clock::now() - connected_at
                                        : std::chrono::steady_clock::duration::zero();
    if (proxy && proxy->kind == proxy_kind::http && !where.tls()) {
        conn->absolute_form_ = true;
        if (proxy->has_credentials)
            conn->proxy_authorization_ = basic_credentials(proxy->username, proxy->password);
    }
    co_return conn;
}

boost::system::result<std::string> connection::request_text(const url& target, const http_request& request) const {
    std::string text;
    text.reserve(256);
    text.append(request.method).append(" ");
    if (absolute_form_)
        text.append(target.scheme).append("://").append(target.host_header());
    text.append(target.target).append(" HTTP/1.1\r\n");
    text.append("Host: ").append(target.host_header()).append("\r\n");
    text.append("User-Agent: ferry/0.1\r\n");
    // The bytes as stored: ranges and sizes refer to them, not to a compressed rendition.
    text.append("Accept-Encoding: identity\r\n");
    if (!proxy_authorization_.empty())
        text.append("Proxy-Authorization: ").append(proxy_authorization_).append("\r\n");
    for (auto& [name, value] : request.fields) {
        if (name.empty() || !safe_field(name) || !safe_field(value))
            return make_error_code(boost::system::errc::invalid_argument);
        if (beast::iequals(name, "Accept-Encoding"))
            continue;
        text.append(name).append(": ").append(value).append("\r\n");
    }
    text.append("\r\n");
    return text;
}

void connection::start_response(bool head_only) {
    impl_->head = response_head{};
    impl_->parser.emplace(impl_->head, head_only, std::uint32_t(header_limit));
    impl_->remaining.reset();
    impl_->body_done = false;
}

asio::awaitable<error_code> connection::write_request(const std::string& text) {
    ++requests_;
    impl_->stream.set_deadline(impl_->timeouts.stall, net_error::stall_timeout);
    if (auto ec = co_await impl_->stream.write_all(text.data(), text.size())) {
        broken_ = true;
        co_return ec;
    }
    co_return error_code{};
}

asio::awaitable<error_code> connection::send(const url& target, const http_request& request) {
    auto text = request_text(target, request);
    if (!text)
        co_return text.error();
    start_response(request.method == "HEAD");
    co_return co_await write_request(*text);
}

bool connection::can_send_ahead(std::size_t depth) const noexcept {
    const auto& st = *impl_;
    if (queued_ == 0 && reusable())
        return depth > 0; // nothing ahead: it goes at once
    return !broken_ && queued_ < std::min<std::size_t>(depth, 8) && st.keep_alive &&
           (queued_ > 0 || (!st.body_done && st.remaining)) && !st.head.chunked && st.stream.is_open();
}

asio::awaitable<error_code> connection::send_ahead(const url& target, const http_request& request, std::size_t depth) {
    if (!can_send_ahead(depth))
        co_return make_error_code(boost::system::errc::operation_not_permitted);
    auto text = request_text(target, request);
    if (!text)
        co_return text.error();
    if (request.method == "HEAD")
        queued_heads_ |= static_cast<std::uint8_t>(1u << queued_);
    ++queued_;
    co_return co_await write_request(*text);
}

asio::awaitable<boost::system::result<response_head>> connection::read_head() {
    auto& st = *impl_;
    if (queued_ > 0) {
        // The first request sent ahead: its response starts where the last body ended.
        if (!st.body_done) {
            broken_ = true;
            co_return make_error_code(boost::system::errc::operation_not_permitted);
        }
        start_response(queued_heads_ & 1u);
        queued_heads_ >>= 1;
        --queued_;
    }
    auto& p = *st.parser;
    st.stream.set_deadline(st.timeouts.first_byte, net_error::first_byte_timeout);
    // The parser needs the whole head in one piece: gather it in `buffer`.
    for (;;) {
        error_code ec;
        if (st.buffer.size() > 0) {
            st.buffer.consume(p.put(st.buffer.data(), ec));
            if (p.is_header_done())
                break;
            if (ec && ec != http::error::need_more) {
                broken_ = true;
                co_return ec;
            }
        }
        // Thousands of connections wait for their responses: none holds a buffer meanwhile.
        // (`ec` may still say need_more from a head that came in pieces.)
        ec = {};
        if (st.buffer.size() == 0)
            ec = co_await st.stream.wait_readable();
        if (ec || !co_await st.fill(ec, head_read_size)) {
            broken_ = true;
            co_return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated
                ? make_error_code(http::error::partial_message)
                : ec;
        }
    }

    auto& head = st.head;
    head.chunked = p.chunked();
    head.keep_alive = p.keep_alive();
    if (auto length = p.content_length())
        head.content_length = *length;
    st.keep_alive = head.keep_alive;
    if (st.buffer.size() == 0)
        st.buffer.shrink_to_fit(); // thousands of slow connections: no idle head buffer each
    if (p.is_done()) {
        // No body (416, 304, a redirect, an empty file): no deadline is left to watch, and a
        // pending one would keep the io_context busy until it expired.
        st.body_done = true;
        st.stream.clear_deadline();
    } else if (head.content_length && !head.chunked)
        st.remaining = *head.content_length; // fast path: straight from the socket
    co_return std::move(head);
}

asio::awaitable<boost::system::result<std::size_t>> connection::read_body(void* data, std::size_t size) {
    auto& st = *impl_;
    if (st.body_done || size == 0)
        co_return std::size_t{0};

    auto body_error = [this](const error_code& ec) {
        broken_ = true;
        if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
            ec == http::error::partial_message)
            return make_error_code(net_error::body_too_short);
        return ec;
    };

    if (st.remaining) {
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size, *st.remaining));
        std::size_t got = 0;
        if (st.buffer.size() > 0) {
            // Body bytes that arrived with the head.
            got = std::min(want, st.buffer.size());
            std::memcpy(data, st.buffer.data().data(), got);
            st.buffer.consume(got);
            if (st.buffer.size() == 0)
                st.buffer.shrink_to_fit();
        } else {
            st.arm_stall_timer();
            auto n = co_await st.stream.read_some(data, want);
            if (!n)
                co_return body_error(n.error());
            got = *n;
        }
        *st.remaining -= got;
        if (*st.remaining == 0) {
            st.body_done = true;
            st.stream.clear_deadline();
        }
        co_return got;
    }

    // Chunked or close-delimited bodies go through Beast's parser.
    auto& p = *st.parser;
    for (;;) {
        error_code ec;
        if (st.buffer.size() > 0) {
            p.body_into(data, size);
            st.buffer.consume(p.put(st.buffer.data(), ec));
            std::size_t got = p.body_copied();
            if (ec && ec != http::error::need_more && ec != http::error::need_buffer)
                co_return body_error(ec);
            if (p.is_done()) {
                st.body_done = true;
                st.stream.clear_deadline();
            }
            if (got > 0 || st.body_done)
                co_return got;
        }
        st.arm_stall_timer();
        if (!co_await st.fill(ec, 16 * 1024)) {
            if (ec != asio::error::eof && ec != asio::ssl::error::stream_truncated)
                co_return body_error(ec);
            // The end of the stream ends a close-delimited body; anything else is cut short.
            p.put_eof(ec);
            if (ec)
                co_return body_error(ec);
            st.body_done = true;
            st.stream.clear_deadline();
            co_return std::size_t{0};
        }
    }
}

std::optional<std::chrono::microseconds> connection::round_trip_time() const noexcept {
    return impl_->stream.round_trip_time();
}

void connection::limit_receive_window(std::size_t bytes) noexcept {
    auto change = bytes > receive_window_ ? bytes - receive_window_ : receive_window_ - bytes;
    if (receive_window_ != 0 && change <= receive_window_ / 8)
        return;
    receive_window_ = bytes;
    impl_->stream.set_receive_buffer(bytes);
}

bool connection::body_ready() {
    auto& st = *impl_;
    return st.body_done || st.buffer.size() > 0 || st.stream.readable_now();
}

namespace {
asio::awaitable<error_code> nothing_to_wait_for() {
    co_return error_code{};
}
} // namespace

asio::awaitable<error_code> connection::wait_body() {
    auto& st = *impl_;
    if (st.body_done || st.buffer.size() > 0)
        return nothing_to_wait_for();
    st.arm_stall_timer();
    return st.stream.wait_readable();
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
    return !broken_ && queued_ == 0 && impl_->body_done && impl_->keep_alive &&
           impl_->buffer.size() == 0 && impl_->stream.is_open();
}

std::string_view response_head::extension(std::string_view name) const noexcept {
    for (const auto& [field, value] : extension_fields)
        if (beast::iequals(field, name))
            return value;
    return {};
}

std::optional<std::uint64_t> connection::body_remaining() const noexcept {
    if (impl_->body_done)
        return 0;
    return impl_->remaining;
}

SSL_SESSION* connection::take_session() const {
    SSL* ssl = impl_->stream.native_handle();
    return ssl ? SSL_get1_session(ssl) : nullptr;
}

void connection::close() noexcept {
    broken_ = true;
    impl_->stream.close();
}

} // namespace ferry
