#include "engine/hub_filter.hpp"

#include <algorithm>
#include <cstdint>

namespace ferry {

namespace {

/// One character: its code point and how many bytes it takes.
struct character {
    std::uint32_t code = 0;
    std::size_t length = 1;
};

/// Decodes the UTF-8 character at `pos` (< text.size()). A byte that does not start a valid
/// sequence is one character of its own, above every code point, so it equals only itself.
character decode(std::string_view text, std::size_t pos) noexcept {
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    unsigned char lead = byte(pos);
    if (lead < 0x80)
        return {lead, 1};
    std::size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 ? 2 : 0;
    if (length == 0 || lead > 0xF4 || pos + length > text.size())
        return {0x110000u + lead, 1};
    std::uint32_t code = lead & (0x7F >> length);
    for (std::size_t i = 1; i < length; ++i) {
        if ((byte(pos + i) & 0xC0) != 0x80)
            return {0x110000u + lead, 1};
        code = (code << 6) | (byte(pos + i) & 0x3F);
    }
    static constexpr std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < smallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
        return {0x110000u + lead, 1};
    return {code, length};
}

/// A pattern character, read with huggingface_hub's rewriting: `\` is '/'.
character pattern_char(std::string_view pattern, std::size_t pos) noexcept {
    auto c = decode(pattern, pos);
    if (c.code == '\\')
        c.code = '/';
    return c;
}

/// A glob pattern as huggingface_hub rewrites it before fnmatch: a trailing '/' (or '\') is
/// followed by a '*' that sits, virtually, at position text.size().
class glob_pattern {
public:
    explicit glob_pattern(std::string_view text) noexcept
        : text_(text), end_(text.size() + ((!text.empty() && (text.back() == '/' || text.back() == '\\')) ? 1 : 0)) {}

    enum class kind { star, any, set, literal };
    struct token {
        kind what = kind::literal;
        std::size_t next = 0;        ///< position after the token
        std::uint32_t code = 0;      ///< literal
        std::size_t set_first = 0;   ///< set: members from here (after '[' and '!') ...
        std::size_t set_last = 0;    ///< ... to the closing ']'
        bool negated = false;
    };

    std::size_t end() const noexcept { return end_; }

    token at(std::size_t pos) const noexcept {
        token t;
        if (pos == text_.size()) { // the appended '*'
            t.what = kind::star;
            t.next = pos + 1;
            return t;
        }
        char c = text_[pos];
        if (c == '*') {
            t.what = kind::star;
            t.next = pos + 1;
            return t;
        }
        if (c == '?') {
            t.what = kind::any;
            t.next = pos + 1;
            return t;
        }
        if (c == '[') {
            // Python's fnmatch: an optional '!', then a ']' that is a member, then up to the next ']'.
            std::size_t j = pos + 1;
            bool negated = j < text_.size() && text_[j] == '!';
            if (negated)
                ++j;
            std::size_t first = j;
            if (j < text_.size() && text_[j] == ']')
                ++j;
            while (j < text_.size() && text_[j] != ']')
                ++j;
            if (j < text_.size()) {
                t.what = kind::set;
                t.negated = negated;
                t.set_first = first;
                t.set_last = j;
                t.next = j + 1;
                return t;
            }
            // No closing ']': a literal '['.
        }
        auto ch = pattern_char(text_, pos);
        t.what = kind::literal;
        t.code = ch.code;
        t.next = pos + ch.length;
        return t;
    }

    bool matches(const token& t, std::uint32_t code) const noexcept {
        switch (t.what) {
        case kind::star:
            return false;
        case kind::any:
            return true;
        case kind::literal:
            return t.code == code;
        case kind::set:
            break;
        }
        bool member = false;
        std::size_t i = t.set_first;
        while (i < t.set_last && !member) {
            auto low = pattern_char(text_, i);
            i += low.length;
            // `x-y` is a range when something follows the '-' inside the set; a range whose ends
            // are reversed holds nothing.
            if (i + 1 < t.set_last && text_[i] == '-') {
                auto high = pattern_char(text_, i + 1);
                i += 1 + high.length;
                member = low.code <= code && code <= high.code;
            } else {
                member = low.code == code;
            }
        }
        return member != t.negated;
    }

private:
    std::string_view text_;
    std::size_t end_;
};

} // namespace

bool hub_glob_match(std::string_view pattern_text, std::string_view path) noexcept {
    glob_pattern pattern(pattern_text);
    // Greedy matching with a return to the last '*': '*' matches any run of characters, so
    // only the last one ever needs to take more.
    std::size_t p = 0, s = 0;
    std::size_t resume_p = std::string_view::npos, resume_s = 0;
    while (s < path.size()) {
        if (p < pattern.end()) {
            auto token = pattern.at(p);
            if (token.what == glob_pattern::kind::star) {
                p = token.next;
                resume_p = p;
                resume_s = s;
                continue;
            }
            auto c = decode(path, s);
            if (pattern.matches(token, c.code)) {
                p = token.next;
                s += c.length;
                continue;
            }
        }
        if (resume_p == std::string_view::npos)
            return false;
        resume_s += decode(path, resume_s).length;
        s = resume_s;
        p = resume_p;
    }
    while (p < pattern.end()) {
        auto token = pattern.at(p);
        if (token.what != glob_pattern::kind::star)
            return false;
        p = token.next;
    }
    return true;
}

hub_path_filter::hub_path_filter(std::vector<std::string> include, std::vector<std::string> exclude)
    : include_(std::move(include)), exclude_(std::move(exclude)) {}

bool hub_path_filter::keep(std::string_view path) const noexcept {
    auto matches = [&](const std::string& pattern) { return hub_glob_match(pattern, path); };
    if (!include_.empty() && std::none_of(include_.begin(), include_.end(), matches))
        return false;
    return std::none_of(exclude_.begin(), exclude_.end(), matches);
}

} // namespace ferry
