#pragma once

#include <span>
#include <string_view>

namespace ferry::cli {

/// Each subcommand gets its arguments after the subcommand name and returns the exit status:
/// 0 success, 1 failure, 2 usage error (GUIDE.md, CLI contract).
int run_get(std::span<const std::string_view> args);
int run_demo(std::span<const std::string_view> args);
int run_origin(std::span<const std::string_view> args);
int run_hf(std::span<const std::string_view> args);
int run_cache(std::span<const std::string_view> args);
int run_serve(std::span<const std::string_view> args);
/// `ferry load`: also exits 99 when a threshold failed, as k6 does.
int run_load(std::span<const std::string_view> args);

} // namespace ferry::cli
