#pragma once

#include "perf/byte_size.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ferry::cli {

/// A usage error: printed as `ferry: MESSAGE` with exit status 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Walks a subcommand's arguments in order: `--name VALUE`, `--name=VALUE`, `-n VALUE`, flags and
/// positional arguments. Throws usage_error for a missing value.
class arguments {
public:
    explicit arguments(std::span<const std::string_view> args) : args_(args) {}

    bool done() const noexcept { return next_ >= args_.size(); }
    /// The next argument, consumed.
    std::string_view take() { return args_[next_++]; }

    /// If the current argument (just taken) is option `long_name` or `short_name`, stores its value
    /// (the rest after '=' or the next argument) and returns true.
    bool value(std::string_view arg, std::string_view long_name, std::string_view short_name,
               std::string& out);
    bool value(std::string_view arg, std::string_view long_name, std::string& out) {
        return value(arg, long_name, {}, out);
    }

private:
    std::span<const std::string_view> args_;
    std::size_t next_ = 0;
};

/// A positive (or, when `zero_allowed`, non-negative) integer option value, or usage_error naming
/// the option.
std::uint64_t parse_count(std::string_view option, std::string_view text, bool zero_allowed = false);
/// A positive duration in seconds, decimals allowed as in curl (`2.5`), or usage_error naming the
/// option.
std::chrono::milliseconds parse_seconds(std::string_view option, std::string_view text);
/// A size or rate: 750K, 20M, 1G, 1.5M, plain bytes (powers of 1024, as in curl).
using ferry::parse_byte_size;

} // namespace ferry::cli
