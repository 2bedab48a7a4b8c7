#include "tools/serve/aria2_session.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace ferry::serve {

namespace {

std::string_view trim_cr(std::string_view line) {
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    return line;
}

/// Closes a descriptor when it goes out of scope.
struct descriptor {
    int fd = -1;
    ~descriptor() {
        if (fd >= 0)
            ::close(fd);
    }
};

std::string errno_text(const char* what, const std::filesystem::path& p) {
    return std::string(what) + " " + p.string() + ": " + std::strerror(errno);
}

} // namespace

std::optional<std::string> session_entry::option(std::string_view key) const {
    std::optional<std::string> value;
    for (auto& [k, v] : options)
        if (k == key)
            value = v;
    return value;
}

std::string write_session(const std::vector<session_entry>& entries) {
    std::string text;
    for (auto& e : entries) {
        for (auto& uri : e.uris)
            text += uri + '\t';
        text += '\n';
        for (auto& [key, value] : e.options)
            text += ' ' + key + '=' + value + '\n';
    }
    return text;
}

session_parse parse_session(std::string_view text) {
    session_parse out;
    std::size_t number = 0;
    while (!text.empty()) {
        auto end = text.find('\n');
        auto line = trim_cr(text.substr(0, end));
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        ++number;
        auto where = "line " + std::to_string(number) + ": ";
        if (line.empty() || line.front() == '#')
            continue;
        if (line.front() == ' ' || line.front() == '\t') {
            line.remove_prefix(line.find_first_not_of(" \t"));
            if (line.empty())
                continue;
            if (out.entries.empty()) {
                out.error = where + "an option before any URI";
                return out;
            }
            auto eq = line.find('=');
            if (eq == std::string_view::npos || eq == 0) {
                out.error = where + "an option needs the form key=value";
                return out;
            }
            out.entries.back().options.emplace_back(line.substr(0, eq), line.substr(eq + 1));
            continue;
        }
        session_entry entry;
        while (!line.empty()) {
            auto tab = line.find('\t');
            auto uri = line.substr(0, tab);
            if (!uri.empty())
                entry.uris.emplace_back(uri);
            line.remove_prefix(tab == std::string_view::npos ? line.size() : tab + 1);
        }
        out.entries.push_back(std::move(entry));
    }
    return out;
}

std::string replace_file_durably(const std::filesystem::path& file, std::string_view text) {
    auto dir = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
    auto temporary = file;
    temporary += ".tmp";
    {
        descriptor out{::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
        if (out.fd < 0)
            return errno_text("cannot create", temporary);
        for (std::size_t written = 0; written < text.size();) {
            auto n = ::write(out.fd, text.data() + written, text.size() - written);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return errno_text("cannot write", temporary);
            written += static_cast<std::size_t>(n);
        }
        if (::fsync(out.fd) != 0)
            return errno_text("cannot sync", temporary);
    }
    if (::rename(temporary.c_str(), file.c_str()) != 0)
        return errno_text("cannot replace", file);
    descriptor d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (d.fd >= 0)
        ::fsync(d.fd);
    return {};
}

} // namespace ferry::serve
