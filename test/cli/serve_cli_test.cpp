// `ferry serve` end to end: the real binary as a daemon, driven over its aria2-compatible JSON-RPC
// (HTTP POST and WebSocket) against an in-process HTTPS origin; /metrics checked by promtool.
#include "cli/child_process.hpp"
#include "cli/serve_harness.hpp"

#include "memory/resume_journal.hpp"
#include "memory/sha256.hpp"
#include "origin/test_client.hpp"
#include "tools/origin/fault_spec.hpp"
#include "tools/origin/origin_server.hpp"
#include "tools/origin/range_header.hpp"
#include "tools/origin/synthetic.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace ferry;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;
constexpr const char* secret = "s3cret";

/// An origin with files, a scratch directory, a daemon and a JSON-RPC client for it.
struct serve_fixture : test::rpc_client {
    test::scratch_dir tmp{"ferry-serve-test"};
    fs::path dl = tmp / "dl";
    fs::path ca = tmp / "ca.pem";
    origin::origin_server server;
    std::unique_ptr<test::serve_process> daemon;

    std::vector<std::string> args;

    explicit serve_fixture(std::vector<std::string> extra = {}) {
        server.start();
        server.write_ca(ca);
        args = {"--rpc-secret", secret, "-d", dl.string(), "--ca-cert", ca.string()};
        args.insert(args.end(), extra.begin(), extra.end());
        start();
    }
    /// Starts the daemon (again) with the same arguments.
    void start() {
        close();
        daemon.reset();
        fs::remove(tmp / "serve.stderr");
        daemon = std::make_unique<test::serve_process>(tmp.path(), args);
        connect(daemon->port(), secret);
    }
    ~serve_fixture() {
        close();
        daemon.reset();
        server.stop();
    }

    std::string add(const std::string& name, std::uint64_t size) {
        server.add_synthetic(name, size);
        return server.ip_url(name);
    }
    bool matches(const fs::path& file, const std::string& name, std::uint64_t size) const {
        auto digest = sha256_of_file(file);
        return digest && *digest == origin::synthetic_sha256(name, size, server.config().seed);
    }
};

} // namespace

TEST_CASE("ferry serve: addUri downloads a verified file; tellStatus, getFiles, tellStopped and WebSocket notifications") {
    serve_fixture f;
    test::ws_client ws(f.daemon->port());
    const std::uint64_t size = 3 * MiB + 11;
    auto url = f.add("model.bin", size);
    auto gid_value = f.result("aria2.addUri", {json::array{json::string(url)}});
    REQUIRE(gid_value.is_string());
    std::string gid(gid_value.as_string());
    CHECK(gid.size() == 16);
    CHECK(gid.find_first_not_of("0123456789abcdef") == std::string::npos);

    CHECK(ws.wait_for("aria2.onDownloadStart", gid));
    REQUIRE(ws.wait_for("aria2.onDownloadComplete", gid));
    CHECK(f.matches(f.dl / "model.bin", "model.bin", size));

    auto status = f.result("aria2.tellStatus", {json::string(gid)}).as_object();
    CHECK(status.at("status") == "complete");
    CHECK(status.at("gid") == json::value(gid));
    CHECK(status.at("totalLength") == json::value(std::to_string(size)));
    CHECK(status.at("completedLength") == json::value(std::to_string(size)));
    CHECK(status.at("dir") == json::value(fs::canonical(f.dl).string()));
    for (auto* key : {"downloadSpeed", "uploadSpeed", "connections", "numPieces", "pieceLength", "uploadLength"})
        CHECK_MESSAGE(status.at(key).is_string(), key); // aria2 writes numbers as strings
    auto files = f.result("aria2.getFiles", {json::string(gid)}).as_array();
    REQUIRE(files.size() == 1);
    CHECK(files[0].at("path") == json::value((fs::canonical(f.dl) / "model.bin").string()));
    CHECK(files[0].at("index") == "1");
    auto uris = f.result("aria2.getUris", {json::string(gid)}).as_array();
    REQUIRE(uris.size() == 1);
    CHECK(uris[0].at("uri") == json::value(url));

    // A unique prefix names it too; the key filter keeps only what was asked.
    auto filtered = f.result("aria2.tellStatus", {json::string(gid.substr(0, 6)), json::array{"gid", "status"}});
    CHECK(filtered.as_object().size() == 2);
    CHECK(filtered.at("gid") == json::value(gid));

    auto stopped = f.result("aria2.tellStopped", {0, 10, json::array{"gid", "status"}}).as_array();
    REQUIRE(stopped.size() == 1);
    CHECK(stopped[0].at("gid") == json::value(gid));
    CHECK(f.result("aria2.tellActive").as_array().empty());
    auto global = f.result("aria2.getGlobalStat").as_object();
    CHECK(global.at("numStopped") == "1");
    CHECK(global.at("numActive") == "0");
    CHECK(global.at("numWaiting") == "0");

    CHECK(f.result("aria2.removeDownloadResult", {json::string(gid)}) == "OK");
    CHECK(f.error("aria2.tellStatus", {json::string(gid)}) == "GID " + gid + " is not found");
}

