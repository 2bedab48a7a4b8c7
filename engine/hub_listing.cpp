#include "engine/hub_listing.hpp"

#include "net/url.hpp"

#include <algorithm>
#include <cctype>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace ferry {

namespace json = boost::json;

namespace {

constexpr std::uint64_t max_file_size = std::uint64_t(1) << 53;

boost::system::error_code bad_message() noexcept {
    return make_error_code(boost::system::errc::bad_message);
}

bool is_unreserved(unsigned char c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

std::string percent_encode(std::string_view text, bool keep_slash) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += digits[c >> 4];
            out += digits[c & 0xF];
        }
    }
    return out;
}

std::string_view without_trailing_slashes(std::string_view endpoint) noexcept {
    while (!endpoint.empty() && endpoint.back() == '/')
        endpoint.remove_suffix(1);
    return endpoint;
}

/// "models", "datasets", "spaces": the API's word for a repo type.
std::string api_type(hub_repo_type type) { return std::string(to_string(type)) + "s"; }

std::string api_repo_url(std::string_view endpoint, const hub_repo_id& repo) {
    std::string url(without_trailing_slashes(endpoint));
    url += "/api/";
    url += api_type(repo.type);
    url += '/';
    url += repo.id;
    return url;
}

bool is_lower_hex(std::string_view text, std::size_t digits) noexcept {
    return text.size() == digits &&
           std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

/// Text from the network, quoted for a one-line message: `"`, `\` and control bytes escaped,
/// at most 120 bytes shown.
std::string quote_text(std::string_view text) {
    static constexpr char digits[] = "0123456789abcdef";
    constexpr std::size_t shown = 120;
    std::string out = "\"";
    for (std::size_t i = 0; i < text.size() && i < shown; ++i) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7F) {
            out += "\\x";
            out += digits[c >> 4];
            out += digits[c & 0xF];
        } else {
            out += static_cast<char>(c);
        }
    }
    if (text.size() > shown)
        out += "...";
    out += '"';
    return out;
}

/// A JSON value as a short text for a message: strings quoted, others as JSON (cut short).
std::string shown(const json::value& v) {
    if (v.is_string())
        return quote_text(v.get_string());
    auto text = json::serialize(v);
    if (text.size() > 40)
        text = text.substr(0, 40) + "...";
    return text;
}

/// A byte count: a non-negative JSON integer up to 2^53.
std::optional<std::uint64_t> as_size(const json::value& v) noexcept {
    std::uint64_t n = 0;
    if (v.is_uint64())
        n = v.get_uint64();
    else if (v.is_int64() && v.get_int64() >= 0)
        n = static_cast<std::uint64_t>(v.get_int64());
    else
        return std::nullopt;
    return n <= max_file_size ? std::optional(n) : std::nullopt;
}

/// Where `path` clashes with the paths already in `paths` (the same path, or one of the two
/// beneath the other): a message, empty when it does not.
std::string path_clash(const std::set<std::string, std::less<>>& paths, std::string_view path) {
    if (paths.contains(path))
        return "the Hub's listing has " + quote_text(path) + " twice";
    for (auto slash = path.find('/'); slash != std::string_view::npos; slash = path.find('/', slash + 1))
        if (paths.contains(path.substr(0, slash)))
            return "the Hub's listing has both a file " + quote_text(path.substr(0, slash)) + " and " + quote_text(path) +
                   " beneath it";
    std::string below(path);
    below += '/';
    if (auto next = paths.lower_bound(below); next != paths.end() && next->starts_with(below))
        return "the Hub's listing has both a file " + quote_text(path) + " and " + quote_text(*next) + " beneath it";
    return {};
}

/// One entry of a tree page, checked.
struct tree_entry {
    bool is_file = false;
    hub_tree_file file; ///< path only, for a directory
};

