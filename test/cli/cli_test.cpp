// The ferry binary end to end (FERRY_BINARY), against an in-process HTTPS origin: exit statuses,
// what lands on disk, what is printed, and what the origin saw.
#include "cli/child_process.hpp"
#include "scoped_env.hpp"

#include "memory/resume_journal.hpp"
#include "memory/sha256.hpp"
#include "tools/origin/origin_server.hpp"
#include "tools/origin/synthetic.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace ferry;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using test::run_result;

namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * 1024;

/// An origin on 127.0.0.1, a scratch directory (out/ for downloads, logs/ for captured output),
/// and a way to run `ferry` against them.
struct cli_fixture {
    test::scratch_dir tmp{"ferry-cli-test"};
    fs::path out = tmp / "out";
    fs::path logs = tmp / "logs";
    fs::path ca = tmp / "ca.pem";
    origin::origin_server server;

    cli_fixture() {
        fs::create_directories(out);
        fs::create_directories(logs);
        server.start();
        server.write_ca(ca);
    }
    ~cli_fixture() { server.stop(); }

    /// Serves `size` synthetic bytes at /NAME and returns its URL (by IP: nothing but 127.0.0.1).
    std::string add(const std::string& name, std::uint64_t size) {
        server.add_synthetic(name, size);
        return server.ip_url(name);
    }
    std::string url(const std::string& name) const { return server.ip_url(name); }

    run_result ferry(std::vector<std::string> args, std::chrono::seconds timeout = 60s, const fs::path& cwd = {}) {
        args.insert(args.begin(), FERRY_BINARY);
        auto r = test::run_program(args, logs, timeout, cwd);
        INFO("ferry stderr: " << r.err);
        REQUIRE_MESSAGE(r.status != -1, "ferry did not finish within " << timeout.count() << " s");
        server.wait_connections_closed(5s); // its last writes counted
        return r;
    }

    bool matches(const fs::path& file, const std::string& name, std::uint64_t size) const {
        auto digest = sha256_of_file(file);
        return digest && *digest == origin::synthetic_sha256(name, size, server.config().seed);
    }
    std::string hex(const std::string& name, std::uint64_t size) const {
        return to_hex(origin::synthetic_sha256(name, size, server.config().seed));
    }
};

bool leftovers(const fs::path& file) {
    return fs::exists(fs::path(file.string() + ".part")) || fs::exists(fs::path(file.string() + ".part.journal"));
}

std::size_t count_lines_with(const std::string& text, std::initializer_list<std::string> needles) {
    std::size_t n = 0;
    for (auto& line : test::lines_of(text))
        if (std::all_of(needles.begin(), needles.end(), [&](auto& s) { return line.find(s) != std::string::npos; }))
            ++n;
    return n;
}

std::uint64_t done_bytes(const journal_record& j) {
    std::uint64_t n = 0;
    for (auto& r : j.done)
        n += r.end - r.begin;
    return n;
}

} // namespace

TEST_CASE("ferry get URL downloads one verified file into the current directory") {
    cli_fixture f;
    const std::uint64_t size = 3 * MiB + 123;
    auto url = f.add("model.bin", size);
    auto r = f.ferry({"get", "--ca-cert", f.ca.string(), url}, 60s, f.out);
    CHECK_MESSAGE(r.status == 0, r.err);
    CHECK(f.matches(f.out / "model.bin", "model.bin", size));
    CHECK_FALSE(leftovers(f.out / "model.bin"));
    CHECK(f.server.stats().requests >= 1);
}

TEST_CASE("-o names the file and -d the directory, created when missing") {
    cli_fixture f;
    const std::uint64_t size = 2 * MiB + 7;
    auto url = f.add("weights.bin", size);
    auto dir = f.out / "nested" / "dir";
    auto r = f.ferry({"get", "--ca-cert", f.ca.string(), "-d", dir.string(), "-o", "renamed.bin", url});
    CHECK_MESSAGE(r.status == 0, r.err);
    CHECK(f.matches(dir / "renamed.bin", "weights.bin", size));
    CHECK_FALSE(fs::exists(dir / "weights.bin"));
    CHECK_FALSE(leftovers(dir / "renamed.bin"));
}

