#pragma once

// The Hugging Face Hub's API without the network (../shared/hf-hub.md §2–§3): the URLs ferry asks,
// what the answers mean (repo info, tree pages, Link paging, resolve etags) and the Hub's errors
// in words. Everything the Hub sends is checked here before it names a file: a listing with one
// unsafe or malformed entry is refused whole. No I/O, no exceptions out of these functions (bad
// JSON is an error with a message); safe to call from any thread.

#include "memory/hub_cache.hpp"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

namespace ferry {

/// `{E}/api/{T}/{repo}/revision/{rev}` (rev percent-encoded with no safe characters: refs/pr/1 →
/// refs%2Fpr%2F1), or `{E}/api/{T}/{repo}` when revision is empty. T = models|datasets|spaces.
/// The endpoint's trailing '/' are dropped; the repo id goes in verbatim.
std::string hub_info_url(std::string_view endpoint, const hub_repo_id& repo, std::string_view revision);
/// `{E}/api/{T}/{repo}/tree/{rev}?recursive=true&expand=false` (rev encoded as above).
std::string hub_tree_url(std::string_view endpoint, const hub_repo_id& repo, std::string_view revision);
/// `{E}/{P}{repo}/resolve/{rev}/{path}`, P = "" | "datasets/" | "spaces/"; rev encoded as above,
/// path percent-encoded except '/' and A-Za-z0-9-._~ (`to?/a%b:c` → `to%3F/a%25b%3Ac`).
std::string hub_resolve_url(std::string_view endpoint, const hub_repo_id& repo, std::string_view revision,
                            std::string_view path);
/// Percent-encodes everything but A-Za-z0-9-._~ (Python's `quote(rev, safe="")`).
std::string encode_hub_revision(std::string_view revision);
/// Percent-encodes everything but '/' and A-Za-z0-9-._~ (Python's `quote(path)`).
std::string encode_hub_path(std::string_view path);

/// What a repo-info answer (`GET /api/{T}/{repo}[/revision/{rev}]`) tells ferry.
struct hub_repo_info {
    std::string id;                   ///< the repo's id as the Hub names it (renamed repos differ)
    std::string sha;                  ///< the commit the revision is at: 40 lowercase hex
    std::optional<std::string> gated; ///< "auto" or "manual"; nullopt when not gated
    bool is_private = false;
};
/// The commit sha of a repo-info answer (`sha`, required, 40 lowercase hex) and its id (required,
/// a string). `gated` may be false or a string, `private` a boolean; other fields are ignored.
/// Error (errc::bad_message): `message` says what is wrong, in one line.
boost::system::result<hub_repo_info> parse_hub_repo_info(std::string_view json, std::string& message);

/// One page of a tree listing (`GET …/tree/{rev}?recursive=true`): its files, in the Hub's order
/// (directories are skipped). Each entry is checked: `type` "file" or "directory" (anything else
/// is refused); `path` a valid_hub_file_path (no "..", ".", empty segment, leading '/',
/// backslash or NUL); for files `size` an integer up to 2^53, `oid` 40 lowercase hex, and `lfs`
/// (when present and not null) an object with `oid` 64 lowercase hex, `size` equal to the file's
/// size and an integer `pointerSize`. A path listed twice is refused, and so is a file whose path
/// is another file's directory ("a" and "a/b": no cache can hold both). Any bad entry refuses the
/// whole page (errc::bad_message) with a one-line message naming the entry, e.g. `the Hub's
/// listing has an unsafe path "../x"`, `the Hub's listing has a bad entry "a.bin": oid "zz" is
/// not a git sha1`.
boost::system::result<std::vector<hub_tree_file>> parse_hub_tree_page(std::string_view json, std::string& message);

/// The pages of one listing put together, with the checks parse_hub_tree_page makes within a page
/// made across pages too (a path on two pages, "a" on one and "a/b" on another).
class hub_tree_listing {
public:
    /// Appends a parsed page. False (and `message` set, nothing appended) when one of its paths
    /// clashes with an earlier page's.
    bool add_page(std::vector<hub_tree_file> page, std::string& message);
    const std::vector<hub_tree_file>& files() const noexcept { return files_; }
    std::vector<hub_tree_file> take() noexcept { return std::move(files_); }

private:
    std::vector<hub_tree_file> files_;
    std::set<std::string, std::less<>> paths_;
};

/// The `rel="next"` URL of a Link header value (RFC 8288: `<URL>; rel="next"`; rel quoted or not,
/// any case, possibly among other relation types; several links comma-separated, other
/// parameters allowed), as it is written: an absolute http(s) URL. nullopt when there is none,
/// or when the next link is not an absolute http(s) URL (use the overload with the page's URL
/// to accept relative ones).
std::optional<std::string> next_page_link(std::string_view link_header);
/// Same, resolving a relative next link against `page_url` (the URL the header came with).
std::optional<std::string> next_page_link(std::string_view link_header, std::string_view page_url);

/// What a request was about, for describe_hub_error.
struct hub_error_context {
    std::string repo;       ///< "acme/tiny"
    std::string revision;   ///< as the user gave it, or the sha asked for
    std::string path;       ///< the repo path of a resolve request; empty for API calls
    std::string endpoint;   ///< "https://huggingface.co"
    bool had_token = false; ///< the request carried Authorization
};
/// What the Hub's answer means, in words, one line: from the status, X-Error-Code,
/// X-Error-Message and X-Request-Id, about the context's repo, revision and path. For example
/// `acme/gated is a gated repo: accept its terms on the Hub and pass a token (--token or
/// HF_TOKEN) (request id abc)`, `revision v9 not found in acme/tiny`, `x.bin not found in
/// acme/tiny at 0123abcd`, `the token was refused: invalid credentials in Authorization header`,
/// `rate limited by the Hub`, `the Hub answered 500: …`. No request id part when it is empty.
std::string describe_hub_error(unsigned status, std::string_view error_code, std::string_view error_message,
                               std::string_view request_id, const hub_error_context& context);
/// Whether such an answer is worth retrying (408, 429, 5xx) or final (RepoNotFound, GatedRepo,
/// RevisionNotFound, EntryNotFound whatever the status; 401, 403, 404 and other statuses).
bool hub_error_is_retryable(unsigned status, std::string_view error_code) noexcept;

} // namespace ferry
