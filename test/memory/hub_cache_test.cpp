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

// ---- scanning, verifying, removing, pruning ----

#include "memory/hub_cache_evict.hpp"
#include "memory/hub_cache_scan.hpp"
#include "memory/hub_cache_verify.hpp"

namespace {

/// Sets the access time of a path (not following a final link) to `seconds` since the epoch.
void set_atime(const fs::path& path, long seconds) {
    struct timespec times[2] = {{seconds, 0}, {0, UTIME_OMIT}};
    REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

/// Every snapshot folder and blob of the cache gets the same old access time.
void age_everything(const fs::path& root, long seconds) {
    // Listed first, set after: reading a directory moves its access time (relatime).
    std::vector<fs::path> paths;
    for (auto& e : fs::recursive_directory_iterator(root)) {
        auto parent = e.path().parent_path().filename();
        if (parent == "blobs" || parent == "snapshots")
            paths.push_back(e.path());
    }
    for (const auto& path : paths)
        set_atime(path, seconds);
}

/// A revision of `repo` whose files are `files` (path → content), with blobs named by git id.
void add_revision(hub_cache& cache, const hub_repo_id& repo, const std::string& sha,
                  const std::vector<std::pair<std::string, std::string>>& files, const char* ref = nullptr) {
    REQUIRE_FALSE(cache.prepare_repo(repo));
    std::string message;
    for (const auto& [path, content] : files) {
        auto etag = git_blob_id(content);
        if (!fs::exists(cache.blob_path(repo, etag)))
            test::write_text(cache.blob_path(repo, etag), content);
        REQUIRE_FALSE(cache.link_snapshot_file(repo, sha, path, etag, message));
    }
    if (ref)
        REQUIRE_FALSE(cache.write_ref(repo, ref, sha));
}

const hub_cached_repo* find_repo(const hub_cache_contents& contents, const std::string& id) {
    for (const auto& r : contents.repos)
        if (r.repo.id == id)
            return &r;
    return nullptr;
}

} // namespace

TEST_CASE("scan: the worked example as scan_cache_dir reports it") {
    test::temp_dir tmp;
    hub_cache cache(tmp.path());
    hub_repo_id repo{hub_repo_type::model, "acme/tiny"};
    make_worked_example(cache, repo);
    REQUIRE_FALSE(cache.write_ref(repo, "refs/pr/1", commit));
    auto lock = blob_lock::try_acquire(cache.lock_path(repo, readme_blob)); // .locks is skipped
    auto contents = scan_hub_cache(tmp.path());
    CHECK(contents.warnings.empty());
    REQUIRE(contents.repos.size() == 1);
    const auto& r = contents.repos[0];
    CHECK(r.repo == repo);
    CHECK(r.size_on_disk == 7 + 23 + (1 << 20));
    CHECK(contents.size_on_disk == r.size_on_disk);
    CHECK(r.blob_count == 3);
    CHECK(r.refs.at("main") == commit);
    CHECK(r.refs.at("refs/pr/1") == commit);
    REQUIRE(r.revisions.size() == 1);
    const auto& rev = r.revisions[0];
    CHECK(rev.sha == commit);
    CHECK(rev.refs == std::vector<std::string>{"main", "refs/pr/1"});
    REQUIRE(rev.files.size() == 3);
    CHECK(rev.files[2].path == "sub/dir/weights.bin");
    CHECK(rev.files[2].blob == weights_sha);
    CHECK(rev.files[2].size == 1 << 20);
    CHECK(rev.size_on_disk == r.size_on_disk);
    CHECK(repo_of_folder("models--acme--tiny") == repo);
    CHECK(repo_of_folder("datasets--gpt2") == hub_repo_id{hub_repo_type::dataset, "gpt2"});
    CHECK_FALSE(repo_of_folder("model--x"));
    CHECK_FALSE(repo_of_folder("models--a--b--c"));
}

TEST_CASE("scan: broken repos are dropped with a warning, the others kept") {
    test::temp_dir tmp;
    hub_cache cache(tmp.path());
    make_worked_example(cache, {hub_repo_type::model, "acme/tiny"});
    hub_repo_id dangling{hub_repo_type::model, "acme/dangling"};
    add_revision(cache, dangling, commit, {{"a.txt", "a"}});
    fs::remove(cache.blob_path(dangling, git_blob_id("a")));
    hub_repo_id bad_ref{hub_repo_type::dataset, "acme/badref"};
    add_revision(cache, bad_ref, commit, {{"a.txt", "a"}});
    test::write_text(cache.repo_dir(bad_ref) / "refs" / "main", std::string(40, 'f'));
    fs::create_directories(tmp / "models--acme--nosnapshots");
    fs::create_directories(tmp / "not-a-repo");

    auto contents = scan_hub_cache(tmp.path());
    REQUIRE(contents.repos.size() == 1);
    CHECK(contents.repos[0].repo.id == "acme/tiny");
    REQUIRE(contents.warnings.size() == 4);
    std::string all;
    for (const auto& w : contents.warnings)
        all += w.path.filename().string() + ": " + w.message + "\n";
    CHECK(all.find("models--acme--dangling: snapshots/" + std::string(commit) + "/a.txt links to a missing blob") !=
          std::string::npos);
    CHECK(all.find("datasets--acme--badref: refs/main names no snapshot") != std::string::npos);
    CHECK(all.find("models--acme--nosnapshots: no snapshots/ folder") != std::string::npos);
    CHECK(all.find("not-a-repo: not a repo folder") != std::string::npos);
}

TEST_CASE("scan: a blob hard-linked into two repos counts once in the cache, fully in each repo") {
    test::temp_dir tmp;
    hub_cache cache(tmp.path());
    hub_repo_id tiny{hub_repo_type::model, "acme/tiny"};
    hub_repo_id copy{hub_repo_type::model, "other/copy"};
    make_worked_example(cache, tiny);
    REQUIRE_FALSE(cache.prepare_repo(copy));
    REQUIRE_FALSE(hub_cache::adopt_blob(cache.blob_path(tiny, weights_sha), cache.blob_path(copy, weights_sha)));
    std::string message;
    REQUIRE_FALSE(cache.link_snapshot_file(copy, commit, "weights.bin", weights_sha, message));
    auto contents = scan_hub_cache(tmp.path());
    CHECK(find_repo(contents, "acme/tiny")->size_on_disk == 7 + 23 + (1 << 20));
    CHECK(find_repo(contents, "other/copy")->size_on_disk == 1 << 20);
    CHECK(contents.size_on_disk == 7 + 23 + (1 << 20));
}

TEST_CASE("verify: every blob against its name; a damaged one is named") {
    test::temp_dir tmp;
    hub_cache cache(tmp.path());
    hub_repo_id repo{hub_repo_type::model, "acme/tiny"};
    make_worked_example(cache, repo);
    test::write_text(cache.blobs_dir(repo) / (std::string(weights_sha) + ".part"), "partial");
    auto clean = verify_hub_cache(tmp.path());
    CHECK(clean.checked == 3);
    CHECK(clean.damaged.empty());

    test::write_text(cache.blob_path(repo, config_blob), "{\"model_type\": \"gpt2\"}\n");
    auto content = weights_content();
    content[1000] ^= 1;
    test::write_text(cache.blob_path(repo, weights_sha), content);
    auto damaged = verify_hub_cache(tmp.path());
    CHECK(damaged.checked == 3);
    REQUIRE(damaged.damaged.size() == 2);
    CHECK(damaged.damaged[0].path == cache.blob_path(repo, config_blob));
    CHECK(damaged.damaged[0].actual == git_blob_id("{\"model_type\": \"gpt2\"}\n"));
    CHECK(damaged.damaged[1].path == cache.blob_path(repo, weights_sha));
}

TEST_CASE("rm: a revision takes its snapshot, refs, markers, tree and the blobs only it links") {
    test::temp_dir tmp;
    hub_cache cache(tmp.path());
    hub_repo_id repo{hub_repo_type::model, "acme/tiny"};
    std::string old_sha(40, 'a'), new_sha(40, 'b');
    add_revision(cache, repo, old_sha, {{"shared.txt", "shared"}, {"old.txt", "old"}}, "v1");
    add_revision(cache, repo, new_sha, {{"shared.txt", "shared"}, {"new.txt", "new"}}, "main");
    REQUIRE_FALSE(cache.write_ref(repo, "refs/pr/1", old_sha));
    REQUIRE_FALSE(cache.mark_no_exist(repo, old_sha, "missing.txt"));
    REQUIRE_FALSE(cache.write_tree(repo, old_sha, {{"old.txt", 3, git_blob_id("old"), std::nullopt}}));
    test::write_text(cache.blobs_dir(repo) / (std::string(64, 'c') + ".part"), "partial");

    std::string message;
    auto removed = remove_from_hub_cache(tmp.path(), repo, std::string("v1"), message);
    REQUIRE(removed.has_value());
    CHECK(removed->revisions.size() == 1);
    CHECK(removed->revisions[0].sha == old_sha);
    CHECK(removed->bytes_freed == 3); // "old"; "shared" is still linked
    CHECK(removed->repos_removed.empty());
    CHECK_FALSE(fs::exists(cache.snapshot_dir(repo, old_sha)));
    CHECK_FALSE(fs::exists(cache.repo_dir(repo) / "refs" / "v1"));
    CHECK_FALSE(fs::exists(cache.repo_dir(repo) / "refs" / "refs"));
    CHECK_FALSE(fs::exists(cache.repo_dir(repo) / ".no_exist" / old_sha));
    CHECK_FALSE(cache.read_tree(repo, old_sha));
    CHECK_FALSE(fs::exists(cache.blob_path(repo, git_blob_id("old"))));
    CHECK(fs::exists(cache.blob_path(repo, git_blob_id("shared"))));
    CHECK(fs::exists(cache.blobs_dir(repo) / (std::string(64, 'c') + ".part")));
    CHECK(cache.read_ref(repo, "main") == new_sha);
    auto after = scan_hub_cache(tmp.path());
    CHECK(after.warnings.empty());
    CHECK(after.size_on_disk == 6 + 3);

    CHECK(remove_from_hub_cache(tmp.path(), repo, std::string("v1"), message).error() ==
          errc::no_such_file_or_directory);
    CHECK(message.find("v1") != std::string::npos);
    CHECK(remove_from_hub_cache(tmp.path(), {hub_repo_type::dataset, "acme/tiny"}, std::nullopt, message).error() ==
          errc::no_such_file_or_directory);

    // The last revision, by sha: the repo goes whole, its locks too, the stale partial with it.
    auto lock_dir = tmp / ".locks" / "models--acme--tiny";
    fs::create_directories(lock_dir);
    auto last = remove_from_hub_cache(tmp.path(), repo, new_sha, message);
    REQUIRE(last.has_value());
    CHECK(last->repos_removed == std::vector<hub_repo_id>{repo});
    CHECK_FALSE(fs::exists(cache.repo_dir(repo)));
    CHECK_FALSE(fs::exists(lock_dir));
}

TEST_CASE("rm: a partial whose blob lock is held keeps the repo folder; rm of the repo takes all") {
    test::temp_dir tmp;
    hub_cache cache(tmp.path());
    hub_repo_id repo{hub_repo_type::model, "acme/tiny"};
    std::string sha(40, 'a');
    add_revision(cache, repo, sha, {{"a.txt", "a"}}, "main");
    std::string etag(64, 'c');
    auto partial = cache.blobs_dir(repo) / (etag + ".part");
    test::write_text(partial, "partial");
    {
        auto held = blob_lock::try_acquire(cache.lock_path(repo, etag));
        REQUIRE(held.has_value());
        REQUIRE(held->has_value());
        std::string message;
        auto removed = remove_from_hub_cache(tmp.path(), repo, sha, message);
        REQUIRE(removed.has_value());
        CHECK(removed->repos_removed.empty());
        CHECK(fs::exists(partial));
        CHECK_FALSE(fs::exists(cache.snapshot_dir(repo, sha)));
        CHECK_FALSE(fs::exists(cache.blob_path(repo, git_blob_id("a"))));
    }
    std::string message;
    auto whole = remove_from_hub_cache(tmp.path(), repo, std::nullopt, message);
    REQUIRE(whole.has_value());
    CHECK_FALSE(fs::exists(cache.repo_dir(repo)));
}

TEST_CASE("prune: least recently used first, as touch_revision records uses") {
    test::temp_dir tmp;
    hub_cache cache(tmp.path());
    hub_repo_id a{hub_repo_type::model, "acme/a"};
    hub_repo_id b{hub_repo_type::model, "acme/b"};
    std::string sha1(40, '1'), sha2(40, '2'), sha3(40, '3');
    add_revision(cache, a, sha1, {{"one.bin", std::string(1000, '1')}}, "old");
    add_revision(cache, a, sha2, {{"two.bin", std::string(500, '2')}}, "main");
    add_revision(cache, b, sha3, {{"three.bin", std::string(100, '3')}}, "main");
    CHECK(scan_hub_cache(tmp.path()).size_on_disk == 1600);

    // All equally old, then a/sha1 and b used: a/sha2 is the least recently used.
    age_everything(tmp.path(), 1000000000);
    cache.touch_revision(a, sha1);
    cache.touch_revision(b, sha3);

    auto dry = prune_hub_cache(tmp.path(), 1500, true);
    REQUIRE(dry.revisions.size() == 1);
    CHECK(dry.revisions[0].sha == sha2);
    CHECK(dry.bytes_freed == 500);
    CHECK(dry.size_after() == 1100);
    CHECK(fs::exists(cache.snapshot_dir(a, sha2))); // a dry run changes nothing

    auto pruned = prune_hub_cache(tmp.path(), 1500, false);
    REQUIRE(pruned.revisions.size() == 1);
    CHECK(pruned.revisions[0].sha == sha2);
    CHECK(pruned.revisions[0].refs == std::vector<std::string>{"main"});
    CHECK(pruned.bytes_freed == 500);
    CHECK_FALSE(fs::exists(cache.snapshot_dir(a, sha2)));
    CHECK_FALSE(cache.read_ref(a, "main"));
    auto after = scan_hub_cache(tmp.path());
    CHECK(after.warnings.empty());
    CHECK(after.size_on_disk == 1100);

    // Under the limit already: nothing goes.
    CHECK(prune_hub_cache(tmp.path(), 1100, false).revisions.empty());
}

TEST_CASE("prune: never deletes a blob that a kept revision links") {
    test::temp_dir tmp;
    hub_cache cache(tmp.path());
    hub_repo_id a{hub_repo_type::model, "acme/a"};
    hub_repo_id b{hub_repo_type::model, "acme/b"};
    std::string sha1(40, '1'), sha2(40, '2'), sha3(40, '3');
    std::string big(1000, 'x'), mid(500, 'y'), shared(300, 'z');
    add_revision(cache, a, sha1, {{"big.bin", big}, {"shared.bin", shared}}, "old");
    add_revision(cache, a, sha2, {{"shared.bin", shared}, {"mid.bin", mid}}, "main");
    add_revision(cache, b, sha3, {{"small.bin", std::string(100, 's')}}, "main");
    CHECK(scan_hub_cache(tmp.path()).size_on_disk == 1900);
    // a/sha1 oldest, then a/sha2, then b.
    age_everything(tmp.path(), 1000000000);
    set_atime(cache.snapshot_dir(a, sha2), 1100000000);
    set_atime(cache.snapshot_dir(b, sha3), 1200000000);

    auto pruned = prune_hub_cache(tmp.path(), 1000, false);
    REQUIRE(pruned.revisions.size() == 1);
    CHECK(pruned.revisions[0].sha == sha1);
    CHECK(pruned.bytes_freed == 1000);
    CHECK_FALSE(fs::exists(cache.blob_path(a, git_blob_id(big))));
    CHECK(fs::exists(cache.blob_path(a, git_blob_id(shared))));
    CHECK(fs::file_size(cache.snapshot_dir(a, sha2) / "shared.bin") == 300); // stat: reading would be a use
    CHECK(scan_hub_cache(tmp.path()).warnings.empty());

    // Down to 100: a/sha2 goes, and repo a with it; b stays.
    auto small = prune_hub_cache(tmp.path(), 100, false);
    REQUIRE(small.revisions.size() == 1);
    CHECK(small.revisions[0].repo == a);
    CHECK(small.repos_removed == std::vector<hub_repo_id>{a});
    CHECK_FALSE(fs::exists(cache.repo_dir(a)));
    CHECK(scan_hub_cache(tmp.path()).size_on_disk == 100);
}

TEST_CASE("prune: a blob hard-linked into two repos is freed only when both let it go") {
    test::temp_dir tmp;
    hub_cache cache(tmp.path());
    hub_repo_id a{hub_repo_type::model, "acme/a"};
    hub_repo_id b{hub_repo_type::model, "acme/b"};
    std::string sha(40, 'a');
    std::string weights(2000, 'w');
    add_revision(cache, a, sha, {{"w.bin", weights}}, "main");
    REQUIRE_FALSE(cache.prepare_repo(b));
    auto etag = git_blob_id(weights);
    REQUIRE_FALSE(hub_cache::adopt_blob(cache.blob_path(a, etag), cache.blob_path(b, etag)));
    add_revision(cache, b, sha, {{"w.bin", weights}, {"c.txt", "c"}}, "main");
    CHECK(inode_of(cache.blob_path(a, etag)) == inode_of(cache.blob_path(b, etag)));
    CHECK(scan_hub_cache(tmp.path()).size_on_disk == 2001);

    age_everything(tmp.path(), 1000000000);
    cache.touch_revision(b, sha);
    // Evicting a frees nothing (b still links the inode): b must go too to get under 1000.
    auto pruned = prune_hub_cache(tmp.path(), 1000, true);
    REQUIRE(pruned.revisions.size() == 2);
    CHECK(pruned.revisions[0].repo == a);
    CHECK(pruned.revisions[1].repo == b);
    CHECK(pruned.bytes_freed == 2001);

    std::string message;
    auto removed = remove_from_hub_cache(tmp.path(), a, std::nullopt, message);
    REQUIRE(removed.has_value());
    CHECK(removed->bytes_freed == 0);
    CHECK(test::read_text(cache.snapshot_dir(b, sha) / "w.bin") == weights);
}
