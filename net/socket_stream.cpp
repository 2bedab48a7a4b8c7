#include "net/socket_stream.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace ferry {

namespace asio = boost::asio;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

/// OpenSSL's socket BIO writes with write(2): a peer that closed would raise SIGPIPE and kill a
/// process that embeds the engine. This one sends with MSG_NOSIGNAL (EPIPE instead) and reads
/// with recv(2), through the stream's read-ahead buffer when it has one.
int socket_bio_write(BIO* bio, const char* data, int size) {
    BIO_clear_retry_flags(bio);
    auto& state = *static_cast<socket_stream::bio_state*>(BIO_get_data(bio));
    ssize_t n = ::send(state.fd, data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(bio);
    return static_cast<int>(n);
}

/// OpenSSL asks for a record header, then for the record: each is copied out of the read-ahead
/// buffer, which one recv(2) refills with many records. (OpenSSL's own read-ahead moves what is
/// left of its buffer to the front before every record: the bytes of a 256 KiB read were copied
/// about three times over, a tenth of the CPU of a fast download.)
int socket_bio_read(BIO* bio, char* data, int size) {
    BIO_clear_retry_flags(bio);
    auto& state = *static_cast<socket_stream::bio_state*>(BIO_get_data(bio));
    auto wanted = static_cast<std::size_t>(size);
    if (state.begin == state.end && state.capacity > wanted) {
        if (!state.buffer)
            state.buffer = std::make_unique_for_overwrite<char[]>(state.capacity);
        ssize_t n = ::recv(state.fd, state.buffer.get(), state.capacity, 0);
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                BIO_set_retry_read(bio);
            return static_cast<int>(n);
        }
        state.begin = 0;
        state.end = static_cast<std::size_t>(n);
    }
    if (state.begin < state.end) {
        std::size_t n = std::min(wanted, state.end - state.begin);
        std::memcpy(data, state.buffer.get() + state.begin, n);
        state.begin += n;
        return static_cast<int>(n);
    }
    ssize_t n = ::recv(state.fd, data, wanted, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(bio);
    return static_cast<int>(n);
}

long socket_bio_ctrl(BIO* bio, int command, long, void*) {
    if (command == BIO_CTRL_PENDING) {
        auto& state = *static_cast<socket_stream::bio_state*>(BIO_get_data(bio));
        return static_cast<long>(state.end - state.begin);
    }
    return command == BIO_CTRL_FLUSH ? 1 : 0;
}

int socket_bio_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

const BIO_METHOD* socket_bio_method() {
    static const BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "ferry socket");
        BIO_meth_set_write(m, socket_bio_write);
        BIO_meth_set_read(m, socket_bio_read);
        BIO_meth_set_ctrl(m, socket_bio_ctrl);
        BIO_meth_set_create(m, socket_bio_create);
        return m;
    }();
    return method;
}

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
    set_full(false);
    watchdog_->socket = nullptr;
    watchdog_->timer.cancel();
    if (!ssl_)
        return;
    // OpenSSL invalidates the session of a connection freed without a close_notify. Closing a
    // healthy connection (idle, or a response abandoned) is no reason to: mark it shut down
    // quietly, so the session stays resumable for the next connection.
    if (!tls_failed_) {
        SSL_set_quiet_shutdown(ssl_, 1);
        SSL_shutdown(ssl_);
    }
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
    auto& w = *watchdog_;
    w.deadline = clock_type::time_point::max();
    w.expired = false;
    if (w.timer_set) {
        w.timer_set = false;
        w.timer.cancel(); // a pending wait would keep the io_context busy until it expired
    }
}

