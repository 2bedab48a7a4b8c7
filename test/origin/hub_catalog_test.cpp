// The Hub mode without sockets: git object ids, the worked example of hf-hub.md, routing a target
// to an endpoint, and the answers as data.
#include "tools/origin/hub_api.hpp"
#include "memory/git_blob_id.hpp"
#include "tools/origin/hub_catalog.hpp"

#include <boost/json/parse.hpp>
#include <doctest/doctest.h>

#include <stdexcept>

using namespace ferry::origin;
namespace json = boost::json;

namespace {

std::string header(const hub_answer& answer, std::string_view name) {
    for (const auto& [field, value] : answer.fields)
        if (field == name)
            return value;
    return {};
}

std::string one_mebibyte_ramp() {
    std::string bytes(1024 * 1024, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<char>(i % 256);
    return bytes;
}

/// hf-hub.md's worked example: acme/tiny at one commit, with main and a PR pointing at it.
hub_catalog worked_example() {
    hub_catalog hub;
    auto& repo = hub.add_repo("acme/tiny");
    auto weights = hub_file_spec::inline_text("sub/dir/weights.bin", one_mebibyte_ramp());
    weights.lfs = true;
    hub.add_commit(repo,
                   {hub_file_spec::inline_text("README.md", "# tiny\n"),
                    hub_file_spec::inline_text("config.json", "{\"model_type\": \"bert\"}\n"), weights},
                   {"main", "refs/pr/1", "dev/x"});
    return hub;
}

hub_answer ask(const hub_catalog& hub, std::string_view target, std::string_view authorization = {}) {
    hub_request request{.target = target, .host = "localhost:8443", .authorization = authorization,
                        .now = 1767225600, .signing_secret = "secret", .request_id = "r1"};
    auto answer = answer_hub(hub, request);
    REQUIRE(answer);
    return *answer;
}

} // namespace

TEST_CASE("git_blob_id and lfs_pointer: the values git and Git LFS compute") {
    CHECK(ferry::git_blob_id("") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    CHECK(ferry::git_blob_id("# tiny\n") == "8e2e871357bef652084a73f7173adc5eb8859a33");
    auto pointer = lfs_pointer("fbbab289f7f94b25736c58be46a994c441fd02552cc6022352e3d86d2fab7c83", 1048576);
    CHECK(pointer.size() == 132);
    CHECK(ferry::git_blob_id(pointer) == "008d9adda7574f0a91412e68b9c2e501251606c2");
}

TEST_CASE("hub_catalog: hf-hub.md's worked example, blob and tree ids included") {
    auto hub = worked_example();
    const hub_repo* repo = hub.find(hub_repo_type::model, "acme/tiny");
    REQUIRE(repo);
    const hub_commit* commit = repo->at("main");
    REQUIRE(commit);
    CHECK(repo->at("HEAD") == commit);
    CHECK(repo->at("refs/pr/1") == commit);
    CHECK(repo->at(commit->sha) == commit);
    CHECK(repo->at("v9") == nullptr);
    CHECK(repo->at("0123456789abcdef0123456789abcdef01234567") == nullptr);

    REQUIRE(commit->files.size() == 3);
    CHECK(commit->files.at("README.md")->git_oid == "8e2e871357bef652084a73f7173adc5eb8859a33");
    CHECK(commit->files.at("config.json")->git_oid == "dc1fb7b6703fe03317c1a080b523bf475f3d4818");
    const auto& weights = *commit->files.at("sub/dir/weights.bin");
    CHECK(weights.lfs);
    CHECK(weights.sha256 == "fbbab289f7f94b25736c58be46a994c441fd02552cc6022352e3d86d2fab7c83");
    CHECK(weights.git_oid == "008d9adda7574f0a91412e68b9c2e501251606c2");
    CHECK(weights.pointer_size == 132);
    CHECK(hub.lfs_blob(weights.sha256) == &weights);

    std::map<std::string, std::string> oids;
    for (const auto& entry : commit->entries)
        oids[entry.path] = entry.oid;
    CHECK(oids.size() == 5);
    CHECK(oids["sub"] == "ca4c8e38b72f767ff6652a0e466b9897a5869d17");
    CHECK(oids["sub/dir"] == "494ea821a563c085f3e427bfe184b7dd1f8ff547");
}

TEST_CASE("hub_catalog: revisions share blobs; bad paths and unknown bases are refused") {
    hub_catalog hub(3);
    auto& repo = hub.add_repo("acme/shared");
    auto v1 = hub.add_commit(repo, {hub_file_spec::synthetic("a.bin", 5000), hub_file_spec::inline_text("c", "1")},
                             {"v1"});
    auto v2 = hub.add_commit(repo, {hub_file_spec::inline_text("c", "2")}, {"main"}, "v1");
    CHECK(v1 != v2);
    CHECK(repo.at("main")->files.at("a.bin") == repo.at("v1")->files.at("a.bin"));
    CHECK(repo.at("main")->files.at("c")->git_oid != repo.at("v1")->files.at("c")->git_oid);
    auto& other = hub.add_repo("other/repo", hub_repo_type::dataset);
    hub.add_commit(other, {hub_file_spec::synthetic("x.bin", 5000, "acme/shared/a.bin")}, {"main"});
    CHECK(other.at("main")->files.at("x.bin")->sha256 == repo.at("v1")->files.at("a.bin")->sha256);
    auto v3 = hub.add_commit(repo, {}, {"pruned"}, "main", {"a.bin"});
    CHECK(repo.commits.at(v3).files.size() == 1);

    CHECK_THROWS_AS(hub.add_commit(repo, {hub_file_spec::inline_text("../x", "")}, {}), std::invalid_argument);
    CHECK_THROWS_AS(hub.add_commit(repo, {hub_file_spec::inline_text("a//b", "")}, {}), std::invalid_argument);
    CHECK_THROWS_AS(hub.add_commit(repo, {}, {}, "nope"), std::invalid_argument);
    CHECK_THROWS_AS(hub.add_commit(repo, {hub_file_spec::inline_text("c/d", "")}, {}, "main"),
                    std::invalid_argument); // c is a file
    CHECK_THROWS_AS(hub.add_repo("a/b/c"), std::invalid_argument);
}

TEST_CASE("route_hub_target: repo ids of one or two segments, revisions with slashes, encoded or not") {
    auto hub = worked_example();
    hub.add_repo("gpt2");
    auto route = route_hub_target(hub, "/api/models/acme/tiny/revision/refs%2Fpr%2F1?blobs=true");
    REQUIRE(route);
    CHECK(route->endpoint == hub_route::repo_info);
    CHECK(route->repo == "acme/tiny");
    CHECK(route->revision == "refs/pr/1");

    route = route_hub_target(hub, "/api/models/acme/tiny/tree/refs/pr/1/sub/dir");
    REQUIRE(route);
    CHECK(route->endpoint == hub_route::tree);
    CHECK(route->revision == "refs/pr/1");
    CHECK(route->path == "sub/dir");

    route = route_hub_target(hub, "/acme/tiny/resolve/dev%2Fx/sub/dir/weights.bin");
    REQUIRE(route);
    CHECK(route->endpoint == hub_route::resolve);
    CHECK(route->revision == "dev/x");
    CHECK(route->path == "sub/dir/weights.bin");

    route = route_hub_target(hub, "/acme/tiny/resolve/dev/x/README.md");
    REQUIRE(route);
    CHECK(route->revision == "dev/x");
    CHECK(route->path == "README.md");

    route = route_hub_target(hub, "/gpt2/resolve/main/to%3F/a%25b");
    REQUIRE(route);
    CHECK(route->repo == "gpt2");
    CHECK(route->path == "to?/a%b");

    route = route_hub_target(hub, "/datasets/org/data/resolve/main/x.csv");
    REQUIRE(route);
    CHECK(route->type == hub_repo_type::dataset);
    CHECK(route->repo == "org/data");

    CHECK(route_hub_target(hub, "/api/spaces/x/y")->endpoint == hub_route::unknown_api);
    CHECK_FALSE(route_hub_target(hub, "/data/file.bin"));
    CHECK_FALSE(route_hub_target(hub, "/acme/tiny/resolve/main"));
}

TEST_CASE("answer_hub: info, tree, resolve and the error codes, as data") {
    auto hub = worked_example();
    auto info = ask(hub, "/api/models/acme/tiny?blobs=true");
    CHECK(info.status == 200);
    CHECK(header(info, "X-Request-Id") == "r1");
    auto body = json::parse(info.body).as_object();
    CHECK(body.at("id") == "acme/tiny");
    CHECK(body.at("sha").as_string().size() == 40);
    CHECK(body.at("siblings").as_array().size() == 3);
    CHECK(body.at("gated") == false);

    auto tree = ask(hub, "/api/models/acme/tiny/tree/main?recursive=True");
    CHECK(json::parse(tree.body).as_array().size() == 5);
    auto top = ask(hub, "/api/models/acme/tiny/tree/main");
    CHECK(json::parse(top.body).as_array().size() == 3); // README.md, config.json, sub

    auto lfs = ask(hub, "/acme/tiny/resolve/main/sub/dir/weights.bin");
    CHECK(lfs.status == 302);
    CHECK(header(lfs, "Location").starts_with("https://127.0.0.1:8443/cdn-lfs/fbbab289"));
    CHECK(header(lfs, "X-Linked-Size") == "1048576");
    auto regular = ask(hub, "/acme/tiny/resolve/main/README.md");
    CHECK(regular.status == 200);
    REQUIRE(regular.file);
    CHECK(regular.file->etag() == "\"8e2e871357bef652084a73f7173adc5eb8859a33\"");

    CHECK(header(ask(hub, "/api/models/acme/none"), "X-Error-Code") == "RepoNotFound");
    CHECK(ask(hub, "/api/models/acme/none").status == 401);
    CHECK(header(ask(hub, "/acme/tiny/resolve/v9/README.md"), "X-Error-Code") == "RevisionNotFound");
    auto missing = ask(hub, "/acme/tiny/resolve/main/nope.txt");
    CHECK(missing.status == 404);
    CHECK(header(missing, "X-Error-Code") == "EntryNotFound");
    CHECK(header(missing, "X-Repo-Commit") == body.at("sha").as_string());
    auto bad_token = ask(hub, "/api/models/acme/tiny", "Bearer hf_unknown");
    CHECK(bad_token.status == 401);
    CHECK(header(bad_token, "X-Error-Message") == "Invalid credentials in Authorization header");
}

TEST_CASE("parse_hub_spec: repos, revisions from others, sizes, gates and renames") {
    auto hub = parse_hub_spec(R"({
        "page_size": 2, "cdn_ttl": 60, "sign_style": "amz", "tokens": ["hf_bob"],
        "repos": [
          {"id": "acme/tiny", "renamed_from": "old/tiny", "revisions": [
             {"refs": ["v1.0"], "files": {"README.md": "# tiny\n", "w.bin": {"size": "1K"}, "n.bin": 10}},
             {"refs": ["main"], "from": "v1.0", "files": {"c.json": {"text": "{}", "lfs": true}}, "remove": ["n.bin"]}]},
          {"id": "org/data", "type": "dataset", "gated": "manual", "approved": ["hf_alice"],
           "revisions": [{"refs": "main", "files": {"x.csv": {"size": 1024, "key": "acme/tiny/w.bin"}}}]}]})",
                              5);
    CHECK(hub.options.page_size == 2);
    CHECK(hub.options.cdn_ttl == std::chrono::seconds(60));
    CHECK(hub.options.style == sign_style::amz);
    CHECK(hub.options.tokens.contains("hf_alice"));
    const hub_repo* tiny = hub.find(hub_repo_type::model, "acme/tiny");
    REQUIRE(tiny);
    CHECK(tiny->at("v1.0")->files.size() == 3);
    CHECK(tiny->at("main")->files.size() == 3);
    CHECK(tiny->at("main")->files.at("c.json")->lfs);
    CHECK_FALSE(tiny->at("main")->files.at("README.md")->lfs);
    CHECK(hub.renamed(hub_repo_type::model, "old/tiny") == "acme/tiny");
    const hub_repo* data = hub.find(hub_repo_type::dataset, "org/data");
    REQUIRE(data);
    CHECK(data->gate == hub_gate::manual);
    CHECK(data->at("main")->files.at("x.csv")->sha256 == tiny->at("main")->files.at("w.bin")->sha256);

