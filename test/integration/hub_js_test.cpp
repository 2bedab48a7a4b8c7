// @huggingface/hub (the JavaScript client, run by Node) against `ferry origin --hub`, and `ferry hf
// download` against the same fake Hub: both caches must hold the same bytes, and js's own cache
// scanner must read ferry's cache the way it reads its own. The npm packages live in the build tree
// (FERRY_HUB_JS_DIR), installed by the hub_js_setup CTest fixture (test/hub_js/setup.sh).
#include "cli/child_process.hpp"

#include "tools/origin/hub_catalog.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FERRY_HUB_JS_DIR
#error "FERRY_HUB_JS_DIR must name the build tree's hub_js directory (test/CMakeLists.txt)"
#endif

using namespace ferry::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr std::uint64_t seed = 7;

// Nested paths, LFS and regular files, an empty file, two files with the same bytes (one blob),
// and two revisions that differ (main must win).
constexpr const char* hub_spec = R"({
  "repos": [ { "id": "acme/tiny", "revisions": [
    { "refs": ["v1.0"], "files": {
        "README.md": "# tiny\n",
        "config.json": "{\"model_type\": \"bert\"}\n",
        "empty.txt": "",
        "model.safetensors": { "size": "3M" },
        "tokenizer.json": { "text": "{\"vocab\": {\"a\": 0, \"b\": 1}}\n", "lfs": true },
        "sub/dir/x.bin": { "size": "300K" },
        "sub/dir/notes.txt": "nested and regular\n",
        "sub/readme-copy.md": "# tiny\n",
        "old.bin": 1000 } },
    { "refs": ["main"], "from": "v1.0", "remove": ["old.bin"], "files": {
        "config.json": "{\"model_type\": \"bert\", \"v\": 2}\n",
        "copy-of-readme.md": "# tiny\n",
        "sub/dir/x.bin": { "size": "301K" } } } ] } ] })";

/// Sets or unsets an environment variable for a scope (and the children started in it).
class scoped_variable {
public:
    scoped_variable(const char* name, std::optional<std::string> value) : name_(name) {
        if (const char* old = std::getenv(name))
            old_ = old;
        if (value)
            ::setenv(name, value->c_str(), 1);
        else
            ::unsetenv(name);
    }
    ~scoped_variable() {
        if (old_)
            ::setenv(name_, old_->c_str(), 1);
        else
            ::unsetenv(name_);
    }
    scoped_variable(const scoped_variable&) = delete;
    scoped_variable& operator=(const scoped_variable&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

/// `ferry origin --hub` as a child. Its stdout is a FIFO that this process reads, so the line
/// naming the URL is waited for (poll, bounded), not guessed at.
class hub_origin {
public:
    hub_origin(const scratch_dir& dir, const std::string& spec) : ca_(dir / "ca.pem") {
        spit(dir / "hub.json", spec);
        auto fifo = dir / "origin.stdout";
        if (::mkfifo(fifo.c_str(), 0600) != 0)
            throw std::runtime_error("mkfifo failed");
        // Opened for reading first (non-blocking: no writer yet), so the child's open does not block.
        fd_ = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        REQUIRE(fd_ >= 0);
        process_ = std::make_unique<child_process>(
            std::vector<std::string>{FERRY_BINARY, "origin", "--hub", (dir / "hub.json").string(), "--write-ca",
                                     ca_.string(), "--seed", std::to_string(seed)},
            fifo, dir / "origin.stderr");
        std::string line;
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            ::poll(&p, 1, 1000);
            char chunk[512];
            auto n = ::read(fd_, chunk, sizeof chunk);
            if (n > 0)
                line.append(chunk, std::size_t(n));
            else if (n == 0 && !process_->running())
                break;
        }
        // "ferry origin: serving https://localhost:PORT/ (ca: FILE)"
        constexpr std::string_view serving = "ferry origin: serving ";
        auto at = line.find(serving);
        auto end = line.find(" (ca:");
        INFO("origin said: ", line, slurp(dir / "origin.stderr"));
        REQUIRE(at != std::string::npos);
        REQUIRE(end != std::string::npos);
        url_ = line.substr(at + serving.size(), end - at - serving.size());
        while (url_.ends_with('/'))
            url_.pop_back();
    }
    ~hub_origin() {
        process_.reset();
        if (fd_ >= 0)
            ::close(fd_);
    }
    hub_origin(const hub_origin&) = delete;
    hub_origin& operator=(const hub_origin&) = delete;

    const std::string& url() const { return url_; } ///< https://localhost:PORT
    const fs::path& ca() const { return ca_; }

private:
    fs::path ca_;
    int fd_ = -1;
    std::unique_ptr<child_process> process_;
    std::string url_;
};

std::string bytes_of(const ferry::origin::hub_blob& blob) {
    auto bytes = blob.bytes("\"x\"");
    std::string out(bytes.size(), '\0');
    REQUIRE(bytes.read(0, std::as_writable_bytes(std::span<char>(out))));
    return out;
}

std::string last_line(const std::string& text) {
    auto lines = lines_of(text);
    return lines.empty() ? std::string() : lines.back();
}

/// What js's scanCacheDir says of a cache, without what differs between two caches (absolute
/// paths, times): per repo its type/name, size, distinct blobs, and per revision its refs, size
/// and top-level files with their sizes.
struct scan_summary {
    std::size_t warnings = 0;
    std::string warning_text;
    std::string text; ///< a canonical description, compared between caches
};

scan_summary summarize(const json::value& scan) {
    scan_summary out;
    for (const auto& warning : scan.at("warnings").as_array()) {
        ++out.warnings;
        out.warning_text += json::serialize(warning) + "\n";
    }
    std::vector<std::string> repos;
    for (const auto& repo_value : scan.at("repos").as_array()) {
        const auto& repo = repo_value.as_object();
        std::string r = std::string(repo.at("id").at("type").as_string()) + " " +
                        std::string(repo.at("id").at("name").as_string()) +
                        " size=" + json::serialize(repo.at("size")) +
                        " filesCount=" + json::serialize(repo.at("filesCount")) + "\n";
        std::vector<std::string> revisions;
        for (const auto& revision_value : repo.at("revisions").as_array()) {
            const auto& revision = revision_value.as_object();
            std::vector<std::string> refs, files;
            for (const auto& ref : revision.at("refs").as_array())
                refs.emplace_back(ref.as_string());
            for (const auto& file : revision.at("files").as_array())
                files.push_back(fs::path(std::string(file.at("path").as_string())).filename().string() + ":" +
                                json::serialize(file.at("blob").at("size")));
            std::sort(refs.begin(), refs.end());
            std::sort(files.begin(), files.end());
            std::string v = "  " + std::string(revision.at("commitOid").as_string()) +
                            " size=" + json::serialize(revision.at("size")) + " refs=";
            for (auto& ref : refs)
                v += ref + ",";
            v += "\n";
            for (auto& file : files)
                v += "    " + file + "\n";
            revisions.push_back(v);
        }
        std::sort(revisions.begin(), revisions.end());
        for (auto& v : revisions)
            r += v;
        repos.push_back(r);
    }
    std::sort(repos.begin(), repos.end());
    for (auto& r : repos)
        out.text += r;
    return out;
}

struct js_tools {
    std::string node = find_in_path("node");
    fs::path dir = FERRY_HUB_JS_DIR;

