#include "tools/serve/rpc_dispatch.hpp"

#include <charconv>
#include <stdexcept>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace ferry::serve {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

json::object error_answer(const json::value& id, int code, std::string_view message) {
    return json::object{{"id", id}, {"jsonrpc", "2.0"}, {"error", json::object{{"code", code}, {"message", message}}}};
}

json::value error_value(const rpc_error& e) { return json::object{{"code", e.code}, {"message", e.message}}; }

} // namespace

std::optional<std::int64_t> integer_param(const json::value& value) {
    if (value.is_int64())
        return value.get_int64();
    if (value.is_uint64() && value.get_uint64() <= std::uint64_t(INT64_MAX))
        return static_cast<std::int64_t>(value.get_uint64());
    if (value.is_string()) {
        auto& s = value.get_string();
        std::int64_t n = 0;
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec == std::errc() && end == s.data() + s.size() && !s.empty())
            return n;
    }
    return std::nullopt;
}

std::string missing(std::size_t index) {
    return "The parameter at " + std::to_string(index) + " is required but missing.";
}

std::string wrong_type(std::size_t index) {
    return "The parameter at " + std::to_string(index) + " has wrong type.";
}

const json::string* string_param(const json::array& params, std::size_t index, std::optional<rpc_error>& error) {
    if (params.size() <= index) {
        error = rpc_error{1, missing(index)};
        return nullptr;
    }
    auto* text = params[index].if_string();
    if (!text)
        error = rpc_error{1, wrong_type(index)};
    return text;
}

rpc_dispatch::rpc_dispatch(rpc_dispatch_config config, daemon_stats* stats) : config_(std::move(config)), stats_(stats) {
    static_assert(sizeof secret_digest_ == SHA256_DIGEST_LENGTH);
    SHA256(reinterpret_cast<const unsigned char*>(config_.secret.data()), config_.secret.size(), secret_digest_);
    order_.push_back("system.multicall");
}

void rpc_dispatch::add(std::string name, rpc_method method, bool needs_token) {
    order_.push_back(name);
    methods_[std::move(name)] = entry{std::move(method), {}, needs_token};
}

void rpc_dispatch::add_instant(std::string_view name, rpc_instant instant) {
    // Only reads answer at once: answer_now() announces no change.
    auto it = methods_.find(name);
    if (it == methods_.end() || !is_status_call(name))
        throw std::logic_error("rpc_dispatch::add_instant: not an added status call");
    it->second.instant = std::move(instant);
}

std::vector<std::string> rpc_dispatch::method_names() const { return order_; }

void rpc_dispatch::add_notifications(const std::vector<std::string>& names) {
    notifications_.insert(notifications_.end(), names.begin(), names.end());
}

bool rpc_dispatch::token_matches(std::string_view token) const noexcept {
    // Digests of equal length compared in constant time: neither content nor length leaks.
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
    return CRYPTO_memcmp(digest, secret_digest_, sizeof digest) == 0;
}

bool rpc_dispatch::is_status_call(std::string_view method) noexcept {
    return method.starts_with("aria2.tell") || method.starts_with("aria2.get") || method.starts_with("system.list") ||
           method == "ferry.tellModel" || method == "ferry.stats" || is_long_poll(method);
}

bool rpc_dispatch::is_long_poll(std::string_view method) noexcept { return method == "ferry.waitModel"; }

std::optional<rpc_reply> rpc_dispatch::parse(std::string_view text, json::value& request) const {
    if (text.size() <= config_.max_size) {
        json::parse_options options;
        options.max_depth = config_.max_depth;
        boost::system::error_code ec;
        request = json::parse(text, ec, {}, options);
        if (!ec)
            return std::nullopt;
    }
    return rpc_reply{json::serialize(error_answer(nullptr, -32700, "Parse error.")), 500};
}

asio::awaitable<rpc_reply> rpc_dispatch::handle(std::string_view text) {
    json::value request;
    if (auto error = parse(text, request))
        co_return std::move(*error);

    bool unauthorized = false;
    rpc_reply answer;
    if (request.is_array()) {
        auto& calls = request.get_array();
        json::array answers;
        if (calls.size() > config_.max_batch) {
            answers.push_back(error_answer(nullptr, -32600, "Invalid Request."));
        } else {
            for (auto& c : calls) {
                auto one = co_await call(c, unauthorized);
                answers.push_back(std::move(one));
            }
        }
        answer.text = json::serialize(answers);
    } else {
        auto one = co_await call(request, unauthorized);
        answer = single_reply(one);
    }
    if (unauthorized && config_.unauthorized_delay.count() > 0) {
        asio::steady_timer delay(co_await asio::this_coro::executor, config_.unauthorized_delay);
        co_await delay.async_wait(asio::use_awaitable);
    }
    co_return answer;
}

