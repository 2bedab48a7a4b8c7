// libFuzzer target: ferry serve's JSON-RPC layer (tools/serve/rpc_dispatch.hpp). Any request text,
// a call or a batch, through rpc_dispatch::handle with a secret and a few methods, must give an
// answer as aria2 gives one, never crash or throw:
//  - the answer is JSON; HTTP 500 only for a parse error (code -32700, id null), 400 only for a
//    single call that failed, 200 otherwise;
//  - a call gives one object with jsonrpc "2.0", its id, and exactly one of result and error; a
//    batch gives an array of those, one per call (or a single error for an oversized batch);
//  - no method that needs the token runs unless the request holds "token:SECRET" somewhere.
// The input is the request text as it is (aria2 clients send JSON over HTTP or a WebSocket).
#include "engine/metrics.hpp"
#include "tools/serve/rpc_dispatch.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using ferry::serve::rpc_result;

constexpr std::string_view secret = "s3cret";
constexpr std::size_t max_batch = 50;

bool protected_ran = false; // a method that needs the token ran for the current input

struct harness {
    asio::io_context io;
    ferry::daemon_stats stats;
    ferry::serve::rpc_dispatch dispatch{config(), &stats};

    static ferry::serve::rpc_dispatch_config config() {
        ferry::serve::rpc_dispatch_config c;
        c.secret = std::string(secret);
        c.max_depth = 16;
        c.max_size = 64 * 1024;
        c.max_batch = max_batch;
        c.unauthorized_delay = std::chrono::milliseconds(0); // no timer: the run stays synchronous
        return c;
    }

    harness() {
        // Echoes its parameters (what is left once the token is stripped).
        dispatch.add("aria2.tellStatus", [](json::array params) -> asio::awaitable<rpc_result> {
            protected_ran = true;
            co_return rpc_result{json::value(std::move(params)), std::nullopt};
        });
        // Reads an integer parameter as aria2 does, or fails.
        dispatch.add("aria2.changePosition", [](json::array params) -> asio::awaitable<rpc_result> {
            protected_ran = true;
            if (params.empty())
                co_return rpc_result::fail("The parameter at 0 is missing.");
            auto n = ferry::serve::integer_param(params[0]);
            if (!n)
                co_return rpc_result::fail("Bad position.");
            co_return rpc_result{json::value(*n), std::nullopt};
        });
        // Answers without a token, as system.listMethods does.
        dispatch.add(
            "system.listMethods",
            [this](json::array) -> asio::awaitable<rpc_result> {
                json::array names;
                for (auto& n : dispatch.method_names())
                    names.emplace_back(n);
                co_return rpc_result{json::value(std::move(names)), std::nullopt};
            },
            false);
    }
};

/// Whether `v` holds the string "token:SECRET" at any depth.
bool holds_token(const json::value& v) {
    switch (v.kind()) {
    case json::kind::string: return v.get_string() == std::string("token:") + std::string(secret);
    case json::kind::array:
        for (auto& x : v.get_array())
            if (holds_token(x))
                return true;
        return false;
    case json::kind::object:
        for (auto& [k, x] : v.get_object())
            if (holds_token(x))
                return true;
        return false;
    default: return false;
    }
}

/// One answer object of a call.
void check_answer(const json::value& v) {
    auto* o = v.if_object();
    if (!o || !o->contains("id"))
        __builtin_trap();
    auto* version = o->if_contains("jsonrpc");
    if (!version || !version->is_string() || version->get_string() != "2.0")
        __builtin_trap();
    bool result = o->contains("result"), error = o->contains("error");
    if (result == error)
        __builtin_trap();
    if (error) {
        auto* e = o->at("error").if_object();
        if (!e || !e->contains("code") || !e->at("code").is_int64() || !e->contains("message") ||
            !e->at("message").is_string())
            __builtin_trap();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static harness h;
    const std::string text(reinterpret_cast<const char*>(data), size);
    protected_ran = false;

    std::optional<ferry::serve::rpc_reply> reply;
    bool threw = false;
    asio::co_spawn(h.io, h.dispatch.handle(text), [&](std::exception_ptr e, ferry::serve::rpc_reply r) {
        if (e)
            threw = true;
        else
            reply = std::move(r);
    });
    h.io.run();
    h.io.restart();
    if (threw || !reply)
        __builtin_trap();

    boost::system::error_code ec;
    auto answer = json::parse(reply->text, ec);
    if (ec)
        __builtin_trap();

    // What the request was, parsed as the dispatcher parses it.
    json::parse_options options;
    options.max_depth = 16;
    boost::system::error_code request_ec;
    auto request = text.size() <= 64 * 1024 ? json::parse(text, request_ec, {}, options) : json::value();
    bool parsed = text.size() <= 64 * 1024 && !request_ec;

    if (!parsed) {
        if (reply->http_status != 500 || !answer.is_object() || !answer.get_object().contains("error") ||
            answer.at("error").at("code") != -32700 || !answer.at("id").is_null())
            __builtin_trap();
        if (protected_ran)
            __builtin_trap();
        return 0;
    }
    if (reply->http_status == 500)
        __builtin_trap();
    if (protected_ran && !holds_token(request))
        __builtin_trap(); // the secret was never given, yet a method that needs it ran

    if (request.is_array()) {
        if (reply->http_status != 200 || !answer.is_array())
            __builtin_trap();
        auto& calls = request.get_array();
        auto& answers = answer.get_array();
        std::size_t expected = calls.size() > max_batch ? 1 : calls.size();
        if (answers.size() != expected)
            __builtin_trap();
        for (auto& a : answers)
            check_answer(a);
    } else {
        check_answer(answer);
        bool failed = answer.get_object().contains("error");
        if (reply->http_status != (failed ? 400u : 200u))
            __builtin_trap();
        // The id is echoed as it was given, in an error answer too.
        if (auto* o = request.if_object(); o && o->contains("id") && answer.at("id") != o->at("id"))
            __builtin_trap();
    }
    return 0;
}
