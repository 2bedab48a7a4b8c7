// hub_source: a listed snapshot planned against a real cache on disk (hits, blobs adopted from
// other repos, one fetch per blob, single flight across models), and the cache completed after.
#include "engine/hub_source.hpp"
#include "engine_fixture.hpp"
#include "memory/git_blob_id.hpp"
#include "memory/sha256.hpp"

#include <fstream>

using namespace ferry;
namespace fs = std::filesystem;

namespace {

const std::string commit_a(40, 'a');
const std::string commit_b(40, 'b');

hub_tree_file regular(std::string path, const std::string& text) {
    return {std::move(path), text.size(), git_blob_id(text), std::nullopt};
}

hub_tree_file lfs(std::string path, std::uint64_t size, char fill) {
    return {std::move(path), size, std::string(40, '0'), std::string(64, fill)};
}

hub_snapshot snapshot(std::string repo, std::string sha, std::vector<hub_tree_file> files) {
    return {{hub_repo_type::model, std::move(repo)}, "main", std::move(sha), std::move(files)};
}

void write_blob(const hub_cache& cache, const hub_repo_id& repo, const std::string& etag, const std::string& bytes) {
    fs::create_directories(cache.blobs_dir(repo));
    std::ofstream(cache.blob_path(repo, etag), std::ios::binary) << bytes;
}

} // namespace

TEST_CASE("hub_source: one fetch per blob, hits for blobs the repo has, adoption of blobs another repo has") {
    auto dir = test::make_temp_dir();
    hub_cache cache(dir);
    hub_repo_id other{hub_repo_type::model, "acme/other"};
    write_blob(cache, other, std::string(64, 'c'), "shared bytes");
    hub_repo_id tiny{hub_repo_type::model, "acme/tiny"};
    write_blob(cache, tiny, git_blob_id("# tiny\n"), "# tiny\n");

    hub_blobs_in_flight in_flight;
    hub_fetch_options options;
    options.endpoint = "https://hub.test";
    options.token = "hf_x";
    auto model = plan_hub_model(cache,
                                snapshot("acme/tiny", commit_a,
                                         {regular("README.md", "# tiny\n"), lfs("a.bin", 100, 'd'),
                                          lfs("copy/a.bin", 100, 'd'), lfs("shared.bin", 12, 'c'),
                                          regular("config.json", "{}\n")}),
                                {}, options, in_flight);
    CHECK(model.missing.empty());
    CHECK(model.files.size() == 5);
    CHECK(model.hits == 1); // README.md's blob is there
    REQUIRE(model.adoptions.size() == 1);
    CHECK(model.adoptions[0].source == cache.blob_path(other, std::string(64, 'c')));
    CHECK(model.adopted_bytes == 12);
    // a.bin and copy/a.bin are one blob: fetched once, to blobs/{etag}, from the commit's sha.
    REQUIRE(model.fetch.files.size() == 2);
    CHECK(model.fetch.dir == cache.blobs_dir(tiny));
    const auto& a = model.fetch.files[0];
    CHECK(a.path == std::string(64, 'd'));
    CHECK(a.name == "a.bin");
    CHECK(a.urls == std::vector<std::string>{"https://hub.test/acme/tiny/resolve/" + commit_a + "/a.bin"});
    CHECK(a.sha256 == parse_sha256_hex(std::string(64, 'd')));
    CHECK_FALSE(a.git_blob_id);
    CHECK(a.redirects); // an LFS file's resolve URL leads to the CDN: no connections warmed to the Hub
    CHECK(a.headers == std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer hf_x"}});
    const auto& config = model.fetch.files[1];
    CHECK(config.git_blob_id == git_blob_id("{}\n"));
    CHECK_FALSE(config.sha256);
    CHECK_FALSE(config.redirects);
    CHECK(in_flight.size() == 2);

    // A second model of the same run that needs a blob being fetched adopts it: single flight.
    auto second = plan_hub_model(cache, snapshot("acme/second", commit_b, {lfs("w.bin", 100, 'd')}), {}, options,
                                 in_flight);
    CHECK(second.fetch.files.empty());
    REQUIRE(second.adoptions.size() == 1);
    CHECK(second.adoptions[0].source == cache.blob_path(tiny, std::string(64, 'd')));
}

TEST_CASE("hub_source: requested files the commit lacks refuse the model and are marked in .no_exist") {
    auto dir = test::make_temp_dir();
    hub_cache cache(dir);
    hub_blobs_in_flight in_flight;
    hub_selection selection;
    selection.filenames = {"a.bin", "nope.bin"};
    auto model = plan_hub_model(cache, snapshot("acme/tiny", commit_a, {lfs("a.bin", 10, 'e')}), selection, {},
                                in_flight);
    CHECK(model.missing == std::vector<std::string>{"nope.bin"});
    CHECK(model.fetch.files.empty());
    CHECK(in_flight.empty()); // nothing claimed for a model that will not run
    CHECK(cache.is_no_exist({hub_repo_type::model, "acme/tiny"}, commit_a, "nope.bin"));
}

TEST_CASE("hub_source: finish links the snapshot, writes the listing and the ref; the cache then answers alone") {
    auto dir = test::make_temp_dir();
    hub_cache cache(dir);
    hub_repo_id tiny{hub_repo_type::model, "acme/tiny"};
    hub_blobs_in_flight in_flight;
    auto model = plan_hub_model(cache,
                                snapshot("acme/tiny", commit_a,
                                         {regular("README.md", "# tiny\n"), regular("sub/x.txt", "x\n")}),
                                {}, {}, in_flight);
    REQUIRE(model.fetch.files.size() == 2);
    // The engine's part, done by hand: one blob arrives, the other does not.
    write_blob(cache, tiny, git_blob_id("# tiny\n"), "# tiny\n");
    auto problems = finish_hub_model(cache, model);
    CHECK(problems == std::vector<std::string>{"sub/x.txt: not downloaded"});
    CHECK(cache.has_snapshot_file(tiny, commit_a, "README.md"));
    CHECK(cache.read_ref(tiny, "main") == commit_a);
    CHECK(cache.read_tree(tiny, commit_a)->size() == 2);

    std::string message;
    auto incomplete = cached_hub_snapshot(cache, tiny, "main", {}, message);
    CHECK_FALSE(incomplete);
    CHECK(message.find("sub/x.txt") != std::string::npos);
    hub_selection readme;
    readme.filenames = {"README.md"};
    auto answered = cached_hub_snapshot(cache, tiny, "main", readme, message);
    REQUIRE(answered);
    CHECK(*answered == cache.snapshot_dir(tiny, commit_a));
    // Without a listing a sha answers only when it is not asked to vouch for the whole snapshot.
    fs::remove(dir / tiny.folder_name() / "trees" / (commit_a + ".json"));
    CHECK(cached_hub_snapshot(cache, tiny, commit_a, {}, message));
    CHECK_FALSE(cached_hub_snapshot(cache, tiny, commit_a, {}, message, true));
}
