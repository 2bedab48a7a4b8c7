// `ferry hf download` end to end: the ferry binary against the origin's fake Hub over HTTPS
// (API on localhost, signed CDN URLs on 127.0.0.1), asserting the cache on disk byte for byte and
// what the Hub and its CDN saw.
#include "cli/child_process.hpp"
#include "memory/hub_cache.hpp"
#include "memory/resume_journal.hpp"
#include "memory/sha256.hpp"
#include "scoped_env.hpp"
#include "tools/origin/hub_catalog.hpp"
#include "tools/origin/origin_server.hpp"
#include "tools/origin/synthetic.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <algorithm>
#include <thread>

using namespace ferry;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using test::run_result;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;
constexpr std::uint64_t seed = 5;

/// acme/tiny (main = the worked example of hf-hub.md plus a shard; v1 = an older commit),
/// acme/other (shares the shard's bytes), acme/gated (approved token hf_alice).
std::shared_ptr<origin::hub_catalog> test_catalog(std::uint64_t shard_size = 24 * MiB) {
    using origin::hub_file_spec;
    auto hub = std::make_shared<origin::hub_catalog>(seed);
    hub->options.page_size = 3; // every listing takes several pages
    hub->options.tokens = {"hf_alice", "hf_bob"};
    auto& tiny = hub->add_repo("acme/tiny");
    hub->add_commit(tiny,
                    {hub_file_spec::inline_text("README.md", "# tiny v1\n"),
                     hub_file_spec::synthetic("old.bin", 3 * MiB, "blobs/old")},
                    {"v1"});
    hub->add_commit(tiny,
                    {hub_file_spec::inline_text("README.md", "# tiny\n"),
                     hub_file_spec::inline_text("config.json", "{\"model_type\": \"bert\"}\n"),
                     hub_file_spec::inline_text("empty.txt", ""),
                     hub_file_spec::synthetic("sub/dir/weights.bin", MiB),
                     hub_file_spec::synthetic("model.safetensors", shard_size, "blobs/shard")},
                    {"main"}, {}, {});
    auto& other = hub->add_repo("acme/other");
    hub->add_commit(other,
                    {hub_file_spec::synthetic("shard.bin", shard_size, "blobs/shard"),
                     hub_file_spec::inline_text("a.txt", "a\n")},
                    {"main"});
    auto& gated = hub->add_repo("acme/gated");
    gated.gate = origin::hub_gate::manual;
    gated.approved = {"hf_alice"};
    hub->add_commit(gated, {hub_file_spec::synthetic("w.bin", 5000)}, {"main"});
    return hub;
}

struct hub_fixture {
    test::scratch_dir tmp{"ferry-hf-test"};
    fs::path cache = tmp / "cache";
    fs::path logs = tmp / "logs";
    fs::path ca = tmp / "ca.pem";
    std::shared_ptr<origin::hub_catalog> catalog;
    origin::origin_server server;
    std::optional<test::scoped_env> endpoint, no_token, no_home, no_offline;

    explicit hub_fixture(std::shared_ptr<origin::hub_catalog> hub = test_catalog())
        : catalog(hub), server(config(hub)) {
        fs::create_directories(logs);
        server.start();
        server.write_ca(ca);
        // The API on localhost; its CDN answers on 127.0.0.1 (the other loopback name).
        endpoint.emplace("HF_ENDPOINT", "https://localhost:" + std::to_string(server.port()));
        no_token.emplace("HF_TOKEN", "");
        no_home.emplace("HF_HOME", (tmp / "hf-home").string());
        no_offline.emplace("HF_HUB_OFFLINE", "");
    }
    ~hub_fixture() { server.stop(); }

    static origin::origin_config config(std::shared_ptr<origin::hub_catalog> hub) {
        origin::origin_config c;
        c.seed = seed;
        c.hub = std::move(hub);
        return c;
    }

