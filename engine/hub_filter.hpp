#pragma once

// `--include` / `--exclude` for `ferry hf download`, with huggingface_hub's meaning
// (`filter_repo_objects` in src/huggingface_hub/utils/_paths.py, ../shared/hf-hub.md §2): a
// pattern is matched with Python's fnmatch against the whole repo path, so the same patterns pick
// the same files in both tools. No I/O; safe to share between threads once built.

#include <string>
#include <string_view>
#include <vector>

namespace ferry {

/// huggingface_hub's glob (fnmatch on the full path, case-sensitive): `*` matches any run of
/// characters including '/', `?` one character, `[...]` / `[!...]` sets and ranges; `\` in the
/// pattern becomes '/'; a pattern ending in '/' gets '*' appended.
///
/// As in Python: characters are Unicode code points (UTF-8 decoded; a byte that is not valid
/// UTF-8 counts as one character of its own); a `[` with no closing `]` is a literal `[`; a `]`
/// right after `[` or `[!` belongs to the set; `-` first or last in a set is literal; a reversed
/// range (`z-a`) matches nothing; `[!]` with nothing else, negated, matches any one character.
bool hub_glob_match(std::string_view pattern, std::string_view path) noexcept;

/// Include and exclude patterns together.
class hub_path_filter {
public:
    hub_path_filter(std::vector<std::string> include = {}, std::vector<std::string> exclude = {});

    /// Kept iff (no include pattern or one matches) and no exclude pattern matches.
    bool keep(std::string_view path) const noexcept;

    const std::vector<std::string>& include() const noexcept { return include_; }
    const std::vector<std::string>& exclude() const noexcept { return exclude_; }
    /// No pattern at all: every path is kept.
    bool keeps_everything() const noexcept { return include_.empty() && exclude_.empty(); }

private:
    std::vector<std::string> include_;
    std::vector<std::string> exclude_;
};

} // namespace ferry
