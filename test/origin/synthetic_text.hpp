#pragma once

#include "tools/origin/synthetic.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace ferry::origin::testing {

/// Synthetic bytes as a string, to compare with response bodies.
inline std::string synthetic_text(std::string_view name, std::uint64_t seed, std::uint64_t offset, std::size_t size) {
    std::string out(size, '\0');
    synthetic_fill(name, seed, offset, {reinterpret_cast<std::byte*>(out.data()), out.size()});
    return out;
}

} // namespace ferry::origin::testing
