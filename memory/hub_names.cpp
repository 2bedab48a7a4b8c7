// The names of memory/hub_cache.hpp that are plain text checks (no filesystem): repo types and
// ids, commit shas, blob etags, repo paths and revisions. Everything that comes from the network
// passes one of these before it names a file.
#include "memory/hub_cache.hpp"

#include <algorithm>

namespace ferry {

namespace {

bool is_lower_hex(std::string_view text) noexcept {
    return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_repo_id_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
}

bool valid_repo_id_part(std::string_view part) noexcept {
    return !part.empty() && part.size() <= 96 && part != "." && part != ".." &&
           std::all_of(part.begin(), part.end(), is_repo_id_char);
}

} // namespace

const char* to_string(hub_repo_type type) noexcept {
    switch (type) {
    case hub_repo_type::model:
        return "model";
    case hub_repo_type::dataset:
        return "dataset";
    case hub_repo_type::space:
        return "space";
    }
    return "model";
}

std::optional<hub_repo_type> parse_hub_repo_type(std::string_view text) noexcept {
    if (text == "model")
        return hub_repo_type::model;
    if (text == "dataset")
        return hub_repo_type::dataset;
    if (text == "space")
        return hub_repo_type::space;
    return std::nullopt;
}

std::string hub_repo_id::folder_name() const {
    std::string name = to_string(type);
    name += "s--";
    for (char c : id) {
        if (c == '/')
            name += "--";
        else
            name += c;
    }
    return name;
}

bool valid_hub_repo_id(std::string_view id) noexcept {
    if (id.find("--") != std::string_view::npos)
        return false;
    auto slash = id.find('/');
    if (slash == std::string_view::npos)
        return valid_repo_id_part(id);
    return valid_repo_id_part(id.substr(0, slash)) && valid_repo_id_part(id.substr(slash + 1));
}

bool is_commit_sha(std::string_view text) noexcept { return text.size() == 40 && is_lower_hex(text); }

bool is_blob_etag(std::string_view text) noexcept {
    return (text.size() == 40 || text.size() == 64) && is_lower_hex(text);
}

bool valid_hub_file_path(std::string_view path) noexcept {
    if (path.empty() || path.size() > 4096)
        return false;
    if (path.find('\0') != std::string_view::npos || path.find('\\') != std::string_view::npos)
        return false;
    // Split on '/': a leading '/' (absolute), "a//b" and a trailing '/' all give an empty segment.
    std::size_t start = 0;
    while (true) {
        auto end = path.find('/', start);
        auto segment = path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        if (segment.empty() || segment == "." || segment == "..")
            return false;
        if (end == std::string_view::npos)
            return true;
        start = end + 1;
    }
}

bool valid_hub_revision(std::string_view revision) noexcept {
    return valid_hub_file_path(revision) && revision.front() != '.';
}

} // namespace ferry
