#include "memory/resume_journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cerrno>
#include <cstdio>
#include <random>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

namespace ferry {

std::uint32_t crc32(std::string_view data) noexcept {
    static constexpr auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k)
                c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    std::uint32_t crc = 0xFFFFFFFFu;
    for (unsigned char byte : data)
        crc = table[(crc ^ byte) & 0xFFu] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

namespace {

// Bounds on what decode accepts, so a hostile or damaged journal costs bounded time and memory.
constexpr std::size_t max_ranges = 1'000'000;
constexpr std::size_t max_mirrors = 64;
constexpr std::size_t max_journal_bytes = 64 * 1024 * 1024;
constexpr std::size_t max_field_bytes = 16 * 1024; ///< escaped value of url, etag, last-modified
constexpr std::size_t max_url_bytes = max_field_bytes / 4; ///< escaping at most quadruples a byte

constexpr std::string_view magic = "ferry-journal 1";
constexpr std::string_view crc_key = "crc32 ";

std::string crc_line(std::string_view body) {
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, "%08x", static_cast<unsigned>(crc32(body)));
    return std::string(crc_key) + buffer;
}

/// The URL without userinfo, query and fragment: signed-URL tokens and passwords never reach the
/// disk. Something that does not parse as a URL is not stored at all.
std::string without_credentials(const std::string& text) {
    auto parsed = boost::urls::parse_uri_reference(text);
    if (!parsed)
        return {};
    boost::urls::url u(*parsed);
    u.remove_userinfo();
    u.remove_query();
    u.remove_fragment();
    std::string out(u.buffer());
    if (out.size() > max_url_bytes)
        out.resize(max_url_bytes); // for messages only
    return out;
}

void append_number(std::string& out, std::uint64_t n) {
    char digits[20];
    auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    out.append(digits, end);
}

bool needs_escape(unsigned char c) { return c < 0x20 || c == 0x7f || c == '\\'; }

/// Keeps every field on one line: control bytes become \xHH and the backslash \\.
std::string escape(std::string_view value) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(value.size());
    for (unsigned char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (needs_escape(c)) {
            out += "\\x";
            out += digits[c >> 4];
            out += digits[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

/// The inverse of escape(), accepting only what escape() writes.
std::optional<std::string> unescape(std::string_view text) {
    if (text.size() > max_field_bytes)
        return std::nullopt;
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        return -1;
    };
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c != '\\') {
            if (needs_escape(c))
                return std::nullopt;
            out += static_cast<char>(c);
            continue;
        }
        if (i + 1 < text.size() && text[i + 1] == '\\') {
            out += '\\';
            i += 1;
            continue;
        }
        if (i + 3 >= text.size() || text[i + 1] != 'x')
            return std::nullopt;
        int hi = hex(text[i + 2]), lo = hex(text[i + 3]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        auto byte = static_cast<unsigned char>(hi * 16 + lo);
        if (!needs_escape(byte) || byte == '\\')
            return std::nullopt;
        out += static_cast<char>(byte);
        i += 3;
    }
    return out;
}

/// Decimal without sign, leading zeros or overflow.
std::optional<std::uint64_t> parse_number(std::string_view s) {
    if (s.empty() || s.size() > 20 || (s.size() > 1 && s.front() == '0'))
        return std::nullopt;
    std::uint64_t n = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return std::nullopt;
        auto digit = static_cast<std::uint64_t>(c - '0');
        if (n > (UINT64_MAX - digit) / 10)
            return std::nullopt;
        n = n * 10 + digit;
    }
    return n;
}

/// Lines of a text that ends with '\n'.
class line_reader {
public:
    explicit line_reader(std::string_view text) : text_(text) {}
    bool done() const noexcept { return at_ >= text_.size(); }
    std::optional<std::string_view> next() {
        if (done())
            return std::nullopt;
        auto end = text_.find('\n', at_);
        if (end == std::string_view::npos)
            return std::nullopt;
        auto line = text_.substr(at_, end - at_);
        at_ = end + 1;
        return line;
    }

private:
    std::string_view text_;
    std::size_t at_ = 0;
};

/// The value of a `key value` line, or nullopt when the line has another key.
std::optional<std::string_view> value_of(std::optional<std::string_view> line, std::string_view key) {
    if (!line || line->size() <= key.size() || !line->starts_with(key) || (*line)[key.size()] != ' ')
        return std::nullopt;
    return line->substr(key.size() + 1);
}

std::optional<journal_record> decode(std::string_view text) {
    if (text.empty() || text.size() > max_journal_bytes || text.back() != '\n')
        return std::nullopt;
    // The last line is the checksum of everything before it.
    auto last = text.size() >= 2 ? text.rfind('\n', text.size() - 2) : std::string_view::npos;
    if (last == std::string_view::npos)
        return std::nullopt;
    auto body = text.substr(0, last + 1);
    if (text.substr(last + 1, text.size() - last - 2) != crc_line(body))
        return std::nullopt;

    line_reader lines(body);
    if (lines.next() != magic)
        return std::nullopt;
    journal_record record;
    auto url = value_of(lines.next(), "url");
    auto size = value_of(lines.next(), "size");
    auto etag = value_of(lines.next(), "etag");
    auto last_modified = value_of(lines.next(), "last-modified");
    if (!url || !size || !etag || !last_modified)
        return std::nullopt;
    auto u = unescape(*url);
    auto s = parse_number(*size);
    auto e = unescape(*etag);
    auto m = unescape(*last_modified);
    if (!u || !s || !e || !m)
        return std::nullopt;
    record.url = std::move(*u);
    record.size = *s;
    record.etag = std::move(*e);
    record.last_modified = std::move(*m);

    // Five lines were read above; then mirrors, then ranges.
    auto remaining_lines = static_cast<std::size_t>(std::count(body.begin(), body.end(), '\n')) - 5;
    if (remaining_lines > max_ranges + max_mirrors)
        return std::nullopt;
    auto line = lines.next();
    while (auto value = value_of(line, "mirror")) {
        auto tab1 = value->find('\t');
        auto tab2 = tab1 == std::string_view::npos ? tab1 : value->find('\t', tab1 + 1);
        if (tab2 == std::string_view::npos || record.mirrors.size() >= max_mirrors)
            return std::nullopt;
        auto mu = unescape(value->substr(0, tab1));
        auto me = unescape(value->substr(tab1 + 1, tab2 - tab1 - 1));
        auto ml = unescape(value->substr(tab2 + 1));
        if (!mu || !me || !ml)
            return std::nullopt;
        record.mirrors.push_back({std::move(*mu), std::move(*me), std::move(*ml)});
        line = lines.next();
    }
    record.done.reserve(std::min(remaining_lines, max_ranges));
    while (line) {
        auto value = value_of(line, "done");
        line = lines.next();
        if (!value)
            return std::nullopt;
        auto dash = value->find('-');
        if (dash == std::string_view::npos)
            return std::nullopt;
        auto b = parse_number(value->substr(0, dash));
        auto en = parse_number(value->substr(dash + 1));
        if (!b || !en || *b >= *en || *en > record.size || record.done.size() >= max_ranges)
            return std::nullopt;
        // Sorted, disjoint and not touching: exactly what encode writes.
        if (!record.done.empty() && *b <= record.done.back().end)
            return std::nullopt;
        record.done.push_back({*b, *en});
    }
    return record;
}

} // namespace