    run_result ferry(std::vector<std::string> args, std::chrono::seconds timeout = 90s) {
        args.insert(args.begin(), FERRY_BINARY);
        auto r = test::run_program(args, logs, timeout);
        INFO("ferry stderr: " << r.err);
        REQUIRE_MESSAGE(r.status != -1, "ferry did not finish within " << timeout.count() << " s");
        server.wait_connections_closed(5s); // its last writes counted
        return r;
    }
    std::vector<std::string> download(std::vector<std::string> extra) const {
        std::vector<std::string> args = {"hf", "download"};
        args.insert(args.end(), extra.begin(), extra.end());
        args.insert(args.end(), {"--cache-dir", cache.string(), "--ca-cert", ca.string(), "-q"});
        return args;
    }

    const origin::hub_commit& commit(const std::string& repo, const std::string& rev = "main") const {
        auto* r = catalog->find(origin::hub_repo_type::model, repo);
        REQUIRE(r);
        auto* c = r->at(rev);
        REQUIRE(c);
        return *c;
    }
    /// The bytes the Hub serves for `path` at `rev`.
    std::string bytes_of(const std::string& repo, const std::string& path, const std::string& rev = "main") const {
        const auto& blob = *commit(repo, rev).files.at(path);
        if (blob.text)
            return *blob.text;
        std::string out(blob.size, '\0');
        origin::synthetic_fill(blob.key, seed, 0, {reinterpret_cast<std::byte*>(out.data()), out.size()});
        return out;
    }
    /// Body bytes the CDN sent for the blob with this sha256, from the request log.
    std::uint64_t cdn_requests(const origin::origin_stats& stats, const std::string& sha256) const {
        return static_cast<std::uint64_t>(std::count_if(stats.log.begin(), stats.log.end(), [&](auto& r) {
            return r.path == "/cdn-lfs/" + sha256 && r.method == "GET";
        }));
    }
    fs::path repo_dir(const std::string& repo) const { return cache / hub_repo_id{hub_repo_type::model, repo}.folder_name(); }
};

std::string last_line(const std::string& text) {
    auto lines = test::lines_of(text);
    return lines.empty() ? std::string() : lines.back();
}

std::string file_text(const fs::path& p) { return test::slurp(p); }

} // namespace

TEST_CASE("hf download: the whole repo into the HF cache, as huggingface_hub lays it out, every file verified") {
    hub_fixture f;
    auto r = f.ferry(f.download({"acme/tiny", "--token", "hf_bob"}));
    REQUIRE_MESSAGE(r.status == 0, r.err);
    const auto& main = f.commit("acme/tiny");
    auto snapshot = f.repo_dir("acme/tiny") / "snapshots" / main.sha;
    CHECK(last_line(r.out) == snapshot.string());

    // refs/main: the 40 hex and no newline; every file a relative link to blobs/{etag}.
    CHECK(file_text(f.repo_dir("acme/tiny") / "refs" / "main") == main.sha);
    for (const auto& [path, blob] : main.files) {
        CAPTURE(path);
        auto link = snapshot / path;
        REQUIRE(fs::is_symlink(link));
        auto etag = blob->lfs ? blob->sha256 : blob->git_oid;
        std::string up;
        for (auto slash = std::count(path.begin(), path.end(), '/'); slash > 0; --slash)
            up += "../";
        CHECK(fs::read_symlink(link).string() == up + "../../blobs/" + etag);
        CHECK(file_text(link) == f.bytes_of("acme/tiny", path));
    }
    CHECK(file_text(snapshot / "README.md") == "# tiny\n");
    CHECK(fs::is_regular_file(f.repo_dir("acme/tiny") / "trees" / (main.sha + ".json")));
    // Nothing partial is left, and nothing under a name older clients append to.
    for (auto& entry : fs::recursive_directory_iterator(f.cache)) {
        CAPTURE(entry.path());
        CHECK(entry.path().string().find(".incomplete") == std::string::npos);
        CHECK(entry.path().string().find(".part") == std::string::npos);
    }

    // The token went to the Hub and never to its CDN; every file was fetched once.
    auto stats = f.server.stats();
    std::size_t cdn = 0, api = 0;
    for (auto& q : stats.log) {
        if (q.path.starts_with("/cdn-lfs/")) {
            ++cdn;
            CHECK(q.authorization.empty());
        } else {
            ++api;
            CHECK(q.authorization == "Bearer hf_bob");
        }
    }
    CHECK(cdn >= 2);
    CHECK(api >= 4); // revision, tree pages, resolves
    std::uint64_t payload = 0;
    for (const auto& [path, blob] : main.files)
        payload += blob->size;
    CHECK(stats.body_bytes_sent >= payload);
    CHECK(stats.body_bytes_sent < payload + 64 * 1024); // plus the API's JSON

    // A rerun fetches no file: the listing says what is there, the cache has it.
    f.server.reset_stats();
    auto again = f.ferry(f.download({"acme/tiny"}));
    REQUIRE_MESSAGE(again.status == 0, again.err);
    CHECK(last_line(again.out) == snapshot.string());
    for (auto& q : f.server.stats().log) {
        CAPTURE(q.path);
        CHECK(q.path.starts_with("/api/"));
    }
}

