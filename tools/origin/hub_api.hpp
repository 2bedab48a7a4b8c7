#pragma once

// The Hub mode's answers, as pure functions of the catalog and the request (no I/O, the time and
// the signing secret are arguments). origin_connection asks answer_hub first when the origin has
// a hub catalog; a nullopt means "not a Hub path" and the ordinary origin answers.
//
// Endpoints (../shared/hf-hub.md):
//   GET /api/{models|datasets}/{repo}[/revision/{rev}][?blobs=true]    repo info: id, sha, siblings
//   GET /api/{models|datasets}/{repo}/tree/{rev}[/{dir}][?recursive=&expand=&cursor=]
//                                                                     tree page, `Link: <…>; rel="next"`
//   POST /api/{models|datasets}/{repo}/paths-info/{rev}               the tree entries of the paths in
//       the body, {"paths": [...], "expand": true} or form-encoded paths=...&expand=...; unknown
//       paths are left out. With expand, entries carry lastCommit (and files securityFileStatus).
//   GET|HEAD /[datasets/]{repo}/resolve/{rev}/{path}                  regular file: 200 + bytes,
//       ETag = git sha1; LFS: 302 to a signed URL on the other loopback name with X-Linked-Etag,
//       X-Linked-Size, ETag (the pointer's sha1); both with X-Repo-Commit
//   GET|HEAD {cdn_prefix}{sha256}?<signature>                         the LFS bytes (ranges apply)
// A revision is a ref (branch, tag, refs/pr/N; encoded `refs%2Fpr%2F1` or not, the longest known
// ref wins), HEAD (= main) or a full sha. Errors carry X-Error-Code (RepoNotFound, GatedRepo,
// RevisionNotFound, EntryNotFound), X-Error-Message and a JSON body {"error": "..."}; every Hub
// answer carries X-Request-Id.
//
// An empty file asked for with a Range is answered 200 with `Content-Range: bytes */0` (no range of
// it exists, yet clients such as @huggingface/hub probe every file with `Range: bytes=0-0` and read
// its size from Content-Range). A repo's extra_tree_entries end every tree listing of it (on the
// last page), and end its paths-info answers when their `path` was asked for.

#include "tools/origin/content.hpp"
#include "tools/origin/hub_catalog.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry::origin {

struct hub_request {
    std::string_view method = "GET"; ///< GET or HEAD; POST for paths-info
    std::string_view target{};       ///< as sent: raw path and query
    std::string_view range{};        ///< the Range field, "" when absent
    std::string_view content_type{}; ///< of the body (POST)
    std::string_view body{};         ///< the request body (POST), complete
    std::string_view host{};         ///< the Host field: absolute URLs are built on it
    std::string_view authorization{}; ///< the Authorization field, "" when absent
    bool tls = true;
    /// The query carried a signature that the origin checked and found valid. (Expired and forged
    /// ones never get here: the origin refuses them with 403 first.)
    bool signed_valid = false;
    std::int64_t now = 0;            ///< seconds since the epoch: CDN URLs are signed at this time
    std::string_view signing_secret{};
    std::string request_id{};        ///< goes into X-Request-Id
};

struct hub_answer {
    unsigned status = 200;
    std::vector<std::pair<std::string, std::string>> fields; ///< header fields besides the usual ones
    std::string content_type = "application/json; charset=utf-8";
    std::string body;
    /// Set: the body is these bytes, and Range, If-Range and conditionals apply to them (status
    /// then comes from those, 200/206/304/416); `body` is unused.
    std::optional<content> file;
    /// With `file`: a Range is answered 200 with the whole body (the fields then hold the
    /// Content-Range to send). Set for empty files, whose ranges are all unsatisfiable.
    bool whole_body = false;
};

/// Which endpoint a target names, parsed against the catalog (repo ids of one or two segments,
/// revisions of several). nullopt: not a Hub path.
struct hub_route {
    enum kind { repo_info, tree, paths_info, resolve, cdn, unknown_api } endpoint = unknown_api;
    hub_repo_type type = hub_repo_type::model;
    std::string repo;     ///< decoded
    std::string revision; ///< decoded; "" = none given
    std::string path;     ///< resolve: the file; tree: the directory ("" = root); cdn: the sha256
    std::string suffix;   ///< the raw target after the repo id (for a rename's Location)
};
std::optional<hub_route> route_hub_target(const hub_catalog& hub, std::string_view target);

/// Whether `target` is a Hub endpoint that takes a POST with a body (paths-info): the origin reads
/// the body of such requests only (and refuses other POSTs with 405).
bool hub_takes_post(const hub_catalog& hub, std::string_view target);

/// The answer to `request`; nullopt when its target is not a Hub path.
std::optional<hub_answer> answer_hub(const hub_catalog& hub, const hub_request& request);

} // namespace ferry::origin
