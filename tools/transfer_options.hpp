#pragma once

#include "tools/arguments.hpp"
#include "tools/download_session.hpp"
#include "tools/transfer_profile.hpp"

#include <string_view>

namespace ferry::cli {

/// The transfer options every downloading command shares with `ferry get` (-j, -x, limits,
/// --ca-cert, --header, retries, timeouts, proxies, --stats, --progress, ...).
class transfer_options {
public:
    /// Their lines of a command's --help.
    static const char* const usage;

    /// If `arg` (just taken from `a`) is one of them, applies it and returns true.
    bool take(arguments& a, std::string_view arg);
    /// Settles what depends on several of them (connection caps, buffer sizes) and checks the
    /// proxy settings (usage_error). Call once, after the last take().
    session_options& finish();

    session_options options;
    bool jobs_per_model_given = false;

private:
    /// Settles what --profile decides and no flag did.
    void apply_profile();

    transfer_profile profile_ = transfer_profile::balanced;
    bool budget_given_ = false;
    bool jobs_given_ = false;
    bool connections_given_ = false;
    bool max_connections_given_ = false;
    bool per_host_given_ = false;
};

} // namespace ferry::cli