    CHECK_THROWS_AS(parse_hub_spec("[]", 0), std::invalid_argument);
    CHECK_THROWS_AS(parse_hub_spec(R"({"repos": [{"id": "a", "revisions": [{"files": {"x": {}}}]}]})", 0),
                    std::invalid_argument);
    CHECK_THROWS_AS(parse_hub_spec(R"({"repos": [{"id": "a", "type": "space", "revisions": []}]})", 0),
                    std::invalid_argument);
}

TEST_CASE("answer_hub: the CDN serves signed requests only, and may refuse Authorization") {
    auto hub = worked_example();
    const std::string cdn = "/cdn-lfs/fbbab289f7f94b25736c58be46a994c441fd02552cc6022352e3d86d2fab7c83";
    hub_request request;
    request.target = cdn;
    request.host = "127.0.0.1:8443";
    CHECK(answer_hub(hub, request)->status == 403);
    request.signed_valid = true;
    auto served = answer_hub(hub, request);
    REQUIRE(served->file);
    CHECK(served->file->size() == 1024 * 1024);
    CHECK(served->file->etag() == "\"fbbab289f7f94b25736c58be46a994c441fd02552cc6022352e3d86d2fab7c83\"");
    request.authorization = "Bearer hf_x";
    CHECK(answer_hub(hub, request)->file); // allowed unless switched off
    hub.options.cdn_rejects_authorization = true;
    CHECK(answer_hub(hub, request)->status == 400);
    request.authorization = {};
    request.target = "/cdn-lfs/0000";
    CHECK(answer_hub(hub, request)->status == 404);
}

