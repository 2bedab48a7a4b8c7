#include "tools/origin/hub_api.hpp"

#include "tools/origin/content_catalog.hpp"
#include "tools/origin/signed_url.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>
#include <span>

namespace ferry::origin {

namespace json = boost::json;

namespace {

// Hub dates are fixed, like the synthetic files' Last-Modified.
constexpr const char* hub_date = "2026-01-01T00:00:00.000Z";

struct split_target {
    std::vector<std::string_view> segments; ///< raw (still percent-encoded)
    std::string_view query;                 ///< after '?', "" when none
};

split_target split(std::string_view target) {
    split_target out;
    auto mark = target.find('?');
    if (mark != std::string_view::npos)
        out.query = target.substr(mark + 1);
    auto path = target.substr(0, mark);
    if (path.starts_with('/'))
        path.remove_prefix(1);
    while (!path.empty()) {
        auto slash = path.find('/');
        out.segments.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos)
            break;
        path.remove_prefix(slash + 1);
    }
    return out;
}

/// Decodes each raw segment and joins them with '/' (a `%2F` inside one stays a '/' of the value);
/// nullopt when one is badly encoded.
std::optional<std::string> join_decoded(std::span<const std::string_view> segments) {
    std::string out;
    for (std::size_t i = 0; i < segments.size(); ++i) {
        auto decoded = percent_decode(segments[i]);
        if (!decoded)
            return std::nullopt;
        if (i)
            out += '/';
        out += *decoded;
    }
    return out;
}

/// The raw text from segment `first` to the end of the path.
std::string raw_from(std::span<const std::string_view> segments, std::size_t first) {
    std::string out;
    for (std::size_t i = first; i < segments.size(); ++i)
        out.append("/").append(segments[i]);
    return out;
}

/// The repo a path names from segment `at`: ORG/NAME if the catalog knows it (or a rename), else
/// NAME if it knows that, else `guess_two` decides. Returns the id and how many segments it took.
std::optional<std::pair<std::string, std::size_t>> repo_at(const hub_catalog& hub, hub_repo_type type,
                                                           std::span<const std::string_view> segments, std::size_t at,
                                                           bool guess_two) {
    auto known = [&](const std::string& id) { return hub.find(type, id) || !hub.renamed(type, id).empty(); };
    std::optional<std::string> two, one;
    if (segments.size() > at + 1)
        two = join_decoded(segments.subspan(at, 2));
    if (segments.size() > at)
        one = join_decoded(segments.subspan(at, 1));
    if (two && known(*two))
        return std::pair{*two, std::size_t(2)};
    if (one && known(*one))
        return std::pair{*one, std::size_t(1)};
    if (guess_two && two)
        return std::pair{*two, std::size_t(2)};
    if (one)
        return std::pair{*one, std::size_t(1)};
    return std::nullopt;
}

/// Splits `segments` into a revision and the rest: the longest run of leading segments that
/// names a ref of `repo`, else the first segment alone.
std::optional<std::pair<std::string, std::string>> revision_and_rest(const hub_repo* repo,
                                                                     std::span<const std::string_view> segments) {
    if (segments.empty())
        return std::nullopt;
    std::size_t take = 1;
    if (repo)
        for (std::size_t n = segments.size(); n > 1; --n) {
            auto candidate = join_decoded(segments.first(n));
            if (candidate && repo->refs.contains(*candidate)) {
                take = n;
                break;
            }
        }
    auto revision = join_decoded(segments.first(take));
    auto rest = join_decoded(segments.subspan(take));
    if (!revision || !rest)
        return std::nullopt;
    return std::pair{*revision, *rest};
}

std::string_view parameter(std::string_view query, std::string_view name) {
    return query_value(query, name).value_or(std::string_view());
}

bool flag(std::string_view query, std::string_view name) {
    auto value = parameter(query, name);
    return value == "true" || value == "True" || value == "1";
}

/// The query without parameter `name`.
std::string without(std::string_view query, std::string_view name) {
    std::string out;
    while (!query.empty()) {
        auto amp = query.find('&');
        auto item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (item.empty() || item.substr(0, item.find('=')) == name)
            continue;
        if (!out.empty())
            out += '&';
        out += item;
    }
    return out;
}

std::string_view bearer_token(std::string_view authorization) {
    constexpr std::string_view scheme = "Bearer ";
    if (authorization.size() < scheme.size())
        return {};
    for (std::size_t i = 0; i < scheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
            std::tolower(static_cast<unsigned char>(scheme[i])))
            return {};
    return authorization.substr(scheme.size());
}

std::string in_quotes(std::string_view text) {
    std::string out = "\"";
    out.append(text).append("\"");
    return out;
}

class answer_builder {
public:
    explicit answer_builder(const hub_request& request) : request_(request) {}

