#include "tools/origin/hub_catalog.hpp"

#include "memory/git_blob_id.hpp"
#include "memory/sha256.hpp"
#include "perf/byte_size.hpp"
#include "tools/origin/content_catalog.hpp"
#include "tools/origin/synthetic.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <stdexcept>

namespace ferry::origin {

namespace {

std::string unhex(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i + 1 < text.size(); i += 2)
        out += static_cast<char>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16));
    return out;
}

/// sha256 and git blob sha1 of synthetic bytes, in one pass.
std::pair<std::string, std::string> hash_synthetic(std::string_view key, std::uint64_t size, std::uint64_t seed) {
    constexpr std::size_t chunk = 1 << 20;
    auto buffer = std::make_unique_for_overwrite<std::byte[]>(chunk);
    ferry::sha256 content_hash;
    sha1 git_hash;
    git_hash.update(git_object_header("blob", size));
    for (std::uint64_t offset = 0; offset < size;) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, size - offset));
        synthetic_fill(key, seed, offset, {buffer.get(), n});
        content_hash.update(buffer.get(), n);
        git_hash.update(buffer.get(), n);
        offset += n;
    }
    return {to_hex(content_hash.finish()), hex_text(git_hash.finish())};
}

/// Git's tree order: names compared bytewise, a directory's as if it ended in '/'.
bool git_tree_order(const std::pair<std::string, bool>& a, const std::pair<std::string, bool>& b) {
    return (a.second ? a.first + "/" : a.first) < (b.second ? b.first + "/" : b.first);
}

/// Fills `commit.entries` and `commit.tree_oid` from its files: every directory's git tree
/// sha1, computed from the leaves up.
void describe_tree(hub_commit& commit) {
    // Each directory ("" = root) and its children: name → (oid, is directory).
    std::map<std::string, std::map<std::string, std::pair<std::string, bool>>> directories;
    directories[""];
    for (const auto& [path, blob] : commit.files) {
        auto slash = path.rfind('/');
        std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
        directories[parent][path.substr(slash + 1)] = {blob->git_oid, false};
        while (!parent.empty()) { // make sure every ancestor lists its child directory
            auto up = parent.rfind('/');
            std::string grand = up == std::string::npos ? "" : parent.substr(0, up);
            directories[grand].try_emplace(parent.substr(up + 1), std::string(), true);
            parent = grand;
        }
    }
    // Deepest first: a directory's oid is known before its parent needs it.
    std::vector<std::string> order;
    for (const auto& [dir, children] : directories)
        order.push_back(dir);
    std::sort(order.begin(), order.end(), [](const std::string& a, const std::string& b) {
        return std::count(a.begin(), a.end(), '/') + !a.empty() > std::count(b.begin(), b.end(), '/') + !b.empty();
    });
    std::map<std::string, std::string> tree_oids;
    for (const auto& dir : order) {
        std::vector<std::pair<std::string, bool>> names;
        for (const auto& [name, child] : directories[dir])
            names.emplace_back(name, child.second);
        std::sort(names.begin(), names.end(), git_tree_order);
        std::string body;
        for (const auto& [name, is_directory] : names) {
            std::string child_path = dir.empty() ? name : dir + "/" + name;
            const std::string& oid = is_directory ? tree_oids[child_path] : directories[dir][name].first;
            body += is_directory ? "40000 " : "100644 ";
            body += name;
            body += '\0';
            body += unhex(oid);
        }
        sha1 hash;
        hash.update(git_object_header("tree", body.size()));
        hash.update(body);
        tree_oids[dir] = hex_text(hash.finish());
    }
    commit.tree_oid = tree_oids[""];
    commit.entries.clear();
    for (const auto& [path, blob] : commit.files)
        commit.entries.push_back({path, false, blob->git_oid, blob.get()});
    for (const auto& [dir, oid] : tree_oids)
        if (!dir.empty())
            commit.entries.push_back({dir, true, oid, nullptr});
    std::sort(commit.entries.begin(), commit.entries.end(),
              [](const hub_entry& a, const hub_entry& b) { return a.path < b.path; });
}

bool is_full_sha(std::string_view text) {
    return text.size() == 40 && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

} // namespace

hub_file_spec hub_file_spec::inline_text(std::string path, std::string text) {
    hub_file_spec f;
    f.path = std::move(path);
    f.text = std::move(text);
    return f;
}

hub_file_spec hub_file_spec::synthetic(std::string path, std::uint64_t size, std::string key) {
    hub_file_spec f;
    f.path = std::move(path);
    f.size = size;
    f.key = std::move(key);
    return f;
}

