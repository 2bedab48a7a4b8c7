#pragma once

#include "perf/byte_size.hpp"
#include "tools/origin/fault.hpp"

#include <string>
#include <string_view>

namespace ferry::origin {

/// The text form of a fault, as `ferry origin --fault PATH:SPEC` takes it: comma-separated items,
/// each `key=value` or a flag. Sizes and rates take K, M, G suffixes (powers of 1024, as curl);
/// durations are milliseconds, or take an `ms` or `s` suffix.
///
///   status=N            answer status N (429, 503, 404, 403, 410, 301...) instead of the file
///   retry-after=V       with a Retry-After: V header
///   location=URL        with a Location: URL header (absolute or relative)
///   redirect=URL        location=URL, and status 302 unless status= says otherwise
///   delay=DURATION      wait before the first byte
///   rate=RATE           strict cap in bytes/s for this response, no initial burst
///   drop-after=SIZE     close the connection after SIZE body bytes
///   stall-after=SIZE    stop sending after SIZE body bytes, keep the connection open
///   ignore-range        answer 200 with the whole body to a Range request
///   shift-range=N       Content-Range shifted by N bytes (N may be negative); the body is still
///                       the requested bytes
///   shifted-body        with shift-range: the body is the bytes the shifted header claims
///   version=N           serve version N of the file (new ETag, Last-Modified and bytes);
///   new-version         is version=1
///   short-body=SIZE     announce SIZE more bytes than sent, then close
///   long-body=SIZE      send SIZE extra bytes after the body
///   big-headers=SIZE    pad the head with SIZE bytes of X-Padding-N fields
///   close               close the connection after the response
///   skip=N              let the first N matching requests through
///   times=N             apply to N requests after those (default: all; -1 or `all` too)
///
/// Examples: `status=503,retry-after=2,times=3`, `drop-after=1M`, `rate=10M`, `stall-after=0`,
/// `redirect=/other,status=307`, `version=1,skip=1`.
///
/// Throws std::invalid_argument naming the item that does not parse.
fault parse_fault_spec(std::string_view spec);

/// A fault rule in the form `PATH:SPEC` (the first ':' separates them, so the path cannot hold
/// one; the spec can, for URLs). PATH is a path or a prefix ending in '*', as fault_table takes.
struct fault_rule_text {
    std::string pattern;
    fault what;
};
fault_rule_text parse_fault_rule(std::string_view text);

/// Sizes in fault specs use the CLI's grammar.
using ferry::parse_byte_size;

} // namespace ferry::origin