/// A checked entry; nullopt and `message` set when it is refused.
std::optional<tree_entry> parse_tree_entry(const json::value& value, std::size_t index, std::string& message) {
    auto refused = [&](std::string why) -> std::optional<tree_entry> {
        message = std::move(why);
        return std::nullopt;
    };
    const json::object* entry = value.if_object();
    if (!entry)
        return refused("the Hub's listing has an entry that is not an object (entry " + std::to_string(index + 1) + ")");
    const json::value* path_value = entry->if_contains("path");
    if (!path_value || !path_value->is_string())
        return refused("the Hub's listing has an entry without a path (entry " + std::to_string(index + 1) + ")");
    std::string path(path_value->get_string());
    if (!valid_hub_file_path(path))
        return refused("the Hub's listing has an unsafe path " + quote_text(path));
    const std::string where = "the Hub's listing has a bad entry " + quote_text(path) + ": ";

    tree_entry result;
    hub_tree_file& file = result.file;
    file.path = std::move(path);
    const json::value* type = entry->if_contains("type");
    if (!type)
        return refused(where + "no type");
    if (type->is_string() && type->get_string() == "directory")
        return result;
    if (!type->is_string() || type->get_string() != "file")
        return refused(where + "unknown type " + shown(*type));
    result.is_file = true;

    const json::value* size = entry->if_contains("size");
    if (!size)
        return refused(where + "no size");
    auto n = as_size(*size);
    if (!n)
        return refused(where + "size " + shown(*size) + " is not a byte count");
    file.size = *n;

    const json::value* oid = entry->if_contains("oid");
    if (!oid)
        return refused(where + "no oid");
    if (!oid->is_string() || !is_lower_hex(oid->get_string(), 40))
        return refused(where + "oid " + shown(*oid) + " is not a git sha1");
    file.blob_id = oid->get_string();

    const json::value* lfs = entry->if_contains("lfs");
    if (lfs && !lfs->is_null()) {
        const json::object* o = lfs->if_object();
        if (!o)
            return refused(where + "lfs is not an object");
        const json::value* lfs_oid = o->if_contains("oid");
        if (!lfs_oid)
            return refused(where + "lfs has no oid");
        if (!lfs_oid->is_string() || !is_lower_hex(lfs_oid->get_string(), 64))
            return refused(where + "lfs oid " + shown(*lfs_oid) + " is not a sha256");
        const json::value* lfs_size = o->if_contains("size");
        if (!lfs_size)
            return refused(where + "lfs has no size");
        auto m = as_size(*lfs_size);
        if (!m || *m != file.size)
            return refused(where + "lfs size " + shown(*lfs_size) + " disagrees with its size " +
                          std::to_string(file.size));
        const json::value* pointer_size = o->if_contains("pointerSize");
        if (!pointer_size || !as_size(*pointer_size))
            return refused(where + "lfs pointerSize " + (pointer_size ? shown(*pointer_size) : "(missing)") +
                          " is not a byte count");
        file.lfs_sha256 = std::string(lfs_oid->get_string());
    }
    return result;
}