content hub_blob::bytes(std::string etag) const {
    return (text ? content::in_memory(text) : content::synthetic(key, size, seed)).with_etag(std::move(etag));
}

const hub_commit* hub_repo::at(std::string_view revision) const {
    if (revision == "HEAD")
        revision = "main";
    if (auto ref = refs.find(revision); ref != refs.end())
        revision = ref->second;
    else if (!is_full_sha(revision))
        return nullptr;
    auto found = commits.find(revision);
    return found == commits.end() ? nullptr : &found->second;
}

std::string lfs_pointer(std::string_view sha256_hex, std::uint64_t size) {
    return "version https://git-lfs.github.com/spec/v1\noid sha256:" + std::string(sha256_hex) + "\nsize " +
           std::to_string(size) + "\n";
}

bool valid_hub_path(std::string_view path) {
    if (path.empty() || path.find('\0') != std::string_view::npos || path.find('\\') != std::string_view::npos)
        return false;
    for (;;) {
        auto slash = path.find('/');
        auto segment = path.substr(0, slash);
        if (segment.empty() || segment == "." || segment == "..")
            return false;
        if (slash == std::string_view::npos)
            return true;
        path.remove_prefix(slash + 1);
    }
}

hub_repo& hub_catalog::add_repo(std::string id, hub_repo_type type) {
    auto slash = id.find('/');
    if (!valid_hub_path(id) || (slash != std::string::npos && id.find('/', slash + 1) != std::string::npos))
        throw std::invalid_argument("hub: a repo id is NAME or ORG/NAME, not '" + id + "'");
    auto [it, added] = repos_.try_emplace({type, id});
    it->second.type = type;
    it->second.id = std::move(id);
    return it->second;
}

std::shared_ptr<const hub_blob> hub_catalog::blob_for(const hub_repo& repo, const hub_file_spec& file) {
    bool lfs = file.lfs.value_or(!file.text);
    std::string key = file.text ? std::string() : file.key.empty() ? repo.id + "/" + file.path : file.key;
    // One blob per distinct content (and storage): hashing happens once.
    std::string source(lfs ? "L" : "R");
    if (file.text)
        source.append("T").append(*file.text);
    else
        source.append("S").append(std::to_string(file.size)).append(":").append(key);
    if (auto found = blobs_.find(source); found != blobs_.end())
        return found->second;
    auto blob = std::make_shared<hub_blob>();
    blob->lfs = lfs;
    blob->seed = seed_;
    std::string git_oid;
    if (file.text) {
        blob->text = std::make_shared<const std::string>(*file.text);
        blob->size = file.text->size();
        ferry::sha256 hash;
        hash.update(file.text->data(), file.text->size());
        blob->sha256 = to_hex(hash.finish());
        git_oid = git_blob_id(*file.text);
    } else {
        blob->key = key;
        blob->size = file.size;
        std::tie(blob->sha256, git_oid) = hash_synthetic(key, file.size, seed_);
    }
    if (lfs) {
        auto pointer = lfs_pointer(blob->sha256, blob->size);
        blob->pointer_size = pointer.size();
        blob->git_oid = git_blob_id(pointer);
        lfs_blobs_.try_emplace(blob->sha256, blob);
    } else {
        blob->git_oid = git_oid;
    }
    blobs_.emplace(std::move(source), blob);
    return blob;
}

