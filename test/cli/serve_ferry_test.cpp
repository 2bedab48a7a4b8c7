// `ferry serve`'s own methods end to end: the real binary as a daemon, driven over ferry.* JSON-RPC
// (HTTP POST and WebSocket) against an in-process HTTPS origin (and its fake Hugging Face Hub),
// asserting the files on disk and what the origin saw.
#include "cli/child_process.hpp"
#include "cli/serve_harness.hpp"

#include "memory/hub_cache.hpp"
#include "memory/sha256.hpp"
#include "scoped_env.hpp"
#include "tools/origin/fault_spec.hpp"
#include "tools/origin/hub_catalog.hpp"
#include "tools/origin/origin_server.hpp"
#include "tools/origin/synthetic.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace ferry;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;
constexpr std::uint64_t seed = 9;
constexpr const char* secret = "s3cret";

origin::origin_config origin_with(std::shared_ptr<origin::hub_catalog> hub) {
    origin::origin_config c;
    c.seed = seed;
    c.hub = std::move(hub);
    return c;
}

/// An origin (with a fake Hub when given one), a scratch directory, a daemon whose Hugging Face
/// settings point at that Hub, and a JSON-RPC client.
struct ferry_fixture : test::rpc_client {
    test::scratch_dir tmp{"ferry-serve-ferry-test"};
    fs::path dl = tmp / "dl";
    fs::path cache = tmp / "hf-cache";
    fs::path ca = tmp / "ca.pem";
    origin::origin_server server;
    std::optional<test::scoped_env> endpoint, hub_cache_env, no_token, no_home, no_offline;
    std::unique_ptr<test::serve_process> daemon;

    explicit ferry_fixture(std::vector<std::string> extra = {}, std::shared_ptr<origin::hub_catalog> hub = nullptr)
        : server(origin_with(std::move(hub))) {
        server.start();
        server.write_ca(ca);
        // The daemon inherits these: the Hub API on localhost, its CDN on 127.0.0.1.
        endpoint.emplace("HF_ENDPOINT", "https://localhost:" + std::to_string(server.port()));
        hub_cache_env.emplace("HF_HUB_CACHE", cache.string());
        no_token.emplace("HF_TOKEN", "");
        no_home.emplace("HF_HOME", (tmp / "hf-home").string());
        no_offline.emplace("HF_HUB_OFFLINE", "");
        std::vector<std::string> args{"--rpc-secret", secret, "-d", dl.string(), "--ca-cert", ca.string()};
        args.insert(args.end(), extra.begin(), extra.end());
        daemon = std::make_unique<test::serve_process>(tmp.path(), args);
        connect(daemon->port(), secret);
    }
    ~ferry_fixture() {
        close();
        daemon.reset();
        server.stop();
    }

    /// A synthetic file on the origin, as a manifest file entry (size, sha256, its URL).
    json::object file(const std::string& name, std::uint64_t size) {
        server.add_synthetic(name, size);
        return json::object{{"path", name},
                            {"size", size},
                            {"sha256", to_hex(origin::synthetic_sha256(name, size, seed))},
                            {"urls", json::array{json::string(server.ip_url(name))}}};
    }
    bool matches(const fs::path& file, const std::string& name, std::uint64_t size) const {
        auto digest = sha256_of_file(file);
        return digest && *digest == origin::synthetic_sha256(name, size, seed);
    }

    std::string add_model(json::object model, json::object options = {}) {
        json::array p{std::move(model)};
        if (!options.empty())
            p.push_back(std::move(options));
        return std::string(result("ferry.addModel", std::move(p)).as_string());
    }
    json::object wait_model(const std::string& id, std::int64_t timeout_ms) {
        return result("ferry.waitModel", {json::string(id), timeout_ms}).as_object();
    }
    /// Long-polls the model (a quarter second at a time) until `done` says so or a minute passed.
    json::object poll_until(const std::string& id, const std::function<bool(const json::object&)>& done) {
        auto deadline = std::chrono::steady_clock::now() + 60s;
        auto status = wait_model(id, 250);
        while (!done(status) && std::chrono::steady_clock::now() < deadline)
            status = wait_model(id, 250);
        return status;
    }
    /// Where the origin first saw a request for `path` in its log (its sequence), if at all.
    std::optional<std::uint64_t> first_request(const std::string& path) const {
        std::optional<std::uint64_t> first;
        for (auto& r : server.stats().log)
            if (r.path == path && (!first || r.sequence < *first))
                first = r.sequence;
        return first;
    }
};

