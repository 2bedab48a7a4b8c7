#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

namespace ferry {

/// Bytes an unprivileged writer can still use on the file system holding `path` (statvfs).
std::optional<std::uint64_t> free_space(const std::filesystem::path& path) noexcept;

/// Bytes already on disk for a download of `relative` beneath `dir`: the final file or its .part
/// (whichever exists, without following symlinks); 0 when neither does.
std::uint64_t bytes_on_disk(const std::filesystem::path& dir, const std::filesystem::path& relative) noexcept;

} // namespace ferry
