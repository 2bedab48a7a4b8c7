#pragma once

#include "net/host_resolver.hpp"
#include "net/proxy_config.hpp"
#include "net/url.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

typedef struct ssl_session_st SSL_SESSION;

namespace ferry {

/// Time limits for one connection's steps. Each one ends the step with a net_error.
struct connection_timeouts {
    /// Resolve + TCP connect (every address raced, Happy Eyeballs) + a proxy's CONNECT or SOCKS5
    /// exchange.
    std::chrono::milliseconds connect{15'000};
    std::chrono::milliseconds handshake{15'000}; ///< TLS handshake
    std::chrono::milliseconds first_byte{30'000};///< request sent → response head received
    std::chrono::milliseconds stall{30'000};     ///< longest wait for any body bytes
};

/// A request: GET or HEAD of a target with extra header fields.
struct http_request {
    std::string method = "GET";
    std::vector<std::pair<std::string, std::string>> fields; ///< sent in order
};

/// The parts of a response head the engine uses.
struct response_head {
    unsigned status = 0;
    std::optional<std::uint64_t> content_length;
    bool chunked = false;
    bool keep_alive = false;
    std::string content_range;
    std::string etag;
    std::string last_modified;
    std::string location;
    std::string retry_after;
    std::string accept_ranges;
    std::string ratelimit;        ///< `RateLimit` (IETF httpapi draft), as sent
    std::string ratelimit_policy; ///< `RateLimit-Policy`
    std::string ratelimit_remaining; ///< `RateLimit-Remaining` (older drafts' separate fields)
    std::string ratelimit_reset;     ///< `RateLimit-Reset`
    /// The `X-*` and `Link` fields, as sent (names as sent): what APIs such as the Hugging Face
    /// Hub's say beside the standard fields (X-Error-Code, X-Repo-Commit, pagination...).
    std::vector<std::pair<std::string, std::string>> extension_fields;

    /// The first extension field named `name` (case-insensitive), "" when absent.
    std::string_view extension(std::string_view name) const noexcept;
};

/// One HTTP/1.1 connection, over TLS (SNI and host-name verification on) or plain TCP.
///
/// A transfer reads top to bottom: open(), then for each request send(), read_head(), read_body()
/// until it returns 0. Body bytes go straight from the socket (decrypted) into the caller's
/// buffer. Every step has a timeout (connection_timeouts) enforced on the socket, so a stalled
/// peer cannot hang a transfer.
///
/// Not thread-safe: use from the executor it was opened on (the engine's strand).
class connection {
public:
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Resolves, connects and (for https) handshakes with `where`'s origin. `resume` is a TLS
    /// session to offer (may be null); `tls_read_ahead` > 0 lets each read take up to that many
    /// bytes of TLS records from the socket at once (fewer system calls, a buffer that size while
    /// records are pending). Errors: resolver/socket errors, net_error::connect_timeout,
    /// handshake_timeout, and make_verify_error() for certificate failures.
    ///
    /// The host's addresses are raced as RFC 8305 says (race_connect): IPv6 first, the next
    /// address 250 ms later or as soon as one fails. With a `resolver` (not null; it must
    /// outlive open()), names are looked up through it, and forgotten when none of their
    /// addresses connects; without, each open() asks the system. With a `proxy` (not null; it must outlive
    /// open()), the connection goes to the proxy and through it (open_tunnel) to the origin;
    /// TLS then runs end to end with the origin and verifies the origin's name. Through an HTTP
    /// proxy an http target's requests go to the proxy in absolute form, with the proxy's
    /// credentials. The proxy's refusals are make_proxy_error() codes.
    static boost::asio::awaitable<boost::system::result<std::unique_ptr<connection>>>
    open(boost::asio::any_io_executor executor, const url& where, boost::asio::ssl::context& tls,
         SSL_SESSION* resume, const connection_timeouts& timeouts, std::size_t tls_read_ahead = 0,
         const proxy_endpoint* proxy = nullptr, host_resolver* resolver = nullptr);

    /// Sends a request for `target` (Host, User-Agent and `Accept-Encoding: identity` are added:
    /// ranges count the bytes as stored, so a caller's Accept-Encoding is not sent).
    boost::asio::awaitable<boost::system::error_code> send(const url& target, const http_request& request);
    /// HTTP/1.1 pipelining: sends the next request while the current response's body is still
    /// being read, so that the next response follows it without a round trip in between. Its
    /// head is read by read_head() once the bodies before it have been read to their end, in the
    /// order the requests went. Only when can_send_ahead(); fails with operation_not_permitted
    /// otherwise.
    boost::asio::awaitable<boost::system::error_code> send_ahead(const url& target, const http_request& request,
                                                                 std::size_t depth = 1);
    /// Whether send_ahead() may go now: the current response is kept alive and has a known
    /// length, with bytes still to come or requests already queued behind it, and fewer than
    /// `depth` (at most 8) are queued; or the connection is reusable (the request then simply
    /// goes, and read_head() reads its answer).
    bool can_send_ahead(std::size_t depth = 1) const noexcept;
    /// Reads the response head (at most 64 KiB of header, 100 fields): the current request's, or
    /// the one sent ahead once the body before it is read.
    boost::asio::awaitable<boost::system::result<response_head>> read_head();
    /// Reads body bytes into [data, data + size); 0 when the body is complete.
    boost::asio::awaitable<boost::system::result<std::size_t>> read_body(void* data, std::size_t size);
    /// Waits until read_body() would find bytes (or the body's end, or an error it then reports)
    /// without a buffer: a caller takes one only then. The stall timeout applies meanwhile. The
    /// stream's own wait, not a coroutine of its own (one frame less for each of thousands of
    /// connections waiting for their server): after an error the caller poison()s the connection.
    boost::asio::awaitable<boost::system::error_code> wait_body();
    /// Whether read_body() would return at once (bytes, the body's end, or an error).
    bool body_ready();
    /// Reads and drops a body of at most `limit` bytes (error pages, redirects); a longer one makes
    /// the connection unusable instead of being read.
    boost::asio::awaitable<void> discard_body(std::size_t limit = 64 * 1024);

    /// Requests sent ahead whose answers have not been reached yet.
    std::size_t queued_requests() const noexcept { return queued_; }
    /// Whether it can serve another request: the last response was read to its end, the server
    /// keeps the connection alive, no request sent ahead waits for its answer, and no error,
    /// timeout or cancellation touched it.
    bool reusable() const noexcept;
    /// Marks it unusable (an abandoned body, a cancel): the pool will close it.
    void poison() noexcept { broken_ = true; }
    bool poisoned() const noexcept { return broken_; }
    /// Body bytes of the current response not read yet (when its length is known).
    std::optional<std::uint64_t> body_remaining() const noexcept;

    /// The TLS session to offer on the next connection to this origin (null for plain HTTP);
    /// the caller owns the returned reference (SSL_SESSION_free).
    SSL_SESSION* take_session() const;
    bool resumed_session() const noexcept { return resumed_; }
    /// How long open() took to resolve and connect (through the proxy, if any), and then to
    /// handshake TLS (zero for plain HTTP).
    std::chrono::steady_clock::duration connect_time() const noexcept { return connect_time_; }
    std::chrono::steady_clock::duration handshake_time() const noexcept { return handshake_time_; }
    /// The round trip the kernel measures on the socket (socket_stream::round_trip_time).
    std::optional<std::chrono::microseconds> round_trip_time() const noexcept;
    /// Keeps the socket's receive buffer near `bytes` (set when it differs by more than an
    /// eighth): a reader that slows down then slows its sender within a round trip.
    void limit_receive_window(std::size_t bytes) noexcept;
    const std::string& origin() const noexcept { return origin_; }
    std::uint64_t requests_served() const noexcept { return requests_; }
    std::chrono::steady_clock::time_point idle_since() const noexcept { return idle_since_; }
    void mark_idle() noexcept { idle_since_ = std::chrono::steady_clock::now(); }
    void close() noexcept;

private:
    struct impl;
    explicit connection(std::unique_ptr<impl> impl);
    boost::system::result<std::string> request_text(const url& target, const http_request& request) const;
    /// The parser and body state for the next response.
    void start_response(bool head_only);
    boost::asio::awaitable<boost::system::error_code> write_request(const std::string& text);

    std::uint8_t queued_ = 0;       ///< requests sent ahead whose heads read_head() has not read
    std::uint8_t queued_heads_ = 0; ///< bit i: the i-th of them is a HEAD

    std::unique_ptr<impl> impl_;
    std::string origin_;
    /// Set for an http target through an HTTP proxy: requests in absolute form, with this
    /// Proxy-Authorization when the proxy has credentials.
    bool absolute_form_ = false;
    std::string proxy_authorization_;
    bool broken_ = false;
    bool resumed_ = false;
    std::chrono::steady_clock::duration connect_time_{};
    std::chrono::steady_clock::duration handshake_time_{};
    std::uint64_t requests_ = 0;
    std::size_t receive_window_ = 0; ///< the last limit_receive_window() set, 0: the kernel's own
    std::chrono::steady_clock::time_point idle_since_{};
};

} // namespace ferry
