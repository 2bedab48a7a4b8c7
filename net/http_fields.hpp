#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ferry {

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

/// Formats an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), whatever the C locale. Sub-second
/// parts are dropped (rounded down).
std::string format_http_date(std::chrono::system_clock::time_point t);

/// A validator usable in If-Range: a strong ETag (weak ones, `W/"..."`, are not usable and give
/// nullopt), returned with its quotes. Only the characters RFC 9110 allows between the quotes
/// (visible ASCII but `"`, and bytes 0x80-0xFF) are accepted.
std::optional<std::string> strong_etag(std::string_view value);

} // namespace ferry