asio::awaitable<error_code> socket_stream::wait_to_read(direction d) {
    if (d != direction::read || !bio_state_ || bio_state_->capacity == 0) {
        auto waiting = wait(d);
        co_return co_await std::move(waiting);
    }
    // OpenSSL wants bytes and the read-ahead buffer is empty (the BIO asks for a retry only
    // then): receive into it. Waiting for readiness instead costs the reactor an epoll_ctl each
    // time (a wait re-arms the edge-triggered descriptor), one system call per response.
    auto& st = *bio_state_;
    if (watchdog_->expired)
        co_return make_error_code(watchdog_->error);
    if (!st.buffer)
        st.buffer = std::make_unique_for_overwrite<char[]>(st.capacity);
    st.begin = st.end = 0;
    auto [ec, n] = co_await socket_.async_receive(asio::buffer(st.buffer.get(), st.capacity), use_nothrow);
    if (watchdog_->expired)
        co_return make_error_code(watchdog_->error);
    st.end = n;
    // The end of the stream is OpenSSL's to judge (close_notify or truncation): its next read
    // of the socket finds it again.
    if (ec == asio::error::eof)
        co_return error_code{};
    co_return ec;
}

error_code socket_stream::deadline_error() const {
    return watchdog_->expired ? make_error_code(watchdog_->error) : error_code{};
}

asio::awaitable<error_code> socket_stream::wait(direction d) {
    if (auto late = deadline_error())
        co_return late;
    auto what = d == direction::read ? asio::socket_base::wait_read : asio::socket_base::wait_write;
    auto [ec] = co_await socket_.async_wait(what, use_nothrow);
    if (auto late = deadline_error())
        co_return late;
    co_return ec;
}

error_code socket_stream::adopt(asio::ip::tcp::socket socket) {
    error_code ec;
    socket_ = std::move(socket);
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    if (!ec)
        socket_.non_blocking(true, ec);
    return ec;
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
    tls_failed_ = true;
    unsigned long code = ERR_get_error();
    if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return asio::ssl::error::stream_truncated;
    return error_code(static_cast<int>(code), asio::error::get_ssl_category());
}

asio::awaitable<error_code> socket_stream::handshake(SSL_CTX* context, const std::string& host,
                                                     SSL_SESSION* resume, std::size_t read_ahead) {
    ssl_ = SSL_new(context);
    BIO* bio = ssl_ ? BIO_new(socket_bio_method()) : nullptr;
    if (!bio)
        co_return error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category());
    bio_state_ = std::make_unique<bio_state>();
    bio_state_->fd = socket_.native_handle();
    bio_state_->capacity = read_ahead;
    // A stream with read-ahead is one of a few fast ones: keeping OpenSSL's record buffers saves a
    // malloc and free per 16 KiB record. Without, it is one of thousands: idle ones hold none.
    if (read_ahead > 0)
        SSL_clear_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
    BIO_set_data(bio, bio_state_.get());
    SSL_set_bio(ssl_, bio, bio);
    // Verify the peer's name natively, so failures carry OpenSSL's precise reason.
    if (is_ip_literal(host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl_, host.c_str()); // SNI
        SSL_set1_host(ssl_, host.c_str());
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
        if (auto ec = co_await wait_to_read(d))
            co_return ec;
    }
}

namespace {
/// Streams (of every thread) whose last turn ended with their socket still full.
std::atomic<std::size_t> full_streams{0};
} // namespace

std::size_t socket_stream::turn_bytes(std::size_t full) noexcept {
    constexpr std::size_t alone = 1024 * 1024, shared_round = 512 * 1024, least = 64 * 1024;
    return full <= 1 ? alone : std::max(shared_round / full, least);
}

void socket_stream::set_full(bool full) noexcept {
    if (full == full_)
        return;
    full_ = full;
    if (full)
        full_streams.fetch_add(1, std::memory_order_relaxed);
    else
        full_streams.fetch_sub(1, std::memory_order_relaxed);
}

