// `ferry cache` end to end: the binary (FERRY_BINARY) on a real cache made in a temp directory.
#include "cli/child_process.hpp"

#include "memory/git_blob_id.hpp"
#include "memory/hub_cache.hpp"
#include "memory/hub_cache_scan.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>

using namespace ferry;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr const char* sha_a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
constexpr const char* sha_b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// A cache with model acme/tiny (two revisions) and dataset acme/data (one).
struct cache_fixture {
    test::scratch_dir tmp{"ferry-cache-cli"};
    fs::path root = tmp / "hub";
    fs::path logs = tmp / "logs";
    hub_cache cache{root};
    hub_repo_id tiny{hub_repo_type::model, "acme/tiny"};
    hub_repo_id data{hub_repo_type::dataset, "acme/data"};

    cache_fixture() {
        fs::create_directories(logs);
        add(tiny, sha_a, {{"config.json", "{}"}, {"weights.bin", std::string(3000, 'w')}}, "v1");
        add(tiny, sha_b, {{"config.json", "{}"}, {"weights.bin", std::string(5000, 'W')}}, "main");
        add(data, sha_a, {{"train/part-0.csv", std::string(1000, 'd')}}, "main");
    }

    void add(const hub_repo_id& repo, const std::string& sha,
             const std::vector<std::pair<std::string, std::string>>& files, const char* ref) {
        REQUIRE_FALSE(cache.prepare_repo(repo));
        std::string message;
        for (const auto& [path, content] : files) {
            auto etag = git_blob_id(content);
            test::spit(cache.blob_path(repo, etag), content);
            REQUIRE_FALSE(cache.link_snapshot_file(repo, sha, path, etag, message));
        }
        REQUIRE_FALSE(cache.write_ref(repo, ref, sha));
    }

    test::run_result ferry(std::vector<std::string> args) {
        args.insert(args.begin(), FERRY_BINARY);
        args.insert(args.end(), {"--cache-dir", root.string()});
        auto r = test::run_program(args, logs, std::chrono::seconds(60));
        INFO("ferry stderr: " << r.err);
        REQUIRE(r.status != -1);
        return r;
    }
};

} // namespace

TEST_CASE("ferry cache ls: a table of repos and revisions, and --json") {
    cache_fixture f;
    auto r = f.ferry({"cache", "ls"});
    CHECK(r.status == 0);
    auto lines = test::lines_of(r.out);
    REQUIRE(lines.size() >= 6);
    CHECK(lines[0].starts_with("REPO ID"));
    CHECK(lines[0].find("SIZE ON DISK") != std::string::npos);
    CHECK(r.out.find("acme/data") != std::string::npos);
    CHECK(r.out.find("@aaaaaaaaaaaa") != std::string::npos);
    CHECK(r.out.find("7.81 KiB") != std::string::npos); // tiny: 2 + 3000 + 5000 bytes
    CHECK(r.out.find("2 repos, 8.79 KiB on disk") != std::string::npos);
    CHECK(r.err.empty());

    auto j = f.ferry({"cache", "ls", "--json"});
    CHECK(j.status == 0);
    auto doc = json::parse(j.out);
    CHECK(doc.at("size_on_disk").as_int64() == 9002);
    const auto& repos = doc.at("repos").as_array();
    REQUIRE(repos.size() == 2);
    // Sorted by type then id: the model first.
    CHECK(repos[0].at("type").as_string() == "model");
    CHECK(repos[0].at("id").as_string() == "acme/tiny");
    CHECK(repos[0].at("size_on_disk").as_int64() == 8002);
    CHECK(repos[0].at("refs").at("main").as_string() == sha_b);
    const auto& revisions = repos[0].at("revisions").as_array();
    REQUIRE(revisions.size() == 2);
    CHECK(revisions[1].at("sha").as_string() == sha_b);
    CHECK(revisions[1].at("files").as_array().size() == 2);
    CHECK(repos[1].at("revisions").as_array()[0].at("files").as_array()[0].at("path").as_string() ==
          "train/part-0.csv");
    CHECK(doc.at("warnings").as_array().empty());
}

TEST_CASE("ferry cache verify: exit 0 when clean, 1 naming each damaged blob") {
    cache_fixture f;
    auto clean = f.ferry({"cache", "verify"});
    CHECK(clean.status == 0);
    CHECK(clean.out == "4 blobs verified\n");

    auto broken = f.cache.blob_path(f.tiny, git_blob_id(std::string(5000, 'W')));
    test::spit(broken, std::string(5000, 'X'));
    auto r = f.ferry({"cache", "verify"});
    CHECK(r.status == 1);
    auto lines = test::lines_of(r.err);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find(broken.string()) != std::string::npos);
    CHECK(lines[0].find(git_blob_id(std::string(5000, 'X'))) != std::string::npos);
}

