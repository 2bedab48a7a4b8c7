#pragma once

// aria2's session file (--save-session, aria2c -i): one download per entry, its URIs on one line
// separated by tabs, then its options one per line, each indented by a space:
//
//     https://host/a.bin<TAB>https://mirror/a.bin<TAB>
//      gid=2089b05ecca3d829
//      dir=/srv/models
//      pause=true
//
// ferry writes the same text aria2 writes, so a session moves between the two tools.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry::serve {

struct session_entry {
    std::vector<std::string> uris;
    /// In file order; a key may repeat (`header`).
    std::vector<std::pair<std::string, std::string>> options;

    /// The last value of `key`, if any.
    std::optional<std::string> option(std::string_view key) const;
};

/// The session text of `entries`, in order.
std::string write_session(const std::vector<session_entry>& entries);

/// The entries of a session text, or an error naming the line (`line 3: an option before any URI`).
/// Blank lines and lines starting with '#' are skipped, as aria2 skips them.
struct session_parse {
    std::vector<session_entry> entries;
    std::string error;
    explicit operator bool() const noexcept { return error.empty(); }
};
session_parse parse_session(std::string_view text);

/// Writes `text` to `file` so that a crash at any moment leaves either the old or the new file:
/// a temporary beside it, fsync, rename, fsync of the directory. Empty on success, else why not.
std::string replace_file_durably(const std::filesystem::path& file, std::string_view text);

} // namespace ferry::serve
