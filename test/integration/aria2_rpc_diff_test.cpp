// The same JSON-RPC calls against the real aria2c (`aria2c --enable-rpc`, Debian's aria2) and
// against `ferry serve`: the answers must have the same shape (keys and value types), the same
// states and the same error texts, and both must send the same notifications on a WebSocket.
#include "cli/child_process.hpp"
#include "cli/serve_harness.hpp"
#include "integration/loopback_port.hpp"

#include "tools/origin/origin_server.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace ferry;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr const char* secret = "diff-secret";

/// A value's shape: objects keep their keys (with the shapes of their values), arrays the shape of
/// their first element, scalars become their type's name.
json::value shape(const json::value& v) {
    switch (v.kind()) {
    case json::kind::object: {
        json::object o;
        for (auto& [k, x] : v.get_object())
            o[k] = shape(x);
        return o;
    }
    case json::kind::array: {
        json::array a;
        if (!v.get_array().empty())
            a.push_back(shape(v.get_array().front()));
        return a;
    }
    case json::kind::string: return "string";
    case json::kind::int64:
    case json::kind::uint64: return "integer";
    case json::kind::double_: return "double";
    case json::kind::bool_: return "bool";
    case json::kind::null: break;
    }
    return "null";
}

/// `aria2c --enable-rpc` on 127.0.0.1, downloading into `dir`, trusting `ca`.
class aria2_daemon {
public:
    aria2_daemon(const fs::path& tmp, const fs::path& dir, const fs::path& ca) : port_(test::pick_port()) {
        fs::create_directories(dir);
        process_ = std::make_unique<test::child_process>(
            std::vector<std::string>{"/usr/bin/aria2c", "--no-conf", "--enable-rpc", "--rpc-listen-port",
                                     std::to_string(port_), "--rpc-secret", secret, "-d", dir.string(),
                                     "--ca-certificate", ca.string(), "--disable-ipv6"},
            tmp / "aria2c.stdout", tmp / "aria2c.stderr");
        // Ready when the port accepts: bounded, as the nginx fixture waits.
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!test::accepts(port_) && process_->running() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(10ms);
        INFO(test::slurp(tmp / "aria2c.stdout"));
        REQUIRE(test::accepts(port_));
    }
    std::uint16_t port() const { return port_; }

private:
    std::uint16_t port_;
    std::unique_ptr<test::child_process> process_;
};

/// The origin, aria2c and ferry serve side by side, with a client for each.
struct diff_fixture {
    test::scratch_dir tmp{"ferry-aria2-diff"};
    fs::path ca = tmp / "ca.pem";
    origin::origin_server server;
    std::unique_ptr<aria2_daemon> aria2;
    std::unique_ptr<test::serve_process> ferry;
    test::rpc_client to_aria2, to_ferry;

    diff_fixture() {
        server.start();
        server.write_ca(ca);
        fs::create_directories(tmp / "a");
        fs::create_directories(tmp / "f");
        aria2 = std::make_unique<aria2_daemon>(fs::create_directories(tmp / "a-logs") ? tmp / "a-logs" : tmp.path(),
                                               tmp / "a", ca);
        ferry = std::make_unique<test::serve_process>(
            tmp.path(), std::vector<std::string>{"--rpc-secret", secret, "-d", (tmp / "f").string(), "--ca-cert",
                                                 ca.string()});
        to_aria2.connect(aria2->port(), secret);
        to_ferry.connect(ferry->port(), secret);
    }
    ~diff_fixture() {
        to_aria2.close();
        to_ferry.close();
        ferry.reset();
        aria2.reset();
        server.stop();
    }

    /// Calls both; checks the answers have one shape; returns {aria2's, ferry's} results or errors.
    std::pair<json::value, json::value> both(const std::string& method, json::array aria2_params,
                                             json::array ferry_params) {
        auto a = to_aria2.call(method, std::move(aria2_params));
        auto f = to_ferry.call(method, std::move(ferry_params));
        INFO(method << "\n  aria2c: " << json::serialize(a) << "\n  ferry:  " << json::serialize(f));
        CHECK(json::serialize(shape(a)) == json::serialize(shape(f)));
        auto pick = [](json::object& o) { return o.contains("result") ? o.at("result") : o.at("error"); };
        return {pick(a), pick(f)};
    }
    std::pair<json::value, json::value> both(const std::string& method, json::array params = {}) {
        return both(method, params, params);
    }
    /// Raw text to both: the answers must be identical.
    void same_raw(const std::string& text) {
        auto a = to_aria2.post(text);
        auto f = to_ferry.post(text);
        INFO(text);
        CHECK(json::serialize(a) == json::serialize(f));
        CHECK(to_aria2.last_status() == to_ferry.last_status());
    }
};

} // namespace

