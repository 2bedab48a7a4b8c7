// The origin's Hub mode over real HTTPS: every endpoint and header, paging through a tree,
// resolve → signed CDN URL on the other host name → the bytes (ranges too), expiry, gates, errors,
// and the digests in listings against the bytes served.
#include "test_client.hpp"

#include "memory/sha256.hpp"
#include "memory/git_blob_id.hpp"
#include "tools/origin/hub_catalog.hpp"
#include "tools/origin/origin_server.hpp"

#include <boost/json/parse.hpp>
#include <doctest/doctest.h>

#include <set>

using namespace ferry::origin;
using namespace ferry::origin::testing;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t seed = 11;

std::shared_ptr<hub_catalog> test_hub(std::chrono::seconds cdn_ttl = 3600s) {
    auto hub = std::make_shared<hub_catalog>(seed);
    hub->options.page_size = 4;
    hub->options.cdn_ttl = cdn_ttl;
    hub->options.tokens = {"hf_alice", "hf_bob"};

    auto& tiny = hub->add_repo("acme/tiny");
    hub->add_commit(tiny,
                    {hub_file_spec::inline_text("README.md", "# tiny\n"),
                     hub_file_spec::inline_text("config.json", "{\"model_type\": \"bert\"}\n"),
                     hub_file_spec::inline_text("empty.txt", ""),
                     hub_file_spec::synthetic("model.safetensors", 300'000),
                     hub_file_spec::synthetic("sub/dir/extra.bin", 2000)},
                    {"v1.0"});
    hub->add_commit(tiny, {hub_file_spec::inline_text("config.json", "{\"model_type\": \"bert\", \"v\": 2}\n")},
                    {"main"}, "v1.0");
    hub->add_commit(tiny, {hub_file_spec::synthetic("model.safetensors", 300'000, "pr-weights")}, {"refs/pr/1"},
                    "main");
    hub->add_rename(hub_repo_type::model, "old-org/tiny", "acme/tiny");

    auto& many = hub->add_repo("acme/many");
    std::vector<hub_file_spec> files;
    for (int i = 0; i < 13; ++i)
        files.push_back(hub_file_spec::synthetic("shards/part-" + std::to_string(i) + ".bin", 100 + i));
    files.push_back(hub_file_spec::inline_text("README.md", "many\n"));
    hub->add_commit(many, files, {"main"});

    auto& gated = hub->add_repo("acme/gated");
    gated.gate = hub_gate::manual;
    gated.approved = {"hf_alice"};
    hub->add_commit(gated, {hub_file_spec::synthetic("w.bin", 5000)}, {"main"});

    auto& data = hub->add_repo("acme/data", hub_repo_type::dataset);
    hub->add_commit(data, {hub_file_spec::inline_text("train.csv", "a,b\n1,2\n")}, {"main"});
    return hub;
}

struct hub_origin {
    origin_server server;
    test_client hub;     // localhost: the Hub's name
    test_client cdn;     // 127.0.0.1: the CDN's
    explicit hub_origin(std::shared_ptr<const hub_catalog> catalog = test_hub())
        : server(config(std::move(catalog))), hub((server.start(), server)), cdn(server, "127.0.0.1") {}
    static origin_config config(std::shared_ptr<const hub_catalog> catalog) {
        origin_config c;
        c.seed = seed;
        c.hub = std::move(catalog);
        return c;
    }
};

std::string target_of(const std::string& url) {
    auto scheme = url.find("://");
    return url.substr(url.find('/', scheme + 3));
}

std::string sha256_hex(const std::string& bytes) {
    ferry::sha256 hash;
    hash.update(bytes.data(), bytes.size());
    return ferry::to_hex(hash.finish());
}

std::string unquoted(std::string etag) { return etag.size() >= 2 ? etag.substr(1, etag.size() - 2) : etag; }

/// Walks every page of a tree listing; returns the entries and counts the pages.
json::array whole_tree(test_client& client, const origin_server& server, std::string target, int& pages) {
    json::array all;
    pages = 0;
    for (;;) {
        auto page = client.get(target);
        REQUIRE(page.status == 200);
        ++pages;
        auto listed = json::parse(page.body);
        for (auto& entry : listed.as_array())
            all.push_back(entry);
        auto link = page.field("link");
        if (link.empty())
            return all;
        REQUIRE(link.ends_with(">; rel=\"next\""));
        auto url = link.substr(1, link.find('>') - 1);
        REQUIRE(url.starts_with(server.url("/api/")));
        target = target_of(url);
    }
}

} // namespace

TEST_CASE("hub: repo info by branch, tag, PR and sha, with blobs=true; HEAD answers the same head") {
    hub_origin o;
    auto main = o.hub.get("/api/models/acme/tiny");
    REQUIRE(main.status == 200);
    CHECK(main.field("content-type").starts_with("application/json"));
    CHECK_FALSE(main.field("x-request-id").empty());
    auto info = json::parse(main.body).as_object();
    CHECK(info.at("id") == "acme/tiny");
    CHECK(info.at("siblings").as_array().size() == 5);
    const std::string sha(info.at("sha").as_string());

    auto same = json::parse(o.hub.get("/api/models/acme/tiny/revision/main").body).as_object();
    CHECK(same.at("sha").as_string() == sha);
    CHECK(json::parse(o.hub.get("/api/models/acme/tiny/revision/HEAD").body).at("sha").as_string() == sha);
    CHECK(json::parse(o.hub.get("/api/models/acme/tiny/revision/" + sha).body).at("sha").as_string() == sha);
    auto tag = json::parse(o.hub.get("/api/models/acme/tiny/revision/v1.0").body).as_object();
    auto pr = json::parse(o.hub.get("/api/models/acme/tiny/revision/refs%2Fpr%2F1").body).as_object();
    CHECK(tag.at("sha").as_string() != sha);
    CHECK(pr.at("sha").as_string() != sha);
    CHECK(pr.at("sha") != tag.at("sha"));

    auto blobs = json::parse(o.hub.get("/api/models/acme/tiny?blobs=true").body).as_object();
    for (auto& sibling : blobs.at("siblings").as_array()) {
        auto& s = sibling.as_object();
        CHECK(s.contains("size"));
        CHECK(s.contains("blobId"));
        CHECK(s.contains("lfs") == (s.at("rfilename") == "model.safetensors" || s.at("rfilename") == "sub/dir/extra.bin"));
    }
    auto head = o.hub.head("/api/models/acme/tiny");
    CHECK(head.status == 200);
    CHECK(head.body.empty());
    CHECK(head.field("content-length") == std::to_string(main.body.size()));

    auto dataset = o.hub.get("/api/datasets/acme/data");
    CHECK(dataset.status == 200);
    CHECK(json::parse(dataset.body).at("id") == "acme/data");
    CHECK_FALSE(json::parse(dataset.body).as_object().contains("modelId"));
}

TEST_CASE("hub: a tree of 15 entries pages 4 at a time through absolute Link URLs, counted in the log") {
    hub_origin o;
    o.server.reset_stats();
    int pages = 0;
    auto entries = whole_tree(o.hub, o.server, "/api/models/acme/many/tree/main?recursive=true&expand=false", pages);
    CHECK(pages == 4); // 13 shards, README.md, the shards directory: 15 entries
    std::set<std::string> paths;
    for (auto& e : entries)
        paths.insert(std::string(e.at("path").as_string()));
    CHECK(paths.size() == entries.size());
    CHECK(paths.size() == 15);
    CHECK(paths.contains("shards"));
    CHECK(paths.contains("shards/part-12.bin"));

    auto log = o.server.stats().log;
    REQUIRE(log.size() == 4);
    for (auto& record : log) {
        CHECK(record.path == "/api/models/acme/many/tree/main");
        CHECK(record.status == 200);
        CHECK(record.target.find("recursive=true") != std::string::npos);
    }
    CHECK(log[3].target.find("cursor=") != std::string::npos);

    // Not recursive: the top level only; a directory lists its children.
    auto top = whole_tree(o.hub, o.server, "/api/models/acme/many/tree/main", pages);
    CHECK(top.size() == 2);
    auto shards = whole_tree(o.hub, o.server, "/api/models/acme/many/tree/main/shards", pages);
    CHECK(shards.size() == 13);
    CHECK(pages == 4);
    auto missing = o.hub.get("/api/models/acme/many/tree/main/nothere");
    CHECK(missing.status == 404);
    CHECK(missing.field("x-error-code") == "EntryNotFound");
}

TEST_CASE("hub: the digests in the tree are those of the bytes served, LFS through the CDN") {
    hub_origin o;
    int pages = 0;
    auto entries = whole_tree(o.hub, o.server, "/api/models/acme/tiny/tree/main?recursive=1", pages);
    int files = 0;
    for (auto& value : entries) {
        auto& entry = value.as_object();
        if (entry.at("type") == "directory")
            continue;
        ++files;
        const std::string path(entry.at("path").as_string());
        CAPTURE(path);
        auto resolved = o.hub.get("/acme/tiny/resolve/main/" + path);
        std::string bytes;
        if (entry.contains("lfs")) {
            REQUIRE(resolved.status == 302);
            auto location = resolved.field("location");
            CHECK(location.starts_with(o.server.ip_url("/cdn-lfs/")));
            auto content = o.cdn.get(target_of(location));
            REQUIRE(content.status == 200);
            bytes = content.body;
            auto& lfs = entry.at("lfs").as_object();
            CHECK(lfs.at("oid").as_string() == sha256_hex(bytes));
            CHECK(lfs.at("size").to_number<std::uint64_t>() == bytes.size());
            CHECK(unquoted(resolved.field("x-linked-etag")) == sha256_hex(bytes));
            CHECK(resolved.field("x-linked-size") == std::to_string(bytes.size()));
            CHECK(unquoted(resolved.field("etag")) == entry.at("oid").as_string());
            CHECK(unquoted(content.field("etag")) == sha256_hex(bytes));
            auto pointer = lfs_pointer(sha256_hex(bytes), bytes.size());
            CHECK(lfs.at("pointerSize").to_number<std::uint64_t>() == pointer.size());
            CHECK(entry.at("oid").as_string() == ferry::git_blob_id(pointer));
        } else {
            REQUIRE(resolved.status == 200);
            bytes = resolved.body;
            CHECK(entry.at("oid").as_string() == ferry::git_blob_id(bytes));
            CHECK(unquoted(resolved.field("etag")) == ferry::git_blob_id(bytes));
        }
        CHECK(entry.at("size").to_number<std::uint64_t>() == bytes.size());
        CHECK(resolved.field("x-repo-commit").size() == 40);
    }
    CHECK(files == 5);
}

TEST_CASE("hub: HEAD on resolve, ranges on regular files and on the CDN, revisions in resolve paths") {
    hub_origin o;
    const std::string sha(json::parse(o.hub.get("/api/models/acme/tiny").body).at("sha").as_string());

    auto regular = o.hub.head("/acme/tiny/resolve/main/config.json");
    CHECK(regular.status == 200);
    CHECK(regular.field("x-repo-commit") == sha);
    CHECK(regular.field("content-length") == "31");
    CHECK_FALSE(regular.field("x-request-id").empty());
    auto probe = o.hub.get("/acme/tiny/resolve/main/config.json", {{"Range", "bytes=0-0"}});
    CHECK(probe.status == 206);
    CHECK(probe.field("content-range") == "bytes 0-0/31");
    auto empty = o.hub.get("/acme/tiny/resolve/main/empty.txt");
    CHECK(empty.status == 200);
    CHECK(empty.field("etag") == "\"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\"");

    auto lfs = o.hub.head("/acme/tiny/resolve/" + sha + "/model.safetensors");
    REQUIRE(lfs.status == 302);
    CHECK(lfs.field("x-repo-commit") == sha);
    CHECK(lfs.field("x-linked-size") == "300000");
    auto cdn_target = target_of(lfs.field("location"));
    CHECK(cdn_target.find("Expires=") != std::string::npos); // CloudFront style by default
    auto tail = o.cdn.get(cdn_target, {{"Range", "bytes=299990-400000"}});
    CHECK(tail.status == 206);
    CHECK(tail.field("content-range") == "bytes 299990-299999/300000");
    CHECK(tail.body.size() == 10);
    auto resumed = o.cdn.get(cdn_target, {{"Range", "bytes=100-"}, {"If-Range", lfs.field("x-linked-etag")}});
    CHECK(resumed.status == 206);
    CHECK(o.cdn.get(cdn_target, {{"Range", "bytes=300000-"}}).status == 416);
    CHECK(o.cdn.head(cdn_target).field("accept-ranges") == "bytes");

    // The PR changed the weights: another blob; the encoded and the plain PR ref agree.
    auto pr = o.hub.head("/acme/tiny/resolve/refs%2Fpr%2F1/model.safetensors");
    auto pr_plain = o.hub.head("/acme/tiny/resolve/refs/pr/1/model.safetensors");
    CHECK(pr.field("x-linked-etag") != lfs.field("x-linked-etag"));
    CHECK(pr.field("x-linked-etag") == pr_plain.field("x-linked-etag"));
    // The tag shares the weights with main: the same blob.
    CHECK(o.hub.head("/acme/tiny/resolve/v1.0/model.safetensors").field("x-linked-etag") ==
          lfs.field("x-linked-etag"));
    auto csv = o.hub.get("/datasets/acme/data/resolve/main/train.csv");
    CHECK(csv.status == 200);
    CHECK(csv.body == "a,b\n1,2\n");
}

TEST_CASE("hub: CDN URLs expire (403), unsigned or forged ones are refused") {
    hub_origin o(test_hub(0s)); // expired as soon as issued
    auto lfs = o.hub.get("/acme/tiny/resolve/main/model.safetensors");
    REQUIRE(lfs.status == 302);
    auto target = target_of(lfs.field("location"));
    CHECK(o.cdn.get(target).status == 403);
    CHECK(o.server.stats().signed_expired == 1);

    hub_origin fresh;
    auto sha = unquoted(fresh.hub.head("/acme/tiny/resolve/main/model.safetensors").field("x-linked-etag"));
    CHECK(fresh.cdn.get("/cdn-lfs/" + sha).status == 403);
    auto valid = target_of(fresh.hub.head("/acme/tiny/resolve/main/model.safetensors").field("location"));
    auto forged = valid;
    const auto digit = forged.find("/cdn-lfs/") + 9; // another blob's path under this signature
    forged[digit] = forged[digit] == 'a' ? 'b' : 'a';
    CHECK(fresh.cdn.get(forged).status == 403);
    CHECK(fresh.cdn.get(valid).status == 200);
}

TEST_CASE("hub: a gated repo without a token, with an unapproved one, with an approved one") {
    hub_origin o;
    auto info = o.hub.get("/api/models/acme/gated");
    CHECK(info.status == 200); // listing is open; files are not
    CHECK(json::parse(info.body).at("gated") == "manual");

    auto anonymous = o.hub.head("/acme/gated/resolve/main/w.bin");
    CHECK(anonymous.status == 401);
    CHECK(anonymous.field("x-error-code") == "GatedRepo");
    CHECK_FALSE(anonymous.field("x-error-message").empty());
    auto bob = o.hub.get("/acme/gated/resolve/main/w.bin", {{"Authorization", "Bearer hf_bob"}});
    CHECK(bob.status == 403);
    CHECK(bob.field("x-error-code") == "GatedRepo");
    CHECK(json::parse(bob.body).as_object().contains("error"));
    auto alice = o.hub.head("/acme/gated/resolve/main/w.bin", {{"Authorization", "Bearer hf_alice"}});
    CHECK(alice.status == 302);
    CHECK(o.cdn.get(target_of(alice.field("location"))).body.size() == 5000);

    auto stranger = o.hub.get("/api/models/acme/tiny", {{"Authorization", "Bearer hf_nobody"}});
    CHECK(stranger.status == 401);
    CHECK(stranger.field("x-error-message") == "Invalid credentials in Authorization header");
    CHECK_FALSE(stranger.has("x-error-code"));
}

TEST_CASE("hub: missing repos, revisions and files, renames; every answer has a request id") {
    hub_origin o;
    auto missing = o.hub.get("/api/models/acme/none");
    CHECK(missing.status == 401);
    CHECK(missing.field("x-error-code") == "RepoNotFound");
    auto with_token = o.hub.head("/acme/none/resolve/main/x", {{"Authorization", "Bearer hf_bob"}});
    CHECK(with_token.status == 404);
    CHECK(with_token.field("x-error-code") == "RepoNotFound");

    auto revision = o.hub.get("/api/models/acme/tiny/revision/v9");
    CHECK(revision.status == 404);
    CHECK(revision.field("x-error-code") == "RevisionNotFound");
    CHECK(o.hub.head("/acme/tiny/resolve/v9/README.md").field("x-error-code") == "RevisionNotFound");

    auto entry = o.hub.head("/acme/tiny/resolve/main/nothing.bin");
    CHECK(entry.status == 404);
    CHECK(entry.field("x-error-code") == "EntryNotFound");
    CHECK(entry.field("x-repo-commit").size() == 40);

    auto renamed = o.hub.head("/old-org/tiny/resolve/main/README.md");
    CHECK(renamed.status == 307);
    CHECK(renamed.field("location") == "/acme/tiny/resolve/main/README.md");
    auto renamed_api = o.hub.get("/api/models/old-org/tiny/revision/main?blobs=true");
    CHECK(renamed_api.status == 307);
    CHECK(renamed_api.field("location") == "/api/models/acme/tiny/revision/main?blobs=true");

    std::set<std::string> ids;
    for (auto* r : {&missing, &with_token, &revision, &entry, &renamed, &renamed_api}) {
        CHECK_FALSE(r->field("x-request-id").empty());
        ids.insert(r->field("x-request-id"));
    }
    CHECK(ids.size() == 6);
    // Paths outside the Hub's are the ordinary origin's.
    CHECK(o.hub.get("/not/a/hub/path").status == 404);
    CHECK_FALSE(o.hub.get("/not/a/hub/path").has("x-request-id"));
}

TEST_CASE("hub: POST paths-info over HTTPS, JSON or form-encoded; other POSTs refused; bodies bounded") {
    hub_origin o;
    const std::string sha(json::parse(o.hub.get("/api/models/acme/tiny").body).at("sha").as_string());
    auto answer = o.hub.request("POST", "/api/models/acme/tiny/paths-info/" + sha,
                                {{"Content-Type", "application/json"}, {"Accept", "application/json"}},
                                R"({"paths": ["model.safetensors", "sub/dir", "ghost.bin"], "expand": true})");
    REQUIRE(answer.status == 200);
    CHECK(answer.keep_alive);
    CHECK_FALSE(answer.field("x-request-id").empty());
    auto listing = json::parse(answer.body).as_array();
    REQUIRE(listing.size() == 2);
    CHECK(listing[0].at("path") == "model.safetensors");
    CHECK(listing[0].at("lfs").at("size").to_number<std::uint64_t>() == 300'000);
    CHECK(listing[0].at("lastCommit").at("id").as_string().size() == 40);
    CHECK(listing[1].at("type") == "directory");
    // The same connection goes on after a body was read.
    CHECK(o.hub.get("/api/models/acme/tiny").status == 200);

    auto form = o.hub.request("POST", "/api/datasets/acme/data/paths-info/main",
                              {{"Content-Type", "application/x-www-form-urlencoded"}},
                              "paths=train.csv&expand=False");
    REQUIRE(form.status == 200);
    auto form_listing = json::parse(form.body).as_array();
    REQUIRE(form_listing.size() == 1);
    CHECK(form_listing[0].at("size").to_number<int>() == 8);
    CHECK_FALSE(form_listing[0].as_object().contains("lastCommit"));

    auto private_info = o.hub.request("POST", "/api/models/acme/none/paths-info/main", {}, R"({"paths": ["x"]})");
    CHECK(private_info.status == 401);
    CHECK(private_info.field("x-error-code") == "RepoNotFound");

    auto elsewhere = o.hub.request("POST", "/api/models/acme/tiny/tree/main", {}, "{}");
    CHECK(elsewhere.status == 405);
    CHECK(o.hub.request("POST", "/not/a/hub/path", {}, "{}").status == 405);
    CHECK(o.hub.get("/api/models/acme/tiny/paths-info/main").status == 405);

    // A body over 1 MiB is refused (and the connection closed) before it is read.
    std::string huge = R"({"paths": [")" + std::string(1024 * 1024, 'a') + R"("]})";
    auto too_big = o.hub.request("POST", "/api/models/acme/tiny/paths-info/main", {}, huge);
    CAPTURE(too_big.error.message());
    CHECK(too_big.status == 413);
    CHECK_FALSE(too_big.keep_alive);
    CHECK(o.hub.request("POST", "/api/models/acme/tiny/paths-info/main", {}, R"({"paths": ["README.md"]})").status ==
          200);
}

TEST_CASE("hub: @huggingface/hub's probe: GET Range 0-0 through the redirect, totals even for an empty file") {
    hub_origin o;
    // Regular: 206 with the total. Empty: 200, no body, total 0 in Content-Range.
    auto config = o.hub.get("/acme/tiny/resolve/main/config.json", {{"Range", "bytes=0-0"}});
    CHECK(config.status == 206);
    CHECK(config.field("content-range").ends_with("/31"));
    auto empty = o.hub.get("/acme/tiny/resolve/main/empty.txt", {{"Range", "bytes=0-0"}});
    CHECK(empty.status == 200);
    CHECK(empty.body.empty());
    CHECK(empty.field("content-length") == "0");
    CHECK(empty.field("content-range") == "bytes */0");
    CHECK(empty.field("etag") == "\"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\"");
    CHECK(empty.keep_alive);
    CHECK(o.hub.head("/acme/tiny/resolve/main/empty.txt", {{"Range", "bytes=0-0"}}).status == 200);

    // LFS: the probe is redirected; the CDN answers it with 206 and the total.
    auto lfs = o.hub.get("/acme/tiny/resolve/main/model.safetensors", {{"Range", "bytes=0-0"}});
    REQUIRE(lfs.status == 302);
    auto cdn = o.cdn.get(target_of(lfs.field("location")), {{"Range", "bytes=0-0"}});
    CHECK(cdn.status == 206);
    CHECK(cdn.field("content-range") == "bytes 0-0/300000");
    CHECK(cdn.body.size() == 1);
}
