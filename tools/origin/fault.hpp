#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::origin {

/// The query a signed redirect carries, after the cloud whose presigned URLs it imitates:
/// S3 (`X-Amz-Date`, `X-Amz-Expires`, `X-Amz-Signature`...), CloudFront (`Expires`, `Signature`,
/// `Key-Pair-Id`) or Azure Blob SAS (`se`, `sig`...). See signed_url.hpp.
enum class sign_style { amz, cloudfront, azure };

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
    /// Nonzero: only requests on the connection with this id (the n-th accepted, from 1) match;
    /// a slow connection among many, say.
    std::uint64_t connection = 0;

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

    /// Close the connection abruptly at a uniformly random point strictly inside the body (`point`
    /// picks it): like drop_after, placed at random.
    bool drop_mid = false;
    /// Send nothing for this long at a random point of the body (`point`), then send the rest.
    std::chrono::milliseconds pause{0};

    /// Answer 302 to a signed, expiring URL of the same file (signed_url.hpp), valid for this long.
    /// Requests that carry a signature are checked instead (403 when expired or forged), and rules
    /// with a signed redirect never apply to them.
    std::optional<std::chrono::seconds> signed_redirect{};
    std::string sign_host{}; ///< host the signed URL names; "" = 127.0.0.1 for localhost, else localhost
    sign_style style = sign_style::amz;

    /// Send `RateLimit: limit=100, remaining=N, reset=R` and `RateLimit-Policy: 100;w=60` (the IETF
    /// httpapi draft's fields) with the response, whatever its status.
    std::optional<std::uint64_t> ratelimit_remaining{};
    std::uint64_t ratelimit_reset = 0;

    /// Apply to this share (0 to 1) of the requests the rule matches, decided by fault_table's one
    /// seeded draw per request; none: every request in the skip/times window.
    std::optional<double> chance{};
    /// Where in the body drop_mid or pause happens, as a fraction in [0, 1). fault_table::match sets
    /// it from its draw, so it is as reproducible as the choice of fault.
    double point = 0;

    /// The body of a `status` answer, with its Content-Type; "" = `N Reason` as text/plain.
    std::string text{};
    std::string text_type{};
};

/// The fault rules of an origin, matched against request paths. Thread-safe.
///
/// A rule's pattern is a path (`/models/a.bin`, matched exactly) or a prefix ending in `*`
/// (`/models/*`; `*` alone matches everything). Paths are compared decoded, without the query.
/// Each rule counts every request whose path it matches; the first rule (in the order added) whose
/// skip/times window holds the request supplies the fault.
///
/// Every match draws one number u, uniform in [0, 1), from a generator seeded at construction: the
/// same seed and the same sequence of requests give the same faults. Rules with a `chance` take
/// consecutive slices of [0, 1) in the order added (the first with chance 0.1 takes [0, 0.1), the
/// next with 0.05 [0.1, 0.15)...) and apply only when u falls in theirs, so the shares are exact
/// and at most one of them applies to a request.
class fault_table {
public:
    explicit fault_table(std::uint64_t seed = 0);

    /// Throws std::invalid_argument when the chances of all rules would add up to more than 1.
    void add(std::string pattern, fault what);
    /// Removes every rule; the generator goes on.
    void clear();
    /// The fault for a request to `path`, counting the request against every matching rule.
    /// `presigned`: the request carries a signature (signed rules do not apply to it).
    std::optional<fault> match(std::string_view path, bool presigned = false, std::uint64_t connection = 0);

private:
    struct rule {
        std::string pattern; ///< without the trailing '*'
        bool prefix = false;
        fault what;
        std::int64_t seen = 0;
        double slice_begin = 0; ///< rules with a chance: [slice_begin, slice_begin + chance)
    };
    std::mutex mutex_;
    std::vector<rule> rules_;
    double chances_ = 0; ///< sum of the rules' chances
    std::mt19937_64 random_;
};

} // namespace ferry::origin