std::uint64_t number(const json::value& v) { return v.to_number<std::uint64_t>(); }

} // namespace

TEST_CASE("ferry serve: ferry.addModel fetches a 3-file manifest model; waitModel answers complete, files verified") {
    ferry_fixture f;
    const std::map<std::string, std::uint64_t> sizes{
        {"config.json", 1234}, {"model-1.safetensors", 3 * MiB + 7}, {"model-2.safetensors", 2 * MiB}};
    json::array files;
    std::uint64_t total = 0;
    for (auto& [name, size] : sizes) {
        files.push_back(f.file(name, size));
        total += size;
    }
    auto id = f.add_model({{"id", "three"}, {"dir", "models/three"}, {"files", std::move(files)}});
    CHECK(id == "three");

    auto done = f.wait_model(id, 60000);
    INFO(json::serialize(done));
    CHECK(done.at("finished") == true);
    CHECK(done.at("state") == "complete");
    CHECK(number(done.at("files_total")) == 3);
    CHECK(number(done.at("files_done")) == 3);
    CHECK(number(done.at("bytes_done")) == total);
    CHECK(done.at("dir") == json::value((fs::canonical(f.dl) / "models" / "three").string()));
    REQUIRE(done.at("files").as_array().size() == 3);
    for (auto& r : done.at("files").as_array())
        CHECK(r.at("outcome") == "done");
    for (auto& [name, size] : sizes)
        CHECK_MESSAGE(f.matches(f.dl / "models" / "three" / name, name, size), name);

    // What the origin saw: every file asked for, answered with ranges, each byte about once.
    auto seen = f.server.stats();
    for (auto& [name, size] : sizes)
        CHECK_MESSAGE(f.first_request("/" + name).has_value(), name);
    for (auto& [status, count] : seen.statuses)
        CHECK_MESSAGE((status == 200 || status == 206), status);
    CHECK(seen.body_bytes_sent >= total);
    CHECK(seen.body_bytes_sent < total + total / 10);

    // Finished, it still answers; its numbers stay. aria2's lists never show it.
    auto told = f.result("ferry.tellModel", {json::string(id)}).as_object();
    CHECK(told.at("state") == "complete");
    CHECK(told.at("priority") == "normal");
    CHECK(f.result("aria2.tellStopped", {0, 10}).as_array().empty());
    CHECK(f.result("aria2.tellActive").as_array().empty());
    CHECK(f.result("aria2.getGlobalStat").at("numStopped") == "0");
    auto stats = f.result("ferry.stats").as_object();
    REQUIRE(stats.at("models").as_array().size() == 1);
    CHECK(stats.at("models").as_array()[0].at("id") == "three");
    CHECK(number(stats.at("bytes_fetched")) >= total);
    CHECK(stats.at("hosts").as_object().size() == 1);
    auto host = stats.at("hosts").as_object().begin()->value().as_object();
    CHECK(number(host.at("ttfb").at("count")) >= 3);
    CHECK(host.at("ttfb").at("p99").is_double());

    // The same id again is refused.
    CHECK(f.error("ferry.addModel", {json::object{{"id", "three"}, {"files", json::array{f.file("x.bin", 10)}}}})
              .find("already added") != std::string::npos);
}

TEST_CASE("ferry serve: waitModel times out on a throttled model; several files run at once; limits and priorities") {
    ferry_fixture f({"-x", "1"});
    for (auto* name : {"/slow-a.bin", "/slow-b.bin", "/slow-c.bin"})
        f.server.add_fault(name, origin::parse_fault_spec("rate=256K"));
    json::array files{f.file("slow-a.bin", 1 * MiB), f.file("slow-b.bin", 1 * MiB), f.file("slow-c.bin", 1 * MiB)};
    auto id = f.add_model({{"id", "slow"}, {"files", std::move(files)}});

    // The timeout answers with the model still running, and its numbers.
    auto started = std::chrono::steady_clock::now();
    auto early = f.wait_model(id, 300);
    CHECK(std::chrono::steady_clock::now() - started >= 250ms);
    INFO(json::serialize(early));
    CHECK(early.at("finished") == false);
    CHECK(early.at("state") != "complete");
    CHECK(number(early.at("files_total")) == 3);
    CHECK_FALSE(early.contains("files"));

    // A manifest model is not held to one file at a time (aria2's downloads are single files).
    auto all_running = f.poll_until(id, [](const json::object& s) {
        return number(s.at("files_running")) == 3 || s.at("finished") == true;
    });
    CHECK(number(all_running.at("files_running")) == 3);

    // Status calls meanwhile are answered: the long poll does not hold them up.
    CHECK(f.result("ferry.tellModel", {json::string(id)}).at("id") == "slow");
    f.server.clear_faults();
    CHECK(f.wait_model(id, 60000).at("state") == "complete");
    for (auto* name : {"slow-a.bin", "slow-b.bin", "slow-c.bin"})
        CHECK(f.matches(f.dl / "slow" / name, name, 1 * MiB));
}

