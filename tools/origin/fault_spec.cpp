#include "tools/origin/fault_spec.hpp"

#include <charconv>
#include <cmath>
#include <optional>
#include <stdexcept>

namespace ferry::origin {

namespace {

[[noreturn]] void bad(std::string_view item, std::string_view why) {
    throw std::invalid_argument("fault item '" + std::string(item) + "': " + std::string(why));
}

template <class Int>
Int integer(std::string_view item, std::string_view text) {
    Int n{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || end != text.data() + text.size())
        bad(item, "not an integer");
    return n;
}

std::uint64_t size(std::string_view item, std::string_view text) {
    auto n = parse_byte_size(text);
    if (!n)
        bad(item, "not a size (like 512, 64K, 1.5M, 2G)");
    return *n;
}

/// A non-negative decimal number; nullopt otherwise.
std::optional<double> decimal(std::string_view text) {
    double number = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec != std::errc{} || end != text.data() + text.size() || !(number >= 0))
        return std::nullopt;
    return number;
}

std::chrono::milliseconds duration(std::string_view item, std::string_view text) {
    double scale = 1;
    if (text.ends_with("ms")) {
        text.remove_suffix(2);
    } else if (text.ends_with('s')) {
        text.remove_suffix(1);
        scale = 1000;
    }
    auto number = decimal(text);
    if (!number)
        bad(item, "not a duration (like 250, 250ms, 2s)");
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(*number * scale)));
}

/// Whole seconds: `90`, `90s`, `15m`, `2h`.
std::chrono::seconds seconds(std::string_view item, std::string_view text) {
    std::int64_t scale = 1;
    if (text.ends_with('s')) {
        text.remove_suffix(1);
    } else if (text.ends_with('m')) {
        text.remove_suffix(1);
        scale = 60;
    } else if (text.ends_with('h')) {
        text.remove_suffix(1);
        scale = 3600;
    }
    auto n = integer<std::int64_t>(item, text);
    if (n < 0)
        bad(item, "cannot be negative");
    return std::chrono::seconds(n * scale);
}

} // namespace


fault parse_fault_spec(std::string_view spec) {
    fault f;
    bool status_given = false;
    if (spec.empty())
        throw std::invalid_argument("empty fault spec");
    while (!spec.empty()) {
        // Items are separated by ','; a URL value may not contain one.
        auto comma = spec.find(',');
        std::string_view item = spec.substr(0, comma);
        spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
        auto equals = item.find('=');
        std::string_view key = item.substr(0, equals);
        std::string_view value = equals == std::string_view::npos ? std::string_view{} : item.substr(equals + 1);
        bool has_value = equals != std::string_view::npos;
        auto need_value = [&] {
            if (!has_value || value.empty())
                bad(item, "needs a value");
        };
        auto flag = [&] {
            if (has_value)
                bad(item, "takes no value");
        };

        if (key == "status") {
            need_value();
            f.status = integer<unsigned>(item, value);
            if (f.status < 100 || f.status > 599)
                bad(item, "not an HTTP status");
            status_given = true;
        } else if (key == "retry-after") {
            need_value();
            f.retry_after = value;
        } else if (key == "location" || key == "redirect") {
            need_value();
            f.location = value;
        } else if (key == "delay") {
            need_value();
            f.first_byte_delay = duration(item, value);
        } else if (key == "rate") {
            need_value();
            f.rate = size(item, value);
            if (f.rate == 0)
                bad(item, "a rate must be positive");
        } else if (key == "drop-after") {
            need_value();
            f.drop_after = size(item, value);
        } else if (key == "stall-after") {
            need_value();
            f.stall_after = size(item, value);
        } else if (key == "ignore-range") {
            flag();
            f.ignore_range = true;
        } else if (key == "shift-range") {
            need_value();
            bool negative = value.starts_with('-');
            auto magnitude = size(item, negative ? value.substr(1) : value);
            if (magnitude > std::uint64_t(INT64_MAX))
                bad(item, "too large");
            f.content_range_shift = negative ? -std::int64_t(magnitude) : std::int64_t(magnitude);
        } else if (key == "shifted-body") {
            flag();
            f.shifted_body = true;
        } else if (key == "version") {
            need_value();
            f.version = integer<std::uint64_t>(item, value);
        } else if (key == "new-version") {
            flag();
            f.version = 1;
        } else if (key == "short-body") {
            need_value();
            f.short_body = size(item, value);
        } else if (key == "long-body") {
            need_value();
            f.long_body = size(item, value);
        } else if (key == "big-headers") {
            need_value();
            f.header_padding = size(item, value);
        } else if (key == "close") {
            flag();
            f.close = true;
        } else if (key == "drop-mid") {
            flag();
            f.drop_mid = true;
        } else if (key == "pause") {
            need_value();
            f.pause = duration(item, value);
        } else if (key == "chance") {
            need_value();
            auto p = decimal(value);
            if (!p || *p > 1)
                bad(item, "a chance is a number from 0 to 1");
            f.chance = *p;
        } else if (key == "signed-redirect") {
            need_value();
            f.signed_redirect = seconds(item, value);
        } else if (key == "sign-host") {
            need_value();
            f.sign_host = value;
        } else if (key == "sign-style") {
            need_value();
            if (value == "amz")
                f.style = sign_style::amz;
            else if (value == "cloudfront")
                f.style = sign_style::cloudfront;
            else if (value == "azure")
                f.style = sign_style::azure;
            else
                bad(item, "amz, cloudfront or azure");
        } else if (key == "ratelimit") {
            need_value();
            auto slash = value.find('/');
            if (slash == std::string_view::npos)
                bad(item, "REMAINING/RESET, like 0/30");
            f.ratelimit_remaining = integer<std::uint64_t>(item, value.substr(0, slash));
            f.ratelimit_reset = integer<std::uint64_t>(item, value.substr(slash + 1));
        } else if (key == "skip") {
            need_value();
            f.skip = integer<int>(item, value);
            if (f.skip < 0)
                bad(item, "cannot be negative");
        } else if (key == "connection") {
            need_value();
            f.connection = integer<std::uint64_t>(item, value);
        } else if (key == "times") {
            need_value();
            f.times = value == "all" ? -1 : integer<int>(item, value);
            if (f.times < -1)
                bad(item, "must be -1 (all) or more");
        } else {
            bad(item, "unknown fault");
        }
    }
    if (!f.location.empty() && !status_given)
        f.status = 302;
    return f;
}

fault_rule_text parse_fault_rule(std::string_view text) {
    auto colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0)
        throw std::invalid_argument("a fault is PATH:SPEC, not '" + std::string(text) + "'");
    return {std::string(text.substr(0, colon)), parse_fault_spec(text.substr(colon + 1))};
}

std::span<const std::string_view> fault_mix_text(std::string_view name) {
    if (name == "cdn")
        return cdn_fault_mix;
    throw std::invalid_argument("unknown fault mix '" + std::string(name) + "' (known: cdn)");
}

std::vector<fault_rule_text> fault_mix(std::string_view name) {
    std::vector<fault_rule_text> rules;
    for (auto text : fault_mix_text(name))
        rules.push_back(parse_fault_rule(text));
    return rules;
}

} // namespace ferry::origin
