#pragma once

#include "net/url.hpp"

#include <chrono>
#include <optional>

namespace ferry {

/// When a presigned URL stops working, read from its query, or nullopt when it does not say:
///
/// - S3 (SigV4): `X-Amz-Date=YYYYMMDDTHHMMSSZ` plus `X-Amz-Expires=SECONDS`;
/// - CloudFront and others: `Expires=EPOCH-SECONDS`;
/// - Azure SAS: `se=YYYY-MM-DDTHH:MM:SSZ` (also `YYYY-MM-DD`, or with fractional seconds).
///
/// Parameter names are matched case-sensitively, values percent-decoded. No I/O.
std::optional<std::chrono::system_clock::time_point> signed_url_expiry(const url& u);

} // namespace ferry
