#include "engine/events.hpp"

namespace ferry {

const char* to_string(event::kind k) noexcept {
    switch (k) {
    case event::kind::started: return "started";
    case event::kind::progress: return "progress";
    case event::kind::retried: return "retried";
    case event::kind::verified: return "verified";
    case event::kind::failed: return "failed";
    case event::kind::completed: return "completed";
    case event::kind::skipped: return "skipped";
    case event::kind::cancelled: return "cancelled";
    }
    return "progress";
}

} // namespace ferry