TEST_CASE("hf download: a second repo sharing a shard fetches 0 bytes of it and links the same inode") {
    hub_fixture f;
    REQUIRE(f.ferry(f.download({"acme/tiny"})).status == 0);
    f.server.reset_stats();
    auto r = f.ferry(f.download({"acme/other", "--stats", (f.tmp / "stats.json").string()}));
    REQUIRE_MESSAGE(r.status == 0, r.err);
    const auto& shard = *f.commit("acme/other").files.at("shard.bin");
    auto stats = f.server.stats();
    CHECK(f.cdn_requests(stats, shard.sha256) == 0);
    CHECK(stats.body_bytes_sent < 64 * 1024); // a.txt and the API's answers only
    struct stat a {}, b {};
    REQUIRE(::stat((f.repo_dir("acme/tiny") / "blobs" / shard.sha256).c_str(), &a) == 0);
    REQUIRE(::stat((f.repo_dir("acme/other") / "blobs" / shard.sha256).c_str(), &b) == 0);
    CHECK(a.st_ino == b.st_ino);
    CHECK(file_text(f.repo_dir("acme/other") / "snapshots" / f.commit("acme/other").sha / "shard.bin") ==
          f.bytes_of("acme/other", "shard.bin"));
    auto json = file_text(f.tmp / "stats.json");
    CHECK(json.find("\"adopted\":1") != std::string::npos);
    CHECK(json.find("\"adopted_bytes\":" + std::to_string(shard.size)) != std::string::npos);
}

TEST_CASE("hf download: two models of one run that share a blob download it once (single flight)") {
    hub_fixture f;
    auto manifest = f.tmp / "models.json";
    test::spit(manifest, R"({"models": [
        {"id": "tiny", "hf": "acme/tiny", "priority": "high", "include": ["*.safetensors", "*.md"]},
        {"id": "other", "hf": "acme/other", "revision": "main"} ]})");
    test::scoped_env cache_env("HF_HUB_CACHE", f.cache.string());
    auto r = f.ferry({"get", "-i", manifest.string(), "--ca-cert", f.ca.string(), "-q"});
    REQUIRE_MESSAGE(r.status == 0, r.err);
    const auto& shard = *f.commit("acme/other").files.at("shard.bin");
    CHECK(f.cdn_requests(f.server.stats(), shard.sha256) >= 1);
    CHECK(f.server.stats().body_bytes_sent < shard.size + 2 * MiB); // once, not twice
    auto tiny = f.repo_dir("acme/tiny") / "snapshots" / f.commit("acme/tiny").sha;
    CHECK(fs::exists(tiny / "model.safetensors"));
    CHECK(fs::exists(tiny / "README.md"));
    CHECK_FALSE(fs::exists(tiny / "config.json")); // not included
    CHECK(file_text(f.repo_dir("acme/other") / "snapshots" / f.commit("acme/other").sha / "shard.bin") ==
          f.bytes_of("acme/other", "shard.bin"));
}

