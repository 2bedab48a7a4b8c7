#include "tools/serve/rpc_dispatch.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <chrono>

using namespace ferry::serve;
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

/// Runs one request through `rpc` on a fresh io_context; the answer.
rpc_reply reply(rpc_dispatch& rpc, std::string text) {
    asio::io_context io;
    std::optional<rpc_reply> out;
    asio::co_spawn(io, rpc.handle(text), [&](std::exception_ptr e, rpc_reply a) {
        REQUIRE_FALSE(e);
        out = std::move(a);
    });
    io.run_for(5s);
    REQUIRE(out);
    return *out;
}

std::string answer(rpc_dispatch& rpc, std::string text) { return reply(rpc, std::move(text)).text; }

rpc_dispatch echo_dispatch(std::string secret, ferry::daemon_stats* stats = nullptr) {
    rpc_dispatch rpc({.secret = std::move(secret), .unauthorized_delay = 0ms}, stats);
    rpc.add("test.echo", [](json::array p) -> asio::awaitable<rpc_result> { co_return rpc_result{std::move(p), {}}; });
    rpc.add("test.fail", [](json::array) -> asio::awaitable<rpc_result> { co_return rpc_result::fail("nope"); });
    rpc.add("test.open", [](json::array p) -> asio::awaitable<rpc_result> { co_return rpc_result{p.size(), {}}; }, false);
    return rpc;
}

} // namespace

TEST_CASE("a call: id echoed, token stripped and checked") {
    ferry::daemon_stats stats;
    auto rpc = echo_dispatch("pw", &stats);
    CHECK(answer(rpc, R"({"jsonrpc":"2.0","id":"x","method":"test.echo","params":["token:pw",1,"a"]})") ==
          R"({"id":"x","jsonrpc":"2.0","result":[1,"a"]})");
    CHECK(answer(rpc, R"({"jsonrpc":"2.0","id":7,"method":"test.echo","params":["token:pW",1]})") ==
          R"({"id":7,"jsonrpc":"2.0","error":{"code":1,"message":"Unauthorized"}})");
    CHECK(answer(rpc, R"({"jsonrpc":"2.0","id":7,"method":"test.echo"})") ==
          R"({"id":7,"jsonrpc":"2.0","error":{"code":1,"message":"Unauthorized"}})");
    // A method open to all still has a given token removed.
    CHECK(answer(rpc, R"({"jsonrpc":"2.0","id":1,"method":"test.open","params":["token:whatever",1]})") ==
          R"({"id":1,"jsonrpc":"2.0","result":1})");
    CHECK(answer(rpc, R"({"jsonrpc":"2.0","id":1,"method":"test.fail","params":["token:pw"]})") ==
          R"({"id":1,"jsonrpc":"2.0","error":{"code":1,"message":"nope"}})");
    CHECK(answer(rpc, R"({"jsonrpc":"2.0","id":1,"method":"no.such","params":["token:pw"]})") ==
          R"({"id":1,"jsonrpc":"2.0","error":{"code":1,"message":"No such method: no.such"}})");
    CHECK(stats.rpc.at("test.echo").duration.count() == 3);
    CHECK(stats.rpc.at("test.echo").errors == 2);
    CHECK_FALSE(stats.rpc.contains("no.such")); // unknown names do not grow the metrics
    CHECK(rpc.token_matches("pw"));
    CHECK_FALSE(rpc.token_matches("pw "));
    CHECK_FALSE(rpc.token_matches(""));
}

TEST_CASE("parse errors, invalid requests, limits, batches, multicall") {
    auto rpc = echo_dispatch("");
    CHECK(answer(rpc, "{") == R"({"id":null,"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error."}})");
    CHECK(answer(rpc, std::string(64, '[') + std::string(64, ']')).find("-32700") != std::string::npos);
    CHECK(answer(rpc, R"({"id":3,"method":5})") ==
          R"({"id":3,"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request."}})");
    CHECK(answer(rpc, R"({"id":3,"method":"test.echo","params":{}})").find("-32600") != std::string::npos);
    CHECK(answer(rpc, "[]") == "[]");
    CHECK(answer(rpc, R"([{"id":1,"method":"test.echo","params":[1]},7])") ==
          R"([{"id":1,"jsonrpc":"2.0","result":[1]},{"id":null,"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request."}}])");
    CHECK(answer(rpc, R"({"id":1,"method":"system.multicall","params":[[{"methodName":"test.echo","params":[2]},)"
                      R"({"methodName":"test.fail"},{"methodName":"system.multicall","params":[]},{"x":1}]]})") ==
          R"({"id":1,"jsonrpc":"2.0","result":[[[2]],{"code":1,"message":"nope"},)"
          R"({"code":1,"message":"Recursive system.multicall forbidden."},)"
          R"({"code":1,"message":"system.multicall expected struct."}]})");
    CHECK(rpc.method_names().front() == "system.multicall");
    // HTTP statuses as aria2 gives them.
    CHECK(reply(rpc, "{").http_status == 500);
    CHECK(reply(rpc, R"({"id":1,"method":"test.fail"})").http_status == 400);
    CHECK(reply(rpc, R"({"id":1,"method":"test.echo"})").http_status == 200);
    CHECK(reply(rpc, R"([{"id":1,"method":"test.fail"}])").http_status == 200);
    CHECK(rpc_dispatch::is_status_call("aria2.tellStatus"));
    CHECK_FALSE(rpc_dispatch::is_status_call("aria2.addUri"));
    CHECK(rpc_dispatch::is_status_call("ferry.tellModel"));
    CHECK(rpc_dispatch::is_status_call("ferry.stats"));
    CHECK(rpc_dispatch::is_status_call("ferry.waitModel"));
    CHECK_FALSE(rpc_dispatch::is_status_call("ferry.addModel"));
    CHECK_FALSE(rpc_dispatch::is_status_call("ferry.setLimit"));
    CHECK(rpc_dispatch::is_long_poll("ferry.waitModel"));
    CHECK_FALSE(rpc_dispatch::is_long_poll("ferry.tellModel"));
}