std::optional<json::value> parse_json(std::string_view text, std::string_view what, std::string& message) {
    boost::system::error_code ec;
    json::parse_options options;
    options.max_depth = 16;
    auto value = json::parse(text, ec, {}, options);
    if (ec) {
        message = std::string(what) + " is not valid JSON (" + ec.message() + ")";
        return std::nullopt;
    }
    return value;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

bool is_space(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view text) noexcept {
    while (!text.empty() && is_space(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && is_space(text.back()))
        text.remove_suffix(1);
    return text;
}

/// Whether a rel parameter's value (space-separated relation types) holds "next".
bool names_next(std::string_view relations) noexcept {
    while (!relations.empty()) {
        auto space = relations.find_first_of(" \t");
        if (iequals(relations.substr(0, space), "next"))
            return true;
        if (space == std::string_view::npos)
            break;
        relations.remove_prefix(space + 1);
    }
    return false;
}

/// The target of the first link-value whose rel holds "next", as written; nullopt when none.
/// Lenient: a malformed link-value is skipped up to the next comma.
std::optional<std::string_view> next_link_target(std::string_view header) noexcept {
    std::size_t i = 0;
    const std::size_t n = header.size();
    auto skip_spaces = [&] {
        while (i < n && is_space(header[i]))
            ++i;
    };
    // Moves past the rest of a malformed link-value: to after the next comma outside quotes.
    auto skip_link = [&] {
        bool in_quotes = false;
        for (; i < n; ++i) {
            if (in_quotes && header[i] == '\\')
                ++i;
            else if (header[i] == '"')
                in_quotes = !in_quotes;
            else if (!in_quotes && header[i] == ',') {
                ++i;
                return;
            }
        }
    };
    while (i < n) {
        skip_spaces();
        if (i < n && header[i] == ',') {
            ++i;
            continue;
        }
        if (i >= n)
            break;
        if (header[i] != '<') {
            skip_link();
            continue;
        }
        auto close = header.find('>', i + 1);
        if (close == std::string_view::npos)
            return std::nullopt;
        std::string_view target = header.substr(i + 1, close - i - 1);
        i = close + 1;
        bool next = false, rel_seen = false, malformed = false;
        // Parameters: ; name [= token | quoted-string]
        while (true) {
            skip_spaces();
            if (i >= n || header[i] == ',')
                break;
            if (header[i] != ';') {
                malformed = true;
                break;
            }
            ++i;
            skip_spaces();
            std::size_t name_start = i;
            while (i < n && header[i] != '=' && header[i] != ';' && header[i] != ',' && !is_space(header[i]))
                ++i;
            std::string_view name = header.substr(name_start, i - name_start);
            skip_spaces();
            std::string value;
            if (i < n && header[i] == '=') {
                ++i;
                skip_spaces();
                if (i < n && header[i] == '"') {
                    ++i;
                    bool closed = false;
                    for (; i < n; ++i) {
                        if (header[i] == '\\' && i + 1 < n) {
                            value += header[++i];
                        } else if (header[i] == '"') {
                            ++i;
                            closed = true;
                            break;
                        } else {
                            value += header[i];
                        }
                    }
                    if (!closed)
                        return std::nullopt;
                } else {
                    std::size_t value_start = i;
                    while (i < n && header[i] != ';' && header[i] != ',' && !is_space(header[i]))
                        ++i;
                    value = header.substr(value_start, i - value_start);
                }
            }
            // RFC 8288: only the first rel parameter counts.
            if (iequals(name, "rel") && !rel_seen) {
                rel_seen = true;
                next = names_next(trim(value));
            }
        }
        if (malformed) {
            skip_link();
            continue;
        }
        if (next)
            return trim(target);
    }
    return std::nullopt;
}

bool is_http_url(std::string_view text) noexcept {
    auto starts = [&](std::string_view prefix) {
        return text.size() > prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
    };
    return starts("http://") || starts("https://");
}

/// Text from the network made fit for one line: control characters as spaces, spaces collapsed
/// and trimmed, at most 200 bytes.
std::string one_line(std::string_view text) {
    std::string out;
    for (char c : text) {
        bool blank = static_cast<unsigned char>(c) < 0x20 || c == 0x7F || c == ' ';
        if (blank) {
            if (!out.empty() && out.back() != ' ')
                out += ' ';
        } else {
            out += c;
        }
    }
    if (!out.empty() && out.back() == ' ')
        out.pop_back();
    if (out.size() > 200) {
        out.resize(200);
        out += "...";
    }
    return out;
}

/// The Hub's message for the middle of a sentence: one_line, a trailing '.' dropped, the first
/// letter lowercased unless the word is an acronym ("Invalid credentials" → "invalid
/// credentials", "HTTP" stays).
std::string tidy_message(std::string_view text) {
    std::string out = one_line(text);
    if (out.ends_with('.') && !out.ends_with(".."))
        out.pop_back();
    if (out.size() >= 2 && std::isupper(static_cast<unsigned char>(out[0])) &&
        std::islower(static_cast<unsigned char>(out[1])))
        out[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[0])));
    return out;
}

bool contains_ignoring_case(std::string_view text, std::string_view part) noexcept {
    if (part.size() > text.size())
        return false;
    for (std::size_t i = 0; i + part.size() <= text.size(); ++i)
        if (iequals(text.substr(i, part.size()), part))
            return true;
    return false;
}

} // namespace