namespace {

hub_answer post(const hub_catalog& hub, std::string_view target, std::string_view body,
                std::string_view content_type = "application/json") {
    hub_request request{.method = "POST", .target = target, .content_type = content_type, .body = body,
                        .host = "localhost:8443", .request_id = "r2"};
    auto answer = answer_hub(hub, request);
    REQUIRE(answer);
    return *answer;
}

std::vector<std::string> paths_of(const json::value& listing) {
    std::vector<std::string> out;
    for (const auto& entry : listing.as_array())
        out.emplace_back(entry.at("path").as_string());
    return out;
}

} // namespace

TEST_CASE("answer_hub: paths-info answers the entries asked for, files and directories, in order") {
    auto hub = worked_example();
    CHECK(route_hub_target(hub, "/api/models/acme/tiny/paths-info/refs%2Fpr%2F1")->endpoint == hub_route::paths_info);
    CHECK(route_hub_target(hub, "/api/models/acme/tiny/paths-info/refs%2Fpr%2F1")->revision == "refs/pr/1");
    CHECK(hub_takes_post(hub, "/api/models/acme/tiny/paths-info/main"));
    CHECK_FALSE(hub_takes_post(hub, "/api/models/acme/tiny/tree/main"));
    CHECK_FALSE(hub_takes_post(hub, "/acme/tiny/resolve/main/README.md"));

    auto answer = post(hub, "/api/models/acme/tiny/paths-info/main",
                       R"({"paths": ["sub/dir/weights.bin", "nope", "sub", "README.md", "README.md"], "expand": true})");
    CHECK(answer.status == 200);
    CHECK(header(answer, "X-Request-Id") == "r2");
    auto listing = json::parse(answer.body);
    CHECK(paths_of(listing) == std::vector<std::string>{"sub/dir/weights.bin", "sub", "README.md"});
    const auto& weights = listing.at(0).as_object();
    CHECK(weights.at("type") == "file");
    CHECK(weights.at("oid") == "008d9adda7574f0a91412e68b9c2e501251606c2");
    CHECK(weights.at("size").to_number<std::uint64_t>() == 1048576);
    CHECK(weights.at("lfs").at("oid") == "fbbab289f7f94b25736c58be46a994c441fd02552cc6022352e3d86d2fab7c83");
    CHECK(weights.at("lfs").at("pointerSize").to_number<int>() == 132);
    const std::string sha(json::parse(ask(hub, "/api/models/acme/tiny").body).at("sha").as_string());
    CHECK(weights.at("lastCommit").at("id").as_string() == sha);
    CHECK(weights.at("lastCommit").at("date").is_string());
    CHECK(weights.at("securityFileStatus").at("status") == "safe");
    const auto& sub = listing.at(1).as_object();
    CHECK(sub.at("type") == "directory");
    CHECK(sub.at("oid") == "ca4c8e38b72f767ff6652a0e466b9897a5869d17");
    CHECK(sub.contains("lastCommit"));
    CHECK_FALSE(sub.contains("securityFileStatus"));
    CHECK_FALSE(listing.at(2).as_object().contains("lfs"));

    // Without expand: no lastCommit; form-encoded as Python sends it; unknown revision.
    auto plain = json::parse(post(hub, "/api/models/acme/tiny/paths-info/main", R"({"paths": ["README.md"]})").body);
    CHECK_FALSE(plain.at(0).as_object().contains("lastCommit"));
    auto form = post(hub, "/api/models/acme/tiny/paths-info/" + sha, "paths=sub%2Fdir&paths=config.json&expand=True",
                     "application/x-www-form-urlencoded");
    CHECK(form.status == 200);
    auto form_listing = json::parse(form.body);
    CHECK(paths_of(form_listing) == std::vector<std::string>{"sub/dir", "config.json"});
    CHECK(form_listing.at(1).as_object().contains("lastCommit"));
    CHECK(json::parse(post(hub, "/api/models/acme/tiny/paths-info/main", R"({"paths": []})").body).as_array().empty());
    auto missing_rev = post(hub, "/api/models/acme/tiny/paths-info/v9", R"({"paths": ["README.md"]})");
    CHECK(missing_rev.status == 404);
    CHECK(header(missing_rev, "X-Error-Code") == "RevisionNotFound");
    CHECK(post(hub, "/api/models/acme/tiny/paths-info/main", "not json {").status == 400);
    CHECK(post(hub, "/api/models/acme/tiny/paths-info/main", R"({"paths": [1]})").status == 400);
    CHECK(post(hub, "/api/models/acme/tiny/paths-info/main", "").status == 400);

    // Methods: paths-info is POST only, everything else never POST.
    auto get = ask(hub, "/api/models/acme/tiny/paths-info/main");
    CHECK(get.status == 405);
    CHECK(header(get, "Allow") == "POST");
    CHECK(post(hub, "/api/models/acme/tiny/tree/main", "{}").status == 405);
    CHECK(post(hub, "/acme/tiny/resolve/main/README.md", "{}").status == 405);
}

