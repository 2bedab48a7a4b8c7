// The names of the Hugging Face cache: repo types, folder names, and what a repo id, sha, etag,
// file path or revision may look like before it touches the disk.
#include "memory/hub_cache.hpp"

#include <algorithm>

namespace ferry {

namespace {

bool is_lower_hex(std::string_view text) noexcept {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_id_char(char c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
}

} // namespace

const char* to_string(hub_repo_type type) noexcept {
    switch (type) {
    case hub_repo_type::model: return "model";
    case hub_repo_type::dataset: return "dataset";
    case hub_repo_type::space: return "space";
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
    std::string folder = std::string(to_string(type)) + "s--";
    for (char c : id) {
        if (c == '/')
            folder += "--";
        else
            folder += c;
    }
    return folder;
}

bool valid_hub_repo_id(std::string_view id) noexcept {
    if (id.empty() || id.find("--") != std::string_view::npos)
        return false;
    int parts = 0;
    std::size_t start = 0;
    while (true) {
        auto slash = id.find('/', start);
        auto part = id.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (++parts > 2 || part.empty() || part.size() > 96 || part == "." || part == ".." ||
            !std::all_of(part.begin(), part.end(), is_id_char))
            return false;
        if (slash == std::string_view::npos)
            return true;
        start = slash + 1;
    }
}

bool is_commit_sha(std::string_view text) noexcept {
    return text.size() == 40 && is_lower_hex(text);
}

bool is_blob_etag(std::string_view text) noexcept {
    return (text.size() == 40 || text.size() == 64) && is_lower_hex(text);
}

bool valid_hub_file_path(std::string_view path) noexcept {
    if (path.empty() || path.size() > 4096 || path.find('\0') != std::string_view::npos ||
        path.find('\\') != std::string_view::npos)
        return false;
    std::size_t start = 0;
    while (true) {
        auto slash = path.find('/', start);
        auto part = path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (part.empty() || part == "." || part == "..")
            return false;
        if (slash == std::string_view::npos)
            return true;
        start = slash + 1;
    }
}

bool valid_hub_revision(std::string_view revision) noexcept {
    return valid_hub_file_path(revision) && revision.front() != '.';
}

} // namespace ferry
