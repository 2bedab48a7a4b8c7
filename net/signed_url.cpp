#include "net/signed_url.hpp"

#include <charconv>
#include <string>
#include <string_view>

#include <boost/url/parse.hpp>

namespace ferry {
namespace {

using clock = std::chrono::system_clock;

std::optional<std::int64_t> number(std::string_view text) {
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
        return std::nullopt;
    return n;
}

/// Digits [pos, pos + len) of `text` as a number.
std::optional<int> field(std::string_view text, std::size_t pos, std::size_t len) {
    if (pos + len > text.size())
        return std::nullopt;
    for (std::size_t i = pos; i < pos + len; ++i)
        if (text[i] < '0' || text[i] > '9')
            return std::nullopt;
    return static_cast<int>(*number(text.substr(pos, len)));
}

std::optional<clock::time_point> civil(int y, int mo, int d, int h, int mi, int s) {
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return std::nullopt;
    std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(unsigned(mo)), std::chrono::day(unsigned(d))};
    if (!ymd.ok())
        return std::nullopt;
    return clock::time_point(std::chrono::sys_days(ymd)) + std::chrono::hours(h) + std::chrono::minutes(mi) +
           std::chrono::seconds(s);
}

/// `YYYYMMDDTHHMMSSZ` (the AWS basic format).
std::optional<clock::time_point> amz_date(std::string_view t) {
    if (t.size() != 16 || t[8] != 'T' || t[15] != 'Z')
        return std::nullopt;
    auto y = field(t, 0, 4), mo = field(t, 4, 2), d = field(t, 6, 2);
    auto h = field(t, 9, 2), mi = field(t, 11, 2), s = field(t, 13, 2);
    if (!y || !mo || !d || !h || !mi || !s)
        return std::nullopt;
    return civil(*y, *mo, *d, *h, *mi, *s);
}

/// `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DDTHH:MM:SS.fffZ` (ISO 8601 in UTC).
std::optional<clock::time_point> iso_date(std::string_view t) {
    if (t.size() < 10 || t[4] != '-' || t[7] != '-')
        return std::nullopt;
    auto y = field(t, 0, 4), mo = field(t, 5, 2), d = field(t, 8, 2);
    if (!y || !mo || !d)
        return std::nullopt;
    if (t.size() == 10)
        return civil(*y, *mo, *d, 0, 0, 0);
    if (t.size() < 20 || t[10] != 'T' || t[13] != ':' || t[16] != ':' || t.back() != 'Z')
        return std::nullopt;
    auto h = field(t, 11, 2), mi = field(t, 14, 2), s = field(t, 17, 2);
    if (!h || !mi || !s || (t.size() > 20 && t[19] != '.'))
        return std::nullopt;
    return civil(*y, *mo, *d, *h, *mi, *s);
}

} // namespace

std::optional<clock::time_point> signed_url_expiry(const url& u) {
    auto parsed = boost::urls::parse_uri(u.text);
    if (!parsed)
        return std::nullopt;
    std::optional<std::string> amz_date_text, amz_expires, expires, se;
    for (auto param : parsed->params()) {
        if (!param.has_value)
            continue;
        if (param.key == "X-Amz-Date")
            amz_date_text = param.value;
        else if (param.key == "X-Amz-Expires")
            amz_expires = param.value;
        else if (param.key == "Expires")
            expires = param.value;
        else if (param.key == "se")
            se = param.value;
    }
    if (amz_date_text && amz_expires) {
        auto start = amz_date(*amz_date_text);
        auto seconds = number(*amz_expires);
        if (start && seconds && *seconds >= 0 && *seconds <= 10 * 365 * 86400LL)
            return *start + std::chrono::seconds(*seconds);
    }
    if (expires) {
        if (auto epoch = number(*expires); epoch && *epoch > 0 && *epoch < (1LL << 40))
            return clock::time_point(std::chrono::seconds(*epoch));
    }
    if (se)
        return iso_date(*se);
    return std::nullopt;
}

} // namespace ferry