    hub_answer error(unsigned status, std::string_view code, std::string message,
                     std::string_view commit = {}) const {
        hub_answer a = start(status);
        if (!code.empty())
            a.fields.emplace_back("X-Error-Code", std::string(code));
        a.fields.emplace_back("X-Error-Message", message);
        if (!commit.empty())
            a.fields.emplace_back("X-Repo-Commit", std::string(commit));
        a.body = json::serialize(json::object{{"error", message}});
        return a;
    }

    hub_answer json_body(const json::value& value) const {
        hub_answer a = start(200);
        a.body = json::serialize(value);
        return a;
    }

    hub_answer start(unsigned status) const {
        hub_answer a;
        a.status = status;
        a.fields.emplace_back("X-Request-Id", request_.request_id);
        return a;
    }

    hub_answer redirect(unsigned status, std::string location) const {
        hub_answer a = start(status);
        a.content_type = "text/plain; charset=utf-8";
        a.body = "Redirecting to " + location;
        a.fields.emplace_back("Location", std::move(location));
        return a;
    }

    /// `scheme://host` of the request.
    std::string base() const { return std::string(request_.tls ? "https://" : "http://") + std::string(request_.host); }

private:
    const hub_request& request_;
};

std::string_view type_word(hub_repo_type type) { return type == hub_repo_type::model ? "model" : "dataset"; }

json::object lfs_object(const hub_blob& blob, std::string_view digest_key) {
    return json::object{{digest_key, blob.sha256}, {"size", blob.size}, {"pointerSize", blob.pointer_size}};
}

json::value repo_info(const hub_repo& repo, const hub_commit& commit, bool blobs) {
    json::array siblings;
    for (const auto& [path, blob] : commit.files) {
        json::object sibling{{"rfilename", path}};
        if (blobs) {
            sibling["size"] = blob->size;
            sibling["blobId"] = blob->git_oid;
            if (blob->lfs)
                sibling["lfs"] = lfs_object(*blob, "sha256");
        }
        siblings.push_back(std::move(sibling));
    }
    json::object info{{"_id", commit.tree_oid.substr(0, 24)}, {"id", repo.id}, {"sha", commit.sha},
                      {"private", repo.is_private}, {"disabled", repo.disabled},
                      {"lastModified", hub_date}, {"createdAt", hub_date}, {"tags", json::array{}},
                      {"siblings", std::move(siblings)}};
    if (repo.type == hub_repo_type::model)
        info["modelId"] = repo.id;
    info["gated"] = repo.gate == hub_gate::none        ? json::value(false)
                    : repo.gate == hub_gate::automatic ? json::value("auto")
                                                       : json::value("manual");
    return info;
}

json::object tree_entry(const hub_entry& entry, bool expand) {
    json::object out{{"type", entry.directory ? "directory" : "file"}, {"oid", entry.oid},
                     {"size", entry.blob ? entry.blob->size : 0}, {"path", entry.path}};
    if (entry.blob && entry.blob->lfs)
        out["lfs"] = lfs_object(*entry.blob, "oid");
    if (expand) {
        out["lastCommit"] = json::object{{"id", entry.last_commit}, {"title", "ferry fake hub"}, {"date", hub_date}};
        if (!entry.directory)
            out["securityFileStatus"] = json::object{{"status", "safe"}};
    }
    return out;
}

/// The repo's extra tree entries that parse as JSON, each with its `path` when it has one.
std::vector<json::value> extra_entries(const hub_repo& repo) {
    std::vector<json::value> out;
    for (const auto& text : repo.extra_tree_entries) {
        boost::system::error_code ec;
        auto value = json::parse(text, ec);
        if (!ec)
            out.push_back(std::move(value));
    }
    return out;
}

/// `+` as a space, then percent-decoded (application/x-www-form-urlencoded).
std::optional<std::string> form_decode(std::string_view text) {
    std::string plus(text);
    std::replace(plus.begin(), plus.end(), '+', ' ');
    return percent_decode(plus);
}

/// What a paths-info body asks: its paths (in order) and whether to expand. nullopt: malformed.
struct paths_query {
    std::vector<std::string> paths;
    bool expand = false;
};

std::optional<paths_query> parse_paths_body(std::string_view content_type, std::string_view body) {
    paths_query out;
    auto first = body.find_first_not_of(" \t\r\n");
    const bool is_json = content_type.starts_with("application/json") ||
                         (first != std::string_view::npos && body[first] == '{');
    if (is_json) {
        boost::system::error_code ec;
        auto value = json::parse(json::string_view(body.data(), body.size()), ec);
        if (ec || !value.is_object())
            return std::nullopt;
        const auto& object = value.as_object();
        const auto* paths = object.if_contains("paths");
        if (paths && paths->is_string())
            out.paths.emplace_back(paths->as_string());
        else if (paths && paths->is_array())
            for (const auto& path : paths->as_array()) {
                if (!path.is_string())
                    return std::nullopt;
                out.paths.emplace_back(path.as_string());
            }
        else
            return std::nullopt;
        if (const auto* expand = object.if_contains("expand"))
            out.expand = (expand->is_bool() && expand->as_bool()) ||
                         (expand->is_string() && (expand->as_string() == "true" || expand->as_string() == "True" ||
                                                  expand->as_string() == "1"));
        return out;
    }
    // paths=a&paths=b&expand=True, as Python's requests encodes a dict of lists.
    bool any = false;
    while (!body.empty()) {
        auto amp = body.find('&');
        auto item = body.substr(0, amp);
        body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
        auto eq = item.find('=');
        auto name = form_decode(item.substr(0, eq));
        auto value = form_decode(eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1));
        if (!name || !value)
            return std::nullopt;
        if (*name == "paths" || *name == "paths[]") {
            out.paths.push_back(std::move(*value));
            any = true;
        } else if (*name == "expand") {
            out.expand = *value == "true" || *value == "True" || *value == "1";
        }
    }
    if (!any)
        return std::nullopt;
    return out;
}