TEST_CASE("answer_hub: lastCommit names the commit that last changed an entry") {
    hub_catalog hub;
    auto& repo = hub.add_repo("acme/history");
    auto first = hub.add_commit(repo, {hub_file_spec::inline_text("a.txt", "a"), hub_file_spec::inline_text("d/b.txt", "b"),
                                       hub_file_spec::inline_text("e/c.txt", "c")},
                                {"v1"});
    auto second = hub.add_commit(repo, {hub_file_spec::inline_text("d/b.txt", "B")}, {"main"}, "v1");
    std::map<std::string, std::string> last;
    for (const auto& entry : repo.commits.at(second).entries)
        last[entry.path] = entry.last_commit;
    CHECK(last.at("a.txt") == first);
    CHECK(last.at("e") == first);
    CHECK(last.at("e/c.txt") == first);
    CHECK(last.at("d") == second);
    CHECK(last.at("d/b.txt") == second);
    auto listing = json::parse(ask(hub, "/api/models/acme/history/tree/main?recursive=true&expand=true").body);
    for (const auto& entry : listing.as_array())
        CHECK(entry.at("lastCommit").at("id").as_string() == last.at(std::string(entry.at("path").as_string())));
}

TEST_CASE("answer_hub: an empty file asked with a Range is 200 with its total in Content-Range") {
    hub_catalog hub;
    auto& repo = hub.add_repo("acme/empty");
    auto empty_lfs = hub_file_spec::synthetic("empty.bin", 0);
    hub.add_commit(repo, {hub_file_spec::inline_text("empty.txt", ""), empty_lfs,
                          hub_file_spec::inline_text("one.txt", "1")},
                   {"main"});
    hub_request request{.target = "/acme/empty/resolve/main/empty.txt", .range = "bytes=0-0",
                        .host = "localhost:8443", .now = 1767225600, .signing_secret = "secret"};
    auto probe = *answer_hub(hub, request);
    CHECK(probe.status == 200);
    REQUIRE(probe.file);
    CHECK(probe.file->size() == 0);
    CHECK(probe.whole_body);
    CHECK(header(probe, "Content-Range") == "bytes */0");
    CHECK(header(probe, "X-Repo-Commit").size() == 40);

    request.target = "/acme/empty/resolve/main/one.txt"; // a range of a non-empty file stays a range
    auto one = *answer_hub(hub, request);
    CHECK_FALSE(one.whole_body);
    CHECK(header(one, "Content-Range").empty());
    request.range = {};
    request.target = "/acme/empty/resolve/main/empty.txt"; // no Range: nothing to say
    CHECK(header(*answer_hub(hub, request), "Content-Range").empty());

    // An empty LFS file: the redirect, then the CDN answers the same way.
    request.range = "bytes=0-0";
    request.target = "/acme/empty/resolve/main/empty.bin";
    auto redirect = *answer_hub(hub, request);
    CHECK(redirect.status == 302);
    CHECK(header(redirect, "X-Linked-Size") == "0");
    request.target = "/cdn-lfs/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    request.signed_valid = true;
    auto cdn = *answer_hub(hub, request);
    REQUIRE(cdn.file);
    CHECK(cdn.whole_body);
    CHECK(header(cdn, "Content-Range") == "bytes */0");
}