TEST_CASE("ferry serve: setLimit on a model and on one file holds them back; 0 lifts it") {
    ferry_fixture f;
    SUBCASE("the model's limit, given at addModel and lifted by setLimit") {
        auto id = f.add_model({{"id", "limited"}, {"files", json::array{f.file("limited.bin", 16 * MiB)}}},
                              {{"limit_rate", "256K"}});
        auto held = f.wait_model(id, 1500);
        CHECK(held.at("finished") == false);
        CHECK(number(held.at("limit_rate")) == 256 * 1024);
        // What the daemon read; the origin has sent more, into the sockets' buffers.
        CHECK(number(held.at("bytes_done")) < 2 * MiB);
        CHECK(f.server.stats().body_bytes_sent < 12 * MiB);
        CHECK(f.result("ferry.setLimit", {json::object{{"model", id}, {"rate", 0}}}) == "OK");
        auto done = f.wait_model(id, 60000);
        CHECK(done.at("state") == "complete");
        CHECK(number(done.at("limit_rate")) == 0);
        CHECK(f.matches(f.dl / "limited" / "limited.bin", "limited.bin", 16 * MiB));
    }
    SUBCASE("one file's limit: the other file finishes first") {
        auto id = f.add_model({{"id", "pair"},
                               {"files", json::array{f.file("small.bin", 1 * MiB), f.file("big.bin", 4 * MiB)}}});
        CHECK(f.result("ferry.setLimit", {json::object{{"model", id}, {"file", "big.bin"}, {"rate", "256K"}}}) ==
              "OK");
        auto one_done = f.poll_until(id, [](const json::object& s) { return number(s.at("files_done")) >= 1; });
        CHECK(number(one_done.at("files_done")) == 1);
        CHECK(fs::exists(f.dl / "pair" / "small.bin"));
        CHECK_FALSE(fs::exists(f.dl / "pair" / "big.bin"));
        CHECK(f.result("ferry.setLimit", {json::object{{"model", id}, {"file", "big.bin"}, {"rate", 0}}}) == "OK");
        CHECK(f.wait_model(id, 60000).at("state") == "complete");
        CHECK(f.matches(f.dl / "pair" / "big.bin", "big.bin", 4 * MiB));
    }
    SUBCASE("the overall limit, and what setLimit refuses") {
        CHECK(f.result("ferry.setLimit", {json::object{{"overall", "20M"}}}) == "OK");
        // aria2's view of the same limit follows (the engine holds it).
        CHECK(f.result("aria2.getGlobalOption").at("max-overall-download-limit") == "20971520");
        CHECK(f.result("ferry.setLimit", {json::object{{"overall", 0}}}) == "OK");
        CHECK(f.result("aria2.getGlobalOption").at("max-overall-download-limit") == "0");
        CHECK(f.error("ferry.setLimit", {json::object{{"overall", "fast"}}}).find("setLimit takes") == 0);
        CHECK(f.error("ferry.setLimit", {json::object{{"model", "nope"}, {"rate", 1}}}) == "Model nope is not found");
        auto id = f.add_model({{"id", "one"}, {"files", json::array{f.file("one.bin", 1000)}}});
        CHECK(f.error("ferry.setLimit", {json::object{{"model", id}, {"file", "other.bin"}, {"rate", 1}}}) ==
              "model 'one' fetches no file other.bin");
        CHECK(f.error("ferry.setLimit", {json::array{}}) == "The parameter at 0 has wrong type.");
    }
}