TEST_CASE("ferry serve: pause=true waits, tellWaiting lists it, unpause completes it; pause of a finished one is refused") {
    serve_fixture f;
    test::ws_client ws(f.daemon->port());
    auto url = f.add("paused.bin", 1 * MiB + 5);
    std::string gid(f.result("aria2.addUri", {json::array{json::string(url)}, json::object{{"pause", "true"}}}).as_string());
    CHECK(f.status_of(gid) == "paused");
    auto waiting = f.result("aria2.tellWaiting", {0, 5, json::array{"gid", "status"}}).as_array();
    REQUIRE(waiting.size() == 1);
    CHECK(waiting[0].at("gid") == json::value(gid));
    CHECK(waiting[0].at("status") == "paused");
    CHECK_FALSE(fs::exists(f.dl / "paused.bin"));

    CHECK(f.result("aria2.unpause", {json::string(gid)}) == json::value(gid));
    REQUIRE(ws.wait_for("aria2.onDownloadComplete", gid));
    CHECK(f.matches(f.dl / "paused.bin", "paused.bin", 1 * MiB + 5));
    CHECK(f.error("aria2.pause", {json::string(gid)}) == "GID#" + gid + " cannot be paused now");
    CHECK(f.error("aria2.unpause", {json::string(gid)}) == "GID#" + gid + " cannot be unpaused now");
}

TEST_CASE("ferry serve: an active download pauses (onDownloadPause), resumes and completes") {
    serve_fixture f({"-x", "1"});
    test::ws_client ws(f.daemon->port());
    const std::uint64_t size = 2 * MiB;
    auto url = f.add("slow.bin", size);
    f.server.add_fault("/slow.bin", origin::parse_fault_spec("rate=128K"));
    std::string gid(f.result("aria2.addUri", {json::array{json::string(url)}}).as_string());
    REQUIRE(ws.wait_for("aria2.onDownloadStart", gid));
    CHECK(f.status_of(gid) == "active");
    CHECK(f.result("aria2.tellActive", {json::array{"gid"}}).as_array().size() == 1);
    CHECK(f.result("aria2.pause", {json::string(gid)}) == json::value(gid));
    CHECK(ws.wait_for("aria2.onDownloadPause", gid));
    CHECK(f.status_of(gid) == "paused");
    f.server.clear_faults();
    CHECK(f.result("aria2.unpauseAll") == "OK");
    REQUIRE(ws.wait_for("aria2.onDownloadComplete", gid));
    CHECK(f.matches(f.dl / "slow.bin", "slow.bin", size));
}

TEST_CASE("ferry serve: remove stops a download (onDownloadStop); it is listed as removed") {
    serve_fixture f({"-x", "1"});
    test::ws_client ws(f.daemon->port());
    auto url = f.add("removed.bin", 2 * MiB);
    f.server.add_fault("/removed.bin", origin::parse_fault_spec("rate=128K"));
    std::string gid(f.result("aria2.addUri", {json::array{json::string(url)}}).as_string());
    REQUIRE(ws.wait_for("aria2.onDownloadStart", gid));
    CHECK(f.result("aria2.remove", {json::string(gid)}) == json::value(gid));
    CHECK(ws.wait_for("aria2.onDownloadStop", gid));
    CHECK(f.status_of(gid) == "removed");
    auto stopped = f.result("aria2.tellStopped", {-1, 1, json::array{"gid", "status"}}).as_array();
    REQUIRE(stopped.size() == 1);
    CHECK(stopped[0].at("status") == "removed");
    CHECK(f.error("aria2.forceRemove", {json::string(gid)}) == "Active Download not found for GID#" + gid);
    CHECK(f.result("aria2.purgeDownloadResult") == "OK");
    CHECK(f.result("aria2.tellStopped", {0, 10}).as_array().empty());
    CHECK_FALSE(fs::exists(f.dl / "removed.bin"));

    // One that never started leaves no result behind (and no onDownloadStop), as in aria2.
    std::string waiting(f.result("aria2.addUri", {json::array{json::string(url)}, json::object{{"pause", true}}}).as_string());
    CHECK(f.result("aria2.remove", {json::string(waiting)}) == json::value(waiting));
    CHECK(f.error("aria2.tellStatus", {json::string(waiting)}) == "GID " + waiting + " is not found");
}

