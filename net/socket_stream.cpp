#include "net/socket_stream.hpp"

#include <cerrno>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace ferry {

namespace asio = boost::asio;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

bool is_ip_literal(const std::string& host) {
    error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

} // namespace

/// The deadline's timer. Completion handlers share it, so one that was already queued when the
/// stream went away finds `socket` null instead of a dangling stream.
struct socket_stream::watchdog : std::enable_shared_from_this<watchdog> {
    explicit watchdog(asio::any_io_executor ex) : timer(ex) {}

    void on_timer(const error_code& ec) {
        if (ec || !socket)
            return; // moved, cancelled, or the stream is gone
        timer_set = false;
        if (deadline == clock_type::time_point::max())
            return;
        if (clock_type::now() < deadline) {
            arm(); // the deadline moved on since the timer was set
            return;
        }
        expired = true;
        error_code ignored;
        socket->cancel(ignored); // the pending wait ends with operation_aborted
    }

    void arm() {
        timer_set = true;
        timer.expires_at(deadline);
        timer.async_wait([self = shared_from_this()](const error_code& ec) { self->on_timer(ec); });
    }

    asio::steady_timer timer;
    asio::ip::tcp::socket* socket = nullptr;
    clock_type::time_point deadline = clock_type::time_point::max();
    net_error error = net_error::stall_timeout;
    bool timer_set = false; ///< a wait is pending, for a time at or before `deadline`
    bool expired = false;
};

socket_stream::socket_stream(asio::any_io_executor executor)
    : socket_(executor), watchdog_(std::make_shared<watchdog>(executor)) {
    watchdog_->socket = &socket_;
}

socket_stream::~socket_stream() {
    watchdog_->socket = nullptr;
    watchdog_->timer.cancel();
    if (ssl_)
        SSL_free(ssl_);
}

void socket_stream::set_deadline(std::chrono::milliseconds limit, net_error error) {
    auto& w = *watchdog_;
    w.deadline = clock_type::now() + limit;
    w.error = error;
    w.expired = false;
    // A pending timer that fires earlier than the new deadline re-arms itself then.
    if (!w.timer_set || w.timer.expiry() > w.deadline)
        w.arm();
}

void socket_stream::clear_deadline() {
    watchdog_->deadline = clock_type::time_point::max();
    watchdog_->expired = false;
}

asio::awaitable<error_code> socket_stream::wait(direction d) {
    if (watchdog_->expired)
        co_return make_error_code(watchdog_->error);
    auto what = d == direction::read ? asio::socket_base::wait_read : asio::socket_base::wait_write;
    auto [ec] = co_await socket_.async_wait(what, use_nothrow);
    if (watchdog_->expired)
        co_return make_error_code(watchdog_->error);
    co_return ec;
}

asio::awaitable<error_code> socket_stream::connect(const asio::ip::tcp::resolver::results_type& endpoints) {
    error_code last = asio::error::host_not_found;
    for (const auto& entry : endpoints) {
        error_code ignored;
        socket_.close(ignored);
        auto [ec] = co_await socket_.async_connect(entry.endpoint(), use_nothrow);
        if (watchdog_->expired)
            co_return make_error_code(watchdog_->error);
        if (!ec) {
            socket_.set_option(asio::ip::tcp::no_delay(true));
            socket_.non_blocking(true);
            co_return error_code{};
        }
        last = ec;
        if (ec == asio::error::operation_aborted)
            break;
    }
    co_return last;
}

error_code socket_stream::tls_failure(int result, direction& d) {
    switch (SSL_get_error(ssl_, result)) {
    case SSL_ERROR_WANT_READ:
        d = direction::read;
        return {};
    case SSL_ERROR_WANT_WRITE:
        d = direction::write;
        return {};
    case SSL_ERROR_ZERO_RETURN:
        return asio::error::eof;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0)
            return errno != 0 ? error_code(errno, asio::error::get_system_category())
                              : error_code(asio::ssl::error::stream_truncated);
        break;
    default:
        break;
    }
    unsigned long code = ERR_get_error();
    if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return asio::ssl::error::stream_truncated;
    return error_code(static_cast<int>(code), asio::error::get_ssl_category());
}

asio::awaitable<error_code> socket_stream::handshake(SSL_CTX* context, const std::string& host,
                                                     SSL_SESSION* resume, std::size_t read_ahead) {
    ssl_ = SSL_new(context);
    if (!ssl_ || SSL_set_fd(ssl_, socket_.native_handle()) != 1)
        co_return error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category());
    // Verify the peer's name natively, so failures carry OpenSSL's precise reason.
    if (is_ip_literal(host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl_, host.c_str()); // SNI
        SSL_set1_host(ssl_, host.c_str());
    }
    if (read_ahead > 0) {
        SSL_set_read_ahead(ssl_, 1);
        SSL_set_default_read_buffer_len(ssl_, read_ahead);
    }
    if (resume)
        SSL_set_session(ssl_, resume);
    SSL_set_connect_state(ssl_);
    for (;;) {
        ERR_clear_error();
        int result = SSL_do_handshake(ssl_);
        if (result == 1)
            co_return error_code{};
        direction d = direction::read;
        if (auto ec = tls_failure(result, d))
            co_return ec;
        if (auto ec = co_await wait(d))
            co_return ec;
    }
}

asio::awaitable<boost::system::result<std::size_t>> socket_stream::read_some(void* data, std::size_t size) {
    for (;;) {
        direction d = direction::read;
        if (ssl_) {
            ERR_clear_error();
            std::size_t got = 0;
            int result = SSL_read_ex(ssl_, data, size, &got);
            if (result == 1)
                co_return got;
            if (auto ec = tls_failure(result, d))
                co_return ec;
        } else {
            error_code ec;
            std::size_t got = socket_.read_some(asio::buffer(data, size), ec);
            if (!ec)
                co_return got;
            if (ec != asio::error::would_block)
                co_return ec;
        }
        if (auto ec = co_await wait(d))
            co_return ec;
    }
}

asio::awaitable<error_code> socket_stream::write_all(const void* data, std::size_t size) {
    auto* next = static_cast<const unsigned char*>(data);
    while (size > 0) {
        direction d = direction::write;
        std::size_t wrote = 0;
        if (ssl_) {
            ERR_clear_error();
            int result = SSL_write_ex(ssl_, next, size, &wrote);
            if (result != 1) {
                if (auto ec = tls_failure(result, d))
                    co_return ec;
                wrote = 0;
            }
        } else {
            error_code ec;
            wrote = socket_.write_some(asio::buffer(next, size), ec);
            if (ec && ec != asio::error::would_block)
                co_return ec;
        }
        next += wrote;
        size -= wrote;
        if (size > 0 && wrote == 0)
            if (auto ec = co_await wait(d))
                co_return ec;
    }
    co_return error_code{};
}

bool socket_stream::is_open() const noexcept { return socket_.is_open(); }

void socket_stream::close() noexcept {
    error_code ignored;
    socket_.close(ignored);
}

} // namespace ferry
