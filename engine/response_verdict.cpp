#include "engine/response_verdict.hpp"

#include "net/error.hpp"
#include "net/http_fields.hpp"

namespace ferry {
namespace {

using kind = response_verdict::kind;

response_verdict make(kind what, boost::system::error_code error = {}, std::string message = {}) {
    response_verdict v;
    v.what = what;
    v.error = error;
    v.message = std::move(message);
    return v;
}

bool is_redirect(unsigned status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/// The answer carries another version than the one this mirror served before.
bool validator_changed(const mirror_knowledge& known, const std::string& etag, const std::string& last_modified) {
    if (!known.etag.empty())
        return etag != known.etag;
    return !known.last_modified.empty() && !last_modified.empty() && last_modified != known.last_modified;
}

std::string size_message(std::uint64_t has, std::uint64_t expected) {
    return "server has " + std::to_string(has) + " bytes, expected " + std::to_string(expected);
}

} // namespace

namespace {

response_verdict judge_head(const request_facts& asked, const mirror_knowledge& known, const response_head& head) {
    const unsigned status = head.status;
    const std::string etag = strong_etag(head.etag).value_or("");
    const std::string& last_modified = head.last_modified;

    if (is_redirect(status)) {
        auto v = make(kind::redirect);
        v.location = head.location;
        if (v.location.empty()) {
            v = make(kind::drop_mirror, make_error_code(net_error::redirect_without_location));
        }
        return v;
    }

    if (status == 304) {
        auto v = asked.conditional ? make(kind::not_modified)
                                   : make(kind::drop_mirror, make_http_status_error(status));
        v.etag = etag;
        v.last_modified = last_modified;
        return v;
    }

    if (status == 206) {
        auto range = parse_content_range(head.content_range);
        if (!range || !range->total || *range->total == 0) {
            auto v = make(kind::retry, make_error_code(net_error::bad_content_range));
            v.discard_connection = true;
            return v;
        }
        const std::uint64_t total = *range->total;
        const bool other_size = known.size && total != *known.size;
        if (validator_changed(known, etag, last_modified) ||
            (other_size && !known.size_from_manifest && !known.size_from_other_mirror)) {
            auto v = make(kind::restart, make_error_code(net_error::validator_changed));
            v.discard_connection = true;
            return v;
        }
        if (other_size) {
            auto v = make(kind::drop_mirror, make_error_code(net_error::size_mismatch), size_message(total, *known.size));
            v.discard_connection = true;
            return v;
        }
        const std::uint64_t expected_last = (asked.end ? std::min(*asked.end, total) : total) - 1;
        if (range->first != asked.begin || range->last != expected_last) {
            auto v = make(kind::retry, make_error_code(net_error::bad_content_range));
            v.discard_connection = true;
            return v;
        }
        auto v = make(kind::accept);
        v.total = total;
        v.etag = etag;
        v.last_modified = last_modified;
        return v;
    }

    if (status == 200) {
        if (validator_changed(known, etag, last_modified)) {
            auto v = make(kind::restart, make_error_code(net_error::validator_changed));
            v.discard_connection = true;
            return v;
        }
        if (asked.ranged() && (!asked.probing || known.ranges_seen)) {
            // This mirror did ranges for this version: a 200 is a fault of the moment (an edge
            // that lost the range). Reading the whole file again would waste it: drop the answer.
            auto v = make(kind::strike, make_error_code(net_error::range_ignored));
            v.discard_connection = true;
            v.total = head.content_length.value_or(0);
            return v;
        }
        if (known.size && head.content_length && *head.content_length != *known.size) {
            const bool other_file = known.size_from_manifest || known.size_from_other_mirror;
            auto v = make(other_file ? kind::drop_mirror : kind::restart,
                          make_error_code(other_file ? net_error::size_mismatch : net_error::validator_changed),
                          other_file ? size_message(*head.content_length, *known.size) : std::string());
            v.discard_connection = true;
            return v;
        }
        auto v = make(kind::accept);
        v.whole_body = true;
        v.length_known = head.content_length.has_value() && !head.chunked;
        v.total = head.content_length.value_or(0);
        v.etag = etag;
        v.last_modified = last_modified;
        return v;
    }

    if (status == 416) {
        if (auto total = parse_unsatisfied_range(head.content_range); total == 0u && asked.begin == 0) {
            auto v = make(kind::accept); // an empty file
            v.total = 0;
            return v;
        }
        auto v = make(kind::restart, make_error_code(net_error::validator_changed));
        v.discard_connection = true;
        return v;
    }

    auto error = make_http_status_error(status);
    if (status == 408 || status == 429 || status >= 500) {
        auto v = make(kind::retry, error);
        v.host_failure = true;
        v.host_pushback = status == 429 || status == 503;
        return v;
    }
    if ((status == 401 || status == 403 || status == 410) && asked.redirected)
        return make(kind::re_resolve, error);
    auto v = make(kind::drop_mirror, error);
    // An API that explains its refusal (the Hugging Face Hub: a gated repo, a missing file) is
    // quoted, with the request id to report.
    if (auto said = head.extension("X-Error-Message"); !said.empty()) {
        v.message = describe(error) + ": " + std::string(said);
        if (auto id = head.extension("X-Request-Id"); !id.empty())
            v.message += " (request id " + std::string(id) + ")";
    }
    return v;
}

} // namespace

response_verdict judge_response(const request_facts& asked, const mirror_knowledge& known, const response_head& head,
                                std::chrono::system_clock::time_point now) {
    auto v = judge_head(asked, known, head);
    // Retry-After on 429/503, or a RateLimit quota used up (on any answer, a 200 included).
    v.host_pause = requested_pause(head, now);
    return v;
}

const char* to_string(response_verdict::kind k) noexcept {
    switch (k) {
    case kind::accept: return "accept";
    case kind::not_modified: return "not_modified";
    case kind::redirect: return "redirect";
    case kind::re_resolve: return "re_resolve";
    case kind::strike: return "strike";
    case kind::restart: return "restart";
    case kind::retry: return "retry";
    case kind::drop_mirror: return "drop_mirror";
    }
    return "?";
}

} // namespace ferry
