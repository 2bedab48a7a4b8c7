#pragma once

// Signed, expiring URLs like the presigned ones of S3, CloudFront and Azure Blob storage: the
// origin redirects a plain path to one (fault::signed_redirect) and checks those it is asked for.
// Pure functions: the time and the secret are arguments.

#include "tools/origin/fault.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace ferry::origin {

enum class signature_verdict {
    unsigned_request, ///< no signature in the query: an ordinary request
    valid,            ///< signed by this server and not expired
    expired,          ///< signed by this server, but its expiry time has come
    forged,           ///< a signature that does not match the path and expiry, or a malformed one
};

struct signature_check {
    signature_verdict verdict = signature_verdict::unsigned_request;
    sign_style style = sign_style::amz; ///< recognised from the query's parameters
};

/// The query (without '?') of a URL of decoded `path`, signed at `issued` (seconds since the
/// epoch) and valid for `ttl`:
///
///   amz         X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=...&X-Amz-Date=YYYYMMDDTHHMMSSZ
///               &X-Amz-Expires=SECONDS&X-Amz-SignedHeaders=host&X-Amz-Signature=HEX
///   cloudfront  Expires=EPOCH&Signature=SIG&Key-Pair-Id=KFERRYORIGIN (base64 with -, _ and ~ for
///               +, = and /, as CloudFront writes it)
///   azure       sv=2022-11-02&sr=b&sp=r&se=YYYY-MM-DDTHH%3AMM%3ASSZ&sig=SIG (percent-encoded base64)
///
/// The signature is an HMAC-SHA256 under `secret` of the path and the expiry time (issued + ttl).
std::string sign_query(sign_style style, std::string_view path, std::int64_t issued, std::chrono::seconds ttl,
                       std::string_view secret);

/// Checks the signature in `query` (the part of a target after '?', maybe empty) of a request for
/// decoded `path` at time `now`: expired once now >= the expiry time. A query with a signature
/// parameter of one style (`X-Amz-Signature`, `Signature`, `sig`) is a signed request.
signature_check check_signed_query(std::string_view query, std::string_view path, std::int64_t now,
                                   std::string_view secret);

/// The answer that carries out `f`'s signed redirect: `f` with status 302 (unless it names
/// another) and a Location to the same target path on the signing host (fault::sign_host, else
/// 127.0.0.1 when the request's `host` field names localhost and localhost otherwise; the port
/// of `host` is kept) with sign_query's query. `target` is the request target as sent.
fault signed_redirect_answer(const fault& f, std::string_view target, std::string_view path, std::string_view host,
                             bool tls, std::int64_t now, std::string_view secret);

/// The 403 a refused signed request gets: S3's XML error for amz (`AccessDenied`, "Request has
/// expired", or `SignatureDoesNotMatch`), a short text for the others.
fault signed_refusal(const signature_check& check);

} // namespace ferry::origin