TEST_CASE("hf download: kill -9 in the middle of a shard, then a rerun resumes it from the journal") {
    hub_fixture f(test_catalog(48 * MiB));
    const auto& shard = *f.commit("acme/tiny").files.at("model.safetensors");
    origin::fault slow;
    slow.rate = 6 * MiB; // per connection: the shard takes a few seconds
    f.server.add_fault("/cdn-lfs/*", slow);
    auto args = f.download({"acme/tiny", "model.safetensors", "-x", "2"});
    args.insert(args.begin(), FERRY_BINARY);
    auto part = f.repo_dir("acme/tiny") / "blobs" / (shard.sha256 + ".part");
    auto journal = fs::path(part.string() + ".journal");
    {
        test::child_process child(args, f.logs / "killed.out", f.logs / "killed.err");
        // Bounded wait for a journal that records progress, then SIGKILL.
        auto give_up = std::chrono::steady_clock::now() + 30s;
        std::optional<journal_record> seen;
        while (std::chrono::steady_clock::now() < give_up && child.running()) {
            if (auto parsed = read_journal(journal); parsed && !parsed->done.empty()) {
                seen = parsed;
                break;
            }
            child.wait_for(50ms);
        }
        REQUIRE_MESSAGE(seen.has_value(), "no journal within 30 s: " << test::slurp(f.logs / "killed.err"));
        REQUIRE(child.running());
        CHECK(WIFSIGNALED(child.kill_and_wait()));
    }
    CHECK(fs::exists(part));
    CHECK_FALSE(fs::exists(f.repo_dir("acme/tiny") / "blobs" / shard.sha256)); // no final name yet
    auto journaled = read_journal(journal);
    REQUIRE(journaled);
    std::uint64_t kept = 0;
    for (auto& range : journaled->done)
        kept += range.end - range.begin;
    REQUIRE(kept > 0);

    f.server.clear_faults();
    f.server.reset_stats();
    auto r = f.ferry(f.download({"acme/tiny", "model.safetensors"}));
    REQUIRE_MESSAGE(r.status == 0, r.err);
    auto link = f.repo_dir("acme/tiny") / "snapshots" / f.commit("acme/tiny").sha / "model.safetensors";
    CHECK(sha256_of_file(link) == parse_sha256_hex(shard.sha256));
    CHECK_FALSE(fs::exists(part));
    // The rerun fetched what the journal did not hold (and the API's small answers), resuming
    // with If-Range.
    auto stats = f.server.stats();
    CHECK(stats.body_bytes_sent <= shard.size - kept + 64 * 1024);
    bool if_range = false;
    for (auto& q : stats.log)
        if (q.path.starts_with("/cdn-lfs/") && !q.if_range.empty())
            if_range = true;
    CHECK(if_range);
}

TEST_CASE("hf download: a gated repo refuses without a token and with an unapproved one, in words") {
    hub_fixture f;
    auto anonymous = f.ferry(f.download({"acme/gated"}));
    CHECK(anonymous.status == 1);
    CHECK(anonymous.err.find("gated repo") != std::string::npos);
    CHECK(anonymous.err.find("request id") != std::string::npos);
    auto bob = f.ferry(f.download({"acme/gated", "--token", "hf_bob"}));
    CHECK(bob.status == 1);
    CHECK(bob.err.find("gated") != std::string::npos);
    CHECK_FALSE(fs::exists(f.repo_dir("acme/gated") / "refs" / "main"));
    // The CDN never served a byte of it.
    CHECK(f.server.stats().body_bytes_sent < 16 * 1024);

    test::scoped_env token("HF_TOKEN", "hf_alice");
    auto alice = f.ferry(f.download({"acme/gated"}));
    REQUIRE_MESSAGE(alice.status == 0, alice.err);
    CHECK(file_text(fs::path(last_line(alice.out)) / "w.bin") == f.bytes_of("acme/gated", "w.bin"));
}

TEST_CASE("hf download: Hub errors are one line each; a missing file is marked in .no_exist") {
    hub_fixture f;
    auto missing_repo = f.ferry(f.download({"acme/nope"}));
    CHECK(missing_repo.status == 1);
    CHECK(missing_repo.err.find("acme/nope not found") != std::string::npos);
    auto missing_rev = f.ferry(f.download({"acme/tiny", "--revision", "v9"}));
    CHECK(missing_rev.status == 1);
    CHECK(missing_rev.err.find("revision v9 not found") != std::string::npos);
    auto bad_token = f.ferry(f.download({"acme/tiny", "--token", "hf_mallory"}));
    CHECK(bad_token.status == 1);
    CHECK(bad_token.err.find("token") != std::string::npos);
    auto missing_file = f.ferry(f.download({"acme/tiny", "nope.bin"}));
    CHECK(missing_file.status == 1);
    CHECK(missing_file.err.find("nope.bin not found in acme/tiny") != std::string::npos);
    CHECK(fs::exists(f.repo_dir("acme/tiny") / ".no_exist" / f.commit("acme/tiny").sha / "nope.bin"));
    for (const auto& r : {missing_repo, missing_rev, bad_token, missing_file})
        CHECK(test::lines_of(r.err).size() == 1);
    // Usage errors: exit 2 before any request.
    f.server.reset_stats();
    CHECK(f.ferry(f.download({"../evil"})).status == 2);
    CHECK(f.ferry(f.download({"acme/tiny", "../x"})).status == 2);
    CHECK(f.ferry(f.download({"acme/tiny", "--repo-type", "space"})).status == 2);
    CHECK(f.server.stats().requests == 0);
}

