// libFuzzer target: URL handling (net/url.hpp). The input is split at its first newline into two
// strings A and B; parse_url(A), resolve_location(parse_url(A), B) and join_url(A, B) must never
// crash, and every URL they produce must be usable as-is: parsing its text again gives the same
// URL, its target starts with '/', and no CR, LF or NUL can reach a request line or Host header.
#include "net/url.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

void check_clean(std::string_view s) {
    for (char c : s)
        if (c == '\r' || c == '\n' || c == '\0' || c == ' ')
            __builtin_trap();
}

void check(const ferry::url& u) {
    if (u.scheme != "https" && u.scheme != "http")
        __builtin_trap();
    if (u.target.empty() || u.target.front() != '/')
        __builtin_trap();
    check_clean(u.target);
    check_clean(u.host_header());
    check_clean(u.text);
    (void)u.origin();
    (void)u.redacted();
    auto again = ferry::parse_url(u.text);
    if (!again)
        __builtin_trap(); // the normalized text of a URL must parse
    if (again->scheme != u.scheme || again->host != u.host || again->port != u.port || again->target != u.target)
        __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    auto newline = input.find('\n');
    std::string_view a = input.substr(0, newline);
    std::string_view b = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

    auto base = ferry::parse_url(a);
    if (base) {
        check(*base);
        if (auto next = ferry::resolve_location(*base, b))
            check(*next);
    }
    if (auto joined = ferry::join_url(a, b))
        check(*joined);
    return 0;
}
