#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

struct response_head;

// Hand-written parsers of response header values. No allocation except for results, no
// exceptions, work linear in the input, strict grammars (RFC 9110): anything not matching is
// nullopt. Leading and trailing spaces and tabs around a whole value are ignored (they are not
// part of a field value); spaces inside it are not.

/// `Content-Range: bytes FIRST-LAST/TOTAL` (TOTAL may be `*`, then total is nullopt).
struct content_range {
    std::uint64_t first = 0;
    std::uint64_t last = 0; ///< inclusive
    std::optional<std::uint64_t> total;
};

/// Parses a Content-Range of a 206 response. The unit `bytes` is case-insensitive and followed by
/// exactly one space; numbers are decimal digits only (leading zeros allowed). nullopt for
/// anything malformed (including `bytes */TOTAL`, last < first, last >= total, a number beyond
/// 2^64 - 1, spaces inside).
std::optional<content_range> parse_content_range(std::string_view value);

/// Total size from an unsatisfied-range form `bytes */TOTAL` (of a 416 response).
std::optional<std::uint64_t> parse_unsatisfied_range(std::string_view value);

/// Retry-After: delay-seconds or an HTTP-date (IMF-fixdate, RFC 850 and asctime forms, exactly as
/// RFC 9110 spells them; a two-digit RFC 850 year more than 50 years ahead of `now` is taken in
/// the past century). A date in the past gives zero; a future date is rounded up to whole
/// seconds. Results are capped at 999'999'999 s (about 31 years), so that any value, however
/// large, converts to milliseconds without overflow. nullopt when malformed.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

/// One quota a `RateLimit` field reports (draft-ietf-httpapi-ratelimit-headers).
struct ratelimit_quota {
    std::string policy;           ///< the policy it belongs to; "" in the older dictionary form
    std::uint64_t remaining = 0;  ///< quota units left
    std::optional<std::uint64_t> reset; ///< seconds until the quota is restored, as sent
};

/// Parses `RateLimit` in the forms its drafts have used. Both are Structured Fields (RFC 9651),
/// parsed strictly: anything that is not a valid field of the form gives nullopt (the whole field
/// is ignored, as RFC 9651 says).
/// - Current drafts: a List of policy names (String, or Token) with parameters `r` (remaining,
///   required) and `t` (reset seconds, optional), both non-negative Integers:
///   `"default";r=0;t=5, "daily";r=900;t=3600`.
/// - Older drafts: a Dictionary with `remaining` (required) and `reset` (optional) non-negative
///   Integers; `limit` and other keys are ignored: `limit=100, remaining=0, reset=5`.
std::optional<std::vector<ratelimit_quota>> parse_ratelimit(std::string_view value);

/// One policy of a `RateLimit-Policy` field.
struct ratelimit_policy {
    std::string name;            ///< "" in the older form
    std::uint64_t quota = 0;     ///< units allowed per window
    std::optional<std::uint64_t> window; ///< seconds
};

/// Parses `RateLimit-Policy`: a List whose members are policy names (String or Token) with `q`
/// (quota, required) and `w` (window seconds, optional) — `"default";q=100;w=60` — or, in older
/// drafts, Integers (the quota) with `w`: `100;w=60`. Other parameters are ignored. Strict as
/// parse_ratelimit.
std::optional<std::vector<ratelimit_policy>> parse_ratelimit_policy(std::string_view value);

/// The longest pause requested_pause() returns: a longer request (or a Unix time sent where
/// seconds belong) is taken as this much. The caller's own limit decides whether to wait that
/// long or give up.
inline constexpr std::chrono::hours max_requested_pause{24};

/// How long the host asks us to wait before the next request, from a response's head; nullopt
/// when it asks nothing (or only in fields that are malformed). Combines, taking the longest:
/// - `Retry-After` (parse_retry_after), only on 429 and 503: on other statuses (a 3xx, say) it
///   is not a request to slow down;
/// - `RateLimit` (parse_ratelimit), on any status: a quota with nothing remaining asks for its
///   reset delay; one without a reset, for its policy's window (`RateLimit-Policy`, by name);
///   quotas with units remaining ask nothing;
/// - when `RateLimit` is absent or malformed, the older separate fields: `RateLimit-Remaining: 0`
///   with `RateLimit-Reset: SECONDS` (digits only).
/// Reset values of 1'000'000'000 or more (over 31 years) are read as the Unix time some servers
/// send there. Zero is a valid answer (a quota that has just been restored). At most
/// max_requested_pause.
std::optional<std::chrono::milliseconds> requested_pause(const response_head& head,
                                                         std::chrono::system_clock::time_point now);

/// Formats an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), whatever the C locale. Sub-second
/// parts are dropped (rounded down).
std::string format_http_date(std::chrono::system_clock::time_point t);

/// A validator usable in If-Range: a strong ETag (weak ones, `W/"..."`, are not usable and give
/// nullopt), returned with its quotes. Only the characters RFC 9110 allows between the quotes
/// (visible ASCII but `"`, and bytes 0x80-0xFF) are accepted.
std::optional<std::string> strong_etag(std::string_view value);

} // namespace ferry