TEST_CASE("hf download: a revision by tag, filters, then offline answers from the cache alone") {
    hub_fixture f;
    auto v1 = f.ferry(f.download({"acme/tiny", "--revision", "v1", "--exclude", "*.bin"}));
    REQUIRE_MESSAGE(v1.status == 0, v1.err);
    auto v1_dir = fs::path(last_line(v1.out));
    CHECK(v1_dir.filename() == f.commit("acme/tiny", "v1").sha);
    CHECK(file_text(v1_dir / "README.md") == "# tiny v1\n");
    CHECK_FALSE(fs::exists(v1_dir / "old.bin"));
    CHECK(file_text(f.repo_dir("acme/tiny") / "refs" / "v1") == f.commit("acme/tiny", "v1").sha);

    f.server.reset_stats();
    test::scoped_env offline("HF_HUB_OFFLINE", "1");
    auto cached = f.ferry(f.download({"acme/tiny", "--revision", "v1", "--exclude", "*.bin"}));
    CHECK(cached.status == 0);
    CHECK(last_line(cached.out) == v1_dir.string());
    auto by_sha = f.ferry(f.download({"acme/tiny", "--revision", f.commit("acme/tiny", "v1").sha, "README.md"}));
    CHECK(by_sha.status == 0);
    // A file or revision not in the cache is an error, not a request.
    auto absent = f.ferry(f.download({"acme/tiny", "--revision", "v1"})); // old.bin was excluded
    CHECK(absent.status == 1);
    CHECK(absent.err.find("old.bin") != std::string::npos);
    CHECK(f.ferry(f.download({"acme/tiny"})).status == 1); // main was never fetched
    CHECK(f.server.stats().requests == 0);
}

TEST_CASE("hf download --local-dir: plain files under their repo paths; a rerun keeps what is right") {
    hub_fixture f;
    auto local = f.tmp / "local";
    auto r = f.ferry(f.download({"acme/tiny", "--local-dir", local.string(), "--include", "*.json",
                                 "--include", "sub/"}));
    REQUIRE_MESSAGE(r.status == 0, r.err);
    CHECK(last_line(r.out) == local.string());
    CHECK(file_text(local / "config.json") == f.bytes_of("acme/tiny", "config.json"));
    CHECK(file_text(local / "sub/dir/weights.bin") == f.bytes_of("acme/tiny", "sub/dir/weights.bin"));
    CHECK_FALSE(fs::is_symlink(local / "config.json"));
    CHECK_FALSE(fs::exists(local / "README.md"));
    f.server.reset_stats();
    REQUIRE(f.ferry(f.download({"acme/tiny", "--local-dir", local.string(), "--include", "*.json",
                                "--include", "sub/"})).status == 0);
    CHECK(f.server.stats().body_bytes_sent < 16 * 1024); // listings only
}

