#pragma once

#include "net/http_call.hpp"

#include <chrono>

namespace ferry {

/// Cross-origin access to the server (`ferry serve --rpc-allow-origin-all`), as aria2 grants it:
/// every answer says `Access-Control-Allow-Origin: *`, and preflights are answered by the server
/// itself. Off by default: browsers then keep other origins' pages from reading answers.
struct cors_options {
    bool allow_any_origin = false;
    std::chrono::seconds max_age{1728000}; ///< how long a browser may cache a preflight (aria2's)
};

/// What CORS adds to answers, and the answer to a preflight. No I/O.
class cors_policy {
public:
    explicit cors_policy(cors_options options = {}) : options_(options) {}

    bool enabled() const noexcept { return options_.allow_any_origin; }

    /// Fields every answer carries (none when disabled).
    header_list answer_headers() const;

    /// Whether `call` is a preflight the server answers itself: enabled, OPTIONS, with Origin and
    /// Access-Control-Request-Method. Other OPTIONS requests go to the application.
    bool is_preflight(const http_call& call) const noexcept;

    /// The answer to a preflight: 204 with the allowed methods (POST, GET, OPTIONS), the headers
    /// the browser asked for, the max age, and `Access-Control-Allow-Private-Network: true` when
    /// the browser asked for private network access (a public page calling 127.0.0.1).
    http_answer preflight_answer(const http_call& call) const;

private:
    cors_options options_;
};

} // namespace ferry
