#pragma once

#include <string_view>

namespace ferry {

/// The text formats a scrape may be answered in.
enum class exposition_format {
    prometheus_text, ///< Prometheus text format 0.0.4
    openmetrics,     ///< OpenMetrics 1.0.0 text
};

/// The Content-Type header value of an answer in `format`.
std::string_view content_type(exposition_format format) noexcept;

/// The format to answer a scrape with, from its Accept header value. OpenMetrics only when the
/// header asks for `application/openmetrics-text` (version 1.0.0, 0.0.1 or none given) and
/// prefers it to every type the text format answers (`text/plain`, `text/*`, `*/*`): by q, then
/// the more specific type, then the one listed first. The text format otherwise, an empty or
/// unreadable header included.
exposition_format negotiate_exposition(std::string_view accept);

} // namespace ferry
