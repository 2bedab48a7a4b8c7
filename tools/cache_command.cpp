// ferry cache: look at and tidy the Hugging Face cache (ls, verify, rm, prune).
#include "engine/hub_settings.hpp"
#include "memory/hub_cache_evict.hpp"
#include "memory/hub_cache_scan.hpp"
#include "memory/hub_cache_verify.hpp"
#include "tools/arguments.hpp"
#include "tools/commands.hpp"
#include "tools/download_session.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>

#include <sys/ioctl.h>
#include <unistd.h>

namespace ferry::cli {

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr const char* cache_usage =
    "usage: ferry cache COMMAND [OPTIONS]\n"
    "  ls [--json]                  repos, revisions, sizes on disk, last access, refs\n"
    "  verify                       check every blob against its name (sha256 or git blob id)\n"
    "  rm REPO[@REV] [--repo-type model|dataset|space]\n"
    "                               remove a repo, or one revision (a sha or a ref) of it\n"
    "  prune --max-size SIZE [--dry-run]\n"
    "                               evict least recently used revisions until the cache fits\n"
    "                               SIZE (500M, 2G: powers of 1024)\n"
    "options of every command:\n"
    "      --cache-dir DIR          the cache (default: HF_HUB_CACHE, else HF_HOME/hub,\n"
    "                               else ~/.cache/huggingface/hub)\n";

/// What the command line asked for.
struct cache_request {
    std::string command;
    fs::path cache_dir;
    bool json_output = false;
    bool dry_run = false;
    std::optional<std::uint64_t> max_size;
    hub_repo_type repo_type = hub_repo_type::model;
    std::string target; ///< rm's REPO[@REV]
};

cache_request parse_request(std::span<const std::string_view> args) {
    cache_request request;
    arguments in(args);
    std::string value;
    std::optional<std::string> cache_dir;
    while (!in.done()) {
        auto arg = in.take();
        if (arg == "--json")
            request.json_output = true;
        else if (arg == "--dry-run")
            request.dry_run = true;
        else if (in.value(arg, "--cache-dir", value))
            cache_dir = value;
        else if (in.value(arg, "--max-size", value)) {
            request.max_size = parse_byte_size(value);
            if (!request.max_size)
                throw usage_error("option --max-size needs a size such as 500M or 2G, not '" + value + "'");
        } else if (in.value(arg, "--repo-type", value)) {
            auto type = parse_hub_repo_type(value);
            if (!type)
                throw usage_error("option --repo-type needs model, dataset or space, not '" + value + "'");
            request.repo_type = *type;
        } else if (arg.starts_with('-'))
            throw usage_error("unknown option '" + std::string(arg) + "' (ferry cache --help)");
        else if (request.command.empty())
            request.command = arg;
        else if (request.command == "rm" && request.target.empty())
            request.target = arg;
        else
            throw usage_error("unexpected argument '" + std::string(arg) + "' (ferry cache --help)");
    }
    if (request.command.empty())
        throw usage_error("cache needs a command: ls, verify, rm or prune (ferry cache --help)");
    if (request.command != "ls" && request.command != "verify" && request.command != "rm" &&
        request.command != "prune")
        throw usage_error("unknown cache command '" + request.command + "' (ferry cache --help)");
    if (request.command == "rm" && request.target.empty())
        throw usage_error("cache rm needs REPO or REPO@REVISION");
    if (request.command == "prune" && !request.max_size)
        throw usage_error("cache prune needs --max-size SIZE");
    if (request.json_output && request.command != "ls")
        throw usage_error("--json goes with cache ls");
    if (request.dry_run && request.command != "prune")
        throw usage_error("--dry-run goes with cache prune");
    request.cache_dir = cache_dir ? fs::path(*cache_dir) : hub_settings_from(process_environment()).cache;
    return request;
}

std::string size_text(std::uint64_t bytes) {
    return human_bytes(static_cast<double>(bytes));
}

/// "3 days ago", as huggingface-cli shows access times.
std::string ago(hub_time when) {
    if (when == hub_time{})
        return "never";
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - when).count();
    if (seconds < 60)
        return "a few seconds ago";
    struct unit {
        long long seconds;
        const char* name;
    };
    static const unit units[] = {{365LL * 86400, "year"}, {30LL * 86400, "month"}, {7LL * 86400, "week"},
                                 {86400, "day"},           {3600, "hour"},         {60, "minute"}};
    for (const auto& u : units) {
        if (seconds >= u.seconds) {
            auto n = seconds / u.seconds;
            return std::to_string(n) + " " + u.name + (n == 1 ? "" : "s") + " ago";
        }
    }
    return "a few seconds ago";
}