TEST_CASE("hf download, then ferry cache prune under a budget evicts the older revision and keeps what main links") {
    hub_fixture f;
    REQUIRE(f.ferry(f.download({"acme/tiny", "--revision", "v1"})).status == 0);
    REQUIRE(f.ferry(f.download({"acme/tiny"})).status == 0);
    auto v1 = f.commit("acme/tiny", "v1").sha;
    auto main = f.commit("acme/tiny").sha;
    // v1 used before main: it goes first.
    hub_cache(f.cache).touch_revision({hub_repo_type::model, "acme/tiny"}, main);
    auto prune = f.ferry({"cache", "prune", "--max-size", "26M", "--cache-dir", f.cache.string()});
    REQUIRE_MESSAGE(prune.status == 0, prune.err);
    CHECK_FALSE(fs::exists(f.repo_dir("acme/tiny") / "snapshots" / v1));
    CHECK_FALSE(fs::exists(f.repo_dir("acme/tiny") / "refs" / "v1"));
    CHECK(fs::exists(f.repo_dir("acme/tiny") / "snapshots" / main));
    const auto& main_files = f.commit("acme/tiny").files;
    for (const auto& [path, blob] : main_files)
        CHECK(file_text(f.repo_dir("acme/tiny") / "snapshots" / main / path) == f.bytes_of("acme/tiny", path));
    auto verify = f.ferry({"cache", "verify", "--cache-dir", f.cache.string()});
    CHECK_MESSAGE(verify.status == 0, verify.err);
}

TEST_CASE("hf download: the Hub's 429 with RateLimit is waited out; signed CDN URLs are renewed without losing bytes") {
    auto catalog = test_catalog(16 * MiB);
    catalog->options.cdn_ttl = 2s; // signed CDN URLs expire while the shard is on its way
    hub_fixture f(catalog);
    origin::fault limited;
    limited.status = 429;
    limited.times = 1;
    limited.ratelimit_remaining = 0;
    limited.ratelimit_reset = 1;
    f.server.add_fault("/api/models/acme/tiny/tree/*", limited);
    origin::fault slow;
    slow.rate = 3 * MiB; // per connection: the shard takes longer than a signature lives
    f.server.add_fault("/cdn-lfs/*", slow);

    auto r = f.ferry(f.download({"acme/tiny", "model.safetensors", "-x", "2"}));
    REQUIRE_MESSAGE(r.status == 0, r.err);
    const auto& shard = *f.commit("acme/tiny").files.at("model.safetensors");
    auto link = f.repo_dir("acme/tiny") / "snapshots" / f.commit("acme/tiny").sha / "model.safetensors";
    CHECK(sha256_of_file(link) == parse_sha256_hex(shard.sha256));

    auto stats = f.server.stats();
    // The tree was asked again after the pause the Hub asked for.
    std::vector<std::chrono::steady_clock::time_point> tree_asks; // the 429, then the next ask
    std::size_t resolves = 0;
    for (auto& q : stats.log) {
        if (q.path.starts_with("/api/models/acme/tiny/tree/") && (q.status == 429 || tree_asks.size() == 1))
            tree_asks.push_back(q.received);
        if (q.path.find("/resolve/") != std::string::npos)
            ++resolves;
    }
    REQUIRE(tree_asks.size() >= 2);
    CHECK(tree_asks[1] - tree_asks[0] >= 1s);
    // Fresh signatures came from the resolve URL again; the bytes were not fetched twice.
    CHECK(resolves >= 2);
    CHECK(stats.body_bytes_sent <= shard.size + shard.size / 20);
}

TEST_CASE("hf download: a blob another process is writing (its lock held) is waited for, then linked, not fetched") {
    hub_fixture f;
    const auto& shard = *f.commit("acme/tiny").files.at("model.safetensors");
    hub_repo_id repo{hub_repo_type::model, "acme/tiny"};
    hub_cache cache(f.cache);
    REQUIRE_FALSE(cache.prepare_repo(repo));
    auto held = blob_lock::try_acquire(cache.lock_path(repo, shard.sha256));
    REQUIRE(held.has_value());
    REQUIRE(held->has_value());

    auto args = f.download({"acme/tiny", "model.safetensors", "README.md"});
    args.insert(args.begin(), FERRY_BINARY);
    test::child_process child(args, f.logs / "waiting.out", f.logs / "waiting.err");
    auto give_up = std::chrono::steady_clock::now() + 30s;
    while (test::slurp(f.logs / "waiting.err").find("waiting for another process") == std::string::npos &&
           child.running() && std::chrono::steady_clock::now() < give_up)
        child.wait_for(50ms);
    REQUIRE_MESSAGE(child.running(), test::slurp(f.logs / "waiting.err"));
    // "The other process" finishes the blob and lets go of its lock.
    test::spit(cache.blob_path(repo, shard.sha256), f.bytes_of("acme/tiny", "model.safetensors"));
    held->reset();
    auto status = child.wait_for(60s);
    REQUIRE(status.has_value());
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
    CHECK(f.cdn_requests(f.server.stats(), shard.sha256) == 0);
    auto snapshot = f.repo_dir("acme/tiny") / "snapshots" / f.commit("acme/tiny").sha;
    CHECK(sha256_of_file(snapshot / "model.safetensors") == parse_sha256_hex(shard.sha256));
    CHECK(file_text(snapshot / "README.md") == "# tiny\n");
}