std::optional<rpc_reply> rpc_dispatch::answer_now(std::string_view text) {
    json::value request;
    if (auto error = parse(text, request))
        return error;
    if (!request.is_object())
        return std::nullopt; // a batch (or an invalid call): handle() answers it
    call_request c;
    if (auto invalid = read_call(request, c))
        return single_reply(*invalid);
    // A wrong token is answered by handle(), after its delay.
    if (!c.method || !c.method->instant || !authorize(*c.method, c.params))
        return std::nullopt;
    auto started = std::chrono::steady_clock::now();
    auto result = c.method->instant(c.params);
    if (!result)
        return std::nullopt;
    return single_reply(finish(c, std::move(*result), started));
}

std::optional<json::object> rpc_dispatch::read_call(json::value& request, call_request& out) const {
    if (!request.is_object())
        return error_answer(nullptr, -32600, "Invalid Request.");
    auto& object = request.get_object();
    if (auto* i = object.if_contains("id"))
        out.id = *i;
    auto* method = object.if_contains("method");
    auto* params = object.if_contains("params");
    if (!method || !method->is_string() || (params && !params->is_array() && !params->is_null()))
        return error_answer(out.id, -32600, "Invalid Request.");
    if (params && params->is_array())
        out.params = std::move(params->get_array());
    out.name = std::string(method->get_string());
    if (auto it = methods_.find(out.name); it != methods_.end())
        out.method = &it->second;
    return std::nullopt;
}

bool rpc_dispatch::authorize(const entry& method, json::array& params) const {
    // aria2 strips a token wherever it is given, and checks it where the method needs one.
    bool has_token = !params.empty() && params[0].is_string() && params[0].get_string().starts_with("token:");
    if (method.needs_token && !config_.secret.empty() &&
        (!has_token || !token_matches(std::string_view(params[0].get_string()).substr(6))))
        return false;
    if (has_token)
        params.erase(params.begin());
    return true;
}

json::object rpc_dispatch::finish(const call_request& call, rpc_result result,
                                  std::chrono::steady_clock::time_point started) {
    if (stats_ && (call.method || call.name == "system.multicall")) {
        auto& s = stats_->rpc[call.name];
        s.duration.record(std::chrono::steady_clock::now() - started);
        if (result.error)
            ++s.errors;
    }
    if (result.error)
        return error_answer(call.id, result.error->code, result.error->message);
    return json::object{{"id", call.id}, {"jsonrpc", "2.0"}, {"result", std::move(result.value)}};
}

rpc_reply rpc_dispatch::single_reply(const json::object& answer) {
    return rpc_reply{json::serialize(answer), answer.contains("error") ? 400u : 200u};
}

asio::awaitable<json::object> rpc_dispatch::call(json::value& request, bool& unauthorized) {
    call_request c;
    if (auto invalid = read_call(request, c))
        co_return std::move(*invalid);
    auto started = std::chrono::steady_clock::now();
    auto pending = invoke(c.name, std::move(c.params), unauthorized);
    auto result = co_await std::move(pending);
    co_return finish(c, std::move(result), started);
}

asio::awaitable<rpc_result> rpc_dispatch::invoke(const std::string& name, json::array params, bool& unauthorized) {
    if (name == "system.multicall") {
        auto pending = multicall(std::move(params), unauthorized);
        co_return co_await std::move(pending);
    }
    auto it = methods_.find(name);
    if (it == methods_.end())
        co_return rpc_result::fail("No such method: " + name);
    if (!authorize(it->second, params)) {
        unauthorized = true;
        co_return rpc_result::fail("Unauthorized");
    }
    // Whatever may change something is announced before and after it runs (cached views drop).
    bool control = !is_status_call(name);
    if (control && on_change_)
        on_change_();
    auto pending = it->second.method(std::move(params));
    auto result = co_await std::move(pending);
    if (control && on_change_)
        on_change_();
    co_return result;
}

asio::awaitable<rpc_result> rpc_dispatch::multicall(json::array params, bool& unauthorized) {
    if (params.empty() || !params[0].is_array())
        co_return rpc_result::fail("The parameter at 0 has wrong type.");
    auto& calls = params[0].get_array();
    if (calls.size() > config_.max_batch)
        co_return rpc_result::fail("Too many calls in one system.multicall.");
    json::array results;
    for (auto& c : calls) {
        auto* object = c.if_object();
        auto* name = object ? object->if_contains("methodName") : nullptr;
        auto* args = object ? object->if_contains("params") : nullptr;
        if (!name || !name->is_string() || (args && !args->is_array())) {
            results.push_back(error_value({1, "system.multicall expected struct."}));
            continue;
        }
        std::string method(name->get_string());
        if (method == "system.multicall") {
            results.push_back(error_value({1, "Recursive system.multicall forbidden."}));
            continue;
        }
        json::array inner = args ? args->get_array() : json::array{};
        auto pending = invoke(method, std::move(inner), unauthorized);
        auto r = co_await std::move(pending);
        if (r.error)
            results.push_back(error_value(*r.error));
        else
            results.push_back(json::array{std::move(r.value)});
    }
    co_return rpc_result{std::move(results), std::nullopt};
}

} // namespace ferry::serve
