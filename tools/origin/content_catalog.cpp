#include "tools/origin/content_catalog.hpp"

namespace ferry::origin {

namespace {

bool safe_relative(std::string_view path) {
    // `path` without its leading '/': every segment a plain name.
    if (path.empty() || path.find('\0') != std::string_view::npos)
        return false;
    while (!path.empty()) {
        auto slash = path.find('/');
        auto segment = path.substr(0, slash);
        if (segment.empty() || segment == "." || segment == "..")
            return false;
        if (slash == std::string_view::npos)
            break;
        path.remove_prefix(slash + 1);
        if (path.empty())
            return false; // a trailing '/' names a directory
    }
    return true;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

} // namespace

std::string normalize_path(std::string_view path) {
    std::string out;
    out.reserve(path.size() + 1);
    if (!path.starts_with('/'))
        out += '/';
    out += path;
    return out;
}

std::optional<std::string> percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        if (i + 2 >= text.size())
            return std::nullopt;
        int high = hex_digit(text[i + 1]), low = hex_digit(text[i + 2]);
        if (high < 0 || low < 0)
            return std::nullopt;
        out += static_cast<char>(high * 16 + low);
        i += 2;
    }
    return out;
}

std::optional<std::string_view> query_value(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        auto amp = query.find('&');
        auto item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        auto equals = item.find('=');
        if (item.substr(0, equals) == name)
            return equals == std::string_view::npos ? std::string_view{} : item.substr(equals + 1);
    }
    return std::nullopt;
}

std::string hex_text(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

std::optional<std::string> decode_target_path(std::string_view target) {
    target = target.substr(0, target.find_first_of("?#"));
    if (!target.starts_with('/'))
        return std::nullopt; // absolute-form and authority-form are not for an origin server
    return percent_decode(target);
}

void content_catalog::add_synthetic(std::string_view path, std::uint64_t size) {
    std::lock_guard lock(mutex_);
    synthetic_.insert_or_assign(normalize_path(path), size);
}

std::optional<content> content_catalog::find(std::string_view path) const {
    auto found = find_unsalted(path);
    if (found && !etag_salt_.empty())
        found = found->with_etag_salt(etag_salt_);
    return found;
}

std::optional<content> content_catalog::find_unsalted(std::string_view path) const {
    if (!path.starts_with('/'))
        return std::nullopt;
    {
        std::lock_guard lock(mutex_);
        if (auto it = synthetic_.find(path); it != synthetic_.end())
            return content::synthetic(std::string(path.substr(1)), it->second, seed_);
    }
    auto relative = path.substr(1);
    if (root_.empty() || !safe_relative(relative))
        return std::nullopt;
    return content::open_file(root_ / std::filesystem::path(relative));
}

} // namespace ferry::origin
