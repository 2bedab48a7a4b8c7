#include "tools/origin/preconditions.hpp"

#include <array>
#include <chrono>

namespace ferry::origin {

namespace {

constexpr std::array<std::string_view, 12> month_names = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> short_days = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> long_days = {"Monday", "Tuesday", "Wednesday", "Thursday",
                                                       "Friday", "Saturday", "Sunday"};

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_space(s.back()))
        s.remove_suffix(1);
    return s;
}

/// Reads the text of a date from left to right; any mismatch sets `ok` to false for good.
struct cursor {
    std::string_view rest;
    bool ok = true;

    bool literal(std::string_view text) {
        ok = ok && rest.starts_with(text);
        if (ok)
            rest.remove_prefix(text.size());
        return ok;
    }
    /// Exactly `digits` digits.
    int number(std::size_t digits) {
        int n = 0;
        for (std::size_t i = 0; ok && i < digits; ++i) {
            ok = !rest.empty() && rest.front() >= '0' && rest.front() <= '9';
            if (ok) {
                n = n * 10 + (rest.front() - '0');
                rest.remove_prefix(1);
            }
        }
        return n;
    }
    /// The index of the name `rest` starts with, or -1.
    template <std::size_t N>
    int name(const std::array<std::string_view, N>& names) {
        for (std::size_t i = 0; ok && i < N; ++i)
            if (rest.starts_with(names[i])) {
                rest.remove_prefix(names[i].size());
                return int(i);
            }
        ok = false;
        return -1;
    }
    void time_of_day(int& h, int& m, int& s) {
        h = number(2);
        literal(":");
        m = number(2);
        literal(":");
        s = number(2);
    }
    /// What IMF-fixdate and RFC 850 share after the day's name: `DD` sep `Mon` sep year, a space,
    /// `HH:MM:SS GMT`.
    void day_month_year_time(std::string_view separator, std::size_t year_digits, int& day, int& month, int& year,
                             int& h, int& m, int& s) {
        day = number(2);
        literal(separator);
        month = name(month_names) + 1;
        literal(separator);
        year = number(year_digits);
        literal(" ");
        time_of_day(h, m, s);
        literal(" GMT");
    }
};

std::optional<std::int64_t> to_epoch(int year, int month, int day, int h, int m, int s) {
    using namespace std::chrono;
    year_month_day date{std::chrono::year{year}, std::chrono::month{unsigned(month)}, std::chrono::day{unsigned(day)}};
    if (!date.ok() || h > 23 || m > 59 || s > 60) // 60: a leap second
        return std::nullopt;
    return std::int64_t(sys_days(date).time_since_epoch().count()) * 86400 + h * 3600 + m * 60 + s;
}

} // namespace

std::optional<std::int64_t> parse_http_date(std::string_view text) {
    text = trim(text);
    int year = 0, month = 0, day = 0, h = 0, m = 0, s = 0;
    cursor c{text};
    if (text.size() > 3 && text[3] == ',') { // IMF-fixdate
        c.name(short_days);
        c.literal(", ");
        c.day_month_year_time(" ", 4, day, month, year, h, m, s);
    } else if (text.find(',') != std::string_view::npos) { // RFC 850
        c.name(long_days);
        c.literal(", ");
        c.day_month_year_time("-", 2, day, month, year, h, m, s);
        year += year < 70 ? 2000 : 1900;
    } else { // asctime: the day of the month is padded with a space
        c.name(short_days);
        c.literal(" ");
        month = c.name(month_names) + 1;
        c.literal(" ");
        if (!c.rest.empty() && c.rest.front() == ' ') {
            c.rest.remove_prefix(1);
            day = c.number(1);
        } else {
            day = c.number(2);
        }
        c.literal(" ");
        c.time_of_day(h, m, s);
        c.literal(" ");
        year = c.number(4);
    }
    if (!c.ok || !c.rest.empty())
        return std::nullopt;
    return to_epoch(year, month, day, h, m, s);
}

bool if_none_match_matches(std::string_view field, std::string_view etag) {
    auto opaque = [](std::string_view tag) { return tag.starts_with("W/") ? tag.substr(2) : tag; };
    field = trim(field);
    if (field == "*")
        return true;
    const std::string_view ours = opaque(etag);
    while (!field.empty()) {
        if (field.front() == ',' || is_space(field.front())) {
            field.remove_prefix(1);
            continue;
        }
        std::size_t start = field.starts_with("W/") ? 2 : 0;
        if (field.size() <= start || field[start] != '"')
            return false; // not an entity tag: the rest cannot be read
        auto close = field.find('"', start + 1);
        if (close == std::string_view::npos)
            return false;
        if (field.substr(start, close + 1 - start) == ours)
            return true;
        field.remove_prefix(close + 1);
    }
    return false;
}

bool not_modified(std::string_view if_none_match, std::string_view if_modified_since, std::string_view etag,
                  std::string_view last_modified) {
    if (!trim(if_none_match).empty())
        return if_none_match_matches(if_none_match, etag);
    if (if_modified_since.empty() || last_modified.empty())
        return false;
    auto since = parse_http_date(if_modified_since);
    auto modified = parse_http_date(last_modified);
    return since && modified && *modified <= *since;
}

} // namespace ferry::origin
