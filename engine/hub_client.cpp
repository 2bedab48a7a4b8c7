#include "engine/hub_client.hpp"

#include "net/error.hpp"
#include "net/http_fields.hpp"
#include "net/proxy_config.hpp"
#include "net/url.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ferry {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

struct hub_error_category_impl : boost::system::error_category {
    const char* name() const noexcept override { return "ferry.hub"; }
    std::string message(int value) const override {
        switch (static_cast<hub_error>(value)) {
        case hub_error::repo_not_found: return "repository not found";
        case hub_error::gated: return "gated repository";
        case hub_error::revision_not_found: return "revision not found";
        case hub_error::entry_not_found: return "file not found in the repository";
        case hub_error::bad_token: return "token refused";
        case hub_error::refused: return "refused by the Hub";
        case hub_error::unavailable: return "the Hub is unavailable";
        case hub_error::bad_answer: return "unexpected answer from the Hub";
        }
        return "hub error";
    }
};

hub_error classify(unsigned status, std::string_view code, std::string_view message) {
    if (code == "RepoNotFound")
        return hub_error::repo_not_found;
    if (code == "GatedRepo")
        return hub_error::gated;
    if (code == "RevisionNotFound")
        return hub_error::revision_not_found;
    if (code == "EntryNotFound")
        return hub_error::entry_not_found;
    if (status == 401 && message.find("Invalid credentials") != std::string_view::npos)
        return hub_error::bad_token;
    if (hub_error_is_retryable(status, code))
        return hub_error::unavailable;
    return hub_error::refused;
}

/// The `error` member of a JSON error body, or "".
std::string body_error(const std::string& body) {
    auto at = body.find("\"error\"");
    if (at == std::string::npos)
        return {};
    auto open = body.find('"', body.find(':', at));
    auto close = open == std::string::npos ? open : body.find('"', open + 1);
    return close == std::string::npos ? std::string() : body.substr(open + 1, close - open - 1);
}

} // namespace

const boost::system::error_category& hub_error_category() noexcept {
    static const hub_error_category_impl category;
    return category;
}

error_code make_error_code(hub_error e) noexcept { return {static_cast<int>(e), hub_error_category()}; }

pool_config hub_api_pool_config(const engine_config& config, std::chrono::milliseconds etag_timeout) {
    pool_config pc;
    pc.max_per_host = 4;
    pc.timeouts = config.timeouts;
    pc.timeouts.first_byte = std::max(config.timeouts.first_byte, etag_timeout);
    pc.proxies = proxy_policy(config.proxy, process_environment());
    return pc;
}

struct hub_client::answer {
    response_head head;
    std::string body;
    std::string target; ///< the URL finally answered (after redirects)
};

hub_client::hub_client(connection_pool& pool, hub_client_config config) : pool_(pool), config_(std::move(config)) {
    if (auto parsed = parse_url(config_.endpoint))
        origin_ = parsed->origin();
}

asio::awaitable<boost::system::result<hub_client::answer>> hub_client::get_once(const std::string& target,
                                                                                std::string_view method,
                                                                                error_code& transport) {
    auto where = parse_url(target);
    if (!where)
        co_return where.error();
    auto conn = co_await pool_.acquire(*where);
    if (!conn) {
        transport = conn.error();
        co_return conn.error();
    }
    ++calls_;
    http_request request;
    request.method = std::string(method);
    request.fields.emplace_back("Accept", "application/json");
    if (config_.token && where->origin() == origin_)
        request.fields.emplace_back("Authorization", "Bearer " + *config_.token);
    conn->start_request();
    if (auto ec = co_await (*conn)->send(*where, request)) {
        transport = ec;
        co_return ec;
    }
    auto head = co_await (*conn)->read_head();
    if (!head) {
        transport = head.error();
        co_return head.error();
    }
    conn->head_received(head->status);
    answer out{std::move(*head), {}, target};
    if (out.head.content_length && *out.head.content_length > config_.max_answer) {
        (*conn)->poison();
        co_return make_error_code(hub_error::bad_answer);
    }
    char buffer[16 * 1024];
    for (;;) {
        auto n = co_await (*conn)->read_body(buffer, sizeof buffer);
        if (!n) {
            transport = n.error();
            co_return n.error();
        }
        if (*n == 0)
            break;
        if (out.body.size() + *n > config_.max_answer) {
            (*conn)->poison();
            co_return make_error_code(hub_error::bad_answer);
        }
        out.body.append(buffer, *n);
    }
    pool_.record_success(where->origin());
    co_return out;
}

