#pragma once

// The Hugging Face Hub's API as a source of models (../shared/hf-hub.md §2): which commit a
// revision names, and every file of that commit with its size and digests. Downloads themselves
// are the engine's (resolve URLs, redirects to the CDN, signed-URL renewal); this asks only the
// small JSON questions that come first.

#include "engine/config.hpp"
#include "engine/hub_listing.hpp"
#include "memory/hub_cache.hpp"
#include "net/connection_pool.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace ferry {

/// Why the Hub said no (or could not be asked). Each comes with a one-line message.
enum class hub_error {
    repo_not_found = 1, ///< missing, or private to the token used
    gated,              ///< gated and the token (if any) is not approved
    revision_not_found,
    entry_not_found,
    bad_token,          ///< "Invalid credentials in Authorization header"
    refused,            ///< any other final refusal (disabled repo, 4xx)
    unavailable,        ///< still 429/5xx or unreachable after every retry
    bad_answer,         ///< an answer that is not what the Hub sends (bad JSON, unsafe paths...)
};
const boost::system::error_category& hub_error_category() noexcept;
boost::system::error_code make_error_code(hub_error e) noexcept;

/// One revision of a repo, as listed: the commit and every file in it.
struct hub_snapshot {
    hub_repo_id repo;
    std::string revision; ///< as asked (a branch, tag, refs/pr/N or the sha itself)
    std::string sha;      ///< the commit it names (40 hex)
    std::vector<hub_tree_file> files;
};

struct hub_client_config {
    std::string endpoint = "https://huggingface.co"; ///< no trailing '/'
    /// Sent as `Authorization: Bearer` to the endpoint's origin only.
    std::optional<std::string> token;
    /// Tries of one API call when the Hub answers 408/429/5xx or the connection fails; the
    /// pause between tries is what the Hub asks (Retry-After, RateLimit) plus a second, else
    /// `first_delay` doubling up to `max_delay`.
    int attempts = 5;
    std::chrono::milliseconds first_delay{1000};
    std::chrono::milliseconds max_delay{8000};
    std::size_t max_answer = 64 * 1024 * 1024; ///< bytes of one JSON answer
    int max_pages = 100'000;                   ///< of one tree listing
};

/// The pool a hub_client's calls go through, from the engine's settings: a few connections to the
/// endpoint, the engine's timeouts with at least `etag_timeout` for the first byte, its proxies
/// (with the environment's).
pool_config hub_api_pool_config(const engine_config& config, std::chrono::milliseconds etag_timeout);

/// The Hub's API through a connection pool, on the pool's executor. Not thread-safe.
class hub_client {
public:
    hub_client(connection_pool& pool, hub_client_config config);

    /// The commit `revision` names and its files (tree listing, every page). A sha revision is
    /// not looked up: the tree at that sha is the answer. For a gated repo, whether the token may
    /// download is asked too (a HEAD of its first file). `message` says what went wrong, in one
    /// line with the Hub's request id.
    boost::asio::awaitable<boost::system::result<hub_snapshot>>
    list(const hub_repo_id& repo, std::string revision, std::string& message);

    /// API calls made (retries and pages included): tests and stats count them.
    std::size_t calls() const noexcept { return calls_; }

private:
    struct answer;
    /// GETs `target` (following redirects within the endpoint's origin), retrying what is worth
    /// retrying; a final non-2xx is an error with `message` set.
    boost::asio::awaitable<boost::system::result<answer>> get(std::string target, const hub_error_context& context,
                                                              std::string& message, std::string_view method = "GET");
    boost::asio::awaitable<boost::system::result<answer>> get_once(const std::string& target, std::string_view method,
                                                                   boost::system::error_code& transport);

    connection_pool& pool_;
    hub_client_config config_;
    std::string origin_; ///< the endpoint's scheme://host:port
    std::size_t calls_ = 0;
};

} // namespace ferry

template <>
struct boost::system::is_error_code_enum<ferry::hub_error> : std::true_type {};
