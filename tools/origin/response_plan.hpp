#pragma once

#include "tools/origin/content.hpp"
#include "tools/origin/fault.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry::origin {

/// The parts of a request that decide the response.
struct request_facts {
    bool head = false;        ///< HEAD: the same head as GET, no body
    bool keep_alive = true;   ///< what the request asked for (HTTP/1.1 default, Connection header)
    bool http10 = false;      ///< an HTTP/1.0 request (keep-alive must then be said explicitly)
    std::string_view range;   ///< Range value, "" when absent
    std::string_view if_range;///< If-Range value, "" when absent
    std::string_view if_none_match;     ///< "" when absent
    std::string_view if_modified_since; ///< "" when absent
};

/// What to send for one request, decided without I/O: the head's fields, which bytes make the
/// body, and how they go out (faults). origin_connection carries it out.
struct response_plan {
    unsigned status = 200;
    std::uint64_t content_length = 0; ///< announced (short_body makes it larger than what is sent)
    std::string content_type = "application/octet-stream";
    std::string content_range;        ///< "" = no Content-Range
    std::string etag, last_modified;  ///< "" = not sent
    bool accept_ranges = false;
    std::string retry_after, location;
    std::string ratelimit, ratelimit_policy; ///< `RateLimit`, `RateLimit-Policy`; "" = not sent
    std::uint64_t header_padding = 0; ///< bytes of X-Padding-N fields
    std::vector<std::pair<std::string, std::string>> fields; ///< more fields, sent as they are
    bool keep_alive = true;           ///< the head says so (else `Connection: close`)
    bool announce_keep_alive = false; ///< `Connection: keep-alive` (HTTP/1.0 clients need it)

    bool send_body = true;            ///< false for HEAD
    bool body_from_content = false;   ///< body: content bytes [offset, offset + length) ...
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::string text;                 ///< ... or this text
    std::uint64_t extra_bytes = 0;    ///< sent after the body (fault::long_body)

    std::chrono::milliseconds delay{0};      ///< before the head
    std::uint64_t rate = 0;                  ///< body bytes/s, 0 = unlimited
    std::optional<std::uint64_t> drop_after; ///< body bytes, then close abruptly
    std::optional<std::uint64_t> stall_after;///< body bytes, then send nothing more
    std::optional<std::uint64_t> pause_at;   ///< body bytes, then wait `pause`, then the rest
    std::chrono::milliseconds pause{0};
    bool close_after = false;                ///< close once the response is out
};

/// Decides the response to `request` for `file` (null: nothing at that path) under fault `f`
/// (null: none). `rate_cap` is the server-wide per-connection cap (0 = none); the stricter of it
/// and the fault's rate applies. `file` must already be the version the fault asks for.
///
/// Conditional requests follow RFC 9110 §13.2.2: If-None-Match (else If-Modified-Since) that finds
/// the file unchanged gets 304 with its validators and no body, before Range and If-Range are
/// looked at. A fault's drop_mid and pause are placed in the body by its `point`.
response_plan plan_response(const request_facts& request, const content* file, const fault* f,
                            std::uint64_t rate_cap);

/// Appends the status line and header fields of `plan`, with `date` as the Date field, to `out`.
void format_head(const response_plan& plan, std::string_view date, std::string& out);

} // namespace ferry::origin
