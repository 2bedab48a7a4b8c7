#include "engine/manifest.hpp"

#include "memory/part_file.hpp"
#include "net/url.hpp"

#include <set>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace ferry {

namespace json = boost::json;

namespace {

constexpr std::uint64_t max_file_size = std::uint64_t(1) << 53; // 8 PiB: beyond is a typo

struct invalid {
    std::string message;
};

std::optional<std::uint64_t> as_size(const json::value& v) {
    if (v.is_uint64())
        return v.as_uint64();
    if (v.is_int64() && v.as_int64() >= 0)
        return static_cast<std::uint64_t>(v.as_int64());
    return std::nullopt;
}

const json::value* field(const json::object& o, std::string_view name) { return o.if_contains(name); }

std::string string_field(const json::object& o, std::string_view name, const std::string& where, bool required) {
    auto* v = field(o, name);
    if (!v) {
        if (required)
            throw invalid{where + "missing \"" + std::string(name) + "\""};
        return {};
    }
    if (!v->is_string())
        throw invalid{where + "\"" + std::string(name) + "\" must be a string"};
    return std::string(v->as_string());
}

file_spec parse_file(const json::value& v, const std::string& base_url, const std::string& model_where) {
    if (!v.is_object())
        throw invalid{model_where + "each entry of \"files\" must be an object"};
    auto& o = v.as_object();
    auto path = string_field(o, "path", model_where + "file: ", true);
    auto where = model_where + "file '" + path + "': ";
    if (auto problem = check_relative_path(path); !problem.empty())
        throw invalid{where + problem};

    file_spec f;
    f.path = path;
    auto* size = field(o, "size");
    if (!size)
        throw invalid{where + "missing \"size\""};
    auto n = as_size(*size);
    if (!n)
        throw invalid{where + "\"size\" must be a non-negative integer"};
    if (*n > max_file_size)
        throw invalid{where + "\"size\" " + std::to_string(*n) + " is not plausible"};
    f.size = *n;

    if (auto* digest = field(o, "sha256")) {
        if (!digest->is_string())
            throw invalid{where + "\"sha256\" must be a string of 64 hex digits"};
        auto parsed = parse_sha256_hex(digest->as_string());
        if (!parsed)
            throw invalid{where + "\"sha256\" is not 64 hex digits"};
        f.sha256 = parsed;
    }
    if (auto* urls = field(o, "urls")) {
        if (!urls->is_array() || urls->as_array().empty())
            throw invalid{where + "\"urls\" must be a non-empty array of URLs"};
        for (auto& u : urls->as_array()) {
            if (!u.is_string())
                throw invalid{where + "\"urls\" must hold strings"};
            std::string text(u.as_string());
            if (auto parsed = parse_url(text); !parsed)
                throw invalid{where + "bad URL '" + text + "': " + parsed.error().message()};
            f.urls.push_back(text);
        }
    } else if (!base_url.empty()) {
        auto joined = join_url(base_url, path);
        if (!joined)
            throw invalid{where + "cannot form a URL from base_url: " + joined.error().message()};
        f.urls.push_back(joined->text);
    } else {
        throw invalid{where + "no URL (give \"urls\" or the model's \"base_url\")"};
    }
    return f;
}

std::vector<std::string> string_list(const json::object& o, std::string_view name, const std::string& where) {
    std::vector<std::string> out;
    auto* v = field(o, name);
    if (!v)
        return out;
    if (!v->is_array())
        throw invalid{where + "\"" + std::string(name) + "\" must be an array of strings"};
    for (auto& item : v->as_array()) {
        if (!item.is_string())
            throw invalid{where + "\"" + std::string(name) + "\" must be an array of strings"};
        out.emplace_back(item.as_string());
    }
    return out;
}

priority parse_model_priority(const json::object& o, const std::string& where) {
    auto* p = field(o, "priority");
    if (!p)
        return priority::normal;
    auto parsed = p->is_string() ? parse_priority(p->as_string()) : std::nullopt;
    if (!parsed)
        throw invalid{where + "unknown priority (use high, normal or low)"};
    return *parsed;
}

std::uint64_t parse_limit_rate(const json::object& o, const std::string& where) {
    auto* rate = field(o, "limit_rate");
    if (!rate)
        return 0;
    auto n = as_size(*rate);
    if (!n)
        throw invalid{where + "\"limit_rate\" must be bytes per second"};
    return *n;
}

hub_manifest_model parse_hub_model(const json::object& o, const std::string& id, const std::filesystem::path& destination) {
    auto where = "model '" + id + "': ";
    hub_manifest_model m;
    m.id = id;
    m.repo.id = string_field(o, "hf", where, true);
    if (!valid_hub_repo_id(m.repo.id))
        throw invalid{where + "\"hf\" is not a Hub repo id (ORG/NAME): '" + m.repo.id + "'"};
    auto type = string_field(o, "repo_type", where, false);
    if (!type.empty()) {
        auto parsed = parse_hub_repo_type(type);
        if (!parsed || *parsed == hub_repo_type::space)
            throw invalid{where + "\"repo_type\" must be model or dataset"};
        m.repo.type = *parsed;
    }
    m.revision = string_field(o, "revision", where, false);
    if (!m.revision.empty() && !valid_hub_revision(m.revision))
        throw invalid{where + "\"revision\" is not a branch, tag or sha: '" + m.revision + "'"};
    m.include = string_list(o, "include", where);
    m.exclude = string_list(o, "exclude", where);
    m.prio = parse_model_priority(o, where);
    m.limit_rate = parse_limit_rate(o, where);
    auto dir = string_field(o, "dir", where, false);
    if (!dir.empty()) {
        if (auto problem = check_relative_path(dir); !problem.empty())
            throw invalid{where + "dir '" + dir + "': " + problem};
        m.dir = destination / dir;
    }
    if (field(o, "files") || field(o, "base_url"))
        throw invalid{where + "a Hub model (\"hf\") lists no \"files\" or \"base_url\": the Hub does"};
    return m;
}

model_spec parse_model(const json::value& v, const std::filesystem::path& destination) {
    if (!v.is_object())
        throw invalid{"each entry of \"models\" must be an object"};
    auto& o = v.as_object();
    model_spec m;
    m.id = string_field(o, "id", "model: ", true);
    if (m.id.empty())
        throw invalid{"model: \"id\" is empty"};
    auto where = "model '" + m.id + "': ";

    m.prio = parse_model_priority(o, where);
    auto base_url = string_field(o, "base_url", where, false);
    if (!base_url.empty())
        if (auto parsed = parse_url(base_url); !parsed)
            throw invalid{where + "bad base_url '" + base_url + "': " + parsed.error().message()};
    auto dir = string_field(o, "dir", where, false);
    if (dir.empty())
        dir = m.id;
    if (auto problem = check_relative_path(dir); !problem.empty())
        throw invalid{where + "dir '" + dir + "': " + problem};
    m.dir = destination / dir;
    m.limit_rate = parse_limit_rate(o, where);
    auto* files = field(o, "files");
    if (!files || !files->is_array() || files->as_array().empty())
        throw invalid{where + "\"files\" must be a non-empty array"};
    for (auto& f : files->as_array())
        m.files.push_back(parse_file(f, base_url, where));
    return m;
}

} // namespace