TEST_CASE("ferry cache rm: a revision by ref, a dataset, a missing repo") {
    cache_fixture f;
    auto r = f.ferry({"cache", "rm", "acme/tiny@v1"});
    CHECK(r.status == 0);
    CHECK(r.out.find("removed model acme/tiny@aaaaaaaaaaaa (v1)") != std::string::npos);
    CHECK_FALSE(fs::exists(f.cache.snapshot_dir(f.tiny, sha_a)));
    CHECK(fs::exists(f.cache.snapshot_dir(f.tiny, sha_b)));
    CHECK_FALSE(fs::exists(f.cache.blob_path(f.tiny, git_blob_id(std::string(3000, 'w')))));
    CHECK(fs::exists(f.cache.blob_path(f.tiny, git_blob_id("{}")))); // still linked by main

    // Without --repo-type it is a model: acme/data is not one.
    auto missing = f.ferry({"cache", "rm", "acme/data"});
    CHECK(missing.status == 1);
    CHECK(test::lines_of(missing.err).size() == 1);
    CHECK(missing.err.find("model acme/data is not in the cache") != std::string::npos);
    auto dataset = f.ferry({"cache", "rm", "acme/data", "--repo-type", "dataset"});
    CHECK(dataset.status == 0);
    CHECK_FALSE(fs::exists(f.cache.repo_dir(f.data)));

    CHECK(f.ferry({"cache", "rm"}).status == 2);
    CHECK(f.ferry({"cache", "rm", "acme/tiny", "--repo-type", "models"}).status == 2);
    CHECK(f.ferry({"cache", "rm", "../etc"}).status == 2);
    CHECK(scan_hub_cache(f.root).warnings.empty());
}

TEST_CASE("ferry cache prune: --dry-run changes nothing, then evicts the least recently used") {
    cache_fixture f;
    // acme/tiny@v1 is the least recently used: its snapshot and blobs (config.json's is shared with
    // main) were last read long ago; main and the dataset later.
    auto set_atime = [](const fs::path& p, long seconds) {
        struct timespec times[2] = {{seconds, 0}, {0, UTIME_OMIT}};
        REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
    };
    set_atime(f.cache.snapshot_dir(f.tiny, sha_a), 1000000000);
    set_atime(f.cache.blob_path(f.tiny, git_blob_id(std::string(3000, 'w'))), 1000000000);
    set_atime(f.cache.blob_path(f.tiny, git_blob_id("{}")), 1000000000);
    set_atime(f.cache.snapshot_dir(f.tiny, sha_b), 1500000000);
    set_atime(f.cache.snapshot_dir(f.data, sha_a), 1600000000);

    auto dry = f.ferry({"cache", "prune", "--max-size", "7K", "--dry-run"});
    CHECK(dry.status == 0);
    CHECK(fs::exists(f.cache.snapshot_dir(f.tiny, sha_a)));
    auto lines = test::lines_of(dry.out);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].starts_with("would evict model acme/tiny@aaaaaaaaaaaa (v1)"));
    CHECK(lines[1].starts_with("would free 2.93 KiB"));

    auto r = f.ferry({"cache", "prune", "--max-size", "7K"});
    CHECK(r.status == 0);
    CHECK(r.out.find("evicted model acme/tiny@aaaaaaaaaaaa (v1)") != std::string::npos);
    CHECK_FALSE(fs::exists(f.cache.snapshot_dir(f.tiny, sha_a)));
    CHECK(fs::exists(f.cache.snapshot_dir(f.tiny, sha_b)));
    auto after = scan_hub_cache(f.root);
    CHECK(after.size_on_disk == 6002);
    CHECK(after.warnings.empty());

    CHECK(f.ferry({"cache", "prune"}).status == 2);
    CHECK(f.ferry({"cache", "prune", "--max-size", "lots"}).status == 2);
    auto help = f.ferry({"cache", "--help"});
    CHECK(help.status == 0);
    CHECK(help.out.find("prune --max-size SIZE") != std::string::npos);
    auto unknown = f.ferry({"cache", "explode"});
    CHECK(unknown.status == 2);
    CHECK(test::lines_of(unknown.err).size() == 1);
}
