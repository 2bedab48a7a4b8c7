#pragma once

// JSON-RPC 2.0 as aria2 speaks it: single calls and batches, the `id` echoed, a `token:SECRET`
// first parameter, system.multicall / system.listMethods, aria2's error codes and messages.

#include "engine/metrics.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

namespace ferry::serve {

/// An error answer: aria2 uses code 1 for every method-level error.
struct rpc_error {
    int code = 1;
    std::string message;
};

/// What a method returns: a value, or an error.
struct rpc_result {
    boost::json::value value;
    std::optional<rpc_error> error;

    static rpc_result fail(std::string message, int code = 1) { return {nullptr, rpc_error{code, std::move(message)}}; }
};

/// An answer to a request text, with the HTTP status aria2 gives it: 200, 400 for a single call that
/// failed, 500 for a parse error (batches: always 200).
struct rpc_reply {
    std::string text;
    unsigned http_status = 200;
};

/// A method gets its parameters without the token.
using rpc_method = std::function<boost::asio::awaitable<rpc_result>(boost::json::array params)>;
/// A method's answer given at once, when it needs no waiting (a status call while the views it
/// reads are fresh); nullopt: the caller runs the method instead.
using rpc_instant = std::function<std::optional<rpc_result>(boost::json::array& params)>;

struct rpc_dispatch_config {
    std::string secret;              ///< empty: no token needed (a given one is still stripped)
    unsigned max_depth = 32;         ///< deeper JSON is a parse error
    std::size_t max_size = 2 * 1024 * 1024; ///< a longer request text is a parse error
    std::size_t max_batch = 1000;    ///< calls in one batch or multicall
    /// How long an answer that contains an Unauthorized error is held back (guessing costs time).
    std::chrono::milliseconds unauthorized_delay{300};
};

/// Parses requests, checks the secret, calls methods from its table, writes answers. Methods run
/// one after another in the order of a batch. Not thread-safe: one executor.
class rpc_dispatch {
public:
    explicit rpc_dispatch(rpc_dispatch_config config, daemon_stats* stats = nullptr);

    /// Adds a method; `needs_token` false for those aria2 answers without one (system.list*).
    void add(std::string name, rpc_method method, bool needs_token = true);
    /// Gives method `name` (added before) an answer at once, for answer_now().
    void add_instant(std::string_view name, rpc_instant instant);
    /// Every method name, system.multicall included, sorted as added.
    std::vector<std::string> method_names() const;
    /// Notification names each service sends (system.listNotifications), in the order added.
    void add_notifications(const std::vector<std::string>& names);
    const std::vector<std::string>& notification_names() const noexcept { return notifications_; }

    /// Answers one request text (a call or a batch).
    boost::asio::awaitable<rpc_reply> handle(std::string_view text);
    /// The answer to a request text without waiting, when there is one: a text that does not
    /// parse, or a single authorized call whose method answers at once. Otherwise nullopt, and
    /// handle() answers it. Saves a poll its coroutines.
    std::optional<rpc_reply> answer_now(std::string_view text);

    /// Called before and after every call of a method that is not a status call: views of the
    /// engine cached for polls drop then. One observer.
    void on_change(std::function<void()> observer) { on_change_ = std::move(observer); }

    /// Whether `method` only reads (a status call): for the request queue.
    static bool is_status_call(std::string_view method) noexcept;
    /// Whether `method` mostly waits (ferry.waitModel): sent alone, it bypasses the request queue,
    /// so long polls hold none of its slots (see serve_command.cpp).
    static bool is_long_poll(std::string_view method) noexcept;

    /// Constant-time comparison of a token with the secret.
    bool token_matches(std::string_view token) const noexcept;

private:
    struct entry {
        rpc_method method;
        rpc_instant instant;
        bool needs_token = true;
    };
    /// A call object read: its id, the method's name and entry (null: no such method), its
    /// parameters; or the answer to an invalid one.
    struct call_request {
        boost::json::value id;
        std::string name;
        const entry* method = nullptr;
        boost::json::array params;
    };
    std::optional<boost::json::object> read_call(boost::json::value& request, call_request& out) const;
    /// Checks and strips the token: false when the method needs one and it is wrong or missing.
    bool authorize(const entry& method, boost::json::array& params) const;
    /// The answer object for `call`'s `result`; the method's count and duration recorded.
    boost::json::object finish(const call_request& call, rpc_result result,
                               std::chrono::steady_clock::time_point started);
    /// Parses `text` into `request`: nullopt, or the parse error's reply.
    std::optional<rpc_reply> parse(std::string_view text, boost::json::value& request) const;
    /// A single call's reply: 400 when its answer is an error.
    static rpc_reply single_reply(const boost::json::object& answer);
    /// One call object → its answer object (with id and jsonrpc); sets `unauthorized`.
    boost::asio::awaitable<boost::json::object> call(boost::json::value& request, bool& unauthorized);
    /// Runs method `name` with `params` (token still in): the result or error.
    boost::asio::awaitable<rpc_result> invoke(const std::string& name, boost::json::array params, bool& unauthorized);
    boost::asio::awaitable<rpc_result> multicall(boost::json::array params, bool& unauthorized);

    rpc_dispatch_config config_;
    unsigned char secret_digest_[32]; ///< sha256 of the secret, for token_matches
    daemon_stats* stats_;
    std::map<std::string, entry, std::less<>> methods_;
    std::vector<std::string> order_;
    std::vector<std::string> notifications_;
    std::function<void()> on_change_;
};

/// `value` as aria2 reads an integer parameter: a JSON integer, or a string of digits.
std::optional<std::int64_t> integer_param(const boost::json::value& value);

/// aria2's error texts for the parameter at `index`: missing, or of the wrong type.
std::string missing(std::size_t index);
std::string wrong_type(std::size_t index);
/// The string parameter at `index`, or nullptr with `error` set to one of those texts.
const boost::json::string* string_param(const boost::json::array& params, std::size_t index,
                                        std::optional<rpc_error>& error);

} // namespace ferry::serve
