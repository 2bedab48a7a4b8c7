#include "tools/origin/signed_url.hpp"

#include "tools/origin/content_catalog.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <ctime>
#include <optional>

namespace ferry::origin {

namespace {

constexpr const char* amz_time = "%Y%m%dT%H%M%SZ";
constexpr const char* azure_time = "%Y-%m-%dT%H:%M:%SZ";

std::string format_time(std::int64_t seconds, const char* format) {
    std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof text, format, &tm);
    return text;
}

std::optional<std::int64_t> parse_time(const std::string& text, const char* format) {
    std::tm tm{};
    const char* end = strptime(text.c_str(), format, &tm);
    if (!end || *end != '\0')
        return std::nullopt;
    return std::int64_t(timegm(&tm));
}

std::optional<std::int64_t> parse_integer(std::string_view text) {
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || end != text.data() + text.size() || n < 0)
        return std::nullopt;
    return n;
}

/// The decoded value of query parameter `name`; nullopt when absent or badly encoded.
std::optional<std::string> parameter(std::string_view query, std::string_view name) {
    auto value = query_value(query, name);
    return value ? percent_decode(*value) : std::nullopt;
}

std::string mac(std::string_view path, std::int64_t expiry, std::string_view secret) {
    std::string message = std::string(path) + '\n' + std::to_string(expiry);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned length = 0;
    HMAC(EVP_sha256(), secret.data(), int(secret.size()), reinterpret_cast<const unsigned char*>(message.data()),
         message.size(), digest, &length);
    return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string base64(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data()), int(bytes.size()));
    out.resize(std::size_t(n));
    return out;
}

/// The signature as the style writes it in the URL, before percent-encoding.
std::string signature_text(sign_style style, std::string_view path, std::int64_t expiry, std::string_view secret) {
    auto raw = mac(path, expiry, secret);
    if (style == sign_style::amz)
        return hex_text(raw);
    auto text = base64(raw);
    if (style == sign_style::cloudfront)
        for (auto& c : text)
            c = c == '+' ? '-' : c == '=' ? '_' : c == '/' ? '~' : c;
    return text;
}

std::string percent_encode(std::string_view text) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                     c == '_' || c == '.' || c == '~';
        if (plain) {
            out += char(c);
        } else {
            out += '%';
            out += digits[c >> 4];
            out += digits[c & 15];
        }
    }
    return out;
}

/// The parameters of one style that a check needs: what the signature covers and the signature.
struct signed_fields {
    std::optional<std::int64_t> expiry;
    std::optional<std::string> signature;
};

signed_fields read_fields(sign_style style, std::string_view query) {
    signed_fields out;
    switch (style) {
    case sign_style::amz: {
        auto date = parameter(query, "X-Amz-Date");
        auto expires = parameter(query, "X-Amz-Expires");
        auto issued = date ? parse_time(*date, amz_time) : std::nullopt;
        auto ttl = expires ? parse_integer(*expires) : std::nullopt;
        if (issued && ttl)
            out.expiry = *issued + *ttl;
        out.signature = parameter(query, "X-Amz-Signature");
        break;
    }
    case sign_style::cloudfront: {
        auto expires = parameter(query, "Expires");
        out.expiry = expires ? parse_integer(*expires) : std::nullopt;
        out.signature = parameter(query, "Signature");
        break;
    }
    case sign_style::azure: {
        auto se = parameter(query, "se");
        out.expiry = se ? parse_time(*se, azure_time) : std::nullopt;
        out.signature = parameter(query, "sig");
        break;
    }
    }
    return out;
}

} // namespace

std::string sign_query(sign_style style, std::string_view path, std::int64_t issued, std::chrono::seconds ttl,
                       std::string_view secret) {
    const std::int64_t expiry = issued + ttl.count();
    const auto signature = signature_text(style, path, expiry, secret);
    switch (style) {
    case sign_style::amz:
        return "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" +
               percent_encode("FERRYORIGIN/" + format_time(issued, "%Y%m%d") + "/us-east-1/s3/aws4_request") +
               "&X-Amz-Date=" + format_time(issued, amz_time) + "&X-Amz-Expires=" + std::to_string(ttl.count()) +
               "&X-Amz-SignedHeaders=host&X-Amz-Signature=" + signature;
    case sign_style::cloudfront:
        return "Expires=" + std::to_string(expiry) + "&Signature=" + signature + "&Key-Pair-Id=KFERRYORIGIN";
    case sign_style::azure:
        return "sv=2022-11-02&sr=b&sp=r&se=" + percent_encode(format_time(expiry, azure_time)) +
               "&sig=" + percent_encode(signature);
    }
    return {};
}

signature_check check_signed_query(std::string_view query, std::string_view path, std::int64_t now,
                                   std::string_view secret) {
    signature_check check;
    if (parameter(query, "X-Amz-Signature"))
        check.style = sign_style::amz;
    else if (parameter(query, "Signature"))
        check.style = sign_style::cloudfront;
    else if (parameter(query, "sig"))
        check.style = sign_style::azure;
    else
        return check;
    auto fields = read_fields(check.style, query);
    if (!fields.expiry || !fields.signature) {
        check.verdict = signature_verdict::forged;
        return check;
    }
    auto expected = signature_text(check.style, path, *fields.expiry, secret);
    bool same = expected.size() == fields.signature->size() &&
                CRYPTO_memcmp(expected.data(), fields.signature->data(), expected.size()) == 0;
    check.verdict = !same                   ? signature_verdict::forged
                    : now >= *fields.expiry ? signature_verdict::expired
                                            : signature_verdict::valid;
    return check;
}

fault signed_redirect_answer(const fault& f, std::string_view target, std::string_view path, std::string_view host,
                             bool tls, std::int64_t now, std::string_view secret) {
    // Host is `name`, `name:port`, `[v6]` or `[v6]:port`.
    std::string_view name = host, port;
    auto bracket = host.find(']');
    auto colon = host.rfind(':');
    if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
        name = host.substr(0, colon);
        port = host.substr(colon);
    }
    std::string signing_host = !f.sign_host.empty() ? f.sign_host
                               : name == "localhost" ? std::string("127.0.0.1")
                                                     : std::string("localhost");
    fault answer = f;
    answer.signed_redirect.reset();
    if (!answer.status)
        answer.status = 302;
    answer.location = std::string(tls ? "https://" : "http://") + signing_host + std::string(port) +
                      std::string(target.substr(0, target.find_first_of("?#"))) + "?" +
                      sign_query(f.style, path, now, *f.signed_redirect, secret);
    return answer;
}

fault signed_refusal(const signature_check& check) {
    fault answer{.status = 403};
    bool expired = check.verdict == signature_verdict::expired;
    if (check.style == sign_style::amz) {
        answer.text_type = "application/xml";
        answer.text = std::string("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>") +
                      (expired ? "AccessDenied</Code><Message>Request has expired"
                               : "SignatureDoesNotMatch</Code><Message>The request signature we calculated does "
                                 "not match the signature you provided.") +
                      "</Message><RequestId>FERRYORIGIN</RequestId></Error>\n";
    } else {
        answer.text = expired ? "403 Forbidden: the signed URL has expired\n"
                              : "403 Forbidden: the URL's signature does not match\n";
    }
    return answer;
}

} // namespace ferry::origin