TEST_CASE("-i reads a URL list with comments") {
    cli_fixture f;
    std::string list = "# models\n" + f.add("a.bin", 100 * KiB) + "\n\n  " + f.add("b.bin", 1) + "  \n" +
                       "# " + f.add("skipped.bin", 10) + "\n" + f.add("c.bin", 1 * MiB + 1) + "\n";
    test::spit(f.tmp / "list.txt", list);
    auto r = f.ferry({"get", "--ca-cert", f.ca.string(), "-d", f.out.string(), "-j", "3", "-i",
                      (f.tmp / "list.txt").string()});
    CHECK_MESSAGE(r.status == 0, r.err);
    CHECK(f.matches(f.out / "a.bin", "a.bin", 100 * KiB));
    CHECK(f.matches(f.out / "b.bin", "b.bin", 1));
    CHECK(f.matches(f.out / "c.bin", "c.bin", 1 * MiB + 1));
    CHECK_FALSE(fs::exists(f.out / "skipped.bin"));
}

TEST_CASE("a URL list run again fetches nothing: one conditional HEAD per file, 304, 0 body bytes") {
    cli_fixture f;
    std::string list;
    for (int i = 0; i < 30; ++i)
        list += f.add("list/" + std::to_string(i) + ".bin", 128 * KiB) + "\n";
    test::spit(f.tmp / "list.txt", list);
    std::vector<std::string> args{"get", "-q", "--proxy", "", "--ca-cert", f.ca.string(), "-d", f.out.string(),
                                  "-i", (f.tmp / "list.txt").string()};
    auto first = f.ferry(args);
    REQUIRE_MESSAGE(first.status == 0, first.err);
    CHECK(f.server.stats().body_bytes_sent >= 30 * 128 * KiB);
    f.server.reset_stats();
    auto again = f.ferry(args);
    CHECK_MESSAGE(again.status == 0, again.err);
    auto stats = f.server.stats();
    CHECK(stats.body_bytes_sent == 0);
    CHECK(stats.requests == 30);
    for (const auto& q : stats.log) {
        CHECK(q.method == "HEAD");
        CHECK(q.status == 304);
    }
    for (int i = 0; i < 30; ++i)
        CHECK(f.matches(f.out / (std::to_string(i) + ".bin"), "list/" + std::to_string(i) + ".bin", 128 * KiB));
}

TEST_CASE("--checksum: the right digest passes; a wrong one fails with one line and no file") {
    cli_fixture f;
    const std::uint64_t size = 1 * MiB + 3;
    auto url = f.add("checked.bin", size);

    SUBCASE("right") {
        auto r = f.ferry({"get", "--ca-cert", f.ca.string(), "-d", f.out.string(), "--checksum",
                          "sha256:" + f.hex("checked.bin", size), url});
        CHECK_MESSAGE(r.status == 0, r.err);
        CHECK(f.matches(f.out / "checked.bin", "checked.bin", size));
    }
    SUBCASE("wrong") {
        auto r = f.ferry({"get", "--ca-cert", f.ca.string(), "-d", f.out.string(), "--checksum",
                          "sha256:" + f.hex("something-else", size), url});
        CHECK(r.status == 1);
        INFO("stderr: " << r.err);
        CHECK(count_lines_with(r.err, {"sha256 mismatch"}) == 1);
        CHECK(count_lines_with(r.err, {"sha256 mismatch", url}) == 1);
        CHECK_FALSE(fs::exists(f.out / "checked.bin"));
    }
    SUBCASE("malformed") {
        auto r = f.ferry({"get", "--ca-cert", f.ca.string(), "-d", f.out.string(), "--checksum", "sha256:abc", url});
        CHECK(r.status == 2);
        CHECK(f.server.stats().requests == 0);
    }
}

