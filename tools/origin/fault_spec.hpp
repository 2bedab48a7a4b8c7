#pragma once

#include "perf/byte_size.hpp"
#include "tools/origin/fault.hpp"

#include <span>
#include <string>
#include <string_view>
#include <vector>

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
///   drop-mid            close the connection at a random point strictly inside the body
///   pause=DURATION      send nothing for DURATION at a random point of the body, then the rest
///   signed-redirect=TTL answer 302 to a signed URL of the same file valid for TTL (whole seconds:
///                       90, 90s, 15m, 2h; 0 = expired at once); see signed_url.hpp
///   sign-style=S        its query: amz (default), cloudfront or azure
///   sign-host=NAME      the host it names (default: 127.0.0.1 for requests to localhost, else
///                       localhost; the port stays)
///   ratelimit=N/R       send `RateLimit: limit=100, remaining=N, reset=R` and
///                       `RateLimit-Policy: 100;w=60` (with any status: add status=429 for a refusal)
///   chance=P            apply to a share P (0 to 1) of the matching requests, by a seeded draw
///                       (see fault_table: rules with a chance share [0, 1) in order, exactly)
///   skip=N              let the first N matching requests through
///   times=N             apply to N requests after those (default: all; -1 or `all` too)
///   connection=N        only requests on the N-th connection accepted (from 1)
///
/// Examples: `status=503,retry-after=2,times=3`, `drop-after=1M`, `rate=10M`, `stall-after=0`,
/// `redirect=/other,status=307`, `version=1,skip=1`, `drop-mid,chance=0.1`,
/// `signed-redirect=1h,sign-style=azure`, `status=429,ratelimit=0/30,retry-after=30`.
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

/// A named mix of faults, as `ferry origin --fault-mix NAME` adds them: rules in the order they
/// go into the table. One mix so far, `cdn`, what a big CDN does to a share of requests (each
/// line selectable alone, e.g. `--fault '*:ignore-range,chance=0.03'`):
inline constexpr std::string_view cdn_fault_mix[] = {
    "*:drop-mid,chance=0.10",                  // connection closed mid-body
    "*:status=503,retry-after=1,chance=0.05",  // busy
    "*:status=429,retry-after=1,chance=0.02",  // rate limited
    "*:pause=20s,chance=0.01",                 // a 20 s stall mid-body, then the rest
    "*:ignore-range,chance=0.03",              // 200 with the whole body to a Range request
    "*:drop-after=0,chance=0.02",              // closed after the head, before the body
};
/// The rule texts of mix `name`; throws std::invalid_argument for an unknown one.
std::span<const std::string_view> fault_mix_text(std::string_view name);
/// The same, parsed.
std::vector<fault_rule_text> fault_mix(std::string_view name);

/// Sizes in fault specs use the CLI's grammar.
using ferry::parse_byte_size;

} // namespace ferry::origin
