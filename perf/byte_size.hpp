#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ferry {

/// A size or rate as users write it: 750K, 20M, 1G, 1.5M or plain bytes (powers of 1024, as in
/// curl). nullopt for anything else, negative or beyond 2^64.
std::optional<std::uint64_t> parse_byte_size(std::string_view text);

} // namespace ferry
