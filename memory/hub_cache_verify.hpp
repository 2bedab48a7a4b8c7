#pragma once

// Checks every blob of a Hugging Face cache against its name: a 64-hex name is the sha256 of
// the content, a 40-hex name its git blob id. Partial downloads and other files in blobs/ are
// not blobs and are skipped. Reading does not change the blobs' access times where the kernel
// allows (O_NOATIME), so verifying does not reorder `prune`.

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace ferry {

struct hub_damaged_blob {
    std::filesystem::path path;
    std::string actual; ///< what the content hashes to; "" when it cannot be read
};

struct hub_verify_result {
    std::size_t checked = 0;               ///< blob files checked (a hard link counts once per path)
    std::vector<hub_damaged_blob> damaged; ///< sorted by path
};

/// Verifies the blobs of every repo folder under `root` (a blob hard-linked into several repos
/// is hashed once).
hub_verify_result verify_hub_cache(const std::filesystem::path& root);

} // namespace ferry