TEST_CASE("usage errors exit 2 before any request") {
    cli_fixture f;
    auto url = f.add("x.bin", 1000);
    auto a = f.url("a.bin"), b = f.url("b.bin");
    const std::vector<std::vector<std::string>> cases = {
        {"get", "--bogus-option", url},
        {"get", "--limit-rate", "fast", url},
        {"get", "--limit-rate", "12Q", url},
        {"get", "-x", "0", url},
        {"get", "-j", "many", url},
        {"get", "-o", "one.bin", a, b},
        {"get", "--progress", "loud", url},
        {"get"},
        {"get", "--dir"},
        {"frobnicate"},
    };
    for (auto& args : cases) {
        std::string shown;
        for (auto& s : args)
            shown += s + " ";
        CAPTURE(shown);
        auto r = f.ferry(args);
        CHECK(r.status == 2);
        CHECK_FALSE(r.err.empty());
    }
    CHECK(f.server.stats().connections_accepted == 0);
    CHECK(fs::is_empty(f.out));
}

TEST_CASE("a 404 fails with the status named on one line") {
    cli_fixture f;
    auto good = f.add("present.bin", 64 * KiB);
    auto missing = f.url("missing.bin");
    auto r = f.ferry({"get", "--ca-cert", f.ca.string(), "-d", f.out.string(), good, missing});
    CHECK(r.status == 1);
    INFO("stderr: " << r.err);
    CHECK(count_lines_with(r.err, {missing, "404"}) == 1);
    CHECK(count_lines_with(r.err, {good}) == 0);
    // The other file is unharmed, the missing one left nothing behind.
    CHECK(f.matches(f.out / "present.bin", "present.bin", 64 * KiB));
    CHECK_FALSE(fs::exists(f.out / "missing.bin"));
    // 404 fails fast: no retries.
    std::size_t asked = 0;
    for (auto& rec : f.server.stats().log)
        asked += rec.path == "/missing.bin";
    CHECK(asked == 1);
}

TEST_CASE("an untrusted certificate is refused without --ca-cert") {
    cli_fixture f;
    auto url = f.add("secret.bin", 100 * KiB);
    auto r = f.ferry({"get", "-d", f.out.string(), url});
    CHECK(r.status == 1);
    INFO("stderr: " << r.err);
    CHECK(count_lines_with(r.err, {url, "certificate verify failed"}) == 1);
    CHECK_FALSE(fs::exists(f.out / "secret.bin"));
    CHECK(f.server.stats().requests == 0); // nothing was asked over the untrusted connection
}

namespace {

/// The name OpenSSL looks a CA up by in a hashed directory: its subject hash, then ".0".
std::string hashed_name(const fs::path& pem) {
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(pem.c_str(), "r"), &std::fclose);
    REQUIRE(file);
    std::unique_ptr<X509, void (*)(X509*)> cert(PEM_read_X509(file.get(), nullptr, nullptr, nullptr), &X509_free);
    REQUIRE(cert);
    char name[32];
    std::snprintf(name, sizeof name, "%08lx.0", X509_subject_name_hash(cert.get()));
    return name;
}

} // namespace

