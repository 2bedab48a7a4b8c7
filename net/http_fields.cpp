#include "net/http_fields.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

namespace ferry {

namespace {

namespace chr = std::chrono;

constexpr chr::seconds max_retry_after{999'999'999};

constexpr std::array<std::string_view, 12> month_names = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
// Indexed by std::chrono::weekday::c_encoding(): Sunday is 0.
constexpr std::array<std::string_view, 7> day_names = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> long_day_names = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                            "Thursday", "Friday", "Saturday"};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

/// 1*DIGIT into a uint64; nullopt on anything else or overflow.
std::optional<std::uint64_t> parse_u64(std::string_view s) {
    if (s.empty())
        return std::nullopt;
    std::uint64_t n = 0;
    for (char c : s) {
        if (!is_digit(c))
            return std::nullopt;
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (n > (UINT64_MAX - digit) / 10)
            return std::nullopt;
        n = n * 10 + digit;
    }
    return n;
}

/// Strips `bytes ` (unit case-insensitive, one space) from a trimmed value.
bool consume_bytes_unit(std::string_view& s) {
    constexpr std::string_view unit = "bytes";
    if (s.size() <= unit.size() || s[unit.size()] != ' ')
        return false;
    for (std::size_t i = 0; i < unit.size(); ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
        if (c != unit[i])
            return false;
    }
    s.remove_prefix(unit.size() + 1);
    return true;
}

/// A strict left-to-right reader for the fixed-layout date grammars.
class date_reader {
public:
    explicit date_reader(std::string_view s) : s_(s) {}

    bool literal(std::string_view text) {
        if (s_.substr(0, text.size()) != text)
            return false;
        s_.remove_prefix(text.size());
        return true;
    }
    /// Exactly `count` digits.
    std::optional<int> digits(std::size_t count) {
        if (s_.size() < count)
            return std::nullopt;
        int n = 0;
        for (std::size_t i = 0; i < count; ++i) {
            if (!is_digit(s_[i]))
                return std::nullopt;
            n = n * 10 + (s_[i] - '0');
        }
        s_.remove_prefix(count);
        return n;
    }
    /// One of `names`, case-sensitively; its index.
    template <std::size_t N>
    std::optional<int> one_of(const std::array<std::string_view, N>& names) {
        for (std::size_t i = 0; i < N; ++i)
            if (literal(names[i]))
                return static_cast<int>(i);
        return std::nullopt;
    }
    bool at_end() const { return s_.empty(); }

private:
    std::string_view s_;
};

struct civil_time {
    int year = 0, month = 0, day = 0; // month 1-12
    int hour = 0, minute = 0, second = 0;
};

/// time-of-day = hour ":" minute ":" second (second may be 60, a leap second)
bool read_time_of_day(date_reader& in, civil_time& t) {
    auto h = in.digits(2);
    if (!h || !in.literal(":"))
        return false;
    auto m = in.digits(2);
    if (!m || !in.literal(":"))
        return false;
    auto s = in.digits(2);
    if (!s || *h > 23 || *m > 59 || *s > 60)
        return false;
    t.hour = *h, t.minute = *m, t.second = *s;
    return true;
}

/// IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
std::optional<civil_time> read_imf_fixdate(std::string_view s) {
    date_reader in(s);
    civil_time t;
    if (!in.one_of(day_names) || !in.literal(", "))
        return std::nullopt;
    auto day = in.digits(2);
    if (!day || !in.literal(" "))
        return std::nullopt;
    auto month = in.one_of(month_names);
    if (!month || !in.literal(" "))
        return std::nullopt;
    auto year = in.digits(4);
    if (!year || !in.literal(" ") || !read_time_of_day(in, t) || !in.literal(" GMT") || !in.at_end())
        return std::nullopt;
    t.year = *year, t.month = *month + 1, t.day = *day;
    return t;
}

/// RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`
std::optional<civil_time> read_rfc850_date(std::string_view s, int current_year) {
    date_reader in(s);
    civil_time t;
    if (!in.one_of(long_day_names) || !in.literal(", "))
        return std::nullopt;
    auto day = in.digits(2);
    if (!day || !in.literal("-"))
        return std::nullopt;
    auto month = in.one_of(month_names);
    if (!month || !in.literal("-"))
        return std::nullopt;
    auto yy = in.digits(2);
    if (!yy || !in.literal(" ") || !read_time_of_day(in, t) || !in.literal(" GMT") || !in.at_end())
        return std::nullopt;
    // RFC 9110 5.6.7: more than 50 years in the future means the most recent such year in the past.
    int year = current_year - current_year % 100 + *yy;
    if (year > current_year + 50)
        year -= 100;
    t.year = year, t.month = *month + 1, t.day = *day;
    return t;
}

/// asctime: `Sun Nov  6 08:49:37 1994` (day as two digits or as a space and one digit)
std::optional<civil_time> read_asctime_date(std::string_view s) {
    date_reader in(s);
    civil_time t;
    if (!in.one_of(day_names) || !in.literal(" "))
        return std::nullopt;
    auto month = in.one_of(month_names);
    if (!month || !in.literal(" "))
        return std::nullopt;
    std::optional<int> day = in.literal(" ") ? in.digits(1) : in.digits(2);
    if (!day || !in.literal(" ") || !read_time_of_day(in, t) || !in.literal(" "))
        return std::nullopt;
    auto year = in.digits(4);
    if (!year || !in.at_end())
        return std::nullopt;
    t.year = *year, t.month = *month + 1, t.day = *day;
    return t;
}

/// Seconds since the epoch; nullopt for a day that does not exist (Feb 30).
std::optional<chr::sys_seconds> to_sys_seconds(const civil_time& t) {
    const chr::year_month_day ymd{chr::year{t.year}, chr::month{static_cast<unsigned>(t.month)},
                                  chr::day{static_cast<unsigned>(t.day)}};
    if (!ymd.ok())
        return std::nullopt;
    return chr::sys_days{ymd} + chr::hours{t.hour} + chr::minutes{t.minute} + chr::seconds{t.second};
}

std::optional<chr::sys_seconds> parse_http_date(std::string_view s, int current_year) {
    std::optional<civil_time> t;
    if (s.size() > 3 && s[3] == ',')
        t = read_imf_fixdate(s);
    else if (s.size() > 3 && s[3] == ' ')
        t = read_asctime_date(s);
    else
        t = read_rfc850_date(s, current_year);
    if (!t)
        return std::nullopt;
    return to_sys_seconds(*t);
}

} // namespace

