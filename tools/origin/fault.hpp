#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::origin {

/// How the origin misbehaves on a request. A default-constructed fault changes nothing; set the
/// fields you want, and they combine (a delay with a rate cap, a version change with a drop...).
/// Byte counts are of the response body. To add a fault: a field here, its effect in
/// response_plan.cpp (what the head says) or origin_connection.cpp (how bytes go out), its key in
/// fault_spec.cpp.
struct fault {
    /// Which matching requests it applies to: the first `skip` pass untouched, then `times` of
    /// them (-1: all the rest) get the fault.
    int skip = 0;
    int times = -1;

    /// Answer this status (429, 503, 404, 403, 410, 301, 302, 307...) with a short text body instead
    /// of the file; 0 serves normally. Works for paths that do not exist too.
    unsigned status = 0;
    std::string retry_after{}; ///< `Retry-After` value sent with `status` ("" = none)
    std::string location{};    ///< `Location` sent with `status`, absolute or relative (redirects)

    std::chrono::milliseconds first_byte_delay{0}; ///< wait this long before sending the head
    /// Strict cap for this response's body in bytes/s, paced by a timer with no initial burst: after
    /// t seconds at most rate * t bytes have gone out. 0 = none (the server-wide cap still holds).
    std::uint64_t rate = 0;
    /// Close the connection abruptly (no TLS close_notify) after this many body bytes.
    std::optional<std::uint64_t> drop_after{};
    /// Stop sending after this many body bytes and keep the socket open until the client closes it.
    std::optional<std::uint64_t> stall_after{};

    bool ignore_range = false; ///< answer a Range request with 200 and the whole body
    /// A 206's Content-Range claims the range shifted by this many bytes (clamped to stay inside the
    /// file). The body holds the bytes that were asked for (the header lies) unless `shifted_body`,
    /// then it holds the bytes the header claims (the server answered another range than asked).
    std::int64_t content_range_shift = 0;
    bool shifted_body = false;
    /// Nonzero: serve version N of the file. Its ETag and Last-Modified differ, and so do its bytes:
    /// a synthetic file's bytes are those of seed `seed + N`; a file on disk has every byte XORed
    /// with 0x5A.
    std::uint64_t version = 0;

    /// Announce this many bytes more than the body has (Content-Length), send the body, then close.
    std::uint64_t short_body = 0;
    /// Send this many extra bytes ('x') after the announced body and keep the connection open: the
    /// client finds them where the next response should start.
    std::uint64_t long_body = 0;
    /// Pad the head with this many bytes of `X-Padding-N` fields (8 KiB each at most): clients limit
    /// the size of a head.
    std::uint64_t header_padding = 0;
    bool close = false; ///< answer normally, then close the connection (`Connection: close`)
};

/// The fault rules of an origin, matched against request paths. Thread-safe.
///
/// A rule's pattern is a path (`/models/a.bin`, matched exactly) or a prefix ending in `*`
/// (`/models/*`; `*` alone matches everything). Paths are compared decoded, without the query.
/// Each rule counts every request whose path it matches; the first rule (in the order added) whose
/// skip/times window holds the request supplies the fault.
class fault_table {
public:
    void add(std::string pattern, fault what);
    void clear();
    /// The fault for a request to `path`, counting the request against every matching rule.
    std::optional<fault> match(std::string_view path);

private:
    struct rule {
        std::string pattern; ///< without the trailing '*'
        bool prefix = false;
        fault what;
        std::int64_t seen = 0;
    };
    std::mutex mutex_;
    std::vector<rule> rules_;
};

} // namespace ferry::origin