TEST_CASE("aria2c and ferry serve answer with the same shapes, states, errors and notifications") {
    diff_fixture d;
    test::ws_client ws_aria2(d.aria2->port()), ws_ferry(d.ferry->port());
    d.server.add_synthetic("diff.bin", 2 * 1024 * 1024 + 3);
    auto url = d.server.ip_url("diff.bin");

    d.both("aria2.getVersion");
    d.both("aria2.getGlobalStat");
    d.both("aria2.tellActive");
    d.both("aria2.tellWaiting", {0, 10});
    d.both("aria2.tellStopped", {0, 10});

    auto [ga, gf] = d.both("aria2.addUri", {json::array{json::string(url)}, json::object{{"pause", "true"}}});
    REQUIRE(ga.is_string());
    REQUIRE(gf.is_string());
    std::string a_gid(ga.as_string()), f_gid(gf.as_string());
    CHECK(a_gid.size() == f_gid.size());

    auto gid_params = [&](json::array rest) {
        json::array a{json::string(a_gid)}, f{json::string(f_gid)};
        for (auto& x : rest) {
            a.push_back(x);
            f.push_back(x);
        }
        return std::pair{a, f};
    };
    auto by_gid = [&](const std::string& method, json::array rest = {}) {
        auto [a, f] = gid_params(std::move(rest));
        return d.both(method, std::move(a), std::move(f));
    };

    auto [sa, sf] = by_gid("aria2.tellStatus");
    CHECK(sa.at("status") == "paused");
    CHECK(sf.at("status") == "paused");
    by_gid("aria2.tellStatus", {json::array{"gid", "status", "totalLength"}});
    by_gid("aria2.getFiles");
    by_gid("aria2.getUris");
    d.both("aria2.getSessionInfo");
    auto [no_file_a, no_file_f] = d.both("aria2.saveSession"); // neither was given --save-session
    CHECK(no_file_a == no_file_f);
    auto [oa, of] = by_gid("aria2.changeOption", {json::object{{"max-download-limit", "300K"}}});
    CHECK(oa == of);
    // getOption: aria2 lists ~80 options; ferry those it applies, each under aria2's name.
    auto options_a = d.to_aria2.result("aria2.getOption", {json::string(a_gid)}).as_object();
    auto options_f = d.to_ferry.result("aria2.getOption", {json::string(f_gid)}).as_object();
    for (auto& [key, value] : options_f) {
        INFO(key);
        CHECK(options_a.contains(key));
        CHECK(value.is_string());
    }
    CHECK(options_a.at("max-download-limit") == options_f.at("max-download-limit"));
    auto [servers_a, servers_f] = by_gid("aria2.getServers"); // paused: not active
    CHECK(servers_a.at("message") == json::value("No active download for GID#" + a_gid));
    CHECK(servers_f.at("message") == json::value("No active download for GID#" + f_gid));
    auto [wa, wf] = d.both("aria2.tellWaiting", {0, 10, json::array{"gid", "status"}});
    CHECK(wa.as_array().size() == 1);
    CHECK(wf.as_array().size() == 1);
    auto [ca, cf] = by_gid("aria2.changePosition", {0, "POS_SET"});
    CHECK(ca == cf);
    auto [stat_a, stat_f] = d.both("aria2.getGlobalStat");
    CHECK(stat_a.at("numWaiting") == stat_f.at("numWaiting"));

    // Unpaused, both download it and say so on their WebSockets.
    by_gid("aria2.unpause");
    CHECK(ws_aria2.wait_for("aria2.onDownloadStart", a_gid));
    CHECK(ws_ferry.wait_for("aria2.onDownloadStart", f_gid));
    REQUIRE(ws_aria2.wait_for("aria2.onDownloadComplete", a_gid));
    REQUIRE(ws_ferry.wait_for("aria2.onDownloadComplete", f_gid));
    auto [da, df] = by_gid("aria2.tellStatus", {json::array{"gid", "status", "totalLength", "completedLength"}});
    CHECK(da.at("status") == "complete");
    CHECK(df.at("status") == "complete");
    CHECK(da.at("totalLength") == df.at("totalLength"));
    CHECK(da.at("completedLength") == df.at("completedLength"));
    d.both("aria2.tellStopped", {0, 10, json::array{"gid", "status"}});
    auto [pa, pf] = by_gid("aria2.pause");
    CHECK(pa.at("message").as_string().subview().substr(20) == pf.at("message").as_string().subview().substr(20));

    // A paused one that never started, removed: gone at once on both.
    auto [ra, rf] = d.both("aria2.addUri", {json::array{json::string(url + "?again")}, json::object{{"pause", "true"}}});
    a_gid = std::string(ra.as_string());
    f_gid = std::string(rf.as_string());
    by_gid("aria2.remove");
    auto [xa, xf] = by_gid("aria2.tellStatus", {json::array{"gid", "status"}});
    CHECK(xa.at("message") == json::value("GID " + a_gid + " is not found"));
    CHECK(xf.at("message") == json::value("GID " + f_gid + " is not found"));
    // Whether a stop was notified for it: a later download's start comes after it on the socket.
    d.server.add_synthetic("third.bin", 1000);
    auto [na, nf] = d.both("aria2.addUri", {json::array{json::string(d.server.ip_url("third.bin"))}});
    REQUIRE(ws_aria2.wait_for("aria2.onDownloadStart", std::string(na.as_string())));
    REQUIRE(ws_ferry.wait_for("aria2.onDownloadStart", std::string(nf.as_string())));
    CHECK(ws_aria2.saw("aria2.onDownloadStop", a_gid) == ws_ferry.saw("aria2.onDownloadStop", f_gid));
    // Purged once both have finished it (a slow machine may still be writing it).
    REQUIRE(ws_aria2.wait_for("aria2.onDownloadComplete", std::string(na.as_string())));
    REQUIRE(ws_ferry.wait_for("aria2.onDownloadComplete", std::string(nf.as_string())));
    d.both("aria2.purgeDownloadResult");
    d.both("aria2.tellStopped", {-1, 10});

    // Errors: the same text, byte for byte.
    d.same_raw(std::string(R"({"jsonrpc":"2.0","id":"e1","method":"aria2.tellStatus","params":["token:)") + secret +
               R"(","ffff"]})");
    d.same_raw(std::string(R"({"jsonrpc":"2.0","id":"e2","method":"aria2.tellStatus","params":["token:)") + secret +
               R"("]})");
    d.same_raw(std::string(R"({"jsonrpc":"2.0","id":"e3","method":"aria2.nope","params":["token:)") + secret + R"("]})");
    d.same_raw(R"({"jsonrpc":"2.0","id":"e4","method":"aria2.getVersion","params":["token:wrong"]})");
    d.same_raw("{not json");
    d.same_raw(R"({"id":5})");
    d.same_raw("[]");
    d.same_raw(std::string(R"({"jsonrpc":"2.0","id":"e5","method":"aria2.addUri","params":["token:)") + secret +
               R"(",[]]})");
    d.same_raw(std::string(R"({"jsonrpc":"2.0","id":"m","method":"system.multicall","params":[[)") +
               R"({"methodName":"aria2.tellStatus","params":["token:)" + secret + R"(","ff"]}]]})");
    // The same notifications, in aria2's order; ferry's own (ferry.*) come after them.
    auto notifications = [](test::rpc_client& c) {
        auto answer = c.post(R"({"jsonrpc":"2.0","id":"n","method":"system.listNotifications","params":[]})");
        return answer.at("result").as_array();
    };
    auto aria2_names = notifications(d.to_aria2), ferry_names = notifications(d.to_ferry);
    REQUIRE(ferry_names.size() >= aria2_names.size());
    CHECK(std::equal(aria2_names.begin(), aria2_names.end(), ferry_names.begin()));
    for (auto it = ferry_names.begin() + std::ptrdiff_t(aria2_names.size()); it != ferry_names.end(); ++it)
        CHECK(it->as_string().starts_with("ferry."));
}