std::string encode_journal(const journal_record& record) {
    std::vector<byte_range> clipped;
    clipped.reserve(record.done.size());
    for (auto r : record.done) {
        r.end = std::min(r.end, record.size);
        if (!r.empty())
            clipped.push_back(r);
    }
    auto done = merge_ranges(std::move(clipped));

    std::string body;
    body.reserve(128 + record.url.size() + record.etag.size() + record.last_modified.size() + done.size() * 48);
    body += magic;
    body += "\nurl ";
    body += escape(without_credentials(record.url));
    body += "\nsize ";
    append_number(body, record.size);
    body += "\netag ";
    body += escape(record.etag);
    body += "\nlast-modified ";
    body += escape(record.last_modified);
    for (std::size_t i = 0; i < record.mirrors.size() && i < max_mirrors; ++i) {
        const auto& m = record.mirrors[i];
        body += "\nmirror ";
        body += escape(without_credentials(m.url));
        body += '\t';
        body += escape(m.etag);
        body += '\t';
        body += escape(m.last_modified);
    }
    for (const auto& r : done) {
        body += "\ndone ";
        append_number(body, r.begin);
        body += '-';
        append_number(body, r.end);
    }
    body += '\n';
    body += crc_line(body);
    body += '\n';
    return body;
}

std::optional<journal_record> decode_journal(std::string_view text) {
    try {
        return decode(text);
    } catch (...) { // bad_alloc: bounded above, but never let a journal take the engine down
        return std::nullopt;
    }
}

std::filesystem::path journal_path(const std::filesystem::path& part_path) {
    return std::filesystem::path(part_path.string() + ".journal");
}

boost::system::error_code write_journal(const std::filesystem::path& path, const journal_record& record) {
    using boost::system::error_code;
    auto os_error = [](int err) { return error_code{err, boost::system::system_category()}; };
    auto text = encode_journal(record);

    // A fresh name beside the journal (same directory, so rename() is atomic); O_EXCL|O_NOFOLLOW so
    // a planted file or symlink of that name is never written through.
    static thread_local std::mt19937_64 random{std::random_device{}()};
    std::string temp;
    int fd = -1;
    for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
        char suffix[32];
        std::snprintf(suffix, sizeof suffix, ".tmp%08x", static_cast<unsigned>(random() & 0xFFFFFFFFu));
        temp = path.string() + suffix;
        fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST && errno != EINTR)
            return os_error(errno);
    }
    if (fd < 0)
        return os_error(EEXIST);

    std::size_t written = 0;
    while (written < text.size()) {
        auto n = ::write(fd, text.data() + written, text.size() - written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            auto ec = n < 0 ? os_error(errno) : os_error(EIO);
            ::close(fd);
            ::unlink(temp.c_str());
            return ec;
        }
        written += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0 && errno != EINTR) {
        auto ec = os_error(errno);
        ::unlink(temp.c_str());
        return ec;
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        auto ec = os_error(errno);
        ::unlink(temp.c_str());
        return ec;
    }
    return {};
}

std::optional<journal_record> read_journal(const std::filesystem::path& path, bool* missing) {
    // O_NONBLOCK: a FIFO planted under the journal's name must not hang the open.
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (missing)
        *missing = fd < 0 && errno == ENOENT;
    if (fd < 0)
        return std::nullopt;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) > max_journal_bytes) {
        ::close(fd);
        return std::nullopt;
    }
    std::string text;
    try {
        text.resize(static_cast<std::size_t>(st.st_size) + 1); // +1 notices a file that grew
    } catch (...) {
        ::close(fd);
        return std::nullopt;
    }
    std::size_t have = 0;
    while (have < text.size()) {
        auto n = ::read(fd, text.data() + have, text.size() - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ::close(fd);
            return std::nullopt;
        }
        if (n == 0)
            break;
        have += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (have > static_cast<std::size_t>(st.st_size))
        return std::nullopt; // changed while we read it: a writer is not using rename()
    text.resize(have);
    return decode_journal(text);
}

void remove_journal(const std::filesystem::path& path) { ::unlink(path.c_str()); }

} // namespace ferry
