#include "net/http_fields.hpp"

#include "net/connection.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <variant>

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

// Structured Fields (RFC 9651), as much as RateLimit needs: Lists and Dictionaries of Items with
// parameters, every bare item type but Date and Display String (whose fields then fail), Inner
// Lists parsed and kept without their members.

struct sf_inner_list {};
/// Integer, Decimal (its text), String, Token, Byte Sequence (its text), Boolean, Inner List.
struct sf_token {
    std::string text;
};
struct sf_bytes {
    std::string text;
};
using sf_value = std::variant<std::int64_t, double, std::string, sf_token, sf_bytes, bool, sf_inner_list>;

struct sf_param {
    std::string key;
    sf_value value;
};

/// A List member (key empty) or a Dictionary member.
struct sf_member {
    std::string key;
    sf_value value;
    std::vector<sf_param> params;

    /// The last parameter `key` (a later one overrides an earlier one).
    const sf_value* param(std::string_view name) const {
        const sf_value* found = nullptr;
        for (auto& p : params)
            if (p.key == name)
                found = &p.value;
        return found;
    }
};

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_lcalpha(char c) { return c >= 'a' && c <= 'z'; }
bool is_tchar(char c) {
    return is_alpha(c) || is_digit(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
bool is_base64(char c) { return is_alpha(c) || is_digit(c) || c == '+' || c == '/' || c == '='; }

class sf_reader {
public:
    explicit sf_reader(std::string_view s) : s_(trim_ows(s)) {}

    std::optional<std::vector<sf_member>> list() {
        std::vector<sf_member> out;
        while (!s_.empty()) {
            sf_member m;
            if (!member_value(m) || !next_member())
                return std::nullopt;
            out.push_back(std::move(m));
        }
        return out;
    }

    std::optional<std::vector<sf_member>> dictionary() {
        std::vector<sf_member> out;
        while (!s_.empty()) {
            sf_member m;
            if (!key(m.key))
                return std::nullopt;
            if (eat('=')) {
                if (!member_value(m))
                    return std::nullopt;
            } else {
                m.value = true;
                if (!params(m.params))
                    return std::nullopt;
            }
            if (!next_member())
                return std::nullopt;
            // A key seen again replaces the earlier member.
            auto same = std::find_if(out.begin(), out.end(), [&](const sf_member& o) { return o.key == m.key; });
            if (same != out.end())
                out.erase(same);
            out.push_back(std::move(m));
        }
        return out;
    }

private:
    bool eat(char c) {
        if (s_.empty() || s_.front() != c)
            return false;
        s_.remove_prefix(1);
        return true;
    }
    void skip_sp() {
        while (eat(' ')) {
        }
    }
    void skip_ows() {
        while (eat(' ') || eat('\t')) {
        }
    }
    /// After a member: the end, or a comma followed by another member.
    bool next_member() {
        skip_ows();
        if (s_.empty())
            return true;
        if (!eat(','))
            return false;
        skip_ows();
        return !s_.empty(); // a trailing comma is an error
    }
    bool member_value(sf_member& m) {
        if (!s_.empty() && s_.front() == '(') {
            if (!inner_list())
                return false;
            m.value = sf_inner_list{};
        } else if (!bare_item(m.value)) {
            return false;
        }
        return params(m.params);
    }
    bool inner_list() {
        eat('(');
        for (;;) {
            skip_sp();
            if (eat(')'))
                return true;
            sf_value v;
            std::vector<sf_param> ps;
            if (!bare_item(v) || !params(ps))
                return false;
            if (s_.empty() || (s_.front() != ' ' && s_.front() != ')'))
                return false;
        }
    }
    bool params(std::vector<sf_param>& out) {
        while (eat(';')) {
            skip_sp();
            sf_param p;
            if (!key(p.key))
                return false;
            if (eat('=')) {
                if (!bare_item(p.value))
                    return false;
            } else {
                p.value = true;
            }
            out.push_back(std::move(p));
        }
        return true;
    }
    bool key(std::string& out) {
        if (s_.empty() || !(is_lcalpha(s_.front()) || s_.front() == '*'))
            return false;
        std::size_t n = 1;
        while (n < s_.size() && (is_lcalpha(s_[n]) || is_digit(s_[n]) || s_[n] == '_' || s_[n] == '-' ||
                                 s_[n] == '.' || s_[n] == '*'))
            ++n;
        out.assign(s_.substr(0, n));
        s_.remove_prefix(n);
        return true;
    }
    bool bare_item(sf_value& out) {
        if (s_.empty())
            return false;
        const char c = s_.front();
        if (c == '-' || is_digit(c))
            return number(out);
        if (c == '"')
            return string(out);
        if (c == ':')
            return bytes(out);
        if (c == '?')
            return boolean(out);
        if (is_alpha(c) || c == '*')
            return token(out);
        return false;
    }
    bool number(sf_value& out) {
        const bool negative = eat('-');
        std::size_t n = 0, dot = std::string_view::npos;
        while (n < s_.size() && (is_digit(s_[n]) || (s_[n] == '.' && dot == std::string_view::npos))) {
            if (s_[n] == '.')
                dot = n;
            ++n;
        }
        const auto text = s_.substr(0, n);
        if (text.empty() || !is_digit(text.front()))
            return false;
        if (dot == std::string_view::npos) {
            if (text.size() > 15)
                return false;
            auto v = static_cast<std::int64_t>(*parse_u64(text));
            out = negative ? -v : v;
        } else {
            const auto fraction = text.size() - dot - 1;
            if (dot > 12 || fraction < 1 || fraction > 3)
                return false;
            double v = double(*parse_u64(text.substr(0, dot))) +
                       double(*parse_u64(text.substr(dot + 1))) / (fraction == 1 ? 10 : fraction == 2 ? 100 : 1000);
            out = negative ? -v : v;
        }
        s_.remove_prefix(n);
        return true;
    }
    bool string(sf_value& out) {
        eat('"');
        std::string text;
        while (!s_.empty()) {
            const char c = s_.front();
            s_.remove_prefix(1);
            if (c == '"') {
                out = std::move(text);
                return true;
            }
            if (c == '\\') {
                if (s_.empty() || (s_.front() != '"' && s_.front() != '\\'))
                    return false;
                text += s_.front();
                s_.remove_prefix(1);
            } else if (c < 0x20 || c > 0x7e) {
                return false;
            } else {
                text += c;
            }
        }
        return false; // no closing quote
    }
    bool token(sf_value& out) {
        std::size_t n = 1;
        while (n < s_.size() && (is_tchar(s_[n]) || s_[n] == ':' || s_[n] == '/'))
            ++n;
        out = sf_token{std::string(s_.substr(0, n))};
        s_.remove_prefix(n);
        return true;
    }
    bool bytes(sf_value& out) {
        eat(':');
        std::size_t n = 0;
        while (n < s_.size() && is_base64(s_[n]))
            ++n;
        if (n == s_.size() || s_[n] != ':')
            return false;
        out = sf_bytes{std::string(s_.substr(0, n))};
        s_.remove_prefix(n + 1);
        return true;
    }
    bool boolean(sf_value& out) {
        eat('?');
        if (eat('0'))
            out = false;
        else if (eat('1'))
            out = true;
        else
            return false;
        return true;
    }

    std::string_view s_;
};

/// A non-negative Integer, or nullopt (absent or another type: the caller tells them apart).
std::optional<std::uint64_t> non_negative(const sf_value* v) {
    if (!v)
        return std::nullopt;
    auto n = std::get_if<std::int64_t>(v);
    if (!n || *n < 0)
        return std::nullopt;
    return static_cast<std::uint64_t>(*n);
}

/// A String's or Token's text.
std::optional<std::string> name_of(const sf_value& v) {
    if (auto s = std::get_if<std::string>(&v))
        return *s;
    if (auto t = std::get_if<sf_token>(&v))
        return t->text;
    return std::nullopt;
}

/// An optional non-negative Integer parameter: false when present with another type or sign.
bool optional_count(const sf_member& m, std::string_view name, std::optional<std::uint64_t>& out) {
    const sf_value* v = m.param(name);
    out = non_negative(v);
    return !v || out;
}

constexpr std::uint64_t unix_time_threshold = 1'000'000'000;

/// A reset value as a delay from `now`: seconds, or a Unix time when implausibly long for seconds.
chr::milliseconds reset_delay(std::uint64_t reset, chr::system_clock::time_point now) {
    constexpr auto cap = chr::duration_cast<chr::seconds>(max_requested_pause);
    if (reset < unix_time_threshold)
        return std::min(chr::seconds(static_cast<chr::seconds::rep>(reset)), cap);
    const auto now_s = chr::floor<chr::seconds>(now).time_since_epoch().count();
    const auto when = static_cast<std::int64_t>(std::min<std::uint64_t>(reset, INT64_MAX / 2));
    return std::clamp(chr::seconds(when - now_s), chr::seconds(0), cap);
}

/// What the RateLimit fields ask for (see requested_pause).
std::optional<chr::milliseconds> ratelimit_delay(const response_head& head, chr::system_clock::time_point now) {
    if (auto quotas = parse_ratelimit(head.ratelimit)) {
        std::optional<chr::milliseconds> longest;
        std::optional<std::vector<ratelimit_policy>> policies; // parsed when a quota needs one
        for (auto& q : *quotas) {
            if (q.remaining > 0)
                continue;
            auto reset = q.reset;
            if (!reset) {
                if (!policies)
                    policies = parse_ratelimit_policy(head.ratelimit_policy).value_or(std::vector<ratelimit_policy>{});
                for (auto& p : *policies)
                    if (p.name == q.policy && p.window)
                        reset = p.window;
            }
            if (reset)
                longest = std::max(longest.value_or(chr::milliseconds(0)), reset_delay(*reset, now));
        }
        return longest;
    }
    const auto remaining = parse_u64(trim_ows(head.ratelimit_remaining));
    const auto reset = parse_u64(trim_ows(head.ratelimit_reset));
    if (!remaining || *remaining > 0 || !reset)
        return std::nullopt;
    return reset_delay(*reset, now);
}

} // namespace

std::optional<std::vector<ratelimit_quota>> parse_ratelimit(std::string_view value) {
    if (trim_ows(value).empty())
        return std::nullopt;
    if (auto list = sf_reader(value).list()) {
        std::vector<ratelimit_quota> out;
        for (auto& m : *list) {
            auto name = name_of(m.value);
            ratelimit_quota q;
            std::optional<std::uint64_t> remaining;
            if (!name || !optional_count(m, "r", remaining) || !remaining || !optional_count(m, "t", q.reset))
                return std::nullopt;
            q.policy = std::move(*name);
            q.remaining = *remaining;
            out.push_back(std::move(q));
        }
        return out;
    }
    auto dict = sf_reader(value).dictionary();
    if (!dict)
        return std::nullopt;
    ratelimit_quota q;
    std::optional<std::uint64_t> remaining;
    for (auto& m : *dict) {
        if (m.key == "remaining")
            remaining = non_negative(&m.value);
        else if (m.key == "reset" && !(q.reset = non_negative(&m.value)))
            return std::nullopt;
    }
    if (!remaining)
        return std::nullopt;
    q.remaining = *remaining;
    return std::vector<ratelimit_quota>{std::move(q)};
}

std::optional<std::vector<ratelimit_policy>> parse_ratelimit_policy(std::string_view value) {
    if (trim_ows(value).empty())
        return std::nullopt;
    auto list = sf_reader(value).list();
    if (!list)
        return std::nullopt;
    std::vector<ratelimit_policy> out;
    for (auto& m : *list) {
        ratelimit_policy p;
        std::optional<std::uint64_t> quota;
        if (auto name = name_of(m.value)) {
            p.name = std::move(*name);
            if (!optional_count(m, "q", quota) || !quota)
                return std::nullopt;
        } else if (!(quota = non_negative(&m.value))) {
            return std::nullopt;
        }
        if (!optional_count(m, "w", p.window))
            return std::nullopt;
        p.quota = *quota;
        out.push_back(std::move(p));
    }
    return out;
}

std::optional<std::chrono::milliseconds> requested_pause(const response_head& head,
                                                         std::chrono::system_clock::time_point now) {
    std::optional<chr::milliseconds> pause;
    if (head.status == 429 || head.status == 503)
        if (auto after = parse_retry_after(head.retry_after, now))
            pause = std::min<chr::milliseconds>(*after, max_requested_pause);
    if (auto limited = ratelimit_delay(head, now))
        pause = std::max(pause.value_or(chr::milliseconds(0)), *limited);
    return pause;
}

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