double unix_seconds(hub_time when) {
    return std::chrono::duration<double>(when.time_since_epoch()).count();
}

std::string joined(const std::vector<std::string>& items) {
    std::string text;
    for (const auto& item : items)
        text += (text.empty() ? "" : ", ") + item;
    return text;
}

std::size_t terminal_width() {
    winsize size{};
    if (::isatty(STDOUT_FILENO) && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col >= 40)
        return size.ws_col;
    if (const char* columns = std::getenv("COLUMNS"); columns && std::atoi(columns) >= 40)
        return static_cast<std::size_t>(std::atoi(columns));
    return 120;
}

/// A plain text table: columns as wide as their widest cell, the last one cut to the width.
class text_table {
public:
    explicit text_table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

    void print(std::ostream& out, std::size_t width) const {
        std::vector<std::size_t> widths(rows_[0].size(), 0);
        for (const auto& row : rows_)
            for (std::size_t c = 0; c < row.size(); ++c)
                widths[c] = std::max(widths[c], row[c].size());
        for (const auto& row : rows_) {
            std::string line;
            for (std::size_t c = 0; c < row.size(); ++c) {
                std::string cell = row[c];
                if (c + 1 < row.size())
                    cell.resize(widths[c] + 2, ' ');
                line += cell;
            }
            while (!line.empty() && line.back() == ' ')
                line.pop_back();
            if (line.size() > width)
                line = line.substr(0, width - 3) + "...";
            out << line << "\n";
        }
    }

private:
    std::vector<std::vector<std::string>> rows_;
};

void print_warnings(const hub_cache_contents& contents) {
    for (const auto& w : contents.warnings)
        std::cerr << "ferry: warning: " << w.path.string() << ": " << w.message << "\n";
}

json::object json_of(const hub_cached_repo& repo) {
    json::object out;
    out["type"] = to_string(repo.repo.type);
    out["id"] = repo.repo.id;
    out["path"] = repo.dir.string();
    out["size_on_disk"] = repo.size_on_disk;
    out["blobs"] = repo.blob_count;
    out["last_access"] = unix_seconds(repo.last_access);
    out["last_modified"] = unix_seconds(repo.last_modified);
    json::object refs;
    for (const auto& [name, sha] : repo.refs)
        refs[name] = sha;
    out["refs"] = std::move(refs);
    json::array revisions;
    for (const auto& revision : repo.revisions) {
        json::object r;
        r["sha"] = revision.sha;
        json::array names;
        for (const auto& name : revision.refs)
            names.push_back(json::string(name));
        r["refs"] = std::move(names);
        r["size_on_disk"] = revision.size_on_disk;
        r["last_access"] = unix_seconds(revision.last_access);
        r["last_modified"] = unix_seconds(revision.last_modified);
        json::array files;
        for (const auto& file : revision.files)
            files.push_back(json::object{{"path", file.path}, {"blob", file.blob}, {"size", file.size}});
        r["files"] = std::move(files);
        revisions.push_back(std::move(r));
    }
    out["revisions"] = std::move(revisions);
    return out;
}