TEST_CASE("answer_now: a status call with an answer at hand, else handle() answers") {
    ferry::daemon_stats stats;
    auto rpc = echo_dispatch("pw", &stats);
    int runs = 0;
    bool fresh = true;
    rpc.add("aria2.tellStatus", [&](json::array p) -> asio::awaitable<rpc_result> {
        ++runs;
        co_return rpc_result{json::array{"waited", p.size()}, {}};
    });
    rpc.add_instant("aria2.tellStatus", [&](json::array& p) -> std::optional<rpc_result> {
        if (!fresh)
            return std::nullopt;
        return rpc_result{json::array{"now", p.size()}, {}};
    });
    auto now = [&](std::string text) { return rpc.answer_now(text); };
    auto call = R"({"jsonrpc":"2.0","id":"s","method":"aria2.tellStatus","params":["token:pw","2089b05ecca3d829"]})";
    auto at_once = now(call);
    REQUIRE(at_once);
    CHECK(at_once->text == R"({"id":"s","jsonrpc":"2.0","result":["now",1]})"); // token stripped
    CHECK(at_once->http_status == 200);
    CHECK(stats.rpc.at("aria2.tellStatus").duration.count() == 1);
    // No answer at hand: the method runs through handle().
    fresh = false;
    CHECK_FALSE(now(call));
    CHECK(answer(rpc, call) == R"({"id":"s","jsonrpc":"2.0","result":["waited",1]})");
    CHECK(runs == 1);
    fresh = true;
    // A wrong token waits in handle() (its delay); so do batches, methods without an instant
    // form and unknown ones.
    CHECK_FALSE(now(R"({"id":1,"method":"aria2.tellStatus","params":["token:no"]})"));
    CHECK_FALSE(now(R"([{"id":1,"method":"aria2.tellStatus","params":["token:pw"]}])"));
    CHECK_FALSE(now(R"({"id":1,"method":"test.echo","params":["token:pw"]})"));
    CHECK_FALSE(now(R"({"id":1,"method":"no.such"})"));
    // What cannot run at all is answered at once, as handle() would.
    auto bad = now("{");
    REQUIRE(bad);
    CHECK(bad->http_status == 500);
    CHECK(bad->text == answer(rpc, "{"));
    auto invalid = now(R"({"id":3,"method":5})");
    REQUIRE(invalid);
    CHECK(invalid->http_status == 400);
    CHECK(invalid->text == answer(rpc, R"({"id":3,"method":5})"));
    // Only status calls may answer at once (nothing announces a change on that path).
    CHECK_THROWS_AS(rpc.add_instant("test.echo", [](json::array&) -> std::optional<rpc_result> { return {}; }),
                    std::logic_error);
    CHECK_THROWS_AS(rpc.add_instant("aria2.tellActive", [](json::array&) -> std::optional<rpc_result> { return {}; }),
                    std::logic_error);
}

TEST_CASE("notification names: each service adds its own, in order") {
    rpc_dispatch rpc({});
    CHECK(rpc.notification_names().empty());
    rpc.add_notifications({"a.one", "a.two"});
    rpc.add_notifications({"b.one"});
    CHECK(rpc.notification_names() == std::vector<std::string>{"a.one", "a.two", "b.one"});
}

TEST_CASE("integer parameters: JSON integers or strings of digits") {
    CHECK(integer_param(json::value(5)) == 5);
    CHECK(integer_param(json::value(-2)) == -2);
    CHECK(integer_param(json::value("12")) == 12);
    CHECK_FALSE(integer_param(json::value("12x")));
    CHECK_FALSE(integer_param(json::value("")));
    CHECK_FALSE(integer_param(json::value(1.5)));
}
