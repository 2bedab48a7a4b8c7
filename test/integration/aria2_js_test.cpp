// The aria2 npm package (the JavaScript JSON-RPC client, run by Node) against `ferry serve` and
// against the real `aria2c --enable-rpc`: one script (test/aria2_js/client.mjs) opens a WebSocket,
// adds a download, waits for its notifications and its `complete` status, and sends a multicall.
// It must work unchanged against both, and see the same things. The npm packages live in the
// build tree (FERRY_ARIA2_JS_DIR), installed by the aria2_js_setup CTest fixture.
#include "cli/child_process.hpp"
#include "cli/serve_harness.hpp"
#include "integration/loopback_port.hpp"

#include "memory/sha256.hpp"
#include "tools/origin/origin_server.hpp"
#include "tools/origin/synthetic.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#ifndef FERRY_ARIA2_JS_DIR
#error "FERRY_ARIA2_JS_DIR must name the build tree's aria2_js directory (test/CMakeLists.txt)"
#endif

using namespace ferry;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr const char* secret = "aria2-js-secret";
constexpr const char* file_name = "aria2-js.bin";
constexpr std::uint64_t file_size = 3 * 1024 * 1024 + 17; // several pieces, not a round number

/// `aria2c --enable-rpc` on 127.0.0.1 with a secret, downloading beneath `dir`, trusting `ca`.
class aria2c_daemon {
public:
    aria2c_daemon(const fs::path& logs, const fs::path& dir, const fs::path& ca) : port_(test::pick_port()) {
        fs::create_directories(logs);
        fs::create_directories(dir);
        process_ = std::make_unique<test::child_process>(
            std::vector<std::string>{"/usr/bin/aria2c", "--no-conf", "--enable-rpc", "--rpc-listen-port",
                                     std::to_string(port_), "--rpc-secret", secret, "-d", dir.string(),
                                     "--ca-certificate", ca.string(), "--disable-ipv6"},
            logs / "aria2c.stdout", logs / "aria2c.stderr");
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!test::accepts(port_) && process_->running() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(10ms);
        INFO(test::slurp(logs / "aria2c.stdout"), test::slurp(logs / "aria2c.stderr"));
        REQUIRE(test::accepts(port_));
    }
    std::uint16_t port() const { return port_; }

private:
    std::uint16_t port_;
    std::unique_ptr<test::child_process> process_;
};

/// A JSON string as text; anything else as its JSON in angle brackets (never equal to a string).
std::string str(const json::value& v) {
    if (v.is_string())
        return std::string(v.get_string());
    std::string out = "<";
    out += json::serialize(v);
    out += '>';
    return out;
}

/// What client.mjs saw of one daemon.
struct client_run {
    json::object seen;            ///< its JSON line
    std::vector<std::string> events; ///< the notifications for its gid, in order
    std::set<std::string> status_keys;
};

/// Node and the installed client.mjs.
struct aria2_js {
    std::string node = test::find_in_path("node");
    fs::path dir = FERRY_ARIA2_JS_DIR;

    void require_installed() const {
        INFO("Node.js and the npm packages of test/aria2_js are needed: `sh tools/install-deps.sh`, then "
             "`ctest -R aria2_js_setup` (or run the integration tests through ctest, which installs them first)");
        REQUIRE_FALSE(node.empty());
        REQUIRE(fs::exists(dir / "node_modules" / "aria2" / "package.json"));
        REQUIRE(fs::exists(dir / "client.mjs"));
    }

