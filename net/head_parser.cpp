#include "net/head_parser.hpp"

#include <algorithm>
#include <cstring>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

namespace ferry {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

head_parser::head_parser(response_head& head, bool head_request, std::uint32_t header_limit) : head_(&head) {
    this->header_limit(header_limit);
    body_limit(boost::none);
    if (head_request)
        skip(true);
}

void head_parser::body_into(void* data, std::size_t size) noexcept {
    body_ = static_cast<char*>(data);
    room_ = size;
    copied_ = 0;
}

void head_parser::on_request_impl(http::verb, beast::string_view, beast::string_view, int, error_code& ec) {
    ec = http::error::bad_version; // a response parser: never called
}

void head_parser::on_response_impl(int code, beast::string_view, int, error_code&) {
    head_->status = unsigned(code);
}

void head_parser::on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                                error_code& ec) {
    if (++fields_ > field_count_limit) {
        ec = http::error::header_limit;
        return;
    }
    // The first of repeated fields counts, as a lookup by name would find it.
    auto keep = [&](std::string& into) {
        if (into.empty())
            into.assign(value.data(), value.size());
    };
    switch (name) {
    case http::field::content_range: keep(head_->content_range); return;
    case http::field::etag: keep(head_->etag); return;
    case http::field::last_modified: keep(head_->last_modified); return;
    case http::field::location: keep(head_->location); return;
    case http::field::retry_after: keep(head_->retry_after); return;
    case http::field::accept_ranges: keep(head_->accept_ranges); return;
    case http::field::unknown:
        if (beast::iequals(name_string, "RateLimit"))
            keep(head_->ratelimit);
        else if (beast::iequals(name_string, "RateLimit-Policy"))
            keep(head_->ratelimit_policy);
        else if (beast::iequals(name_string, "RateLimit-Remaining"))
            keep(head_->ratelimit_remaining);
        else if (beast::iequals(name_string, "RateLimit-Reset"))
            keep(head_->ratelimit_reset);
        break;
    default: break;
    }
    if (name == http::field::link || beast::iequals(name_string.substr(0, 2), "x-"))
        head_->extension_fields.emplace_back(std::string(name_string), std::string(value));
}

std::size_t head_parser::on_body_impl(beast::string_view body, error_code& ec) {
    const std::size_t n = std::min(body.size(), room_);
    if (n > 0)
        std::memcpy(body_, body.data(), n);
    body_ += n;
    room_ -= n;
    copied_ += n;
    if (n < body.size())
        ec = http::error::need_buffer;
    return n;
}

std::size_t head_parser::on_chunk_body_impl(std::uint64_t, beast::string_view body, error_code& ec) {
    return on_body_impl(body, ec);
}

} // namespace ferry
