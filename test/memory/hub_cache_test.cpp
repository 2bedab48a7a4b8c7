// hub_cache on real files in a temp directory: the layout of hf-hub.md §4's worked example byte
// for byte, refusals, blob reuse across repos, locks and trees.
#include "memory/temp_dir.hpp"

#include "memory/git_blob_id.hpp"
#include "memory/hub_cache.hpp"
#include "memory/sha256.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>

using namespace ferry;
namespace fs = std::filesystem;
namespace errc = boost::system::errc;

namespace {

constexpr const char* commit = "0123456789abcdef0123456789abcdef01234567";
constexpr const char* readme_blob = "8e2e871357bef652084a73f7173adc5eb8859a33";
constexpr const char* config_blob = "dc1fb7b6703fe03317c1a080b523bf475f3d4818";
constexpr const char* weights_sha = "fbbab289f7f94b25736c58be46a994c441fd02552cc6022352e3d86d2fab7c83";

std::string weights_content() {
    std::string bytes(1 << 20, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<char>(i % 256);
    return bytes;
}

std::string link_target(const fs::path& link) {
    return fs::read_symlink(link).string();
}

ino_t inode_of(const fs::path& path) {
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    return info.st_ino;
}

/// The worked example of hf-hub.md §4, made through hub_cache.
void make_worked_example(hub_cache& cache, const hub_repo_id& repo) {
    REQUIRE_FALSE(cache.prepare_repo(repo));
    test::write_text(cache.blob_path(repo, readme_blob), "# tiny\n");
    test::write_text(cache.blob_path(repo, config_blob), "{\"model_type\": \"bert\"}\n");
    test::write_text(cache.blob_path(repo, weights_sha), weights_content());
    std::string message;
    REQUIRE_FALSE(cache.link_snapshot_file(repo, commit, "README.md", readme_blob, message));
    REQUIRE_FALSE(cache.link_snapshot_file(repo, commit, "config.json", config_blob, message));
    REQUIRE_FALSE(cache.link_snapshot_file(repo, commit, "sub/dir/weights.bin", weights_sha, message));
    REQUIRE_FALSE(cache.write_ref(repo, "main", commit));
}

} // namespace

TEST_CASE("the worked example's blob names are what git and sha256 say") {
    CHECK(git_blob_id("# tiny\n") == readme_blob);
    CHECK(git_blob_id("{\"model_type\": \"bert\"}\n") == config_blob);
    auto content = weights_content();
    sha256 hash;
    hash.update(content.data(), content.size());
    CHECK(to_hex(hash.finish()) == weights_sha);
}

TEST_CASE("names: repo ids, folders, shas, etags, paths, revisions") {
    CHECK(hub_repo_id{hub_repo_type::model, "acme/tiny"}.folder_name() == "models--acme--tiny");
    CHECK(hub_repo_id{hub_repo_type::model, "gpt2"}.folder_name() == "models--gpt2");
    CHECK(hub_repo_id{hub_repo_type::dataset, "org/x"}.folder_name() == "datasets--org--x");
    CHECK(hub_repo_id{hub_repo_type::space, "a/b"}.folder_name() == "spaces--a--b");
    CHECK(parse_hub_repo_type("dataset") == hub_repo_type::dataset);
    CHECK_FALSE(parse_hub_repo_type("datasets"));
    CHECK(std::string(to_string(hub_repo_type::space)) == "space");

    CHECK(valid_hub_repo_id("acme/tiny"));
    CHECK(valid_hub_repo_id("gpt2"));
    CHECK(valid_hub_repo_id("Org_1/x.y-z"));
    for (const char* bad : {"", "a/b/c", "a--b/c", "../x", "a/..", "./a", "a/", "/a", "a b", "a\\b", "a//b"})
        CHECK_MESSAGE(!valid_hub_repo_id(bad), bad);
    CHECK_FALSE(valid_hub_repo_id(std::string(97, 'a')));

    CHECK(is_commit_sha(commit));
    CHECK_FALSE(is_commit_sha("0123456789ABCDEF0123456789abcdef01234567"));
    CHECK_FALSE(is_commit_sha(weights_sha));
    CHECK(is_blob_etag(readme_blob));
    CHECK(is_blob_etag(weights_sha));
    CHECK_FALSE(is_blob_etag("8e2e871357bef652084a73f7173adc5eb8859a3"));
    CHECK_FALSE(is_blob_etag("../../../etc/passwd"));

    CHECK(valid_hub_file_path("sub/dir/weights.bin"));
    CHECK(valid_hub_file_path(".gitattributes"));
    for (const char* bad : {"", "/etc/passwd", "a/../b", "..", "a//b", "a/", "./a", "a\\b"})
        CHECK_MESSAGE(!valid_hub_file_path(bad), bad);
    CHECK_FALSE(valid_hub_file_path(std::string("a\0b", 3)));
    CHECK(valid_hub_revision("refs/pr/1"));
    CHECK(valid_hub_revision("main"));
    CHECK_FALSE(valid_hub_revision(".hidden"));
    CHECK_FALSE(valid_hub_revision("../main"));
}

TEST_CASE("the worked example's layout, byte for byte") {
    test::temp_dir tmp;
    hub_cache cache(tmp / "hub");
    hub_repo_id repo{hub_repo_type::model, "acme/tiny"};
    make_worked_example(cache, repo);

    auto folder = tmp / "hub" / "models--acme--tiny";
    CHECK(cache.repo_dir(repo) == folder);
    CHECK(fs::is_directory(folder / "refs"));
    CHECK(test::read_text(folder / "refs" / "main") == commit);
    CHECK(fs::file_size(folder / "refs" / "main") == 40);
    auto snapshot = folder / "snapshots" / commit;
    CHECK(cache.snapshot_dir(repo, commit) == snapshot);
    CHECK(link_target(snapshot / "README.md") == std::string("../../blobs/") + readme_blob);
    CHECK(link_target(snapshot / "config.json") == std::string("../../blobs/") + config_blob);
    CHECK(link_target(snapshot / "sub/dir/weights.bin") == std::string("../../../../blobs/") + weights_sha);
    CHECK(test::read_text(snapshot / "README.md") == "# tiny\n");
    CHECK(test::read_text(snapshot / "sub/dir/weights.bin") == weights_content());
    CHECK(cache.lock_path(repo, readme_blob) ==
          tmp / "hub" / ".locks" / "models--acme--tiny" / (std::string(readme_blob) + ".lock"));
    // Nothing but the three folders: temp files were renamed away.
    CHECK(test::entry_count(folder) == 3);
    CHECK(test::entry_count(folder / "refs") == 1);
    CHECK(test::entry_count(snapshot) == 3);

    CHECK(cache.read_ref(repo, "main") == std::optional<std::string>(commit));
    CHECK_FALSE(cache.read_ref(repo, "dev"));
    CHECK(cache.has_snapshot_file(repo, commit, "sub/dir/weights.bin"));
    CHECK_FALSE(cache.has_snapshot_file(repo, commit, "sub/dir/other.bin"));
}

TEST_CASE("refs: refs/pr/1 lands in refs/refs/pr/1, rewrites replace, a newline is not a sha") {
    test::temp_dir tmp;
    hub_cache cache(tmp.path());
    hub_repo_id repo{hub_repo_type::dataset, "org/x"};
    REQUIRE_FALSE(cache.prepare_repo(repo));
    REQUIRE_FALSE(cache.write_ref(repo, "refs/pr/1", commit));
    CHECK(test::read_text(tmp / "datasets--org--x" / "refs" / "refs" / "pr" / "1") == commit);
    std::string other(40, 'a');
    REQUIRE_FALSE(cache.write_ref(repo, "refs/pr/1", other));
    CHECK(cache.read_ref(repo, "refs/pr/1") == other);
    CHECK(test::entry_count(tmp / "datasets--org--x" / "refs" / "refs" / "pr") == 1);

    test::write_text(tmp / "datasets--org--x" / "refs" / "main", std::string(commit) + "\n");
    CHECK_FALSE(cache.read_ref(repo, "main"));

    CHECK(cache.write_ref(repo, "../escape", commit) == errc::invalid_argument);
    CHECK(cache.write_ref(repo, "main", "not-a-sha") == errc::invalid_argument);
    CHECK(cache.write_ref(hub_repo_id{hub_repo_type::model, "../x"}, "main", commit) == errc::invalid_argument);
    CHECK_FALSE(fs::exists(tmp / "escape"));
}

TEST_CASE("links refuse bad paths, bad etags and a symlink planted in the way") {
    test::temp_dir tmp;
    hub_cache cache(tmp / "hub");
    hub_repo_id repo{hub_repo_type::model, "acme/tiny"};
    REQUIRE_FALSE(cache.prepare_repo(repo));
    std::string message;
    CHECK(cache.link_snapshot_file(repo, commit, "../../../x", readme_blob, message) == errc::invalid_argument);
    CHECK(message.find("../../../x") != std::string::npos);
    CHECK(cache.link_snapshot_file(repo, commit, "/etc/passwd", readme_blob, message) == errc::invalid_argument);
    CHECK(cache.link_snapshot_file(repo, commit, "a", "../../etc/passwd", message) == errc::invalid_argument);
    CHECK(cache.link_snapshot_file(repo, "main", "a", readme_blob, message) == errc::invalid_argument);

    // snapshots/{sha}/sub -> a directory outside the cache: never written through.
    fs::create_directories(tmp / "outside");
    fs::create_directories(cache.snapshot_dir(repo, commit));
    fs::create_directory_symlink(tmp / "outside", cache.snapshot_dir(repo, commit) / "sub");
    message.clear();
    CHECK(cache.link_snapshot_file(repo, commit, "sub/w.bin", readme_blob, message) == errc::not_a_directory);
    CHECK(message.find("sub") != std::string::npos);
    CHECK(test::entry_count(tmp / "outside") == 0);
    CHECK(cache.mark_no_exist(repo, commit, "sub/w.bin") == boost::system::error_code{}); // .no_exist is apart
    CHECK(cache.is_no_exist(repo, commit, "sub/w.bin"));

    // A parent that is a file, and a directory where the link would go.
    test::write_text(cache.snapshot_dir(repo, commit) / "file", "x");
    CHECK(cache.link_snapshot_file(repo, commit, "file/w.bin", readme_blob, message) == errc::not_a_directory);
    fs::create_directories(cache.snapshot_dir(repo, commit) / "dir");
    CHECK(cache.link_snapshot_file(repo, commit, "dir", readme_blob, message) == errc::file_exists);

    // The refs folder replaced by a symlink: no ref is written through it.
    fs::remove_all(cache.repo_dir(repo) / "refs");
    fs::create_directory_symlink(tmp / "outside", cache.repo_dir(repo) / "refs");
    CHECK(cache.write_ref(repo, "main", commit) == errc::not_a_directory);
    CHECK_FALSE(cache.read_ref(repo, "main"));
    CHECK(test::entry_count(tmp / "outside") == 0);
}

TEST_CASE("a link is replaced in place; .no_exist markers") {
    test::temp_dir tmp;
    hub_cache cache(tmp.path());
    hub_repo_id repo{hub_repo_type::model, "acme/tiny"};
    make_worked_example(cache, repo);
    std::string message;
    REQUIRE_FALSE(cache.link_snapshot_file(repo, commit, "README.md", config_blob, message));
    CHECK(link_target(cache.snapshot_dir(repo, commit) / "README.md") == std::string("../../blobs/") + config_blob);
    CHECK(test::entry_count(cache.snapshot_dir(repo, commit)) == 3);

    CHECK_FALSE(cache.is_no_exist(repo, commit, "tokenizer.json"));
    REQUIRE_FALSE(cache.mark_no_exist(repo, commit, "a/tokenizer.json"));
    CHECK(cache.is_no_exist(repo, commit, "a/tokenizer.json"));
    CHECK(fs::file_size(tmp / "models--acme--tiny" / ".no_exist" / commit / "a" / "tokenizer.json") == 0);
    CHECK(cache.mark_no_exist(repo, commit, "../x") == errc::invalid_argument);
}

TEST_CASE("find_blob looks in every repo folder; adopt_blob hard-links (same inode)") {
    test::temp_dir tmp;
    hub_cache cache(tmp.path());
    hub_repo_id tiny{hub_repo_type::model, "acme/tiny"};
    hub_repo_id copy{hub_repo_type::model, "other/tiny-copy"};
    make_worked_example(cache, tiny);
    REQUIRE_FALSE(cache.prepare_repo(copy));

    CHECK(cache.find_blob(weights_sha, copy) == cache.blob_path(tiny, weights_sha));
    CHECK(cache.find_blob(weights_sha, tiny) == cache.blob_path(tiny, weights_sha));
    CHECK_FALSE(cache.find_blob(std::string(64, 'e'), copy));
    CHECK_FALSE(cache.find_blob("../x", copy));
    // A partial download is not a blob.
    test::write_text(cache.blobs_dir(copy) / (std::string(64, 'e') + ".part"), "abc");
    CHECK_FALSE(cache.find_blob(std::string(64, 'e'), copy));

    auto source = *cache.find_blob(weights_sha, copy);
    REQUIRE_FALSE(hub_cache::adopt_blob(source, cache.blob_path(copy, weights_sha)));
    CHECK(inode_of(cache.blob_path(copy, weights_sha)) == inode_of(cache.blob_path(tiny, weights_sha)));
    CHECK(cache.find_blob(weights_sha, copy) == cache.blob_path(copy, weights_sha));
    // An existing destination is left as it is.
    test::write_text(cache.blob_path(copy, readme_blob), "# tiny\n");
    auto before = inode_of(cache.blob_path(copy, readme_blob));
    REQUIRE_FALSE(hub_cache::adopt_blob(cache.blob_path(tiny, readme_blob), cache.blob_path(copy, readme_blob)));
    CHECK(inode_of(cache.blob_path(copy, readme_blob)) == before);
}

TEST_CASE("adopt_blob copies across filesystems") {
    // /dev/shm is a tmpfs: a different filesystem from /tmp on these machines.
    if (!fs::is_directory("/dev/shm"))
        return;
    test::temp_dir tmp;
    std::string pattern = "/dev/shm/ferry-hub-test-XXXXXX";
    REQUIRE(::mkdtemp(pattern.data()));
    fs::path shm = pattern;
    struct stat a {}, b {};
    REQUIRE(::stat(tmp.path().c_str(), &a) == 0);
    REQUIRE(::stat(shm.c_str(), &b) == 0);
    if (a.st_dev != b.st_dev) {
        test::write_text(shm / "blob", "content");
        REQUIRE_FALSE(hub_cache::adopt_blob(shm / "blob", tmp / "blob"));
        CHECK(test::read_text(tmp / "blob") == "content");
        CHECK(test::entry_count(tmp.path()) == 1); // no temp left
    }
    fs::remove_all(shm);
}

TEST_CASE("blob_lock: two descriptors exclude each other, release on destruction, acquire times out") {
    test::temp_dir tmp;
    auto path = tmp / ".locks" / "models--acme--tiny" / (std::string(readme_blob) + ".lock");
    auto first = blob_lock::try_acquire(path);
    REQUIRE(first.has_value());
    REQUIRE(first->has_value());
    CHECK(fs::exists(path));
    auto second = blob_lock::try_acquire(path);
    REQUIRE(second.has_value());
    CHECK_FALSE(second->has_value());
    auto waited = blob_lock::acquire(path, std::chrono::milliseconds(30));
    REQUIRE_FALSE(waited.has_value());
    CHECK(waited.error() == errc::timed_out);

    first->reset();
    auto third = blob_lock::acquire(path, std::chrono::milliseconds(1000));
    REQUIRE(third.has_value());
    auto fourth = blob_lock::try_acquire(path);
    REQUIRE(fourth.has_value());
    CHECK_FALSE(fourth->has_value());
    blob_lock moved = std::move(*third);
    auto fifth = blob_lock::try_acquire(path);
    REQUIRE(fifth.has_value());
    CHECK_FALSE(fifth->has_value());
}

TEST_CASE("trees/{sha}.json round trip") {
    test::temp_dir tmp;
    hub_cache cache(tmp.path());
    hub_repo_id repo{hub_repo_type::model, "acme/tiny"};
    std::vector<hub_tree_file> files{
        {"README.md", 7, readme_blob, std::nullopt},
        {"sub/dir/weights.bin", 1 << 20, "008d9adda7574f0a91412e68b9c2e501251606c2", weights_sha},
    };
    REQUIRE_FALSE(cache.write_tree(repo, commit, files));
    auto back = cache.read_tree(repo, commit);
    REQUIRE(back);
    REQUIRE(back->size() == 2);
    CHECK((*back)[0].path == "README.md");
    CHECK((*back)[0].size == 7);
    CHECK((*back)[0].blob_id == readme_blob);
    CHECK_FALSE((*back)[0].lfs_sha256);
    CHECK((*back)[1].etag() == weights_sha);
    CHECK((*back)[1].blob_id == "008d9adda7574f0a91412e68b9c2e501251606c2");
    CHECK((*back)[1].size == 1 << 20);

    auto text = test::read_text(tmp / "models--acme--tiny" / "trees" / (std::string(commit) + ".json"));
    CHECK(text.find("\"format_version\":1") != std::string::npos);
    CHECK(text.find("\"lfs_size\":1048576") != std::string::npos);
    CHECK(test::entry_count(tmp / "models--acme--tiny" / "trees") == 1);

    CHECK_FALSE(cache.read_tree(repo, std::string(40, 'b')));
    test::write_text(tmp / "models--acme--tiny" / "trees" / (std::string(commit) + ".json"), "{\"format_version\":2}");
    CHECK_FALSE(cache.read_tree(repo, commit));
    files.push_back({"../x", 1, readme_blob, std::nullopt});
    CHECK(cache.write_tree(repo, commit, files) == errc::invalid_argument);
}

TEST_CASE("touch_revision sets the access time of the snapshot and its blobs, not their modification time") {
    test::temp_dir tmp;
    hub_cache cache(tmp.path());
    hub_repo_id repo{hub_repo_type::model, "acme/tiny"};
    make_worked_example(cache, repo);
    auto blob = cache.blob_path(repo, weights_sha);
    auto snapshot = cache.snapshot_dir(repo, commit);
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    REQUIRE(::utimensat(AT_FDCWD, blob.c_str(), old, 0) == 0);
    REQUIRE(::utimensat(AT_FDCWD, snapshot.c_str(), old, 0) == 0);
    cache.touch_revision(repo, commit);
    struct stat b {}, s {};
    REQUIRE(::stat(blob.c_str(), &b) == 0);
    REQUIRE(::stat(snapshot.c_str(), &s) == 0);
    CHECK(b.st_atim.tv_sec > 1600000000);
    CHECK(s.st_atim.tv_sec > 1600000000);
    CHECK(b.st_mtim.tv_sec == 1000000000);
    CHECK(s.st_mtim.tv_sec == 1000000000);
}