TEST_CASE("the system store is trusted: a hashed CA directory or a bundle file, as OpenSSL names them") {
    cli_fixture f;
    auto url = f.add("trusted.bin", 200 * KiB);
    SUBCASE("SSL_CERT_DIR with hash links (read lazily, as Debian's /etc/ssl/certs)") {
        auto dir = f.tmp / "certs";
        fs::create_directories(dir);
        fs::copy_file(f.ca, dir / hashed_name(f.ca));
        test::scoped_env env("SSL_CERT_DIR", dir.string());
        auto r = f.ferry({"get", "-d", f.out.string(), "--progress", "none", url});
        CHECK(r.status == 0);
    }
    SUBCASE("SSL_CERT_FILE, with a directory that has no hash links") {
        auto dir = f.tmp / "empty-certs";
        fs::create_directories(dir);
        test::scoped_env dir_env("SSL_CERT_DIR", dir.string());
        test::scoped_env file_env("SSL_CERT_FILE", f.ca.string());
        auto r = f.ferry({"get", "-d", f.out.string(), "--progress", "none", url});
        CHECK(r.status == 0);
    }
    CHECK(f.matches(f.out / "trusted.bin", "trusted.bin", 200 * KiB));
    CHECK(f.server.stats().requests == 1);
}

TEST_CASE("--progress jsonl prints only JSON lines: events and a final summary") {
    cli_fixture f;
    std::map<std::string, std::uint64_t> files = {{"one.bin", 300 * KiB + 1}, {"two.bin", 2 * MiB}};
    std::vector<std::string> args = {"get", "--ca-cert", f.ca.string(), "-d", f.out.string(), "--progress", "jsonl"};
    std::uint64_t total = 0;
    for (auto& [name, size] : files) {
        args.push_back(f.add(name, size));
        total += size;
    }
    auto r = f.ferry(args);
    CHECK_MESSAGE(r.status == 0, r.err);

    auto lines = test::lines_of(r.out);
    REQUIRE(!lines.empty());
    CHECK(r.out.back() == '\n');
    std::set<std::string> started, completed;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        CAPTURE(lines[i]);
        boost::system::error_code ec;
        auto value = boost::json::parse(lines[i], ec);
        REQUIRE_FALSE(ec);
        REQUIRE(value.is_object());
        auto& o = value.as_object();
        REQUIRE(o.contains("type"));
        auto type = o.at("type").as_string();
        CHECK((type == "event" || type == "progress" || type == "summary"));
        if (type == "event") {
            auto what = o.at("event").as_string();
            std::string file(o.at("file").as_string());
            if (what == "started")
                started.insert(file);
            if (what == "completed") {
                completed.insert(file);
                CHECK(o.at("bytes").to_number<std::uint64_t>() == files.at(file));
                CHECK(o.at("total").to_number<std::uint64_t>() == files.at(file));
            }
        }
        if (type == "summary") {
            CHECK(i + 1 == lines.size()); // the summary comes last
            CHECK(o.at("files").to_number<int>() == 2);
            CHECK(o.at("done").to_number<int>() == 2);
            CHECK(o.at("failed").to_number<int>() == 0);
            CHECK(o.at("bytes").to_number<std::uint64_t>() == total);
            CHECK(o.at("interrupted").as_bool() == false);
        }
    }
    CHECK(started == std::set<std::string>{"one.bin", "two.bin"});
    CHECK(completed == std::set<std::string>{"one.bin", "two.bin"});
    CHECK(test::lines_of(r.out).back().find(R"("type":"summary")") != std::string::npos);
}

TEST_CASE("--stats FILE writes JSON with a files array") {
    cli_fixture f;
    auto stats_file = f.tmp / "stats.json";
    auto ok = f.add("ok.bin", 500 * KiB);
    auto missing = f.url("gone.bin");
    auto r = f.ferry({"get", "--ca-cert", f.ca.string(), "-d", f.out.string(), "--stats", stats_file.string(), ok,
                      missing});
    CHECK(r.status == 1);
    REQUIRE(fs::exists(stats_file));
    boost::system::error_code ec;
    auto value = boost::json::parse(test::slurp(stats_file), ec);
    REQUIRE_FALSE(ec);
    REQUIRE(value.is_object());
    auto& o = value.as_object();
    REQUIRE(o.contains("files"));
    REQUIRE(o.at("files").is_array());
    auto& list = o.at("files").as_array();
    REQUIRE(list.size() == 2);
    std::map<std::string, std::string> outcome;
    for (auto& v : list) {
        auto& fo = v.as_object();
        outcome[std::string(fo.at("url").as_string())] = std::string(fo.at("outcome").as_string());
    }
    CHECK(outcome[ok] == "done");
    CHECK(outcome[missing] == "failed");
    REQUIRE(o.contains("summary"));
    CHECK(o.at("summary").as_object().at("done").to_number<int>() == 1);
    CHECK(o.at("summary").as_object().at("failed").to_number<int>() == 1);
}

