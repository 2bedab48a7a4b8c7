#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ferry {

/// `Content-Range: bytes FIRST-LAST/TOTAL` (TOTAL may be `*`, then total is nullopt).
struct content_range {
    std::uint64_t first = 0;
    std::uint64_t last = 0; ///< inclusive
    std::optional<std::uint64_t> total;
};

/// Parses a Content-Range of a 206 response. nullopt for anything malformed (including
/// `bytes */TOTAL`, last < first, last >= total, overflow).
std::optional<content_range> parse_content_range(std::string_view value);

/// Total size from an unsatisfied-range form `bytes */TOTAL` (of a 416 response).
std::optional<std::uint64_t> parse_unsatisfied_range(std::string_view value);

/// Retry-After: delay-seconds or an HTTP-date (IMF-fixdate, RFC 850 and asctime forms).
/// A date in the past gives zero. nullopt when malformed.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

/// Formats an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
std::string format_http_date(std::chrono::system_clock::time_point t);

/// A validator usable in If-Range: a strong ETag (weak ones, `W/"..."`, are not usable and give
/// nullopt), returned with its quotes.
std::optional<std::string> strong_etag(std::string_view value);

} // namespace ferry