asio::awaitable<boost::system::result<std::size_t>> socket_stream::read_some(void* data, std::size_t size) {
    if (read_without_yield_ >= turn_bytes(full_streams.load(std::memory_order_relaxed))) {
        // The peer keeps the socket full: every read so far completed at once, and the loop has
        // run nothing else since. Let the handlers that are ready (timers, other connections,
        // RPC calls of a daemon) run before the next slice.
        read_without_yield_ = 0;
        set_full(true);
        co_await asio::post(asio::use_awaitable);
    }
    for (;;) {
        direction d = direction::read;
        if (ssl_) {
            ERR_clear_error();
            std::size_t got = 0;
            int result = SSL_read_ex(ssl_, data, size, &got);
            if (result == 1) {
                read_without_yield_ += got;
                co_return got;
            }
            if (auto ec = tls_failure(result, d))
                co_return ec;
        } else {
            error_code ec;
            std::size_t got = socket_.read_some(asio::buffer(data, size), ec);
            if (!ec) {
                read_without_yield_ += got;
                co_return got;
            }
            if (ec != asio::error::would_block)
                co_return ec;
        }
        read_without_yield_ = 0; // the wait below suspends
        set_full(false);
        if (d == direction::read)
            release_idle_buffers();
        if (auto ec = co_await wait_to_read(d))
            co_return ec;
    }
}

void socket_stream::release_idle_buffers() noexcept {
    // OpenSSL sets up its 17 KiB record buffer before it asks the socket, and a read that finds
    // nothing keeps it (SSL_MODE_RELEASE_BUFFERS frees it only after a record): without this,
    // every one of thousands of slow connections would hold one while it waits. Refused, and
    // harmless, while part of a record is buffered. Streams with read-ahead keep theirs.
    if (ssl_ && (!bio_state_ || bio_state_->capacity == 0))
        SSL_free_buffers(ssl_);
}

bool socket_stream::readable_now() {
    if (ssl_) {
        if (SSL_has_pending(ssl_) || (bio_state_ && bio_state_->begin != bio_state_->end))
            return true;
        // Bytes in the socket are enough: decrypting them here (SSL_peek) would set up OpenSSL's
        // 17 KiB record buffer for a connection that may then wait, thousands of them.
    }
    char byte = 0;
    return ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 ||
           (errno != EAGAIN && errno != EWOULDBLOCK); // data, the end, or an error: the read says which
}

asio::awaitable<error_code> socket_stream::wait_readable() {
    // The socket is waited on here rather than through wait(): one coroutine frame less for each
    // of thousands of connections waiting for their server.
    while (!readable_now()) {
        release_idle_buffers();
        if (auto late = deadline_error())
            co_return late;
        auto [ec] = co_await socket_.async_wait(asio::socket_base::wait_read, use_nothrow);
        if (auto late = deadline_error())
            co_return late;
        if (ec)
            co_return ec;
    }
    co_return error_code{};
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

std::optional<std::chrono::microseconds> socket_stream::round_trip_time() noexcept {
    constexpr unsigned fresh_within_ms = 100;
    tcp_info info{};
    socklen_t size = sizeof info;
    if (::getsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &size) != 0)
        return std::nullopt;
    // The estimate moves only when full-sized segments arrive: one from before a pause, or the
    // same as when last asked, is stale (and, since a lower sample replaces it at once while
    // higher ones are averaged in, usually too low). A download held to a pace reads what its
    // socket took in tens of milliseconds ago (half its reads in the yielding test: 60 ms or
    // older): with 10 ms here most pace updates had no sample, and the pace crept up over a
    // queue it no longer saw.
    bool moved = info.tcpi_rcv_rtt != last_rcv_rtt_;
    last_rcv_rtt_ = info.tcpi_rcv_rtt;
    if (info.tcpi_rcv_rtt == 0 || !moved || info.tcpi_last_data_recv > fresh_within_ms)
        return std::nullopt;
    return std::chrono::microseconds(info.tcpi_rcv_rtt);
}

void socket_stream::set_receive_buffer(std::size_t bytes) noexcept {
    int size = static_cast<int>(std::min<std::size_t>(bytes, 1 << 30));
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

bool socket_stream::is_open() const noexcept { return socket_.is_open(); }

void socket_stream::close() noexcept {
    error_code ignored;
    socket_.close(ignored);
}

} // namespace ferry
