#include "engine/hub_source.hpp"

#include "engine/hub_listing.hpp"
#include "memory/sha256.hpp"

#include <algorithm>
#include <set>

namespace ferry {

namespace {

bool selected(const hub_selection& selection, std::string_view path) {
    if (!selection.filenames.empty())
        return std::find(selection.filenames.begin(), selection.filenames.end(), path) != selection.filenames.end();
    return selection.filter.keep(path);
}

file_spec fetch_spec(const hub_tree_file& f, std::filesystem::path path, const hub_snapshot& snapshot,
                     const hub_fetch_options& options) {
    file_spec spec;
    // The commit's sha, not the branch: every file comes from the one commit that was listed.
    spec.urls = {hub_resolve_url(options.endpoint, snapshot.repo, snapshot.sha, f.path)};
    spec.path = std::move(path);
    spec.name = f.path;
    spec.size = f.size;
    if (f.lfs_sha256) {
        spec.sha256 = parse_sha256_hex(*f.lfs_sha256);
        spec.redirects = true; // to the CDN's storage
    } else {
        spec.git_blob_id = f.blob_id;
    }
    if (options.token)
        spec.headers.emplace_back("Authorization", "Bearer " + *options.token);
    return spec;
}

} // namespace

std::filesystem::path hub_model::destination(const hub_cache& cache) const {
    return local_dir ? *local_dir : cache.snapshot_dir(snapshot.repo, snapshot.sha);
}

hub_model plan_hub_model(hub_cache& cache, hub_snapshot snapshot, const hub_selection& selection,
                         const hub_fetch_options& options, hub_blobs_in_flight& in_flight) {
    hub_model model;
    model.snapshot = std::move(snapshot);
    model.local_dir = options.local_dir;
    const auto& snap = model.snapshot;
    model.fetch.id = options.model_id.empty() ? snap.repo.id : options.model_id;
    model.fetch.prio = options.prio;
    model.fetch.limit_rate = options.limit_rate;

    for (const auto& f : snap.files)
        if (selected(selection, f.path))
            model.files.push_back(f);
    for (const auto& name : selection.filenames) {
        auto listed = std::find_if(snap.files.begin(), snap.files.end(),
                                   [&](const hub_tree_file& f) { return f.path == name; });
        if (listed == snap.files.end()) {
            model.missing.push_back(name);
            if (!options.local_dir && valid_hub_file_path(name))
                cache.mark_no_exist(snap.repo, snap.sha, name);
        }
    }
    if (!model.missing.empty())
        return model; // refused as a whole: nothing planned, nothing claimed in `in_flight`

    if (options.local_dir) {
        // Plain files: the engine skips those already there with the right size and digest.
        model.fetch.dir = *options.local_dir;
        for (const auto& f : model.files)
            model.fetch.files.push_back(fetch_spec(f, f.path, snap, options));
        return model;
    }

    model.fetch.dir = cache.blobs_dir(snap.repo);
    std::set<std::string, std::less<>> planned; // one fetch or adoption per blob
    for (const auto& f : model.files) {
        const auto& etag = f.etag();
        std::error_code ec;
        if (cache.has_snapshot_file(snap.repo, snap.sha, f.path) ||
            std::filesystem::is_regular_file(cache.blob_path(snap.repo, etag), ec)) {
            ++model.hits;
            model.hit_bytes += f.size;
            continue;
        }
        if (!planned.insert(etag).second)
            continue;
        std::optional<std::filesystem::path> source;
        if (auto flying = in_flight.find(etag); flying != in_flight.end())
            source = flying->second;
        else
            source = cache.find_blob(etag, snap.repo);
        if (source) {
            model.adoptions.push_back({etag, *source, f.size});
            model.adopted_bytes += f.size;
            continue;
        }
        model.fetch.files.push_back(fetch_spec(f, etag, snap, options));
        in_flight.emplace(etag, cache.blob_path(snap.repo, etag));
    }
    return model;
}

std::vector<std::string> finish_hub_model(hub_cache& cache, const hub_model& model) {
    std::vector<std::string> problems;
    if (model.local_dir)
        return problems;
    const auto& snap = model.snapshot;
    const auto& repo = snap.repo;
    if (auto ec = cache.prepare_repo(repo)) {
        problems.push_back("cannot create " + cache.repo_dir(repo).string() + ": " + ec.message());
        return problems;
    }
    for (const auto& a : model.adoptions) {
        auto dest = cache.blob_path(repo, a.etag);
        std::error_code exists_ec;
        if (std::filesystem::is_regular_file(dest, exists_ec))
            continue;
        if (auto ec = hub_cache::adopt_blob(a.source, dest))
            problems.push_back("cannot link blob " + a.etag + " from " + a.source.string() + ": " + ec.message());
    }
    std::error_code ec;
    std::filesystem::create_directories(cache.snapshot_dir(repo, snap.sha), ec);
    if (ec) {
        problems.push_back("cannot create " + cache.snapshot_dir(repo, snap.sha).string() + ": " + ec.message());
        return problems;
    }
    for (const auto& f : model.files) {
        std::error_code blob_ec;
        if (!std::filesystem::is_regular_file(cache.blob_path(repo, f.etag()), blob_ec)) {
            problems.push_back(f.path + ": not downloaded");
            continue;
        }
        std::string message;
        if (cache.link_snapshot_file(repo, snap.sha, f.path, f.etag(), message))
            problems.push_back(f.path + ": " + message);
    }
    cache.write_tree(repo, snap.sha, snap.files);
    if (!is_commit_sha(snap.revision)) {
        if (auto ref_ec = cache.write_ref(repo, snap.revision, snap.sha))
            problems.push_back("cannot write the ref " + snap.revision + ": " + ref_ec.message());
    }
    cache.touch_revision(repo, snap.sha);
    return problems;
}

boost::system::result<std::filesystem::path> cached_hub_snapshot(const hub_cache& cache, const hub_repo_id& repo,
                                                                 const std::string& revision,
                                                                 const hub_selection& selection, std::string& message,
                                                                 bool need_listing) {
    auto rev = revision.empty() ? std::string("main") : revision;
    std::optional<std::string> sha = is_commit_sha(rev) ? std::optional<std::string>(rev) : cache.read_ref(repo, rev);
    auto dir = sha ? cache.snapshot_dir(repo, *sha) : std::filesystem::path();
    std::error_code ec;
    if (!sha || !std::filesystem::is_directory(dir, ec)) {
        message = "revision " + rev + " of " + repo.id + " is not in the cache " + cache.root().string();
        return make_error_code(hub_error::revision_not_found);
    }
    std::vector<std::string> wanted = selection.filenames;
    if (wanted.empty()) {
        auto tree = cache.read_tree(repo, *sha);
        if (!tree && need_listing) {
            message = "the cache has no listing of " + repo.id + " at " + sha->substr(0, 12);
            return make_error_code(hub_error::entry_not_found);
        }
        for (const auto& f : tree.value_or(std::vector<hub_tree_file>{}))
            if (selection.filter.keep(f.path))
                wanted.push_back(f.path);
    }
    std::size_t absent = 0;
    std::string first;
    for (const auto& path : wanted) {
        if (cache.has_snapshot_file(repo, *sha, path))
            continue;
        if (absent++ == 0)
            first = path;
    }
    if (absent) {
        bool known_absent = cache.is_no_exist(repo, *sha, first);
        message = first + (known_absent ? " does not exist in " : " is not in the cached snapshot of ") + repo.id +
                  " at " + sha->substr(0, 12) +
                  (absent > 1 ? " (and " + std::to_string(absent - 1) + " more files)" : std::string());
        return make_error_code(hub_error::entry_not_found);
    }
    return dir;
}

} // namespace ferry