    void require_installed() const {
        INFO("Node.js and the npm packages of test/hub_js are needed: `sh tools/install-deps.sh`, then "
             "`ctest -R hub_js_setup` (or run the integration tests through ctest, which installs them first)");
        REQUIRE_FALSE(node.empty());
        REQUIRE(fs::exists(dir / "node_modules" / "@huggingface" / "hub" / "package.json"));
        REQUIRE(fs::exists(dir / "download.mjs"));
        REQUIRE(fs::exists(dir / "scan.mjs"));
    }
    run_result download(const scratch_dir& work, const std::string& hub, const std::string& repo,
                        const std::string& revision, const fs::path& cache) const {
        return run_program({node, (dir / "download.mjs").string(), hub, repo, revision, cache.string()}, work.path(),
                           180s);
    }
    json::value scan(const scratch_dir& work, const fs::path& cache) const {
        auto r = run_program({node, (dir / "scan.mjs").string(), cache.string()}, work.path(), 60s);
        INFO("scan.mjs: ", r.err);
        REQUIRE(r.status == 0);
        boost::system::error_code ec;
        auto value = json::parse(r.out, ec);
        REQUIRE_FALSE(ec);
        return value;
    }
};

/// Every file of `commit` under `snapshot` holds the bytes the Hub serves (nested ones too), and
/// nothing else is there.
void check_snapshot(const fs::path& snapshot, const ferry::origin::hub_commit& commit) {
    REQUIRE(fs::is_directory(snapshot));
    std::set<std::string> found;
    for (auto it = fs::recursive_directory_iterator(snapshot); it != fs::recursive_directory_iterator(); ++it)
        if (!it->is_directory())
            found.insert(it->path().lexically_relative(snapshot).generic_string());
    std::set<std::string> expected;
    for (const auto& [path, blob] : commit.files) {
        expected.insert(path);
        CAPTURE(path);
        CHECK(fs::is_regular_file(snapshot / path)); // follows the link into blobs/
        CHECK(slurp(snapshot / path) == bytes_of(*blob));
    }
    auto listed = [](const std::set<std::string>& paths) {
        std::string out;
        for (const auto& p : paths)
            out += p + " ";
        return out;
    };
    CHECK(listed(found) == listed(expected));
}

} // namespace