TEST_CASE("ferry serve: a download that fails is reported (onDownloadError, status error, errorMessage)") {
    serve_fixture f;
    test::ws_client ws(f.daemon->port());
    auto missing = f.server.ip_url("no-such-file.bin");
    std::string gid(f.result("aria2.addUri", {json::array{json::string(missing)}}).as_string());
    REQUIRE(ws.wait_for("aria2.onDownloadError", gid));
    auto status = f.result("aria2.tellStatus", {json::string(gid), json::array{"status", "errorCode", "errorMessage"}});
    CHECK(status.at("status") == "error");
    CHECK(status.at("errorCode") == "3"); // aria2's "resource not found"
    CHECK_FALSE(status.at("errorMessage").as_string().empty());
    auto stopped = f.result("aria2.tellStopped", {0, 5, json::array{"gid"}}).as_array();
    REQUIRE(stopped.size() == 1);
    CHECK(f.result("aria2.getGlobalStat").at("numStoppedTotal") == "1");

    // Other bytes than the checksum promised: aria2's 32.
    auto url = f.add("wrong.bin", 64 * 1024);
    auto wrong = std::string("sha-256=") + std::string(64, 'a');
    std::string bad(f.result("aria2.addUri", {json::array{json::string(url)}, json::object{{"checksum", wrong}}})
                        .as_string());
    REQUIRE(ws.wait_for("aria2.onDownloadError", bad));
    CHECK(f.result("aria2.tellStatus", {json::string(bad), json::array{"errorCode"}}).at("errorCode") == "32");
}

TEST_CASE("ferry serve: aria2's error shapes") {
    serve_fixture f;
    CHECK(f.error("aria2.tellStatus", {"ffff"}) == "GID ffff is not found");
    CHECK(f.error("aria2.tellStatus", {"xyz"}) == "Invalid GID xyz");
    CHECK(f.error("aria2.tellStatus") == "The parameter at 0 is required but missing.");
    CHECK(f.error("aria2.nope") == "No such method: aria2.nope");
    CHECK(f.error("aria2.addUri", {json::array{}}) == "URI is not provided.");
    CHECK(f.error("aria2.changePosition", {"ffff", 0, "POS_SET"}) == "GID ffff is not found");

    // A wrong secret, or none: Unauthorized (after a delay).
    auto started = std::chrono::steady_clock::now();
    auto wrong = f.post(R"({"jsonrpc":"2.0","id":"w","method":"aria2.getVersion","params":["token:guess"]})");
    CHECK(std::chrono::steady_clock::now() - started >= 250ms);
    CHECK(json::serialize(wrong) == R"({"id":"w","jsonrpc":"2.0","error":{"code":1,"message":"Unauthorized"}})");
    CHECK(f.last_status() == 400);
    auto none = f.post(R"({"jsonrpc":"2.0","id":2,"method":"aria2.getGlobalStat","params":[]})");
    CHECK(none.at("error").at("message") == "Unauthorized");
    CHECK(none.at("id") == 2);
    // system.list* need no secret, as in aria2.
    auto methods = f.post(R"({"jsonrpc":"2.0","id":3,"method":"system.listMethods"})");
    auto& names = methods.at("result").as_array();
    for (auto* name : {"aria2.addUri", "aria2.tellStatus", "aria2.tellStopped", "aria2.changePosition",
                       "aria2.getGlobalStat", "system.multicall", "system.listNotifications"})
        CHECK_MESSAGE(std::find(names.begin(), names.end(), json::value(name)) != names.end(), name);

    CHECK(json::serialize(f.post("{bad")) ==
          R"({"id":null,"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error."}})");
    CHECK(f.last_status() == 500);
    CHECK(json::serialize(f.post(R"({"id":1})")) ==
          R"({"id":1,"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request."}})");
    // Nesting beyond the depth limit is a parse error, not a crash.
    CHECK(f.post(std::string(100, '[') + std::string(100, ']')).at("error").at("code") == -32700);
}