std::string hub_catalog::add_commit(hub_repo& repo, const std::vector<hub_file_spec>& files,
                                    const std::vector<std::string>& refs, std::string_view from,
                                    const std::vector<std::string>& remove) {
    auto mine = repos_.find(std::pair{repo.type, repo.id});
    if (mine == repos_.end() || &mine->second != &repo)
        throw std::invalid_argument("hub: repo " + repo.id + " is not in this catalog");
    hub_commit commit;
    if (!from.empty()) {
        const hub_commit* base = repo.at(from);
        if (!base)
            throw std::invalid_argument("hub: " + repo.id + " has no revision '" + std::string(from) + "'");
        commit.files = base->files;
    }
    for (const auto& path : remove)
        commit.files.erase(path);
    for (const auto& file : files) {
        if (!valid_hub_path(file.path))
            throw std::invalid_argument("hub: bad file path '" + file.path + "' in " + repo.id);
        commit.files.insert_or_assign(file.path, blob_for(repo, file));
    }
    for (const auto& [path, blob] : commit.files)
        if (commit.files.lower_bound(path + "/") != commit.files.end() &&
            commit.files.lower_bound(path + "/")->first.starts_with(path + "/"))
            throw std::invalid_argument("hub: " + path + " is both a file and a directory in " + repo.id);
    describe_tree(commit);
    sha1 hash;
    hash.update("ferry-hub commit\n" + std::string(repo.type == hub_repo_type::model ? "model " : "dataset ") +
                repo.id + "\n" + std::to_string(repo.commits.size()) + "\n" + commit.tree_oid);
    commit.sha = hex_text(hash.finish());
    // An entry unchanged since `from` keeps the commit that last changed it there.
    const hub_commit* base = from.empty() ? nullptr : repo.at(from);
    for (auto& entry : commit.entries) {
        entry.last_commit = commit.sha;
        if (!base)
            continue;
        auto same = std::lower_bound(base->entries.begin(), base->entries.end(), entry.path,
                                     [](const hub_entry& e, const std::string& p) { return e.path < p; });
        if (same != base->entries.end() && same->path == entry.path && same->directory == entry.directory &&
            same->oid == entry.oid)
            entry.last_commit = same->last_commit;
    }
    for (const auto& ref : refs) {
        if (ref.empty() || is_full_sha(ref) || ref == "HEAD")
            throw std::invalid_argument("hub: '" + ref + "' cannot be a ref name");
        repo.refs.insert_or_assign(ref, commit.sha);
    }
    auto sha = commit.sha;
    repo.commits.insert_or_assign(sha, std::move(commit));
    return sha;
}

void hub_catalog::add_rename(hub_repo_type type, std::string old_id, std::string new_id) {
    renames_.insert_or_assign(std::pair{type, std::move(old_id)}, std::move(new_id));
}

const hub_repo* hub_catalog::find(hub_repo_type type, std::string_view id) const {
    auto found = repos_.find(std::pair{type, std::string(id)});
    return found == repos_.end() ? nullptr : &found->second;
}

std::string hub_catalog::renamed(hub_repo_type type, std::string_view id) const {
    auto found = renames_.find(std::pair{type, std::string(id)});
    return found == renames_.end() ? std::string() : found->second;
}

const hub_blob* hub_catalog::lfs_blob(std::string_view sha256) const {
    auto found = lfs_blobs_.find(sha256);
    return found == lfs_blobs_.end() ? nullptr : found->second.get();
}

namespace {

namespace json = boost::json;

[[noreturn]] void spec_error(const std::string& what) { throw std::invalid_argument("hub spec: " + what); }

std::vector<std::string> string_list(const json::value& value, const std::string& where) {
    std::vector<std::string> out;
    if (value.is_string()) {
        out.emplace_back(value.as_string());
        return out;
    }
    if (!value.is_array())
        spec_error(where + " must be a string or an array of strings");
    for (const auto& item : value.as_array()) {
        if (!item.is_string())
            spec_error(where + " must hold strings");
        out.emplace_back(item.as_string());
    }
    return out;
}

std::uint64_t size_value(const json::value& value, const std::string& where) {
    if (value.is_uint64())
        return value.as_uint64();
    if (value.is_int64() && value.as_int64() >= 0)
        return std::uint64_t(value.as_int64());
    if (value.is_string())
        if (auto n = parse_byte_size(std::string_view(value.as_string())))
            return *n;
    spec_error(where + " must be a size: a number of bytes or text like 512K, 20M, 2G");
}

hub_file_spec file_value(const std::string& path, const json::value& value) {
    if (value.is_string())
        return hub_file_spec::inline_text(path, std::string(value.as_string()));
    if (!value.is_object())
        return hub_file_spec::synthetic(path, size_value(value, "file " + path));
    const auto& object = value.as_object();
    hub_file_spec file;
    if (auto text = object.if_contains("text")) {
        if (!text->is_string())
            spec_error("file " + path + ": text must be a string");
        file = hub_file_spec::inline_text(path, std::string(text->as_string()));
    } else if (auto size = object.if_contains("size")) {
        file = hub_file_spec::synthetic(path, size_value(*size, "file " + path + " size"));
        if (auto key = object.if_contains("key")) {
            if (!key->is_string())
                spec_error("file " + path + ": key must be a string");
            file.key = std::string(key->as_string());
        }
    } else {
        spec_error("file " + path + " needs \"text\" or \"size\"");
    }
    if (auto lfs = object.if_contains("lfs")) {
        if (!lfs->is_bool())
            spec_error("file " + path + ": lfs must be true or false");
        file.lfs = lfs->as_bool();
    }
    return file;
}

hub_repo_type repo_type(std::string_view text) {
    if (text == "model")
        return hub_repo_type::model;
    if (text == "dataset")
        return hub_repo_type::dataset;
    spec_error("type is model or dataset, not '" + std::string(text) + "'");
}

} // namespace