TEST_CASE("--profile: its settings unless a flag says otherwise; an unknown name is refused") {
    cli_fixture f;
    auto url = f.add("profiled.bin", 3 * MiB);
    auto bad = f.ferry({"get", "--profile", "fast", "-d", f.out.string(), url});
    CHECK(bad.status == 2);
    CHECK(bad.err.find("--profile takes balanced, speed, memory or background, not 'fast'") != std::string::npos);
    CHECK_FALSE(fs::exists(f.out / "profiled.bin"));

    auto stats_of = [&](std::vector<std::string> flags) {
        auto stats_file = f.tmp / "stats.json";
        fs::remove(f.out / "profiled.bin");
        std::vector<std::string> args{"get", "-q", "--ca-cert", f.ca.string(), "-d", f.out.string(), "--stats",
                                      stats_file.string()};
        args.insert(args.end(), flags.begin(), flags.end());
        args.push_back(url);
        auto r = f.ferry(args);
        CHECK_MESSAGE(r.status == 0, r.err);
        CHECK(f.matches(f.out / "profiled.bin", "profiled.bin", 3 * MiB));
        return boost::json::parse(test::slurp(stats_file)).as_object();
    };
    // memory: a 32 MiB budget, a sixteenth per allowed connection each (64 of them) — unless
    // --max-memory says how much.
    CHECK(stats_of({"--profile", "memory"}).at("buffer_size").to_number<std::uint64_t>() == 32 * KiB);
    CHECK(stats_of({"--max-memory", "64M", "--profile", "memory"}).at("buffer_size").to_number<std::uint64_t>() ==
          64 * KiB);
    // speed: room for 128 connections (8 KiB each of the same budget).
    CHECK(stats_of({"--profile", "speed", "--max-memory", "16M"}).at("buffer_size").to_number<std::uint64_t>() ==
          8 * KiB);
    // background: the pace that yields to other traffic, with what it measured; balanced has none.
    auto background = stats_of({"--profile", "background"});
    REQUIRE(background.contains("yielding"));
    CHECK(background.at("yielding").at("base_delay_ms").to_number<double>() > 0);
    CHECK(background.at("limit_rate").to_number<std::uint64_t>() > 0);
    CHECK_FALSE(stats_of({"--profile", "balanced"}).contains("yielding"));
}