TEST_CASE("ferry serve: batches and system.multicall") {
    serve_fixture f;
    auto batch = f.post(std::string(R"([{"jsonrpc":"2.0","id":"a","method":"aria2.getVersion","params":["token:)") +
                        secret + R"("]},{"jsonrpc":"2.0","id":"b","method":"aria2.tellStatus","params":["token:)" +
                        secret + R"(","ffff"]}])");
    REQUIRE(batch.is_array());
    REQUIRE(batch.as_array().size() == 2);
    CHECK(batch.as_array()[0].at("id") == "a");
    CHECK(batch.as_array()[0].at("result").at("version").is_string());
    CHECK(batch.as_array()[1].at("id") == "b");
    CHECK(batch.as_array()[1].at("error").at("message") == "GID ffff is not found");
    CHECK(json::serialize(f.post("[]")) == "[]");

    std::string token = std::string("token:") + secret;
    auto results = f.post(json::serialize(json::object{
        {"jsonrpc", "2.0"},
        {"id", 9},
        {"method", "system.multicall"},
        {"params", json::array{json::array{
                       json::object{{"methodName", "aria2.getGlobalStat"}, {"params", json::array{json::string(token)}}},
                       json::object{{"methodName", "aria2.tellStatus"}, {"params", json::array{json::string(token), "ff"}}},
                   }}},
    }));
    auto& list = results.at("result").as_array();
    REQUIRE(list.size() == 2);
    CHECK(list[0].as_array().at(0).at("numActive") == "0"); // a success is wrapped in an array
    CHECK(list[1].at("message") == "GID ff is not found"); // an error is the error object
}

TEST_CASE("ferry serve: dir and out cannot leave -d; options are checked") {
    serve_fixture f;
    auto url = f.add("x.bin", 1000);
    auto uri = json::array{json::string(url)};
    CHECK(f.error("aria2.addUri", {uri, json::object{{"dir", "../escape"}}}).find("outside") != std::string::npos);
    CHECK(f.error("aria2.addUri", {uri, json::object{{"dir", "/tmp"}}}).find("outside") != std::string::npos);
    CHECK(f.error("aria2.addUri", {uri, json::object{{"out", "../escape.bin"}}}).find("..") != std::string::npos);
    CHECK(f.error("aria2.addUri", {json::array{"file:///etc/passwd"}}).find("Unsupported URI") != std::string::npos);
    CHECK(f.error("aria2.addUri", {uri, json::object{{"header", json::array{"X-A: 1\r\nX-B: 2"}}}})
              .find("Invalid header") != std::string::npos);
    CHECK(f.error("aria2.addUri", {uri, json::object{{"checksum", "sha-256=zz"}}}).find("checksum") != std::string::npos);
    CHECK(f.result("aria2.tellWaiting", {0, 10}).as_array().empty());
    CHECK_FALSE(fs::exists(f.tmp / "escape"));

    // One destination, one download at a time.
    std::string first(f.result("aria2.addUri", {uri, json::object{{"pause", "true"}, {"out", "same.bin"}}}).as_string());
    CHECK(f.error("aria2.addUri", {uri, json::object{{"out", "./same.bin"}}}).find("already downloading") !=
          std::string::npos);
    CHECK(f.result("aria2.forceRemove", {json::string(first)}) == json::value(first));

    // Beneath -d is fine, with a digest that matches.
    auto digest = to_hex(origin::synthetic_sha256("x.bin", 1000, f.server.config().seed));
    test::ws_client ws(f.daemon->port());
    std::string gid(f.result("aria2.addUri", {uri, json::object{{"dir", "sub/dir"}, {"out", "y.bin"},
                                                                 {"checksum", "sha-256=" + digest}}})
                        .as_string());
    REQUIRE(ws.wait_for("aria2.onDownloadComplete", gid));
    CHECK(f.matches(f.dl / "sub" / "dir" / "y.bin", "x.bin", 1000));
}

