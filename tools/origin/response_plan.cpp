#include "tools/origin/response_plan.hpp"

#include "tools/origin/preconditions.hpp"
#include "tools/origin/range_header.hpp"

#include <boost/beast/http/status.hpp>

#include <algorithm>

namespace ferry::origin {

namespace {

// The quota the RateLimit fields announce: 100 requests a minute.
constexpr unsigned ratelimit_limit = 100;
constexpr unsigned ratelimit_window = 60;

std::string_view reason(unsigned status) {
    auto text = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
    return text.empty() ? std::string_view("Status") : std::string_view(text.data(), text.size());
}

void text_body(response_plan& plan, unsigned status, std::string text) {
    plan.status = status;
    plan.content_type = "text/plain";
    plan.text = std::move(text);
    plan.content_length = plan.text.size();
}

/// Offset `point` (in [0, 1)) of the way into `length` bytes: below `length`.
std::uint64_t at_point(double point, std::uint64_t length) {
    auto at = static_cast<std::uint64_t>(std::clamp(point, 0.0, 1.0) * double(length));
    return std::min(at, length - 1);
}

std::uint64_t stricter(std::uint64_t a, std::uint64_t b) {
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return std::min(a, b);
}

} // namespace

response_plan plan_response(const request_facts& request, const content* file, const fault* f,
                            std::uint64_t rate_cap) {
    response_plan plan;
    plan.keep_alive = request.keep_alive && !(f && f->close);
    plan.announce_keep_alive = plan.keep_alive && request.http10;
    plan.send_body = !request.head;
    plan.rate = stricter(rate_cap, f ? f->rate : 0);
    if (f) {
        plan.delay = f->first_byte_delay;
        plan.header_padding = f->header_padding;
        if (f->ratelimit_remaining) {
            plan.ratelimit = "limit=" + std::to_string(ratelimit_limit) +
                             ", remaining=" + std::to_string(*f->ratelimit_remaining) +
                             ", reset=" + std::to_string(f->ratelimit_reset);
            plan.ratelimit_policy = std::to_string(ratelimit_limit) + ";w=" + std::to_string(ratelimit_window);
        }
    }

    if (f && f->status) {
        plan.retry_after = f->retry_after;
        plan.location = f->location;
        std::string text = std::to_string(f->status) + " " + std::string(reason(f->status));
        if (!f->location.empty())
            text += ": " + f->location;
        text_body(plan, f->status, f->text.empty() ? text + "\n" : f->text);
        if (!f->text_type.empty())
            plan.content_type = f->text_type;
        plan.close_after = !plan.keep_alive;
        return plan;
    }
    if (!file) {
        text_body(plan, 404, "404 Not Found\n");
        plan.close_after = !plan.keep_alive;
        return plan;
    }

    const std::uint64_t size = file->size();
    plan.etag = file->etag();
    plan.last_modified = file->last_modified();
    plan.accept_ranges = true;

    if (not_modified(request.if_none_match, request.if_modified_since, file->etag(), file->last_modified())) {
        plan.status = 304;
        plan.content_length = 0;
        plan.send_body = false;
        plan.close_after = !plan.keep_alive;
        return plan;
    }

    range_request range;
    bool validator_matches = request.if_range.empty() || request.if_range == file->etag() ||
                             request.if_range == file->last_modified();
    if (!request.range.empty() && !(f && f->ignore_range) && validator_matches)
        range = parse_range(request.range, size);

    plan.body_from_content = true;
    if (range.kind == range_request::unsatisfiable) {
        plan.status = 416;
        plan.content_range = "bytes */" + std::to_string(size);
        plan.body_from_content = false;
    } else if (range.kind == range_request::satisfiable) {
        plan.status = 206;
        plan.offset = range.first;
        plan.length = range.last - range.first + 1;
        std::uint64_t claimed = range.first;
        if (f && f->content_range_shift) {
            // Shifted but kept inside the file, so a claim is always a real range of it.
            std::int64_t shifted = std::int64_t(range.first) + f->content_range_shift;
            claimed = std::uint64_t(std::clamp<std::int64_t>(shifted, 0, std::int64_t(size - plan.length)));
            if (f->shifted_body)
                plan.offset = claimed;
        }
        plan.content_range = "bytes " + std::to_string(claimed) + "-" + std::to_string(claimed + plan.length - 1) +
                             "/" + std::to_string(size);
    } else {
        plan.status = 200;
        plan.length = size;
    }
    plan.content_length = plan.length;

    if (f) {
        if (f->drop_after)
            plan.drop_after = std::min(*f->drop_after, plan.length);
        if (f->stall_after)
            plan.stall_after = std::min(*f->stall_after, plan.length);
        // A drop strictly inside the body (at least a byte sent, at least one missing); a pause
        // anywhere before its last byte.
        if (f->drop_mid)
            plan.drop_after = plan.length > 1 ? 1 + at_point(f->point, plan.length - 1) : 0;
        if (f->pause.count() > 0 && plan.length > 0) {
            plan.pause_at = at_point(f->point, plan.length);
            plan.pause = f->pause;
        }
        if (f->short_body) {
            plan.content_length += f->short_body;
            plan.close_after = true;
        }
        plan.extra_bytes = f->long_body;
    }
    if (!plan.send_body) {
        plan.drop_after.reset();
        plan.stall_after.reset();
        plan.pause_at.reset();
        plan.extra_bytes = 0;
    }
    plan.close_after = plan.close_after || !plan.keep_alive;
    return plan;
}

void format_head(const response_plan& plan, std::string_view date, std::string& out) {
    auto field = [&out](std::string_view name, std::string_view value) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    };
    out += "HTTP/1.1 ";
    out += std::to_string(plan.status);
    out += ' ';
    out += reason(plan.status);
    out += "\r\n";
    field("Server", "ferry-origin");
    field("Date", date);
    // A 304 has no body and says nothing of one (RFC 9110 §15.4.5).
    if (plan.status != 304) {
        field("Content-Type", plan.content_type);
        field("Content-Length", std::to_string(plan.content_length));
    }
    if (plan.accept_ranges)
        field("Accept-Ranges", "bytes");
    if (!plan.etag.empty())
        field("ETag", plan.etag);
    if (!plan.last_modified.empty())
        field("Last-Modified", plan.last_modified);
    if (!plan.content_range.empty())
        field("Content-Range", plan.content_range);
    if (!plan.retry_after.empty())
        field("Retry-After", plan.retry_after);
    if (!plan.location.empty())
        field("Location", plan.location);
    if (!plan.ratelimit.empty()) {
        field("RateLimit", plan.ratelimit);
        field("RateLimit-Policy", plan.ratelimit_policy);
    }
    for (const auto& [name, value] : plan.fields)
        field(name, value);
    // Several fields of at most 8 KiB, like a pile of cookies: clients that cap a single field
    // (Beast: 64 KiB) still see a large head rather than one absurd value.
    constexpr std::uint64_t padding_field = 8 * 1024;
    for (std::uint64_t left = plan.header_padding, n = 1; left > 0; ++n) {
        auto size = std::min(left, padding_field);
        out += "X-Padding-" + std::to_string(n) + ": ";
        out.append(size, 'p');
        out += "\r\n";
        left -= size;
    }
    if (!plan.keep_alive)
        field("Connection", "close");
    else if (plan.announce_keep_alive)
        field("Connection", "keep-alive");
    out += "\r\n";
}

} // namespace ferry::origin