std::optional<content_range> parse_content_range(std::string_view value) {
    value = trim_ows(value);
    if (!consume_bytes_unit(value))
        return std::nullopt;
    const auto slash = value.find('/');
    if (slash == std::string_view::npos)
        return std::nullopt;
    const auto range = value.substr(0, slash);
    const auto dash = range.find('-');
    if (dash == std::string_view::npos)
        return std::nullopt;
    const auto first = parse_u64(range.substr(0, dash));
    const auto last = parse_u64(range.substr(dash + 1));
    if (!first || !last || *last < *first)
        return std::nullopt;
    content_range out{*first, *last, std::nullopt};
    const auto total_text = value.substr(slash + 1);
    if (total_text != "*") {
        const auto total = parse_u64(total_text);
        if (!total || *last >= *total)
            return std::nullopt;
        out.total = *total;
    }
    return out;
}

std::optional<std::uint64_t> parse_unsatisfied_range(std::string_view value) {
    value = trim_ows(value);
    if (!consume_bytes_unit(value) || value.substr(0, 2) != "*/")
        return std::nullopt;
    return parse_u64(value.substr(2));
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
    value = trim_ows(value);
    if (value.empty())
        return std::nullopt;
    if (is_digit(value.front())) {
        // delay-seconds: validate all of it, then read what fits; anything longer is over the cap.
        for (char c : value)
            if (!is_digit(c))
                return std::nullopt;
        while (value.size() > 1 && value.front() == '0')
            value.remove_prefix(1);
        if (value.size() > 9)
            return max_retry_after;
        return chr::seconds(static_cast<chr::seconds::rep>(*parse_u64(value)));
    }
    // Whole seconds of `now`, rounded down: then `when - now_s` is the exact delay rounded up.
    // Computing in seconds (not in the clock's nanoseconds) keeps year-9999 dates in range.
    const auto now_s = chr::floor<chr::seconds>(now);
    const int current_year = static_cast<int>(chr::year_month_day{chr::floor<chr::days>(now_s)}.year());
    const auto when = parse_http_date(value, current_year);
    if (!when)
        return std::nullopt;
    if (*when <= now_s)
        return chr::seconds(0);
    return std::min(chr::seconds(*when - now_s), max_retry_after);
}

std::string format_http_date(std::chrono::system_clock::time_point t) {
    const auto seconds = chr::floor<chr::seconds>(t);
    const auto days = chr::floor<chr::days>(seconds);
    const chr::year_month_day ymd{days};
    const chr::hh_mm_ss<chr::seconds> time{seconds - days};
    char text[64];
    std::snprintf(text, sizeof text, "%s, %02u %s %04d %02d:%02d:%02d GMT",
                  day_names[chr::weekday{days}.c_encoding()].data(), static_cast<unsigned>(ymd.day()),
                  month_names[static_cast<unsigned>(ymd.month()) - 1].data(), static_cast<int>(ymd.year()),
                  static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
                  static_cast<int>(time.seconds().count()));
    return text;
}

std::optional<std::string> strong_etag(std::string_view value) {
    value = trim_ows(value);
    if (value.size() < 2 || value.front() != '"' || value.back() != '"')
        return std::nullopt;
    for (char c : value.substr(1, value.size() - 2)) {
        const auto u = static_cast<unsigned char>(c);
        // etagc = %x21 / %x23-7E / obs-text
        if (u < 0x21 || u == '"' || u == 0x7f)
            return std::nullopt;
    }
    return std::string(value);
}

} // namespace ferry