TEST_CASE("ferry serve: global options, positions, /metrics passes promtool, /healthz, SIGTERM ends it") {
    serve_fixture f;
    CHECK(f.result("aria2.changeGlobalOption",
                   {json::object{{"max-concurrent-downloads", "2"}, {"max-overall-download-limit", "1M"}}}) == "OK");
    auto options = f.result("aria2.getGlobalOption").as_object();
    CHECK(options.at("max-concurrent-downloads") == "2");
    CHECK(options.at("max-overall-download-limit") == json::value(std::to_string(1 * MiB)));
    CHECK(f.error("aria2.changeGlobalOption", {json::object{{"max-concurrent-downloads", "zero"}}}).size() > 0);

    std::vector<std::string> gids;
    for (auto* name : {"p0.bin", "p1.bin", "p2.bin"})
        gids.emplace_back(f.result("aria2.addUri", {json::array{json::string(f.add(name, 100))},
                                                    json::object{{"pause", "true"}}})
                              .as_string());
    CHECK(f.result("aria2.changePosition", {json::string(gids[2]), 0, "POS_SET"}) == 0);
    auto waiting = f.result("aria2.tellWaiting", {0, 10, json::array{"gid"}}).as_array();
    REQUIRE(waiting.size() == 3);
    CHECK(waiting[0].at("gid") == json::value(gids[2]));
    auto last = f.result("aria2.tellWaiting", {-1, 1, json::array{"gid"}}).as_array();
    REQUIRE(last.size() == 1);
    CHECK(last[0].at("gid") == json::value(gids[1]));

    // A page elsewhere cannot call without --rpc-allow-origin-all; one on this machine can.
    auto foreign = f.http().request("POST", "/jsonrpc", {{"Origin", "https://evil.example"}},
                                    R"({"jsonrpc":"2.0","id":1,"method":"system.listMethods"})");
    CHECK(foreign.status == 403);
    auto local = f.http().request("POST", "/jsonrpc", {{"Origin", "http://localhost:8080"}},
                                  R"({"jsonrpc":"2.0","id":1,"method":"system.listMethods"})");
    CHECK(local.status == 200);

    auto health = f.http().get("/healthz");
    CHECK(health.status == 200);
    auto metrics = f.http().get("/metrics");
    CHECK(metrics.status == 200);
    CHECK(metrics.body.find("ferry_rpc_duration_seconds") != std::string::npos);
    test::spit(f.tmp / "metrics.txt", metrics.body);
    auto check = test::run_program({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + (f.tmp / "metrics.txt").string()},
                                   f.tmp.path());
    CHECK_MESSAGE(check.status == 0, check.out << check.err);
    auto open = f.http().get("/metrics", {{"Accept", "application/openmetrics-text; version=1.0.0"}});
    CHECK(open.field("content-type").find("openmetrics") != std::string::npos);

    f.daemon->process().signal(SIGTERM);
    auto ended = f.daemon->process().wait_for(20s);
    REQUIRE(ended);
    CHECK(test::shell_status(*ended) == 0);
}

TEST_CASE("ferry serve: --rpc-listen-all without --rpc-secret is refused") {
    test::scratch_dir tmp{"ferry-serve-test"};
    auto r = test::run_program({FERRY_BINARY, "serve", "--rpc-listen-all", "--rpc-listen-port", "0"}, tmp.path(), 20s);
    CHECK(r.status == 2);
    CHECK(r.err.find("--rpc-secret") != std::string::npos);
}