hub_answer paths_info(const answer_builder& answers, const hub_repo& repo, const hub_commit& commit,
                      const hub_request& request) {
    auto asked = parse_paths_body(request.content_type, request.body);
    if (!asked)
        return answers.error(400, "", "Bad request: the body needs \"paths\", a list of repo paths");
    std::set<std::string, std::less<>> seen;
    json::array entries;
    for (const auto& path : asked->paths) {
        if (!seen.insert(path).second)
            continue;
        auto found = std::lower_bound(commit.entries.begin(), commit.entries.end(), path,
                                      [](const hub_entry& e, const std::string& p) { return e.path < p; });
        if (found != commit.entries.end() && found->path == path)
            entries.push_back(tree_entry(*found, asked->expand));
    }
    for (auto& extra : extra_entries(repo)) {
        const auto* path = extra.is_object() ? extra.as_object().if_contains("path") : nullptr;
        if (path && path->is_string() && seen.contains(std::string_view(path->as_string())))
            entries.push_back(std::move(extra));
    }
    return answers.json_body(entries);
}

hub_answer tree_page(const answer_builder& answers, const hub_options& options, const hub_repo& repo,
                     const hub_commit& commit, const std::string& dir, std::string_view raw_path,
                     std::string_view query) {
    if (!dir.empty()) {
        bool is_directory = false;
        for (const auto& entry : commit.entries)
            is_directory = is_directory || (entry.directory && entry.path == dir);
        if (!is_directory)
            return answers.error(404, "EntryNotFound", "Entry not found: " + dir, commit.sha);
    }
    const bool recursive = flag(query, "recursive");
    const bool expand = flag(query, "expand");
    std::vector<const hub_entry*> listed;
    const std::string prefix = dir.empty() ? "" : dir + "/";
    for (const auto& entry : commit.entries) {
        if (!entry.path.starts_with(prefix))
            continue;
        if (recursive || entry.path.find('/', prefix.size()) == std::string::npos)
            listed.push_back(&entry);
    }
    std::size_t first = 0;
    if (auto cursor = parameter(query, "cursor"); !cursor.empty()) {
        // Opaque to clients; here "p" and the index of the page's first entry.
        auto [end, ec] = std::from_chars(cursor.data() + 1, cursor.data() + cursor.size(), first);
        if (!cursor.starts_with('p') || ec != std::errc{} || end != cursor.data() + cursor.size() ||
            first > listed.size())
            return answers.error(400, "", "Invalid cursor");
    }
    const std::size_t page = std::max<std::size_t>(1, expand ? options.expand_page_size : options.page_size);
    const std::size_t last = std::min(listed.size(), first + page);
    json::array entries;
    for (std::size_t i = first; i < last; ++i)
        entries.push_back(tree_entry(*listed[i], expand));
    if (last == listed.size())
        for (auto& extra : extra_entries(repo))
            entries.push_back(std::move(extra));
    hub_answer a = answers.json_body(entries);
    if (last < listed.size()) {
        auto next_query = without(query, "cursor");
        next_query += (next_query.empty() ? "" : "&") + std::string("cursor=p") + std::to_string(last);
        a.fields.emplace_back("Link", "<" + answers.base() + std::string(raw_path) + "?" + next_query + ">; rel=\"next\"");
    }
    return a;
}