std::string encode_hub_revision(std::string_view revision) { return percent_encode(revision, false); }

std::string encode_hub_path(std::string_view path) { return percent_encode(path, true); }

std::string hub_info_url(std::string_view endpoint, const hub_repo_id& repo, std::string_view revision) {
    std::string url = api_repo_url(endpoint, repo);
    if (!revision.empty()) {
        url += "/revision/";
        url += encode_hub_revision(revision);
    }
    return url;
}

std::string hub_tree_url(std::string_view endpoint, const hub_repo_id& repo, std::string_view revision) {
    return api_repo_url(endpoint, repo) + "/tree/" + encode_hub_revision(revision) + "?recursive=true&expand=false";
}

std::string hub_resolve_url(std::string_view endpoint, const hub_repo_id& repo, std::string_view revision,
                            std::string_view path) {
    std::string url(without_trailing_slashes(endpoint));
    url += '/';
    if (repo.type != hub_repo_type::model)
        url += api_type(repo.type) + "/";
    url += repo.id;
    url += "/resolve/";
    url += encode_hub_revision(revision);
    url += '/';
    url += encode_hub_path(path);
    return url;
}

boost::system::result<hub_repo_info> parse_hub_repo_info(std::string_view text, std::string& message) {
    auto doc = parse_json(text, "the Hub's repo info", message);
    if (!doc)
        return bad_message();
    const json::object* o = doc->if_object();
    if (!o) {
        message = "the Hub's repo info is not a JSON object";
        return bad_message();
    }
    hub_repo_info info;
    const json::value* id = o->if_contains("id");
    if (!id || !id->is_string() || id->get_string().empty()) {
        message = "the Hub's repo info has no id";
        return bad_message();
    }
    info.id = id->get_string();
    const json::value* sha = o->if_contains("sha");
    if (!sha || sha->is_null()) {
        message = "the Hub's repo info for " + quote_text(info.id) + " has no commit sha";
        return bad_message();
    }
    if (!sha->is_string() || !is_commit_sha(sha->get_string())) {
        message = "the Hub's repo info for " + quote_text(info.id) + " names commit " + shown(*sha) +
                  ", not 40 lowercase hex digits";
        return bad_message();
    }
    info.sha = sha->get_string();
    if (const json::value* gated = o->if_contains("gated")) {
        if (gated->is_string() && !gated->get_string().empty())
            info.gated = std::string(gated->get_string());
        else if (gated->is_bool() && gated->get_bool())
            info.gated = "true";
    }
    if (const json::value* is_private = o->if_contains("private"); is_private && is_private->is_bool())
        info.is_private = is_private->get_bool();
    return info;
}

boost::system::result<std::vector<hub_tree_file>> parse_hub_tree_page(std::string_view text, std::string& message) {
    auto doc = parse_json(text, "the Hub's tree listing", message);
    if (!doc)
        return bad_message();
    const json::array* entries = doc->if_array();
    if (!entries) {
        message = "the Hub's tree listing is not a JSON array";
        return bad_message();
    }
    std::vector<hub_tree_file> files;
    std::set<std::string, std::less<>> all_paths, file_paths;
    for (std::size_t i = 0; i < entries->size(); ++i) {
        auto entry = parse_tree_entry((*entries)[i], i, message);
        if (!entry)
            return bad_message();
        const std::string& path = entry->file.path;
        if (all_paths.contains(path)) {
            message = "the Hub's listing has " + quote_text(path) + " twice";
            return bad_message();
        }
        all_paths.insert(path);
        if (!entry->is_file)
            continue;
        if (auto clash = path_clash(file_paths, path); !clash.empty()) {
            message = std::move(clash);
            return bad_message();
        }
        file_paths.insert(path);
        files.push_back(std::move(entry->file));
    }
    return files;
}