int run_ls(const cache_request& request) {
    auto contents = scan_hub_cache(request.cache_dir);
    print_warnings(contents);
    if (request.json_output) {
        json::object out;
        out["cache_dir"] = request.cache_dir.string();
        out["size_on_disk"] = contents.size_on_disk;
        json::array repos;
        for (const auto& repo : contents.repos)
            repos.push_back(json_of(repo));
        out["repos"] = std::move(repos);
        json::array warnings;
        for (const auto& w : contents.warnings)
            warnings.push_back(json::object{{"path", w.path.string()}, {"message", w.message}});
        out["warnings"] = std::move(warnings);
        std::cout << json::serialize(out) << "\n";
        return 0;
    }
    text_table table({"REPO ID", "TYPE", "REVISIONS", "FILES", "SIZE ON DISK", "LAST ACCESSED", "REFS"});
    for (const auto& repo : contents.repos) {
        std::vector<std::string> refs;
        for (const auto& [name, sha] : repo.refs)
            refs.push_back(name);
        table.add({repo.repo.id, to_string(repo.repo.type), std::to_string(repo.revisions.size()),
                   std::to_string(repo.blob_count), size_text(repo.size_on_disk), ago(repo.last_access),
                   joined(refs)});
        for (const auto& revision : repo.revisions)
            table.add({"  @" + revision.sha.substr(0, 12), "", "", std::to_string(revision.files.size()),
                       size_text(revision.size_on_disk), ago(revision.last_access), joined(revision.refs)});
    }
    table.print(std::cout, terminal_width());
    std::cout << "\n"
              << contents.repos.size() << (contents.repos.size() == 1 ? " repo, " : " repos, ")
              << size_text(contents.size_on_disk) << " on disk in " << request.cache_dir.string() << "\n";
    return 0;
}

int run_verify(const cache_request& request) {
    auto result = verify_hub_cache(request.cache_dir);
    for (const auto& damaged : result.damaged)
        std::cerr << "ferry: damaged blob " << damaged.path.string()
                  << (damaged.actual.empty() ? " (unreadable)" : " (content hashes to " + damaged.actual + ")") << "\n";
    if (!result.damaged.empty()) {
        std::cout << result.damaged.size() << " of " << result.checked << " blobs damaged\n";
        return 1;
    }
    std::cout << result.checked << (result.checked == 1 ? " blob verified\n" : " blobs verified\n");
    return 0;
}

std::string revision_name(const hub_evicted_revision& revision) {
    std::string name = std::string(to_string(revision.repo.type)) + " " + revision.repo.id + "@" +
                       revision.sha.substr(0, 12);
    if (!revision.refs.empty())
        name += " (" + joined(revision.refs) + ")";
    return name;
}

int run_rm(const cache_request& request) {
    hub_repo_id repo{request.repo_type, request.target};
    std::optional<std::string> revision;
    if (auto at = request.target.find('@'); at != std::string::npos) {
        repo.id = request.target.substr(0, at);
        revision = request.target.substr(at + 1);
        if (revision->empty())
            throw usage_error("cache rm: empty revision in '" + request.target + "'");
    }
    if (!valid_hub_repo_id(repo.id))
        throw usage_error("cache rm: '" + repo.id + "' is not a repo id (ORG/NAME)");
    std::string message;
    auto removed = remove_from_hub_cache(request.cache_dir, repo, revision, message);
    if (!removed) {
        std::cerr << "ferry: " << message << "\n";
        return 1;
    }
    for (const auto& r : removed->revisions)
        std::cout << "removed " << revision_name(r) << "\n";
    if (!removed->repos_removed.empty())
        std::cout << "removed " << to_string(repo.type) << " " << repo.id << "\n";
    std::cout << size_text(removed->bytes_freed) << " freed; " << size_text(removed->size_after())
              << " left in the cache\n";
    return 0;
}

int run_prune(const cache_request& request) {
    auto pruned = prune_hub_cache(request.cache_dir, *request.max_size, request.dry_run);
    const char* verb = request.dry_run ? "would evict " : "evicted ";
    for (const auto& r : pruned.revisions)
        std::cout << verb << revision_name(r) << ", last accessed " << ago(r.last_access) << "\n";
    for (const auto& repo : pruned.repos_removed)
        std::cout << (request.dry_run ? "would remove " : "removed ") << to_string(repo.type) << " " << repo.id
                  << "\n";
    std::cout << (request.dry_run ? "would free " : "freed ") << size_text(pruned.bytes_freed) << "; cache "
              << size_text(pruned.size_before) << " -> " << size_text(pruned.size_after()) << " (limit "
              << size_text(*request.max_size) << ")\n";
    return 0;
}

} // namespace

int run_cache(std::span<const std::string_view> args) {
    for (auto arg : args)
        if (arg == "--help" || arg == "-h" || arg == "help") {
            std::cout << cache_usage;
            return 0;
        }
    auto request = parse_request(args);
    if (request.command == "ls")
        return run_ls(request);
    if (request.command == "verify")
        return run_verify(request);
    if (request.command == "rm")
        return run_rm(request);
    return run_prune(request);
}

} // namespace ferry::cli