/// An empty file has no satisfiable range, yet js probes every file with `Range: bytes=0-0` and
/// reads the total from Content-Range: answer 200 with `bytes */0` rather than 416.
void whole_if_empty(hub_answer& a, const hub_request& request) {
    if (a.file && a.file->size() == 0 && !request.range.empty()) {
        a.whole_body = true;
        a.fields.emplace_back("Content-Range", "bytes */0");
    }
}

/// The CDN URL of `blob` for a request that came to `host`: the other loopback name, signed.
std::string cdn_location(const hub_options& options, const hub_blob& blob, const hub_request& request) {
    const std::string path = options.cdn_prefix + blob.sha256;
    fault how;
    how.signed_redirect = options.cdn_ttl;
    how.style = options.style;
    return signed_redirect_answer(how, path, path, request.host, request.tls, request.now, request.signing_secret)
        .location;
}

hub_answer resolve_file(const answer_builder& answers, const hub_options& options, const hub_commit& commit,
                        const std::string& path, const hub_request& request) {
    auto found = commit.files.find(path);
    if (found == commit.files.end())
        return answers.error(404, "EntryNotFound", "Entry not found: " + path, commit.sha);
    const hub_blob& blob = *found->second;
    if (!blob.lfs) {
        hub_answer a = answers.start(200);
        a.file = blob.bytes(in_quotes(blob.git_oid));
        a.fields.emplace_back("X-Repo-Commit", commit.sha);
        whole_if_empty(a, request);
        return a;
    }
    hub_answer a = answers.redirect(302, cdn_location(options, blob, request));
    a.fields.emplace_back("X-Linked-Etag", in_quotes(blob.sha256));
    a.fields.emplace_back("X-Linked-Size", std::to_string(blob.size));
    a.fields.emplace_back("ETag", in_quotes(blob.git_oid));
    a.fields.emplace_back("X-Repo-Commit", commit.sha);
    return a;
}

hub_answer serve_cdn(const hub_catalog& hub, const hub_route& route, const hub_request& request) {
    hub_answer a;
    a.content_type = "text/plain";
    if (hub.options.cdn_rejects_authorization && !request.authorization.empty()) {
        a.status = 400;
        a.body = "400 Bad Request: the CDN takes no Authorization header\n";
        return a;
    }
    if (!request.signed_valid) {
        a.status = 403;
        a.body = "403 Forbidden: the CDN serves signed URLs only\n";
        return a;
    }
    const hub_blob* blob = hub.lfs_blob(route.path);
    if (!blob) {
        a.status = 404;
        a.body = "404 Not Found\n";
        return a;
    }
    a.file = blob->bytes(in_quotes(blob->sha256));
    whole_if_empty(a, request);
    return a;
}

} // namespace

std::optional<hub_route> route_hub_target(const hub_catalog& hub, std::string_view target) {
    auto [segments, query] = split(target);
    std::span<const std::string_view> all(segments);
    hub_route route;
    if (!hub.options.cdn_prefix.empty() && target.starts_with(hub.options.cdn_prefix)) {
        auto rest = target.substr(hub.options.cdn_prefix.size());
        route.endpoint = hub_route::cdn;
        route.path = std::string(rest.substr(0, rest.find('?')));
        return route;
    }
    if (!segments.empty() && segments[0] == "api") {
        if (segments.size() < 3 || (segments[1] != "models" && segments[1] != "datasets"))
            return route; // unknown_api
        route.type = segments[1] == "models" ? hub_repo_type::model : hub_repo_type::dataset;
        auto repo = repo_at(hub, route.type, all, 2, true);
        if (!repo)
            return route;
        route.repo = repo->first;
        const std::size_t after = 2 + repo->second;
        route.suffix = raw_from(all, after) + (query.empty() ? "" : "?" + std::string(query));
        auto rest = all.subspan(after);
        if (rest.empty()) {
            route.endpoint = hub_route::repo_info;
            return route;
        }
        const hub_repo* known = hub.find(route.type, route.repo);
        if (rest[0] == "revision" && rest.size() > 1) {
            auto revision = join_decoded(rest.subspan(1));
            if (!revision)
                return route;
            route.endpoint = hub_route::repo_info;
            route.revision = *revision;
            return route;
        }
        if (rest[0] == "paths-info" && rest.size() > 1) {
            auto revision = join_decoded(rest.subspan(1));
            if (!revision)
                return route;
            route.endpoint = hub_route::paths_info;
            route.revision = *revision;
            return route;
        }
        if (rest[0] == "tree" && rest.size() > 1) {
            auto split_rev = revision_and_rest(known, rest.subspan(1));
            if (!split_rev)
                return route;
            route.endpoint = hub_route::tree;
            std::tie(route.revision, route.path) = *split_rev;
        }
        return route;
    }
    // /[datasets/]{repo}/resolve/{rev}/{path}
    std::size_t at = 0;
    if (!segments.empty() && segments[0] == "datasets") {
        route.type = hub_repo_type::dataset;
        at = 1;
    }
    auto resolve_at = [&](std::size_t n) { return segments.size() > at + n + 2 && segments[at + n] == "resolve"; };
    auto repo = repo_at(hub, route.type, all, at, resolve_at(2));
    if (!repo || !resolve_at(repo->second))
        return std::nullopt;
    route.repo = repo->first;
    const std::size_t after = at + repo->second;
    route.suffix = raw_from(all, after) + (query.empty() ? "" : "?" + std::string(query));
    auto split_rev = revision_and_rest(hub.find(route.type, route.repo), all.subspan(after + 1));
    if (!split_rev)
        return std::nullopt;
    route.endpoint = hub_route::resolve;
    std::tie(route.revision, route.path) = *split_rev;
    return route;
}