hub_catalog parse_hub_spec(std::string_view text, std::uint64_t seed) {
    boost::system::error_code ec;
    auto root = json::parse(json::string_view(text.data(), text.size()), ec);
    if (ec || !root.is_object())
        spec_error("not a JSON object");
    const auto& top = root.as_object();
    hub_catalog hub(seed);
    if (auto page = top.if_contains("page_size"))
        hub.options.page_size = std::max<std::uint64_t>(1, size_value(*page, "page_size"));
    if (auto ttl = top.if_contains("cdn_ttl"))
        hub.options.cdn_ttl = std::chrono::seconds(size_value(*ttl, "cdn_ttl"));
    if (auto style = top.if_contains("sign_style")) {
        auto name = style->is_string() ? std::string_view(style->as_string()) : std::string_view();
        hub.options.style = name == "amz"          ? sign_style::amz
                            : name == "cloudfront" ? sign_style::cloudfront
                            : name == "azure"      ? sign_style::azure
                                                   : (spec_error("sign_style is amz, cloudfront or azure"), sign_style{});
    }
    if (auto tokens = top.if_contains("tokens"))
        for (auto& token : string_list(*tokens, "tokens"))
            hub.options.tokens.insert(token);
    if (auto reject = top.if_contains("cdn_rejects_authorization"))
        hub.options.cdn_rejects_authorization = reject->is_bool() && reject->as_bool();

    const auto* repos = top.if_contains("repos");
    if (!repos || !repos->is_array())
        spec_error("\"repos\" must be an array");
    for (const auto& item : repos->as_array()) {
        if (!item.is_object() || !item.as_object().contains("id") || !item.at("id").is_string())
            spec_error("each repo is an object with a string \"id\"");
        const auto& r = item.as_object();
        std::string id(r.at("id").as_string());
        auto type = r.contains("type") && r.at("type").is_string() ? repo_type(r.at("type").as_string())
                                                                   : hub_repo_type::model;
        auto& repo = hub.add_repo(id, type);
        if (auto gated = r.if_contains("gated")) {
            if (gated->is_bool())
                repo.gate = gated->as_bool() ? hub_gate::automatic : hub_gate::none;
            else if (gated->is_string() && gated->as_string() == "auto")
                repo.gate = hub_gate::automatic;
            else if (gated->is_string() && gated->as_string() == "manual")
                repo.gate = hub_gate::manual;
            else
                spec_error(id + ": gated is false, true, \"auto\" or \"manual\"");
        }
        repo.is_private = r.contains("private") && r.at("private").is_bool() && r.at("private").as_bool();
        repo.disabled = r.contains("disabled") && r.at("disabled").is_bool() && r.at("disabled").as_bool();
        if (auto approved = r.if_contains("approved"))
            for (auto& token : string_list(*approved, id + ": approved")) {
                repo.approved.insert(token);
                hub.options.tokens.insert(token); // an approved token is a known one
            }
        if (auto extra = r.if_contains("tree_extra")) {
            if (!extra->is_array())
                spec_error(id + ": tree_extra must be an array of tree entries (JSON values)");
            for (const auto& entry : extra->as_array())
                repo.extra_tree_entries.push_back(json::serialize(entry));
        }
        if (auto renamed_from = r.if_contains("renamed_from"))
            for (auto& old_id : string_list(*renamed_from, id + ": renamed_from"))
                hub.add_rename(type, old_id, id);
        const auto* revisions = r.if_contains("revisions");
        if (!revisions || !revisions->is_array())
            spec_error(id + ": \"revisions\" must be an array");
        for (const auto& rev : revisions->as_array()) {
            if (!rev.is_object())
                spec_error(id + ": each revision is an object");
            const auto& o = rev.as_object();
            std::vector<hub_file_spec> files;
            if (auto listed = o.if_contains("files")) {
                if (!listed->is_object())
                    spec_error(id + ": files is an object from path to content");
                for (const auto& [path, value] : listed->as_object())
                    files.push_back(file_value(std::string(path), value));
            }
            auto refs = o.contains("refs") ? string_list(o.at("refs"), id + ": refs") : std::vector<std::string>{};
            std::string from = o.contains("from") && o.at("from").is_string() ? std::string(o.at("from").as_string())
                                                                             : std::string();
            auto remove = o.contains("remove") ? string_list(o.at("remove"), id + ": remove")
                                               : std::vector<std::string>{};
            try {
                hub.add_commit(repo, files, refs, from, remove);
            } catch (const std::invalid_argument& e) {
                spec_error(e.what());
            }
        }
    }
    return hub;
}

} // namespace ferry::origin
