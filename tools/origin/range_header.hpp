#pragma once

#include <cstdint>
#include <string_view>

namespace ferry::origin {

/// A request's Range header against a file of a known size.
struct range_request {
    enum kind_type {
        none,          ///< no usable Range: serve the whole file with 200
        satisfiable,   ///< serve [first, last] with 206
        unsatisfiable, ///< 416 with `Content-Range: bytes */SIZE`
    };
    kind_type kind = none;
    std::uint64_t first = 0;
    std::uint64_t last = 0; ///< inclusive
};

/// Parses a single byte range: `bytes=a-b` (b clamped to the end), `bytes=a-`, `bytes=-n` (the last
/// n bytes, the whole file when n >= size). A first byte at or past the end, or `-0`, is
/// unsatisfiable. Anything else (other units, several ranges, malformed text, a > b) is ignored
/// as RFC 9110 allows: `none`.
range_request parse_range(std::string_view header, std::uint64_t size);

} // namespace ferry::origin
