#pragma once

#include "net/connection.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <boost/system/error_code.hpp>

namespace ferry {

/// What a request asked for.
struct request_facts {
    std::uint64_t begin = 0;
    std::optional<std::uint64_t> end;  ///< exclusive; nullopt: to the end of the file
    /// The file's first request, before anything is known of it: a 200 (no ranges) is an answer.
    bool probing = false;
    /// The target was reached through a redirect (a CDN's signed URL, say): 401/403/410 there
    /// mean the signature expired, and the original URL gives a fresh one.
    bool redirected = false;
    /// If-None-Match / If-Modified-Since went along (a rerun asking whether a file changed).
    bool conditional = false;

    bool ranged() const noexcept { return begin > 0 || end.has_value(); }
};

/// What is known of the file on the mirror that answered.
struct mirror_knowledge {
    std::optional<std::uint64_t> size; ///< the file's size, from an earlier answer or the manifest
    bool size_from_manifest = false;   ///< `size` is what the manifest promises
    /// `size` is what another mirror said, and this one has told nothing yet: a different size
    /// here is a different file, not a new version.
    bool size_from_other_mirror = false;
    std::string etag;                  ///< the mirror's strong ETag ("" unknown)
    std::string last_modified;         ///< used as the validator only without an ETag
    /// This mirror answered 206 for this validator before (in this run or the journal's): a 200
    /// to a range is then a fault of the moment, not a server without ranges.
    bool ranges_seen = false;
};

/// How a response head is to be taken. Decided by judge_response() alone: the one place that
/// says what is retryable and what counts against a host.
struct response_verdict {
    enum class kind {
        accept,       ///< read the body: a 206 for what was asked, or a 200 of the whole file
        not_modified, ///< 304 to a conditional request: what is on disk is current
        redirect,     ///< follow `location`
        re_resolve,   ///< a redirected (signed) URL was refused: ask the original URL again
        strike,       ///< a 200 to a range on a mirror that did ranges: drop it, retry later
        restart,      ///< the file changed (validator or size): start it over
        retry,        ///< a transient refusal (408, 429, 5xx) or a broken answer: back off
        drop_mirror,  ///< this mirror cannot serve the file (404, 403, 410, other 4xx, wrong size)
    };
    kind what = kind::retry;
    boost::system::error_code error; ///< what went wrong (not for accept / not_modified / redirect)
    std::string message;             ///< one line for the user, when `error` needs more words

    // accept
    std::uint64_t total = 0;   ///< the file's size (also for a 416 on an empty file)
    bool whole_body = false;   ///< a 200: the body is the whole file from byte 0
    bool length_known = true;  ///< with whole_body: false when the body's length is not announced
    std::string etag;          ///< validator the answer carries
    std::string last_modified;

    std::string location;      ///< redirect: the Location field as sent

    /// How long the host asked not to be sent requests (Retry-After on 429 / 503, or a RateLimit
    /// quota with nothing remaining, on any answer): every request to it waits, not only this
    /// file's (connection_pool::hold_host).
    std::optional<std::chrono::milliseconds> host_pause;
    bool host_pushback = false; ///< 429 / 503: fewer connections to this host
    bool host_failure = false;  ///< counts against the host's circuit breaker (408, 429, 5xx)
    /// The connection must not be reused: a body we do not read, or an answer not to be trusted.
    bool discard_connection = false;
};

/// Judges a response head against what was asked and what is known. No I/O, no clock of its own.
response_verdict judge_response(const request_facts& asked, const mirror_knowledge& known, const response_head& head,
                                std::chrono::system_clock::time_point now);

const char* to_string(response_verdict::kind k) noexcept;

} // namespace ferry