    /// Runs client.mjs against the daemon on `port`, downloading `url` into `into`, and checks what
    /// every aria2-compatible daemon must give: exit 0, start then complete for the gid, status
    /// `complete` with every byte, the file byte-right, a multicall answered as aria2 answers one.
    client_run run(const test::scratch_dir& work, std::uint16_t port, const std::string& url, const fs::path& into,
                   const std::string& daemon) const {
        auto r = test::run_program({node, (dir / "client.mjs").string(), "127.0.0.1", std::to_string(port), secret,
                                    url, into.string()},
                                   work.path(), 90s);
        INFO(daemon, ": client.mjs exit ", r.status, " after ", r.seconds, " s\nstdout: ", r.out, "\nstderr: ", r.err);
        REQUIRE(r.status == 0);
        auto lines = test::lines_of(r.out);
        REQUIRE_FALSE(lines.empty());
        boost::system::error_code ec;
        auto value = json::parse(lines.back(), ec);
        REQUIRE_FALSE(ec);
        REQUIRE(value.is_object());
        client_run out;
        out.seen = value.as_object();
        auto& seen = out.seen;

        REQUIRE(seen.at("gid").is_string());
        const std::string gid(seen.at("gid").as_string());
        CHECK(gid.size() == 16);
        CHECK(gid.find_first_not_of("0123456789abcdef") == std::string::npos);

        for (auto& n : seen.at("notifications").as_array()) {
            CHECK(str(n.at("gid")) == gid);
            out.events.emplace_back(n.at("event").as_string());
        }
        CHECK(out.events == std::vector<std::string>{"onDownloadStart", "onDownloadComplete"});
        CHECK(seen.at("other_notifications") == 0);
        CHECK(seen.at("errors").as_array().empty());

        auto& status = seen.at("status").as_object();
        for (auto& [key, value] : status)
            out.status_keys.emplace(key);
        const std::string size = std::to_string(file_size);
        CHECK(str(status.at("gid")) == gid);
        CHECK(str(status.at("status")) == "complete");
        CHECK(str(status.at("totalLength")) == size);
        CHECK(str(status.at("completedLength")) == size);
        CHECK(str(status.at("downloadSpeed")) == "0"); // finished: no speed, as aria2c says
        CHECK(str(status.at("errorCode")) == "0");
        CHECK(str(status.at("dir")) == into.string());
        auto& files = status.at("files").as_array();
        REQUIRE(files.size() == 1);
        CHECK(str(files[0].at("path")) == (into / file_name).string());
        CHECK(str(files[0].at("length")) == size);
        CHECK(str(files[0].at("completedLength")) == size);

        // On disk, byte for byte what the origin serves.
        auto on_disk = sha256_of_file(into / file_name);
        REQUIRE(on_disk);
        CHECK(to_hex(*on_disk) == to_hex(origin::synthetic_sha256(file_name, file_size, 0)));

        // system.multicall: one single-element array per call, in order.
        auto& multi = seen.at("multicall").as_array();
        REQUIRE(multi.size() == 2);
        REQUIRE(multi[0].is_array());
        REQUIRE(multi[1].is_array());
        REQUIRE(multi[0].as_array().size() == 1);
        REQUIRE(multi[1].as_array().size() == 1);
        auto& version = multi[0].as_array()[0].as_object();
        CHECK(version.at("version").is_string());
        CHECK(version.at("enabledFeatures").is_array());
        auto& stat = multi[1].as_array()[0].as_object();
        for (const char* key : {"downloadSpeed", "uploadSpeed", "numActive", "numWaiting", "numStopped",
                                "numStoppedTotal"}) {
            CAPTURE(key);
            REQUIRE(stat.contains(key));
            REQUIRE(stat.at(key).is_string());
            auto& text = stat.at(key).as_string();
            CHECK_FALSE(text.empty());
            CHECK(std::string_view(text).find_first_not_of("0123456789") == std::string_view::npos);
        }
        CHECK(str(stat.at("numActive")) == "0");
        CHECK(str(stat.at("numStopped")) == "1");
        return out;
    }
};

std::string joined(const std::set<std::string>& keys) {
    std::string out;
    for (auto& k : keys)
        out += k + " ";
    return out;
}

/// The keys of an object, sorted, on one line.
std::string keys_of(const json::value& v) {
    std::set<std::string> keys;
    for (auto& [key, value] : v.as_object())
        keys.emplace(key);
    return joined(keys);
}

} // namespace

TEST_CASE("aria2_js: the aria2 npm client drives ferry serve and aria2c alike over its WebSocket") {
    aria2_js js;
    js.require_installed();
    test::scratch_dir work("ferry-aria2-js");
    const fs::path ca = work / "ca.pem";
    origin::origin_server server;
    server.start();
    server.write_ca(ca);
    server.add_synthetic(file_name, file_size);
    const std::string url = server.ip_url(file_name);

    // ferry serve: the client's `dir` is beneath the daemon's -d.
    const fs::path ferry_root = work / "ferry";
    fs::create_directories(ferry_root);
    client_run with_ferry;
    {
        test::serve_process ferry(work.path(), {"--rpc-secret", secret, "-d", ferry_root.string(), "--ca-cert",
                                               ca.string()});
        with_ferry = js.run(work, ferry.port(), url, ferry_root / "js", "ferry serve");
    }

    // aria2c, the same script, unchanged.
    const fs::path aria2_root = work / "aria2";
    client_run with_aria2;
    {
        aria2c_daemon aria2(work / "aria2-logs", aria2_root, ca);
        with_aria2 = js.run(work, aria2.port(), url, aria2_root / "js", "aria2c");
    }

    // The same notifications in the same order, and the same status and multicall keys.
    CHECK(with_ferry.events == with_aria2.events);
    INFO("ferry serve: ", json::serialize(with_ferry.seen), "\naria2c: ", json::serialize(with_aria2.seen));
    CHECK(joined(with_ferry.status_keys) == joined(with_aria2.status_keys));
    auto global_stat = [](const client_run& r) { return r.seen.at("multicall").as_array()[1].as_array()[0]; };
    CHECK(keys_of(global_stat(with_ferry)) == keys_of(global_stat(with_aria2)));
    auto version = [](const client_run& r) { return r.seen.at("multicall").as_array()[0].as_array()[0]; };
    CHECK(keys_of(version(with_ferry)) == keys_of(version(with_aria2)));
    auto first_file = [](const client_run& r) { return r.seen.at("status").at("files").as_array()[0]; };
    CHECK(keys_of(first_file(with_ferry)) == keys_of(first_file(with_aria2)));
}