TEST_CASE("hub_js: @huggingface/hub's snapshotDownload from the fake Hub; ferry hf download's cache reads the same") {
    js_tools js;
    js.require_installed();
    scratch_dir work("ferry-hub-js");
    hub_origin origin(work, hub_spec);
    auto catalog = ferry::origin::parse_hub_spec(hub_spec, seed);
    const auto* repo = catalog.find(ferry::origin::hub_repo_type::model, "acme/tiny");
    REQUIRE(repo);
    const auto* main = repo->at("main");
    REQUIRE(main);
    const std::string sha = main->sha;

    // Nothing of the machine's own Hugging Face setup leaks in (a token the fake Hub does not know
    // would be refused with 401).
    scoped_variable home("HF_HOME", (work / "hf-home").string());
    scoped_variable token("HF_TOKEN", std::nullopt);
    scoped_variable legacy_token("HUGGING_FACE_HUB_TOKEN", std::nullopt);
    scoped_variable offline("HF_HUB_OFFLINE", std::nullopt);
    scoped_variable hub_cache("HF_HUB_CACHE", std::nullopt);
    scoped_variable extra_ca("NODE_EXTRA_CA_CERTS", origin.ca().string());
    scoped_variable endpoint("HF_ENDPOINT", origin.url());

    // (a) js into cache A.
    const fs::path cache_a = work / "cache-a";
    auto js_run = js.download(work, origin.url(), "acme/tiny", "main", cache_a);
    INFO("download.mjs stdout: ", js_run.out, "\nstderr: ", js_run.err);
    REQUIRE(js_run.status == 0);
    const fs::path snapshot_a = cache_a / "models--acme--tiny" / "snapshots" / sha;
    CHECK(last_line(js_run.out) == snapshot_a.string());
    check_snapshot(snapshot_a, *main);
    CHECK(slurp(cache_a / "models--acme--tiny" / "refs" / "main") == sha);

    auto scan_a = summarize(js.scan(work, cache_a));
    INFO("js scan of A: ", scan_a.text, scan_a.warning_text);
    CHECK(scan_a.warnings == 0);
    CHECK(scan_a.text.find(sha + " size=") != std::string::npos);

    // (b) ferry into cache B, through HF_ENDPOINT (CLI contract: exit 0, the snapshot directory on
    // the last line of stdout).
    const fs::path cache_b = work / "cache-b";
    auto ferry_run = run_program({FERRY_BINARY, "hf", "download", "acme/tiny", "--cache-dir", cache_b.string(),
                                  "--ca-cert", origin.ca().string()},
                                 work.path(), 180s);
    INFO("ferry hf download stdout: ", ferry_run.out, "\nstderr: ", ferry_run.err);
    REQUIRE(ferry_run.status == 0);
    const fs::path snapshot_b = cache_b / "models--acme--tiny" / "snapshots" / sha;
    CHECK(last_line(ferry_run.out) == snapshot_b.string());
    check_snapshot(snapshot_b, *main);

    // js's scanner on ferry's cache: no warnings, and what it sees equals what it sees of its own.
    auto scan_b = summarize(js.scan(work, cache_b));
    INFO("js scan of B: ", scan_b.text, scan_b.warning_text);
    CHECK(scan_b.warnings == 0);
    CHECK(scan_b.text == scan_a.text);

    // Nested files too (js's scan looks at a snapshot's top level only): byte for byte, A = B.
    for (const auto& [path, blob] : main->files) {
        CAPTURE(path);
        CHECK(slurp(snapshot_a / path) == slurp(snapshot_b / path));
    }

    // The older revision, by its tag, into the same caches: blobs shared with main are reused, and
    // both scanners see two revisions with their refs.
    const auto* older = repo->at("v1.0");
    REQUIRE(older);
    auto js_older = js.download(work, origin.url(), "acme/tiny", "v1.0", cache_a);
    INFO("download.mjs v1.0: ", js_older.out, js_older.err);
    REQUIRE(js_older.status == 0);
    auto ferry_older = run_program({FERRY_BINARY, "hf", "download", "acme/tiny", "--revision", "v1.0", "--cache-dir",
                                    cache_b.string(), "--ca-cert", origin.ca().string()},
                                   work.path(), 180s);
    INFO("ferry hf download --revision v1.0: ", ferry_older.out, ferry_older.err);
    REQUIRE(ferry_older.status == 0);
    const fs::path older_a = cache_a / "models--acme--tiny" / "snapshots" / older->sha;
    const fs::path older_b = cache_b / "models--acme--tiny" / "snapshots" / older->sha;
    CHECK(last_line(ferry_older.out) == older_b.string());
    check_snapshot(older_a, *older);
    check_snapshot(older_b, *older);
    CHECK(slurp(cache_b / "models--acme--tiny" / "refs" / "v1.0") == older->sha);
    auto both_a = summarize(js.scan(work, cache_a));
    auto both_b = summarize(js.scan(work, cache_b));
    INFO("js scan of A: ", both_a.text, both_a.warning_text, "\njs scan of B: ", both_b.text, both_b.warning_text);
    CHECK(both_a.warnings == 0);
    CHECK(both_b.warnings == 0);
    CHECK(both_b.text == both_a.text);
    CHECK(both_a.text.find("refs=v1.0,") != std::string::npos);
    CHECK(both_a.text.find("refs=main,") != std::string::npos);
}
