#pragma once

#include "net/connection.hpp"

#include <cstddef>

#include <boost/beast/http/basic_parser.hpp>

namespace ferry {

/// Beast's HTTP/1.1 response parser, keeping only what a response_head holds.
///
/// Beast's own response_parser stores every header field (an allocation each) for the caller to
/// look up afterwards; a download needs a dozen of them, so this one copies those as the parser
/// meets them and drops the rest. Body bytes (chunked or close-delimited bodies: a Content-Length
/// body is read straight from the socket) go into the buffer given by body_into().
///
/// One per response: put() what arrived until is_header_done(), then for such bodies
/// body_into() and put() until is_done().
class head_parser final : public boost::beast::http::basic_parser<false> {
public:
    static constexpr std::size_t field_count_limit = 100;

    /// The head goes into `head`, which must outlive the parser's work on it. `head_request`: the
    /// response has no body whatever its fields say.
    head_parser(response_head& head, bool head_request, std::uint32_t header_limit);
    /// Where the next put() copies body bytes.
    void body_into(void* data, std::size_t size) noexcept;
    /// Body bytes the last put() copied.
    std::size_t body_copied() const noexcept { return copied_; }

private:
    void on_request_impl(boost::beast::http::verb, boost::beast::string_view, boost::beast::string_view, int,
                         boost::system::error_code&) override;
    void on_response_impl(int code, boost::beast::string_view reason, int version, boost::system::error_code& ec) override;
    void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string, boost::beast::string_view value,
                       boost::system::error_code& ec) override;
    void on_header_impl(boost::system::error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>&, boost::system::error_code&) override {}
    std::size_t on_body_impl(boost::beast::string_view body, boost::system::error_code& ec) override;
    void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, boost::system::error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body, boost::system::error_code& ec) override;
    void on_finish_impl(boost::system::error_code&) override {}

    response_head* head_ = nullptr;
    std::size_t fields_ = 0;
    char* body_ = nullptr;
    std::size_t room_ = 0;
    std::size_t copied_ = 0;
};

} // namespace ferry
