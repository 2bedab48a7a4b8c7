#include "engine/model.hpp"

namespace ferry {

const char* to_string(file_outcome o) noexcept {
    switch (o) {
    case file_outcome::done: return "done";
    case file_outcome::skipped: return "skipped";
    case file_outcome::failed: return "failed";
    case file_outcome::cancelled: return "cancelled";
    }
    return "failed";
}

bool model_result::ok() const noexcept {
    for (auto& f : files)
        if (f.outcome != file_outcome::done && f.outcome != file_outcome::skipped)
            return false;
    return true;
}

} // namespace ferry