TEST_CASE("ferry serve: --save-session: after kill -9 every download comes back (GID, order, pause) and resumes; "
          "nothing is fetched twice") {
    test::scratch_dir state{"ferry-serve-session"};
    auto session = state / "session.txt";
    serve_fixture f({"--save-session", session.string(), "-j", "2", "-x", "2"});
    origin::fault slow;
    slow.rate = 3 * MiB; // per connection: a and b take seconds
    f.server.add_fault("/a.bin", slow);
    f.server.add_fault("/b.bin", slow);
    const std::uint64_t sizes[] = {24 * MiB, 16 * MiB, 8 * MiB, 4 * MiB};
    const char* names[] = {"a.bin", "b.bin", "c.bin", "d.bin"};
    std::vector<std::string> gids;
    for (int i = 0; i < 4; ++i) {
        json::object options{{"header", json::array{"X-Session: kept"}}};
        if (i == 2)
            options["pause"] = "true";
        auto url = f.add(names[i], sizes[i]);
        gids.emplace_back(f.result("aria2.addUri", {json::array{json::string(url)}, options}).as_string());
    }
    CHECK(f.result("aria2.changeOption", {json::string(gids[3]), json::object{{"max-download-limit", "5M"}}}) == "OK");

    // Both running ones journal some progress; then the daemon dies at once.
    auto journal = [&](int i) { return f.dl / (std::string(names[i]) + ".part.journal"); };
    auto kept_ranges = [&](int i) {
        auto j = read_journal(journal(i));
        return j ? j->done : std::vector<byte_range>{};
    };
    auto kept = [&](int i) {
        std::uint64_t n = 0;
        for (auto& r : kept_ranges(i))
            n += r.end - r.begin;
        return n;
    };
    auto give_up = std::chrono::steady_clock::now() + 30s;
    while ((kept(0) == 0 || kept(1) == 0) && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(50ms);
    REQUIRE(kept(0) > 0);
    REQUIRE(kept(1) > 0);
    CHECK(WIFSIGNALED(f.daemon->process().kill_and_wait()));
    const std::uint64_t kept_a = kept(0), kept_b = kept(1);
    const std::vector<byte_range> held[] = {kept_ranges(0), kept_ranges(1)};
    REQUIRE(kept_a < sizes[0]);

    // The session names all four, in queue order, the paused one paused, options kept.
    std::string text = test::slurp(session);
    INFO(text);
    std::size_t at = 0;
    for (auto& gid : gids) {
        auto next = text.find("gid=" + gid);
        CHECK(next != std::string::npos);
        CHECK(next >= at);
        at = next;
    }
    CHECK(text.find("gid=" + gids[2] + "\n pause=true\n") != std::string::npos);
    CHECK(text.find(" max-download-limit=5242880\n") != std::string::npos);
    CHECK(text.find(" header=X-Session: kept\n") != std::string::npos);

    f.server.clear_faults();
    f.server.reset_stats();
    f.start();
    auto waiting = f.result("aria2.tellWaiting", {0, 10, json::array{"gid", "status"}}).as_array();
    bool paused_again = false;
    for (auto& w : waiting)
        if (w.at("gid") == json::value(gids[2]))
            paused_again = w.at("status") == "paused";
    CHECK(paused_again);
    CHECK(f.result("aria2.getOption", {json::string(gids[3])}).at("max-download-limit") == "5242880");
    CHECK(f.result("aria2.unpause", {json::string(gids[2])}) == json::value(gids[2]));

    auto done = [&] {
        for (auto& gid : gids)
            if (f.result("aria2.tellStatus", {json::string(gid), json::array{"status"}}).at("status") != "complete")
                return false;
        return true;
    };
    give_up = std::chrono::steady_clock::now() + 60s;
    while (!done() && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(100ms);
    REQUIRE(done());
    for (int i = 0; i < 4; ++i)
        CHECK_MESSAGE(f.matches(f.dl / names[i], names[i], sizes[i]), names[i]);

    // No request asked for a byte the journals held; c and d came whole.
    auto stats = f.server.stats();
    for (auto& request : stats.log)
        for (int i = 0; i < 2; ++i) {
            if (request.path != std::string("/") + names[i])
                continue;
            auto asked = origin::parse_range(request.range, sizes[i]);
            REQUIRE_MESSAGE(asked.kind == origin::range_request::satisfiable, request.range);
            for (auto& r : held[i])
                CHECK_MESSAGE((asked.last < r.begin || asked.first >= r.end), names[i], " asked ", request.range,
                              ", journal held ", r.begin, "-", r.end);
        }
    // Little else twice: at most a piece's worth per file where a connection that stalled (a
    // sanitizer build on a loaded machine) had its tail fetched by a second one as well.
    const std::uint64_t missing = (sizes[0] - kept_a) + (sizes[1] - kept_b) + sizes[2] + sizes[3];
    MESSAGE("sent " << stats.body_bytes_sent << " for " << missing << " missing, in " << stats.requests << " requests");
    CHECK(stats.body_bytes_sent <= missing + 4 * MiB);
    CHECK(stats.body_bytes_sent >= sizes[2] + sizes[3]);
    // Nothing unfinished is left to save.
    CHECK(f.result("aria2.saveSession") == "OK");
    CHECK(test::slurp(session).empty());
}

TEST_CASE("ferry serve: a damaged session file stops the start with the line, and is left as it was") {
    test::scratch_dir tmp{"ferry-serve-badsession"};
    auto session = tmp / "session.txt";
    {
        std::ofstream out(session);
        out << "https://127.0.0.1:1/x.bin\t\n gid=0123456789abcdef\n\n gid-without-uri\n";
    }
    auto r = test::run_program({FERRY_BINARY, "serve", "--rpc-listen-port", "0", "-d", (tmp / "dl").string(),
                                "--save-session", session.string()},
                               tmp.path());
    CHECK(r.status == 1);
    CHECK(r.err.find("line 4: an option needs the form key=value") != std::string::npos);
    CHECK(test::slurp(session) == "https://127.0.0.1:1/x.bin\t\n gid=0123456789abcdef\n\n gid-without-uri\n");
}
