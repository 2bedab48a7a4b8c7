#pragma once

#include "net/error.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;

namespace ferry {

/// A non-blocking TCP socket, optionally with TLS driven through OpenSSL directly, under one
/// deadline.
///
/// OpenSSL reads and writes the socket itself, through a BIO of ours: with read-ahead, one recv(2)
/// fills the stream's buffer with many TLS records, and each is copied once into OpenSSL's record
/// buffer, decrypted there and copied into the caller's buffer. (A BIO pair, as in Asio's
/// ssl::stream, adds copies and two 17 KiB buffers per connection; OpenSSL's own read-ahead moves
/// the rest of its buffer before every record.) Without read-ahead (thousands of connections), an
/// idle connection holds no buffers at all (SSL_MODE_RELEASE_BUFFERS).
///
/// The deadline is a time point, not a timer per operation: moving it is an assignment, and one
/// timer per stream wakes up only when it may have passed. When it has, the pending wait (or the
/// next one) fails with the error given to set_deadline().
///
/// Not thread-safe: use from one executor (a strand).
class socket_stream {
public:
    explicit socket_stream(boost::asio::any_io_executor executor);
    ~socket_stream();
    socket_stream(const socket_stream&) = delete;
    socket_stream& operator=(const socket_stream&) = delete;

    /// Waits in the following operations fail with `error` once `limit` from now has passed.
    void set_deadline(std::chrono::milliseconds limit, net_error error);
    void clear_deadline();

    /// Takes over a connected socket (see race_connect), made non-blocking with Nagle off.
    boost::system::error_code adopt(boost::asio::ip::tcp::socket socket);
    /// TLS client handshake with SNI and host-name (or IP address) verification. Certificate
    /// failures come back as OpenSSL errors; SSL_get_verify_result(native_handle()) says why.
    /// `resume` is a session to offer (may be null); `read_ahead` > 0 reads up to that many bytes
    /// per system call (a buffer of that size, from the first read until the stream is destroyed).
    boost::asio::awaitable<boost::system::error_code> handshake(SSL_CTX* context, const std::string& host,
                                                                SSL_SESSION* resume, std::size_t read_ahead);

    /// Reads at least one byte. The end of the stream is asio::error::eof (TLS close_notify or
    /// TCP FIN on plain TCP), asio::ssl::error::stream_truncated for TLS cut without close_notify.
    /// A read that finds data completes without suspending; once a turn's bytes (turn_bytes() of
    /// the streams whose sockets are full now) came that way since the caller last suspended
    /// here, the read yields to the executor's other work first, so that a fast stream does not
    /// hold the event loop (timers, other sockets) for as long as its peer keeps the socket full.
    boost::asio::awaitable<boost::system::result<std::size_t>> read_some(void* data, std::size_t size);
    /// Waits until a read would find data (or the end of the stream, or an error, which the read
    /// then reports) without taking a buffer: a connection waiting for a response holds none.
    /// Errors it meets itself (a TLS alert, the deadline) come back as read_some's would.
    boost::asio::awaitable<boost::system::error_code> wait_readable();
    /// Whether a read would find data (or the end, or an error) without waiting.
    bool readable_now();
    /// A turn: 1 MiB (about a millisecond of decrypting and writing) for the one stream whose peer
    /// keeps its socket full, so that a download takes what its socket holds even when thousands
    /// of clients' calls share the loop (256 KiB turns held one to three quarters of its speed
    /// under 5,000 polling clients). Several such streams share 512 KiB a round (64 KiB each at
    /// least): with 1 MiB each, six downloads at full speed made one round of the loop 6–10 ms.
    static std::size_t turn_bytes(std::size_t full_streams) noexcept;
    boost::asio::awaitable<boost::system::error_code> write_all(const void* data, std::size_t size);

    /// The kernel's estimate of the round trip as a receiver sees it (TCP_INFO's rcv_rtt: the
    /// time from an acknowledgement to the data it let the peer send, queues on the way
    /// included); none without one, when it has not moved since the last call, or when no data
    /// came in the last 100 ms (it is then stale).
    std::optional<std::chrono::microseconds> round_trip_time() noexcept;
    /// Sets the socket's receive buffer (SO_RCVBUF; the kernel no longer sizes it itself).
    void set_receive_buffer(std::size_t bytes) noexcept;

    bool is_open() const noexcept;
    void close() noexcept;
    /// The TLS connection, or null for plain TCP.
    SSL* native_handle() const noexcept { return ssl_; }

    /// What the stream's BIO works with (for socket_stream.cpp's BIO functions).
    struct bio_state {
        int fd = -1;
        std::unique_ptr<char[]> buffer; ///< read-ahead, allocated by the first read
        std::size_t capacity = 0;       ///< 0: no read-ahead, OpenSSL's reads go to recv(2)
        std::size_t begin = 0;          ///< received bytes not yet taken: [begin, end)
        std::size_t end = 0;
    };

private:
    struct watchdog;
    enum class direction { read, write };

    boost::asio::awaitable<boost::system::error_code> wait(direction d);
    /// The deadline's error once it has passed (the watchdog closed the socket); none before.
    boost::system::error_code deadline_error() const;
    /// wait() for what a TLS read needs: with read-ahead, receives into the read-ahead buffer.
    boost::asio::awaitable<boost::system::error_code> wait_to_read(direction d);
    /// What an OpenSSL call's failure `result` means: 0 for "wait" (`d` says for what), else the
    /// error.
    boost::system::error_code tls_failure(int result, direction& d);
    /// Before a read waits: frees OpenSSL's empty record buffers (streams without read-ahead).
    void release_idle_buffers() noexcept;

    boost::asio::ip::tcp::socket socket_;
    std::shared_ptr<watchdog> watchdog_;
    SSL* ssl_ = nullptr;
    std::unique_ptr<bio_state> bio_state_;
    bool tls_failed_ = false; ///< a TLS protocol error: the session must not be resumed
    std::size_t read_without_yield_ = 0; ///< bytes read since read_some last suspended
    std::uint32_t last_rcv_rtt_ = 0;     ///< the estimate round_trip_time() last saw
    bool full_ = false; ///< its last turn ended with the socket still full (counted for turn_bytes())
    void set_full(bool full) noexcept;
};

} // namespace ferry
