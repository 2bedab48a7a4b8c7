#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ferry::origin {

/// Seconds since the epoch of an HTTP-date in any of the three forms a recipient must accept
/// (RFC 9110 §5.6.7): IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, RFC 850
/// `Sunday, 06-Nov-94 08:49:37 GMT` (two-digit years below 70 are 20xx) and asctime
/// `Sun Nov  6 08:49:37 1994`. Surrounding whitespace is allowed; nullopt for anything else.
std::optional<std::int64_t> parse_http_date(std::string_view text);

/// True when an If-None-Match value matches the representation's `etag` (with its quotes, maybe
/// `W/`): `*`, or a comma-separated list of entity tags one of which has the same opaque tag
/// (the weak comparison of RFC 9110 §8.8.3.2, which If-None-Match uses). A malformed list matches
/// as far as it could be read.
bool if_none_match_matches(std::string_view field, std::string_view etag);

/// RFC 9110 §13.2.2 steps 3 and 4 for a GET or HEAD on an existing representation: true when the
/// answer is 304 Not Modified. If-None-Match decides when present; If-Modified-Since (ignored when
/// it is not one valid HTTP-date) only without it: not modified when `last_modified` is not later.
/// Empty strings are absent fields.
bool not_modified(std::string_view if_none_match, std::string_view if_modified_since, std::string_view etag,
                  std::string_view last_modified);

} // namespace ferry::origin