TEST_CASE("a manifest of two models lands each file under its model's directory") {
    cli_fixture f;
    struct entry {
        std::string served;
        std::uint64_t size;
    };
    const entry config{"alpha/config.json", 1523}, shard{"alpha/weights/model-00001-of-00001.safetensors", 6 * MiB + 1},
        tokenizer{"mirror/beta-tokenizer.json", 300 * KiB + 77};
    for (auto& e : {config, shard, tokenizer})
        f.server.add_synthetic(e.served, e.size);

    boost::json::object alpha{
        {"id", "alpha"},
        {"base_url", f.url("alpha/")},
        {"files", boost::json::array{
                      boost::json::object{{"path", "config.json"}, {"size", config.size},
                                          {"sha256", f.hex(config.served, config.size)}},
                      boost::json::object{{"path", "weights/model-00001-of-00001.safetensors"}, {"size", shard.size},
                                          {"sha256", f.hex(shard.served, shard.size)}}}}};
    boost::json::object beta{
        {"id", "beta"},
        {"priority", "high"},
        {"dir", "custom/beta"},
        {"files", boost::json::array{boost::json::object{{"path", "tokenizer.json"},
                                                         {"size", tokenizer.size},
                                                         {"sha256", f.hex(tokenizer.served, tokenizer.size)},
                                                         {"urls", boost::json::array{f.url(tokenizer.served)}}}}}};
    auto manifest = f.tmp / "models.json";
    test::spit(manifest, boost::json::serialize(boost::json::object{{"models", boost::json::array{alpha, beta}}}));

    auto r = f.ferry({"get", "--ca-cert", f.ca.string(), "-d", f.out.string(), "-i", manifest.string()});
    CHECK_MESSAGE(r.status == 0, r.err);
    CHECK(f.matches(f.out / "alpha" / "config.json", config.served, config.size));
    CHECK(f.matches(f.out / "alpha" / "weights" / "model-00001-of-00001.safetensors", shard.served, shard.size));
    CHECK(f.matches(f.out / "custom" / "beta" / "tokenizer.json", tokenizer.served, tokenizer.size));
    CHECK_FALSE(fs::exists(f.out / "beta"));

    // The same command again: everything is complete already, nothing is fetched.
    auto before = f.server.stats().body_bytes_sent;
    auto again = f.ferry({"get", "--ca-cert", f.ca.string(), "-d", f.out.string(), "-i", manifest.string()});
    CHECK_MESSAGE(again.status == 0, again.err);
    CHECK(f.server.stats().body_bytes_sent == before);
}

TEST_CASE("a manifest with '..' in a path is refused before anything is downloaded") {
    cli_fixture f;
    f.server.add_synthetic("m/ok.bin", 1000);
    f.server.add_synthetic("escape.bin", 1000);
    const std::string manifest_text = R"({"models":[{"id":"m","base_url":")" + f.url("m/") +
                                      R"(","files":[{"path":"ok.bin","size":1000},)"
                                      R"({"path":"../escape.bin","size":1000}]}]})";
    auto manifest = f.tmp / "bad.json";
    test::spit(manifest, manifest_text);
    auto r = f.ferry({"get", "--ca-cert", f.ca.string(), "-d", f.out.string(), "-i", manifest.string()});
    CHECK(r.status == 2);
    INFO("stderr: " << r.err);
    CHECK(r.err.find("..") != std::string::npos);
    CHECK(r.err.find("escape.bin") != std::string::npos);
    CHECK(f.server.stats().requests == 0);
    CHECK(f.server.stats().connections_accepted == 0);
    CHECK(fs::is_empty(f.out));
    CHECK_FALSE(fs::exists(f.tmp / "escape.bin"));
}

