// libFuzzer target: the JSON manifest parser (engine/manifest.hpp). Any input must parse or be
// refused with a message, never crash; whatever is accepted must obey the manifest's rules:
// every file path relative and free of `..`, every model directory beneath the destination,
// every file with at least one URL.
#include "engine/manifest.hpp"
#include "memory/part_file.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    const std::filesystem::path destination = "/fuzz/destination";
    auto parsed = ferry::parse_manifest(text, destination);
    if (!parsed.error.empty())
        return 0;
    for (auto& model : parsed.models) {
        auto relative = model.dir.lexically_relative(destination);
        if (relative.empty() || *relative.begin() == "..")
            __builtin_trap(); // a model directory outside the destination
        for (auto& file : model.files) {
            if (!ferry::check_relative_path(file.path.generic_string()).empty())
                __builtin_trap(); // an accepted path that breaks the rules
            if (file.urls.empty())
                __builtin_trap();
        }
    }
    return 0;
}