asio::awaitable<boost::system::result<hub_client::answer>>
hub_client::get(std::string target, const hub_error_context& context, std::string& message,
                std::string_view method) {
    auto delay = config_.first_delay;
    for (int attempt = 1;; ++attempt) {
        error_code transport;
        auto got = co_await get_once(target, method, transport);
        std::optional<std::chrono::milliseconds> pause;
        if (got) {
            const auto& head = got->head;
            // A HEAD asks whether access is granted: a redirect to the CDN says it is.
            if (method == "HEAD" && head.status >= 200 && head.status < 400)
                co_return got;
            if (head.status >= 300 && head.status < 400 && !head.location.empty()) {
                // Renamed repos answer 307 with a relative Location: follow it, on the Hub only.
                auto base = parse_url(target);
                auto next = base ? resolve_location(*base, head.location) : base;
                if (!next || next->origin() != origin_ || attempt > 10) {
                    message = "the Hub redirected " + target + " to " + head.location + ", which ferry does not follow";
                    co_return make_error_code(hub_error::bad_answer);
                }
                target = next->text;
                continue;
            }
            if (head.status >= 200 && head.status < 300)
                co_return got;
            auto code = head.extension("X-Error-Code");
            std::string text(head.extension("X-Error-Message"));
            if (text.empty())
                text = body_error(got->body);
            auto kind = classify(head.status, code, text);
            message = describe_hub_error(head.status, code, text, head.extension("X-Request-Id"), context);
            if (kind != hub_error::unavailable || attempt >= config_.attempts)
                co_return make_error_code(kind);
            pause = requested_pause(head, std::chrono::system_clock::now());
        } else if (!transport) {
            message = "the Hub's answer to " + target + " is too large";
            co_return got.error();
        } else {
            message = "cannot reach the Hub at " + config_.endpoint + ": " + describe(transport);
            if (!is_transient(transport) || attempt >= config_.attempts)
                co_return make_error_code(hub_error::unavailable);
        }
        // The Hub asked for a pause: wait that much and a second more, as its clients do.
        auto wait = pause ? *pause + std::chrono::seconds(1) : delay;
        delay = std::min(delay * 2, config_.max_delay);
        asio::steady_timer timer(co_await asio::this_coro::executor, wait);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec)
            co_return make_error_code(hub_error::unavailable);
    }
}

asio::awaitable<boost::system::result<hub_snapshot>> hub_client::list(const hub_repo_id& repo, std::string revision,
                                                                      std::string& message) {
    hub_snapshot snapshot{repo, revision.empty() ? "main" : revision, {}, {}};
    hub_error_context context{repo.id, snapshot.revision, {}, config_.endpoint, config_.token.has_value()};
    bool gated = false;
    if (is_commit_sha(snapshot.revision)) {
        snapshot.sha = snapshot.revision;
    } else {
        auto info = co_await get(hub_info_url(config_.endpoint, repo, snapshot.revision), context, message);
        if (!info)
            co_return info.error();
        auto parsed = parse_hub_repo_info(info->body, message);
        if (!parsed)
            co_return make_error_code(hub_error::bad_answer);
        snapshot.sha = parsed->sha;
        gated = parsed->gated.has_value();
    }
    std::string page_url = hub_tree_url(config_.endpoint, repo, snapshot.sha);
    hub_tree_listing listing;
    for (int page = 0; !page_url.empty(); ++page) {
        if (page >= config_.max_pages) {
            message = "the Hub's listing of " + repo.id + " goes on past " + std::to_string(page) + " pages";
            co_return make_error_code(hub_error::bad_answer);
        }
        auto got = co_await get(page_url, context, message);
        if (!got)
            co_return got.error();
        auto files = parse_hub_tree_page(got->body, message);
        if (!files || !listing.add_page(std::move(*files), message))
            co_return make_error_code(hub_error::bad_answer);
        auto next = next_page_link(got->head.extension("Link"), got->target);
        page_url = next.value_or(std::string());
        if (next && (!parse_url(*next) || parse_url(*next)->origin() != origin_)) {
            message = "the Hub's listing of " + repo.id + " continues on another host: " + *next;
            co_return make_error_code(hub_error::bad_answer);
        }
    }
    snapshot.files = listing.take();

    // A gated repo lists its files to anyone but serves them only to approved tokens: ask once
    // for the first file, so that a refusal is one clear line before anything starts.
    if (gated && !snapshot.files.empty()) {
        const auto& first = snapshot.files.front().path;
        context.path = first;
        auto probe = co_await get(hub_resolve_url(config_.endpoint, repo, snapshot.sha, first), context, message, "HEAD");
        if (!probe)
            co_return probe.error();
    }
    co_return snapshot;
}

} // namespace ferry