bool hub_tree_listing::add_page(std::vector<hub_tree_file> page, std::string& message) {
    std::set<std::string, std::less<>> added;
    for (auto& file : page) {
        auto clash = path_clash(paths_, file.path);
        if (clash.empty())
            clash = path_clash(added, file.path);
        if (!clash.empty()) {
            message = clash;
            return false;
        }
        added.insert(file.path);
    }
    paths_.merge(added);
    files_.insert(files_.end(), std::make_move_iterator(page.begin()), std::make_move_iterator(page.end()));
    return true;
}

std::optional<std::string> next_page_link(std::string_view link_header) {
    auto target = next_link_target(link_header);
    if (!target || !is_http_url(*target) || !parse_url(*target))
        return std::nullopt;
    return std::string(*target);
}

std::optional<std::string> next_page_link(std::string_view link_header, std::string_view page_url) {
    auto target = next_link_target(link_header);
    if (!target || target->empty())
        return std::nullopt;
    if (is_http_url(*target))
        return parse_url(*target) ? std::optional(std::string(*target)) : std::nullopt;
    auto base = parse_url(page_url);
    if (!base)
        return std::nullopt;
    auto resolved = resolve_location(*base, *target);
    if (!resolved)
        return std::nullopt;
    return resolved->text;
}

std::string describe_hub_error(unsigned status, std::string_view error_code, std::string_view error_message,
                               std::string_view request_id, const hub_error_context& context) {
    const std::string message = tidy_message(error_message);
    const std::string repo = context.repo.empty() ? std::string("the repo") : context.repo;
    const std::string on_endpoint =
        context.endpoint.empty() ? std::string(" on the Hub") : " on " + std::string(without_trailing_slashes(context.endpoint));
    auto with_message = [&](std::string text) {
        if (!message.empty())
            text += ": " + message;
        return text;
    };
    auto revision_words = [&] {
        // A commit reads best as git shows it: its first 8 digits.
        return is_commit_sha(context.revision) ? context.revision.substr(0, 8) : context.revision;
    };
    auto repo_not_found = [&] {
        return repo + " not found" + on_endpoint +
               (context.had_token ? ", or the token cannot read it" : ", or private: pass a token that can read it");
    };
    auto entry_not_found = [&] {
        std::string text = (context.path.empty() ? std::string("the file") : context.path) + " not found in " + repo;
        if (!context.revision.empty())
            text += " at " + revision_words();
        return text;
    };

    std::string text;
    if (error_code == "GatedRepo") {
        text = context.had_token
                   ? repo + " is a gated repo and this token has no access yet: request access on its Hub page with "
                            "the token's account"
                   : repo + " is a gated repo: accept its terms on the Hub and pass a token (--token or HF_TOKEN)";
    } else if (error_code == "RepoNotFound") {
        text = repo_not_found();
    } else if (error_code == "RevisionNotFound") {
        text = "revision " + (context.revision.empty() ? std::string("(default)") : revision_words()) +
               " not found in " + repo;
    } else if (error_code == "EntryNotFound") {
        text = entry_not_found();
    } else if (contains_ignoring_case(error_message, "is disabled")) {
        text = repo + " is disabled on the Hub";
    } else if (contains_ignoring_case(error_message, "invalid credentials") ||
               (status == 401 && context.had_token)) {
        text = with_message("the token was refused");
    } else if (status == 401) {
        // huggingface_hub reads a bare 401 to an anonymous request as "not found or private".
        text = repo_not_found();
    } else if (status == 403) {
        text = with_message(context.had_token ? "the token may not read " + repo : "access to " + repo + " refused");
    } else if (status == 404) {
        text = context.path.empty() ? repo_not_found() : entry_not_found();
    } else if (status == 429) {
        text = with_message("rate limited by the Hub");
    } else if (status == 408) {
        text = with_message("the Hub timed out (408)");
    } else {
        text = with_message("the Hub answered " + std::to_string(status));
    }
    if (!request_id.empty())
        text += " (request id " + one_line(request_id) + ")";
    return text;
}

bool hub_error_is_retryable(unsigned status, std::string_view error_code) noexcept {
    if (error_code == "RepoNotFound" || error_code == "GatedRepo" || error_code == "RevisionNotFound" ||
        error_code == "EntryNotFound")
        return false;
    return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

} // namespace ferry