bool hub_takes_post(const hub_catalog& hub, std::string_view target) {
    auto route = route_hub_target(hub, target);
    return route && route->endpoint == hub_route::paths_info;
}

std::optional<hub_answer> answer_hub(const hub_catalog& hub, const hub_request& request) {
    auto route = route_hub_target(hub, request.target);
    if (!route)
        return std::nullopt;
    answer_builder answers(request);
    if ((request.method == "POST") != (route->endpoint == hub_route::paths_info)) {
        hub_answer a = answers.error(405, "", "Method not allowed");
        a.fields.emplace_back("Allow", route->endpoint == hub_route::paths_info ? "POST" : "GET, HEAD");
        return a;
    }
    if (route->endpoint == hub_route::cdn)
        return serve_cdn(hub, *route, request);

    if (route->endpoint == hub_route::unknown_api)
        return answers.error(404, "", "Sorry, we can't find the page you are looking for.");

    auto token = bearer_token(request.authorization);
    if (!token.empty() && !hub.options.tokens.contains(token))
        return answers.error(401, "", "Invalid credentials in Authorization header");

    const hub_repo* repo = hub.find(route->type, route->repo);
    const bool approved = repo && !token.empty() && repo->approved.contains(token);
    if (!repo || (repo->is_private && !approved)) {
        if (auto new_id = hub.renamed(route->type, route->repo); !new_id.empty()) {
            std::string prefix = route->endpoint == hub_route::resolve
                                     ? (route->type == hub_repo_type::dataset ? "/datasets/" : "/")
                                     : (route->type == hub_repo_type::dataset ? "/api/datasets/" : "/api/models/");
            return answers.redirect(307, prefix + new_id + route->suffix);
        }
        return answers.error(token.empty() ? 401 : 404, "RepoNotFound",
                             "Repository Not Found for url: " + answers.base() + std::string(request.target) + ".");
    }
    if (repo->disabled)
        return answers.error(403, "", "Access to this resource is disabled.");

    const std::string revision = route->revision.empty() ? "main" : route->revision;
    const hub_commit* commit = repo->at(revision);
    if (!commit)
        return answers.error(404, "RevisionNotFound", "Invalid rev id: " + revision);

    const std::string_view query = request.target.find('?') == std::string_view::npos
                                       ? std::string_view()
                                       : request.target.substr(request.target.find('?') + 1);
    switch (route->endpoint) {
    case hub_route::repo_info:
        return answers.json_body(repo_info(*repo, *commit, flag(query, "blobs")));
    case hub_route::tree:
        return tree_page(answers, hub.options, *repo, *commit, route->path,
                         request.target.substr(0, request.target.find('?')), query);
    case hub_route::paths_info:
        return paths_info(answers, *repo, *commit, request);
    case hub_route::resolve:
        if (repo->gate != hub_gate::none && !approved)
            return answers.error(token.empty() ? 401 : 403, "GatedRepo",
                                 "Access to " + std::string(type_word(repo->type)) + " " + repo->id +
                                     " is restricted" +
                                     (token.empty() ? ". You must have access to it and be authenticated to access it."
                                                    : " and you are not in the authorized list."),
                                 commit->sha);
        return resolve_file(answers, hub.options, *commit, route->path, request);
    default:
        return answers.error(404, "", "Sorry, we can't find the page you are looking for.");
    }
}

} // namespace ferry::origin