TEST_CASE("hub_repo::extra_tree_entries: appended to tree listings (last page) and to paths-info when asked") {
    auto hub = parse_hub_spec(R"({"page_size": 2, "repos": [{"id": "acme/bad",
        "tree_extra": [{"type": "file", "path": "../escape.bin", "size": 3, "oid": "x"},
                       {"type": "symlink", "path": "link"}, "not an object"],
        "revisions": [{"refs": "main", "files": {"a.txt": "a", "b.txt": "b", "c/d.txt": "d"}}]}]})",
                              0);
    const hub_repo* repo = hub.find(hub_repo_type::model, "acme/bad");
    REQUIRE(repo);
    REQUIRE(repo->extra_tree_entries.size() == 3);
    CHECK(json::parse(repo->extra_tree_entries[0]).at("path") == "../escape.bin");

    // 4 entries in pages of 2: the extras end the second page only.
    auto first = ask(hub, "/api/models/acme/bad/tree/main?recursive=true");
    CHECK(json::parse(first.body).as_array().size() == 2);
    REQUIRE_FALSE(header(first, "Link").empty());
    auto second = ask(hub, "/api/models/acme/bad/tree/main?recursive=true&cursor=p2");
    CHECK(header(second, "Link").empty());
    auto listing = json::parse(second.body).as_array();
    REQUIRE(listing.size() == 5);
    CHECK(listing[2].at("path") == "../escape.bin");
    CHECK(listing[3].at("type") == "symlink");
    CHECK(listing[4] == "not an object");
    auto sub = json::parse(ask(hub, "/api/models/acme/bad/tree/main/c").body).as_array();
    CHECK(sub.size() == 4); // c/d.txt and the three extras

    auto info = json::parse(post(hub, "/api/models/acme/bad/paths-info/main",
                                 R"({"paths": ["a.txt", "../escape.bin"], "expand": true})")
                                .body);
    CHECK(paths_of(info) == std::vector<std::string>{"a.txt", "../escape.bin"});
    auto other = json::parse(post(hub, "/api/models/acme/bad/paths-info/main", R"({"paths": ["a.txt"]})").body);
    CHECK(other.as_array().size() == 1);

    hub_catalog direct;
    auto& built = direct.add_repo("acme/direct");
    direct.add_commit(built, {hub_file_spec::inline_text("x", "x")}, {"main"});
    built.extra_tree_entries = {R"({"type": "file", "path": "/abs", "size": -1})", "{broken"};
    auto tree = json::parse(ask(direct, "/api/models/acme/direct/tree/main").body).as_array();
    REQUIRE(tree.size() == 2); // the broken text is left out
    CHECK(tree[1].at("path") == "/abs");

    CHECK_THROWS_AS(parse_hub_spec(R"({"repos": [{"id": "a", "tree_extra": {}, "revisions": []}]})", 0),
                    std::invalid_argument);
}