TEST_CASE("SIGINT stops a slow download resumably (exit 130); the same command completes it") {
    cli_fixture f;
    const std::uint64_t size = 32 * MiB;
    auto url = f.add("slow.bin", size);
    origin::fault slow;
    slow.rate = 1 * MiB;
    f.server.add_fault("/slow.bin", slow);
    auto part = f.out / "slow.bin.part";
    auto journal = journal_path(part);
    const std::vector<std::string> argv = {FERRY_BINARY, "get", "--ca-cert", f.ca.string(), "-d", f.out.string(),
                                           "-x", "4", url};

    std::uint64_t done_at_interrupt = 0;
    {
        test::child_process child(argv, f.logs / "first.out", f.logs / "first.err");
        // Wait (bounded) for the journal to record some progress.
        auto deadline = std::chrono::steady_clock::now() + 30s;
        std::optional<journal_record> j;
        while (std::chrono::steady_clock::now() < deadline && child.running()) {
            j = read_journal(journal);
            if (j && done_bytes(*j) >= 1 * MiB)
                break;
            std::this_thread::sleep_for(20ms);
        }
        REQUIRE_MESSAGE(j.has_value(), "no journal appeared; stderr: " << test::slurp(f.logs / "first.err"));
        REQUIRE(child.running());
        child.signal(SIGINT);
        auto status = child.wait_for(20s);
        REQUIRE_MESSAGE(status.has_value(), "ferry did not stop within 20 s of SIGINT");
        INFO("stderr: " << test::slurp(f.logs / "first.err"));
        CHECK(test::shell_status(*status) == 130);
    }
    CHECK_FALSE(fs::exists(f.out / "slow.bin"));
    REQUIRE(fs::exists(part));
    auto j = read_journal(journal);
    REQUIRE(j.has_value());
    done_at_interrupt = done_bytes(*j);
    CHECK(done_at_interrupt >= 1 * MiB);
    CHECK(done_at_interrupt < size);
    CHECK(j->size == size);

    // The server is fast again; the same command resumes and fetches only what was missing.
    f.server.clear_faults();
    f.server.reset_stats();
    auto r = test::run_program(argv, f.logs, 60s);
    CHECK_MESSAGE(r.status == 0, r.err);
    CHECK(f.matches(f.out / "slow.bin", "slow.bin", size));
    CHECK_FALSE(leftovers(f.out / "slow.bin"));
    auto missing = size - done_at_interrupt;
    auto sent = f.server.stats().body_bytes_sent;
    MESSAGE("SIGINT at " << done_at_interrupt << " of " << size << " bytes; rerun sent " << sent << " for "
                         << missing << " missing, in " << r.seconds << " s");
    CHECK(sent >= missing);
    CHECK(sent <= missing + 4 * 2 * MiB);
}

TEST_CASE("ferry demo downloads and verifies its model") {
    cli_fixture f;
    auto demo = f.tmp / "demo";
    auto r = f.ferry({"demo", "--dir", demo.string()}, 150s);
    CHECK_MESSAGE(r.status == 0, r.err);
    std::size_t files = 0;
    for (auto& e : fs::recursive_directory_iterator(demo)) {
        if (!e.is_regular_file())
            continue;
        ++files;
        CHECK_MESSAGE(e.path().extension() != ".part", e.path());
        CHECK_MESSAGE(e.path().extension() != ".journal", e.path());
    }
    CHECK(files == 8);
    CHECK(fs::file_size(demo / "t2v-mini" / "config.json") == 1523);
    CHECK(count_lines_with(r.err, {"sha256 verified"}) == 8);
}

TEST_CASE("more files and connections than descriptors allow: fitted to the limit, every file completes") {
    cli_fixture f;
    origin::fault slow;
    slow.rate = 64 * KiB; // each file takes a while: many are in flight at once
    f.server.add_fault("/many/*", slow);
    std::string list;
    const int files = 300;
    auto name = [](int i) {
        std::string n = "f";
        n += std::to_string(i);
        n += ".bin";
        return n;
    };
    for (int i = 0; i < files; ++i)
        list += f.add("many/" + name(i), 8 * KiB) + "\n";
    test::spit(f.tmp / "list.txt", list);
    // A hard limit of 400 descriptors: 300 files (1 each) and 300 connections do not fit.
    std::string command = "ulimit -Sn 400 && ulimit -Hn 400 && exec " + std::string(FERRY_BINARY) + " get --ca-cert " + f.ca.string() +
                          " -d " + f.out.string() + " -j 300 --max-connections 300 -i " +
                          (f.tmp / "list.txt").string();
    auto r = test::run_program({"/bin/sh", "-c", command}, f.logs, 120s);
    INFO(r.err);
    CHECK(r.status == 0);
    CHECK(r.err.find("ferry: 400 open files allowed (ulimit -n): at most 168 files and 168 connections at once") !=
          std::string::npos);
    int complete = 0;
    for (int i = 0; i < files; ++i)
        complete += f.matches(f.out / name(i), "many/" + name(i), 8 * KiB);
    CHECK(complete == files);
    CHECK(f.server.stats().peak_connections_open <= 168);
    CHECK(r.err.find("Too many open files") == std::string::npos);
}