manifest parse_manifest(std::string_view text, const std::filesystem::path& destination) {
    manifest out;
    boost::system::error_code ec;
    json::parse_options options;
    options.max_depth = 16;
    auto doc = json::parse(text, ec, {}, options);
    if (ec) {
        out.error = "malformed JSON: " + ec.message();
        return out;
    }
    try {
        if (!doc.is_object() || !doc.as_object().if_contains("models") || !doc.as_object().at("models").is_array())
            throw invalid{"a manifest is an object with a \"models\" array"};
        std::set<std::string> ids, destinations;
        for (auto& v : doc.as_object().at("models").as_array()) {
            if (v.is_object() && field(v.as_object(), "hf")) {
                auto id = string_field(v.as_object(), "id", "model: ", true);
                if (id.empty())
                    throw invalid{"model: \"id\" is empty"};
                if (!ids.insert(id).second)
                    throw invalid{"model '" + id + "': id used twice"};
                out.hub_models.push_back(parse_hub_model(v.as_object(), id, destination));
                continue;
            }
            auto model = parse_model(v, destination);
            if (!ids.insert(model.id).second)
                throw invalid{"model '" + model.id + "': id used twice"};
            for (auto& f : model.files) {
                auto target = (model.dir / f.path).lexically_normal().generic_string();
                if (!destinations.insert(target).second)
                    throw invalid{"model '" + model.id + "': file '" + f.path.generic_string() +
                                  "': destination " + target + " is used twice"};
            }
            out.models.push_back(std::move(model));
        }
        if (out.models.empty() && out.hub_models.empty())
            throw invalid{"the manifest has no models"};
    } catch (const invalid& problem) {
        out.models.clear();
        out.hub_models.clear();
        out.error = problem.message;
    }
    return out;
}

} // namespace ferry