TEST_CASE("ferry serve: setPriority lets a later model start first") {
    ferry_fixture f({"-j", "1", "-x", "1"});
    f.server.add_fault("/first.bin", origin::parse_fault_spec("rate=512K"));
    auto first = f.add_model({{"id", "first"}, {"files", json::array{f.file("first.bin", 1 * MiB)}}});
    auto low = f.add_model({{"id", "low"}, {"files", json::array{f.file("low.bin", 64 * 1024)}}});
    auto high = f.add_model({{"id", "high"}, {"files", json::array{f.file("high.bin", 64 * 1024)}}});
    CHECK(f.result("ferry.setPriority", {json::string(high), "high"}) == "OK");
    CHECK(f.result("ferry.tellModel", {json::string(high)}).at("priority") == "high");
    CHECK(f.error("ferry.setPriority", {json::string(low), "urgent"}) == "priority must be high, normal or low");
    CHECK(f.error("ferry.setPriority", {"nope", "low"}) == "Model nope is not found");
    for (auto* id : {"first", "low", "high"})
        CHECK(f.wait_model(id, 60000).at("state") == "complete");
    auto high_at = f.first_request("/high.bin"), low_at = f.first_request("/low.bin");
    REQUIRE(high_at);
    REQUIRE(low_at);
    CHECK(*high_at < *low_at);
    CHECK(first == "first");
}

TEST_CASE("ferry serve: ferry.* refuses unknown models, dirs outside -d and bad models, in one line") {
    ferry_fixture f;
    CHECK(f.error("ferry.tellModel", {"nope"}) == "Model nope is not found");
    CHECK(f.error("ferry.waitModel", {"nope", 10}) == "Model nope is not found");
    CHECK(f.error("ferry.tellModel") == "The parameter at 0 is required but missing.");
    auto file = f.file("a.bin", 100);

    auto model_in = [&](const char* id, const char* dir) {
        return json::object{{"id", id}, {"dir", dir}, {"files", json::array{file}}};
    };
    auto refused = f.error("ferry.addModel", {model_in("up", "../up")});
    CHECK(refused.find("model 'up': dir '../up'") == 0);
    refused = f.error("ferry.addModel", {model_in("abs", "/tmp")});
    CHECK(refused.find("model 'abs': dir '/tmp'") == 0);
    // A link beneath -d that leads out of it.
    fs::create_directories(f.dl);
    fs::create_directories(f.tmp / "elsewhere");
    fs::create_directory_symlink(f.tmp / "elsewhere", f.dl / "escape");
    refused = f.error("ferry.addModel", {model_in("link", "escape")});
    CHECK(refused.find("is outside the download directory") != std::string::npos);
    CHECK(fs::is_empty(f.tmp / "elsewhere"));

    CHECK(f.error("ferry.addModel", {json::object{{"id", "bad"}, {"files", json::array{}}}}) ==
          "model 'bad': \"files\" must be a non-empty array");
    CHECK(f.error("ferry.addModel", {"not a model"}) == "The parameter at 0 has wrong type.");
    auto unknown = f.error("ferry.addModel", {model_in("o", "o"), json::object{{"speed", 1}}});
    CHECK(unknown.find("unknown option speed") == 0);

    // pause=true: queued and held; nothing is fetched.
    auto id = f.add_model({{"id", "held"}, {"files", json::array{file}}}, {{"pause", true}});
    auto held = f.wait_model(id, 200);
    CHECK(held.at("state") == "paused");
    CHECK(f.error("ferry.waitModel", {json::string(id), -1}).find("timeout_ms must be") == 0);
    CHECK_FALSE(f.first_request("/a.bin").has_value());
}