TEST_CASE("hf download: a hostile listing is refused in one line and nothing lands outside the cache") {
    // Each repo's listing carries one bad entry beside a good file.
    struct hostile {
        std::string repo, entry, words;
    };
    const std::string lfs = R"("lfs": {"oid": ")" + std::string(64, 'a') + R"(", "size": 3, "pointerSize": 130})";
    std::vector<hostile> cases = {
        {"acme/dotdot", R"({"type": "file", "path": "../../escape", "size": 3, "oid": ")" + std::string(40, '1') + "\"}",
         "unsafe path"},
        {"acme/absolute", R"({"type": "file", "path": "/etc/passwd", "size": 3, "oid": ")" + std::string(40, '1') + "\"}",
         "unsafe path"},
        {"acme/badoid", R"({"type": "file", "path": "x.bin", "size": 3, "oid": "not-a-sha"})", "git sha1"},
        {"acme/badsize", R"({"type": "file", "path": "y.bin", "size": 4, "oid": ")" + std::string(40, '1') + "\", " + lfs + "}",
         "size"},
    };
    auto catalog = test_catalog();
    for (auto& c : cases) {
        auto& repo = catalog->add_repo(c.repo);
        repo.extra_tree_entries = {c.entry};
        catalog->add_commit(repo, {origin::hub_file_spec::inline_text("ok.txt", "ok\n")}, {"main"});
    }
    hub_fixture f(catalog);
    auto outside = f.tmp / "escape";
    for (auto& c : cases) {
        CAPTURE(c.repo);
        auto r = f.ferry(f.download({c.repo}));
        CHECK(r.status == 1);
        CHECK(test::lines_of(r.err).size() == 1);
        CHECK(r.err.find(c.words) != std::string::npos);
        CHECK_FALSE(fs::exists(f.repo_dir(c.repo) / "refs" / "main")); // nothing claims a snapshot
    }
    CHECK_FALSE(fs::exists(outside));
    CHECK_FALSE(fs::exists(f.cache / "escape"));
}

TEST_CASE("hf download: bytes that disagree with the listing never get a final name; a symlink in the way is refused") {
    hub_fixture f;
    // The CDN serves other bytes (same size) than the listing's sha256 names.
    const auto& shard = *f.commit("acme/tiny").files.at("model.safetensors");
    origin::fault other_bytes;
    other_bytes.version = 1;
    f.server.add_fault("/cdn-lfs/" + shard.sha256, other_bytes);
    auto wrong = f.ferry(f.download({"acme/tiny", "model.safetensors", "--retries", "0"}));
    CHECK(wrong.status == 1);
    CHECK(wrong.err.find("sha256 mismatch") != std::string::npos);
    auto snapshot = f.repo_dir("acme/tiny") / "snapshots" / f.commit("acme/tiny").sha;
    CHECK_FALSE(fs::exists(f.repo_dir("acme/tiny") / "blobs" / shard.sha256));
    CHECK_FALSE(fs::exists(snapshot / "model.safetensors"));
    f.server.clear_faults();

    // A symlink planted where a snapshot directory goes: the link is refused, nothing is
    // written through it.
    REQUIRE(f.ferry(f.download({"acme/tiny", "README.md"})).status == 0);
    auto elsewhere = f.tmp / "elsewhere";
    fs::create_directories(elsewhere);
    fs::create_directory_symlink(elsewhere, snapshot / "sub");
    auto r = f.ferry(f.download({"acme/tiny", "sub/dir/weights.bin"}));
    CHECK(r.status == 1);
    CHECK(r.err.find("sub") != std::string::npos);
    CHECK(fs::is_empty(elsewhere));
}