TEST_CASE("ferry serve: WebSocket clients hear ferry.onModelProgress while a model runs and onModelComplete once") {
    ferry_fixture f({"-x", "1"});
    test::ws_client ws(f.daemon->port());
    f.server.add_fault("/stream.bin", origin::parse_fault_spec("rate=512K"));
    auto started = std::chrono::steady_clock::now();
    auto id = f.add_model({{"id", "streamed"}, {"files", json::array{f.file("stream.bin", 2 * MiB)}}});

    std::size_t progress = 0, complete = 0, other = 0;
    std::uint64_t last_bytes = 0;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (complete == 0 && std::chrono::steady_clock::now() < deadline) {
        auto text = ws.read(5s);
        if (!text)
            continue;
        auto message = json::parse(*text).as_object();
        auto& method = message.at("method").as_string();
        auto& status = message.at("params").as_array().at(0).as_object();
        if (status.at("id") != json::value(id)) {
            ++other;
            continue;
        }
        if (method == "ferry.onModelProgress") {
            ++progress;
            CHECK(number(status.at("bytes_done")) >= last_bytes);
            last_bytes = number(status.at("bytes_done"));
            CHECK(number(status.at("bytes_total")) == 2 * MiB);
            CHECK(status.contains("speed"));
        } else if (method == "ferry.onModelComplete") {
            ++complete;
            CHECK(status.at("state") == "complete");
            CHECK(status.at("finished") == true);
        } else {
            FAIL("unexpected notification " << *text);
        }
    }
    auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    CHECK(complete == 1);
    CHECK(progress >= 2); // about 4 s of transfer
    CHECK(double(progress) <= elapsed + 2); // at most once a second
    CHECK(other == 0);
    // Nothing more about it once it ended.
    CHECK_FALSE(ws.read(1500ms).has_value());

    auto names = f.result("system.listNotifications").as_array();
    for (auto* n : {"aria2.onDownloadStart", "ferry.onModelProgress", "ferry.onModelComplete", "ferry.onModelError"})
        CHECK_MESSAGE(std::find(names.begin(), names.end(), json::value(n)) != names.end(), n);
    auto methods = f.result("system.listMethods").as_array();
    for (auto* n : {"ferry.addModel", "ferry.tellModel", "ferry.waitModel", "ferry.setPriority", "ferry.setLimit",
                    "ferry.stats"})
        CHECK_MESSAGE(std::find(methods.begin(), methods.end(), json::value(n)) != methods.end(), n);
}

TEST_CASE("ferry serve: ferry.addModel of a Hub repo lands in the Hugging Face cache; again, from the cache alone") {
    using origin::hub_file_spec;
    auto hub = std::make_shared<origin::hub_catalog>(seed);
    auto& tiny = hub->add_repo("acme/tiny");
    hub->add_commit(tiny,
                    {hub_file_spec::inline_text("config.json", "{\"model_type\": \"bert\"}\n"),
                     hub_file_spec::synthetic("model.safetensors", 3 * MiB),
                     hub_file_spec::synthetic("extra.bin", 1000)},
                    {"main"});
    ferry_fixture f({}, hub);
    auto id = f.add_model({{"id", "tiny"}, {"hf", "acme/tiny"}, {"exclude", json::array{"*.bin"}}});
    auto done = f.wait_model(id, 60000);
    INFO(json::serialize(done));
    CHECK(done.at("state") == "complete");
    const auto& main = *hub->find(origin::hub_repo_type::model, "acme/tiny")->at("main");
    auto snapshot = f.cache / hub_repo_id{hub_repo_type::model, "acme/tiny"}.folder_name() / "snapshots" / main.sha;
    CHECK(done.at("dir") == json::value(snapshot.string()));
    CHECK(test::slurp(snapshot / "config.json") == "{\"model_type\": \"bert\"}\n");
    CHECK(fs::is_symlink(snapshot / "model.safetensors"));
    CHECK(f.matches(snapshot / "model.safetensors", main.files.at("model.safetensors")->key, 3 * MiB));
    CHECK_FALSE(fs::exists(snapshot / "extra.bin"));
    CHECK((!fs::exists(f.dl) || fs::is_empty(f.dl)));

    // Another id for the same revision: every file is in the cache, nothing is fetched.
    f.server.reset_stats();
    auto again = f.add_model({{"id", "tiny-again"}, {"hf", "acme/tiny"}, {"exclude", json::array{"*.bin"}}});
    auto cached = f.wait_model(again, 0);
    CHECK(cached.at("finished") == true);
    CHECK(cached.at("state") == "complete");
    CHECK(number(cached.at("files_done")) == 2);
    for (auto& r : f.server.stats().log)
        CHECK_MESSAGE(r.path.starts_with("/api/"), r.path);

    auto ghost = f.error("ferry.addModel", {json::object{{"id", "ghost"}, {"hf", "acme/ghost"}}});
    CHECK(ghost.find("model 'ghost': ") == 0);
}
